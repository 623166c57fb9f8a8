import { test } from "node:test";
import assert from "node:assert/strict";
import { DELETED, Float, Marker, PyMap, Replica, deltaHeader, idOf, snapshotHeader, type Key, type Tree } from "../src/index.js";
import { tagged, untagged, packet, rng } from "./helpers.js";

// The replica changes its mappings in place until it hands its tree out (then it copies
// or forks them), and puts back what a refused packet changed. Against a model (nested arrays of [key, value]
// in Python's order), random deltas, some ending in a change that does not fit after many
// that do: an applied packet gives the model's state, a refused one leaves the state as
// it was, and a tree handed out earlier never changes afterwards.

const SESSION = new Uint8Array(8).fill(5);

/** The model of a mapping: [key, value] pairs in Python's order; a value is a scalar or a Model. */
type Model = [Key, Tree | Model][];
const isModel = (v: unknown): v is Model => Array.isArray(v) && !Object.isFrozen(v);
const find = (m: Model, key: Key) => m.findIndex(([k]) => idOf(k) === idOf(key));

const copy = (m: Model): Model => m.map(([k, v]) => [k, isModel(v) ? copy(v) : v]);

function toTree(m: Model): PyMap {
  return new PyMap(m.map(([k, v]) => [k, isModel(v) ? toTree(v) : v]));
}

/** Random runs; `extra` more int keys make large mappings (a JS Map, forked rather than copied once handed out). */
function randomRuns(seed: number, extra: number, width: number): void {
  const random = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const KEYS: readonly Key[] = [0, 1, 2, 3, "a", "b", "__proto__", new Float(1), true, Object.freeze([1, "t"]), -5, ...Array.from({ length: extra }, (_, i) => 100 + i)];
  const scalar = (): Tree => pick<Tree>([random(), Math.floor(random() * 100), "s", null, false, new Float(2)]);
  const value = (depth: number): Tree | Model => (depth < 3 && random() < 0.3 ? mapModel(depth + 1) : scalar());
  const mapModel = (depth: number): Model => {
    const out: Model = [];
    for (let i = Math.floor(random() * (depth === 0 ? width : 4)); i > 0; i--) {
      const key = pick(KEYS);
      if (find(out, key) < 0) out.push([key, value(depth)]);
    }
    return out;
  };

  /** A random delta for the model `m` (applied to the model as it is made); `bad`: end with a change that does not fit. */
  function delta(m: Model, depth: number, bad: boolean): PyMap {
    const out = new PyMap();
    const used = new Set<unknown>();
    for (let i = 1 + Math.floor(random() * (depth === 0 ? width / 4 + 3 : 3)); i > 0; i--) {
      const key = pick(KEYS);
      if (used.has(idOf(key))) continue;
      used.add(idOf(key));
      const at = find(m, key);
      const r = random();
      if (at >= 0 && isModel(m[at]![1]) && r < 0.4) {
        out.set(key, delta(m[at]![1] as Model, depth + 1, false));
      } else if (at >= 0 && r < 0.55) {
        out.set(key, DELETED);
        m.splice(at, 1);
      } else if (r < 0.7) {
        const v = value(depth);
        out.set(key, new Marker(6, isModel(v) ? toTree(v) : v));
        if (at >= 0) m.splice(at, 1);
        m.push([key, v]);
      } else {
        const v = value(depth);
        out.set(key, isModel(v) ? new Marker(6, toTree(v)) : v);
        if (at >= 0 && !isModel(v)) m[at] = [m[at]![0], v];
        else {
          if (at >= 0) m.splice(at, 1);
          m.push([key, v]);
        }
      }
    }
    if (bad) {
      // Last in the delta, after changes that fit: a mapping delta for a scalar or a missing key.
      const key = pick(["zz", "a", 3] as Key[]);
      if (!used.has(idOf(key))) {
        const at = find(m, key);
        if (at < 0 || !isModel(m[at]![1])) out.set(key, new PyMap([["x", 1]]));
      }
    }
    return out;
  }

  let applied = 0;
  let refused = 0;
  for (let run = 0; run < 40; run++) {
    const replica = new Replica({ events: run % 2 === 0 });
    let model = mapModel(0);
    replica.receive(packet(snapshotHeader(1, SESSION), toTree(model)));
    const held: [PyMap, string][] = [];
    for (let frame = 2; frame < 40; frame++) {
      const bad = random() < 0.3;
      const work = copy(model);
      const d = delta(work, 0, bad);
      const before = JSON.stringify(tagged(toTree(model)));
      let ok = true;
      try {
        replica.receive(packet(deltaHeader(frame, frame - 1), d));
      } catch (exc) {
        assert.equal((exc as Error).name, "PatchError");
        ok = false;
      }
      if (ok) {
        model = work;
        applied++;
      } else {
        refused++;
        replica.requestRefresh();
        replica.packetToSend();
        frame--;
      }
      // Read the state (which hands it out) only sometimes, so that both ways are tested.
      if (random() < 0.5) {
        const state = replica.state;
        assert.equal(JSON.stringify(tagged(state)), JSON.stringify(tagged(toTree(model))), `run ${run}, frame ${frame}`);
        held.push([state, JSON.stringify(tagged(state))]);
        if (!ok) assert.equal(JSON.stringify(tagged(state)), before);
      }
      replica.packetToSend();
    }
    for (const [state, seen] of held) {
      // Reads of a past version go through the newer ones: by key first, then whole.
      const expected = JSON.parse(seen) as ["dict", [unknown, unknown][]];
      assert.equal(state.size, expected[1].length);
      for (const [key, value] of expected[1]) assert.deepEqual(tagged(state.get(untagged(key) as Key)!), value);
      assert.equal(JSON.stringify(tagged(state)), seen, "a tree handed out changed later");
    }
    assert.equal(JSON.stringify(tagged(replica.state)), JSON.stringify(tagged(toTree(model))));
  }
  assert.ok(applied > 500 && refused > 100, `${applied} applied, ${refused} refused`);
}

test("in-place patching: random deltas against a model, refusals after partial checks change nothing, handed-out trees never change", () => {
  randomRuns(11, 0, 4);
});

test("in-place patching of large mappings: versions handed out read through the newer ones and never change", () => {
  randomRuns(12, 40, 40);
});

test("a replica's state is read-only; copy() gives a mapping that may change", () => {
  const replica = new Replica();
  replica.receive(packet(snapshotHeader(1, SESSION), new PyMap([["p", new PyMap([["hp", 1]])]])));
  const state = replica.state;
  assert.throws(() => state.set("x", 1), TypeError);
  assert.throws(() => (state.get("p") as PyMap).delete("hp"), TypeError);
  assert.throws(() => state.replace("p", 1), TypeError);
  const mine = state.copy();
  mine.set("x", 1);
  assert.equal(mine.get("x"), 1);
  assert.equal(state.has("x"), false);
});
