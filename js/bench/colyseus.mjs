// The 10-moving-entities scenario, flatsync's JS replica against @colyseus/schema
// (a dev dependency of this benchmark only) decoding its own packets for the same
// state: N entities {x, y, hp} in a map, 10 of them move each tick. One run, ratios:
//   tick      apply one tick: flatsync (decode + validate + patch + new root, no
//             listeners) vs Colyseus's reflection decoder and its typed decoder
//   events    the same with listeners on x and y of every entity, vs Colyseus typed
//             + callbacks (Callbacks.get(decoder).listen on each entity's x and y)
//   join      snapshot decode and build, vs Colyseus reflection (schema + full state)
//             and typed (full state)
//   growth    a tick's cost at 100k over its cost at 1k
// Both libraries first run the snapshot and the packets through throwaway replicas or
// decoders of each measured kind, WARMUP times (20: 6,000 packets each): V8 takes a few
// thousand packets to compile either library's hot path fully, and a game client runs
// that many in minutes; what is timed is the steady state that follows. (After 5 rounds
// both are still compiling, and one run's ratios can swing by 2x.) Then each kind is
// timed packet by packet on ROUNDS (5) fresh replicas or decoders, and the figure is the
// median of the pooled times. The packets are made in a worker thread (packets.mjs): the
// process that times never runs either library's writing side.
// With --scattered, the 10 entities of a tick are spread over the whole state (every
// tick misses the caches at 100k) instead of moving in turn through the ids.
// Run after `npm run build`: node bench/colyseus.mjs [--quick] [--scattered]
import { Callbacks, Decoder, Reflection } from "@colyseus/schema";
import { ANY, Replica } from "../dist/index.js";
import { State } from "./colyseus-schema.mjs";
import { packets as makePackets } from "./packets.mjs";

const quick = process.argv.includes("--quick");
/** --scattered: the 10 moving entities of a tick are spread over the whole state instead of coming in turn. */
const scattered = process.argv.includes("--scattered");
const sizes = quick ? [1000] : process.env.SIZES ? process.env.SIZES.split(",").map(Number) : [1000, 10000, 100000];
const TICKS = quick ? 20 : 300;
const JOINS = quick ? 2 : 5;
const WARMUP = quick ? 1 : +(process.env.WARMUP ?? 20);
/** Fresh replicas (decoders) timed over the packets, the times pooled: one's GC and layout luck is not the result. */
const ROUNDS = quick ? 1 : 5;

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

/** The times (ms) of fn(packet) for each packet, in order, added to `times`. */
function timeEach(times, packets, fn) {
  for (const packet of packets) {
    const t0 = performance.now();
    fn(packet);
    times.push(performance.now() - t0);
  }
}

function timeJoin(make) {
  const times = [];
  for (let r = 0; r < JOINS; r++) {
    const t0 = performance.now();
    make();
    times.push(performance.now() - t0);
  }
  return median(times);
}

function flatsync({ snapshot, packets }) {
  let calls = 0;
  const replicas = () => {
    const plain = new Replica({ events: false });
    plain.receive(snapshot);
    const listened = new Replica();
    listened.receive(snapshot);
    for (const field of ["x", "y"]) listened.on(["entities", ANY, field], () => calls++);
    return [plain, listened];
  };
  for (let w = 0; w < WARMUP; w++) for (const warm of replicas()) for (const p of packets) warm.receive(p);
  const join = timeJoin(() => new Replica().receive(snapshot));
  const ticks = [];
  const withEvents = [];
  for (let r = 0; r < ROUNDS; r++) {
    const [plain, listened] = replicas();
    calls = 0;
    timeEach(ticks, packets, (p) => plain.receive(p));
    timeEach(withEvents, packets, (p) => listened.receive(p));
    if (calls !== TICKS * 10) throw new Error(`flatsync: ${calls} listener calls, not ${TICKS * 10}`);
  }
  const [tick, events] = [median(ticks), median(withEvents)];
  return { join, tick, events, snapshot: snapshot.length, delta: packets[0].length };
}

function colyseus(n, { full, reflection, packets }) {
  let calls = 0;
  const decoders = () => {
    const reflected = Reflection.decode(reflection);
    reflected.decode(full);
    const typed = new Decoder(new State());
    typed.decode(full);
    const called = new Decoder(new State());
    const callbacks = Callbacks.get(called);
    callbacks.onAdd("entities", (entity) => {
      callbacks.listen(entity, "x", () => calls++);
      callbacks.listen(entity, "y", () => calls++);
    });
    called.decode(full);
    return [reflected, typed, called];
  };
  for (let w = 0; w < WARMUP; w++) for (const warm of decoders()) for (const p of packets) warm.decode(p);
  const joinReflection = timeJoin(() => Reflection.decode(reflection).decode(full));
  const joinTyped = timeJoin(() => new Decoder(new State()).decode(full));
  const [reflectedTimes, typedTimes, calledTimes] = [[], [], []];
  let typed;
  for (let r = 0; r < ROUNDS; r++) {
    const [reflected, typedDecoder, called] = decoders();
    typed = typedDecoder;
    calls = 0;
    timeEach(reflectedTimes, packets, (p) => reflected.decode(p));
    timeEach(typedTimes, packets, (p) => typed.decode(p));
    timeEach(calledTimes, packets, (p) => called.decode(p));
    if (calls !== TICKS * 10) throw new Error(`colyseus: ${calls} listener calls, not ${TICKS * 10}`);
  }
  const [tickReflection, tickTyped, events] = [median(reflectedTimes), median(typedTimes), median(calledTimes)];
  const last = typed.state.entities.get(String((TICKS * 10 - 1) % n));
  if (!(last.x > 0)) throw new Error("colyseus: the typed decoder did not follow");
  return { joinReflection, joinTyped, tickReflection, tickTyped, events, snapshot: full.length, delta: packets[0].length };
}

const us = (ms) => `${(ms * 1000).toFixed(1)} µs`;
const x = (a, b) => `${(a / b).toFixed(2)}×`;
const rows = [];
console.log(`flatsync JS replica vs @colyseus/schema, 10 moving entities${scattered ? " scattered over the state" : ""} (ratio: flatsync / Colyseus)`);
for (const n of sizes) {
  const made = await makePackets(n, TICKS, { colyseus: true, scattered });
  const f = flatsync(made.flatsync);
  const c = colyseus(n, made.colyseus);
  rows.push({ n, f, c });
  console.log(
    `N=${n}: tick ${us(f.tick)} = ${x(f.tick, c.tickReflection)} reflection (${us(c.tickReflection)}), ` +
      `${x(f.tick, c.tickTyped)} typed (${us(c.tickTyped)}); ` +
      `with listeners ${us(f.events)} = ${x(f.events, c.events)} typed + callbacks (${us(c.events)}); ` +
      `join ${f.join.toFixed(1)} ms = ${x(f.join, c.joinReflection)} reflection (${c.joinReflection.toFixed(1)} ms), ` +
      `${x(f.join, c.joinTyped)} typed (${c.joinTyped.toFixed(1)} ms); ` +
      `bytes: snapshot ${f.snapshot} vs ${c.snapshot}, tick ${f.delta} vs ${c.delta}`,
  );
}
if (rows.length > 1) {
  const [a, b] = [rows[0], rows[rows.length - 1]];
  console.log(
    `growth ${a.n} -> ${b.n}: flatsync tick ${x(b.f.tick, a.f.tick)}, with listeners ${x(b.f.events, a.f.events)}; ` +
      `Colyseus reflection ${x(b.c.tickReflection, a.c.tickReflection)}, typed ${x(b.c.tickTyped, a.c.tickTyped)}`,
  );
}
