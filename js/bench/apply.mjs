// The 10-moving-entities scenario: N entities {x, y, hp}, 10 move per tick.
// Prints the cost of one tick on a JS replica (decode + validate + patch + events)
// and of joining (snapshot decode and build), at N = 1k, 10k, 100k.
// Run after `npm run build`: node bench/apply.mjs [--quick]
import { ANY, PyMap, Publisher, Replica, TrackedMap } from "../dist/index.js";

const quick = process.argv.includes("--quick");
const sizes = quick ? [1000] : [1000, 10000, 100000];

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

for (const n of sizes) {
  const entities = new TrackedMap();
  for (let i = 0; i < n; i++) entities.set(i, new PyMap([["x", i + 0.5], ["y", 0.25], ["hp", 100]]));
  const root = new TrackedMap([["entities", entities]]);
  const publisher = new Publisher(root, { session: new Uint8Array(8) });
  publisher.addClient("c");
  publisher.tick();
  const [snapshot] = publisher.packetsFor("c");
  const joins = [];
  for (let r = 0; r < (quick ? 2 : 5); r++) {
    const t = performance.now();
    new Replica().receive(snapshot);
    joins.push(performance.now() - t);
  }
  const replica = new Replica({ events: false });
  replica.receive(snapshot);
  const listened = new Replica();
  listened.receive(snapshot);
  let calls = 0;
  for (const field of ["x", "y"]) listened.on(["entities", ANY, field], () => calls++);
  const ticks = [];
  const ticksListened = [];
  let frame = 1;
  for (let r = 0; r < (quick ? 20 : 200); r++) {
    for (let k = 0; k < 10; k++) {
      const e = entities.get((r * 10 + k) % n);
      e.set("x", (e.get("x") + 1.25) % 1000 + 0.5);
    }
    publisher.tick();
    const [packet] = publisher.packetsFor("c");
    frame++;
    let t = performance.now();
    replica.receive(packet);
    ticks.push(performance.now() - t);
    t = performance.now();
    listened.receive(packet);
    ticksListened.push(performance.now() - t);
  }
  if (calls === 0) throw new Error("no listener ran");
  console.log(
    `N=${n}: join ${median(joins).toFixed(2)} ms (${snapshot.length} B), ` +
      `tick ${(median(ticks) * 1000).toFixed(1)} µs, with events ${(median(ticksListened) * 1000).toFixed(1)} µs`,
  );
}
