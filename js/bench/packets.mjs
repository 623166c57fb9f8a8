// The 10-moving-entities scenario's packets, made in a worker thread (its own V8 isolate)
// so that the process that times the replicas never runs the writing side: a publisher's
// tracked mappings share the replica's PyMap code, and their shapes in its type feedback
// made V8 compile the replica's hot path worse in about a third of runs (a browser client
// has no publisher). Used by apply.mjs and colyseus.mjs: packets(n, ticks, { colyseus, scattered }).
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";

/** The packets for N entities over `ticks` ticks: flatsync's, and Colyseus's when asked (`scattered`: see pick()). */
export function packets(n, ticks, { colyseus = false, scattered = false } = {}) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: { n, ticks, colyseus, scattered } });
    worker.once("message", resolve);
    worker.once("error", reject);
  });
}

/**
 * The k-th of the 10 entities moving at tick r: in turn through the ids (the
 * scenario), or `scattered`, 10 distinct ids spread over the whole state
 * (a pseudo-random base per tick, steps of 7919, a prime that divides no N used).
 */
function pick(n, r, k, scattered) {
  if (!scattered) return (r * 10 + k) % n;
  const base = (r * 1103515245 + 12345) % 2147483648;
  return (base + k * 7919) % n;
}

function moveX(x) {
  return ((x + 1.25) % 1000) + 0.5;
}

async function make({ n, ticks, colyseus, scattered }) {
  const { PyMap, Publisher, TrackedMap } = await import("../dist/index.js");
  const entities = new TrackedMap();
  for (let i = 0; i < n; i++) entities.set(i, new PyMap([["x", i + 0.5], ["y", 0.25], ["hp", 100]]));
  const publisher = new Publisher(new TrackedMap([["entities", entities]]), { session: new Uint8Array(8) });
  publisher.addClient("c");
  publisher.tick();
  const [snapshot] = publisher.packetsFor("c");
  const deltas = [];
  for (let r = 0; r < ticks; r++) {
    for (let k = 0; k < 10; k++) {
      const e = entities.get(pick(n, r, k, scattered));
      e.set("x", moveX(e.get("x")));
    }
    publisher.tick();
    deltas.push(...publisher.packetsFor("c"));
  }
  const out = { flatsync: { snapshot, packets: deltas } };
  if (colyseus) {
    const { Encoder, Reflection } = await import("@colyseus/schema");
    const { State, Entity } = await import("./colyseus-schema.mjs");
    // The full state of 100k entities is about 3 MB (the default buffer is 8 KB, grown with a warning).
    Encoder.BUFFER_SIZE = 8 * 1024 * 1024;
    const state = new State();
    for (let i = 0; i < n; i++) state.entities.set(String(i), new Entity({ x: i + 0.5, y: 0.25, hp: 100 }));
    const encoder = new Encoder(state);
    const full = encoder.encodeAll().slice();
    encoder.discardChanges();
    const reflection = Reflection.encode(encoder).slice();
    const updates = [];
    for (let r = 0; r < ticks; r++) {
      for (let k = 0; k < 10; k++) {
        const e = state.entities.get(String(pick(n, r, k, scattered)));
        e.x = moveX(e.x);
      }
      updates.push(encoder.encode().slice());
      encoder.discardChanges();
    }
    out.colyseus = { full, reflection, packets: updates };
  }
  return out;
}

if (!isMainThread) parentPort.postMessage(await make(workerData));
