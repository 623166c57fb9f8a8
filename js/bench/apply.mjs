// The 10-moving-entities scenario: N entities {x, y, hp}, 10 move per tick.
// Prints the cost of one tick on a JS replica, at N = 1k, 10k, 100k:
//   tick         decode + check + patch, no events (the replica changes its mappings in place)
//   fused        the tick as a default replica takes it (applying the delta while reading it)
//                against the general path (decode the delta, then patch: a replica given the
//                `cbor` codec takes only that path), the two interleaved packet by packet
//   listeners    with events and listeners on x and y of every entity
//   subscriber   with a subscriber that gets the state after every packet (React-style):
//                the tree is handed out, so each tick copies the mappings it changes
//                (here the root, the map of N entities and the 10 entities)
// and of joining (snapshot decode and build). Medians, after warm-up runs.
// Run after `npm run build`: node bench/apply.mjs [--quick]
import { ANY, Replica, cbor } from "../dist/index.js";
import { packets as makePackets } from "./packets.mjs";

const quick = process.argv.includes("--quick");
const sizes = quick ? [1000] : [1000, 10000, 100000];
const TICKS = quick ? 20 : 300;

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

function timeEach(replica, packets) {
  const times = [];
  for (const packet of packets) {
    const t = performance.now();
    replica.receive(packet);
    times.push(performance.now() - t);
  }
  return median(times);
}

/**
 * Median tick of the fused path (a default replica) and of the general path (one given the
 * `cbor` codec), each packet given to both in turn, over two pairs made in either order (so that
 * neither path gains from the other's GC pauses or from where its state was allocated).
 */
function fusedVsGeneral(snapshot, packets) {
  const times = { fused: [], general: [] };
  for (const order of [["fused", "general"], ["general", "fused"]]) {
    const made = order.map((which) => {
      const replica = new Replica(which === "fused" ? { events: false } : { events: false, codec: cbor });
      replica.receive(snapshot);
      return [times[which], replica];
    });
    for (const packet of packets) {
      for (const [out, replica] of made) {
        const t = performance.now();
        replica.receive(packet);
        out.push(performance.now() - t);
      }
    }
  }
  return [median(times.fused), median(times.general)];
}

for (const n of sizes) {
  // (Made in a worker: this process never runs the writing side, see packets.mjs.)
  const { snapshot, packets } = (await makePackets(n, TICKS)).flatsync;
  const replicas = () => {
    const plain = new Replica({ events: false });
    const listened = new Replica();
    let calls = 0;
    for (const field of ["x", "y"]) listened.on(["entities", ANY, field], () => calls++);
    const subscribed = new Replica({ events: false });
    let states = 0;
    subscribed.subscribe(() => states++);
    for (const replica of [plain, listened, subscribed]) replica.receive(snapshot);
    calls = states = 0;
    return { plain, listened, subscribed, count: () => [calls, states] };
  };
  // (20 rounds: V8 takes a few thousand packets to compile the hot path fully; see colyseus.mjs.)
  for (let w = 0; w < (quick ? 1 : 20); w++) {
    const warm = replicas();
    for (const replica of [warm.plain, warm.listened, warm.subscribed]) timeEach(replica, packets);
    fusedVsGeneral(snapshot, packets);
  }
  const joins = [];
  for (let r = 0; r < (quick ? 2 : 5); r++) {
    const t = performance.now();
    new Replica().receive(snapshot);
    joins.push(performance.now() - t);
  }
  const { plain, listened, subscribed, count } = replicas();
  const tick = timeEach(plain, packets);
  const withListeners = timeEach(listened, packets);
  const withSubscriber = timeEach(subscribed, packets);
  const [calls, states] = count();
  const [fused, general] = fusedVsGeneral(snapshot, packets);
  if (calls !== TICKS * 10 || states !== TICKS) throw new Error(`${calls} listener calls, ${states} states`);
  const us = (ms) => `${(ms * 1000).toFixed(1)} µs`;
  console.log(
    `N=${n}: join ${median(joins).toFixed(2)} ms (${snapshot.length} B), tick ${us(tick)}, ` +
      `with listeners ${us(withListeners)}, with a subscriber ${us(withSubscriber)}; ` +
      `fused ${us(fused)} vs general path ${us(general)} (${(fused / general).toFixed(2)}×)`,
  );
}
