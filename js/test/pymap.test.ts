import { test } from "node:test";
import assert from "node:assert/strict";
import { Float, PyMap, idOf, keyId, type Key } from "../src/index.js";
import { rng } from "./helpers.js";

/** The model: a plain array of [key, value] in Python's order. */
function modelSet(model: [Key, number][], key: Key, value: number, replace: boolean): void {
  const at = model.findIndex(([k]) => keyId(k) === keyId(key));
  if (at >= 0 && !replace) model[at] = [model[at]![0], value];
  else {
    if (at >= 0) model.splice(at, 1);
    model.push([key, value]);
  }
}

test("PyMap against a model: random writes, replaces and deletes on versions that share nodes", () => {
  const random = rng(7);
  const keyOf = (): Key => {
    const n = Math.floor(random() * 400);
    const r = random();
    return r < 0.2 ? new Float(n) : r < 0.3 ? Object.freeze([n, "x"]) : r < 0.35 ? n === 1 : r < 0.4 ? String(n) : n;
  };
  let map = new PyMap();
  let model: [Key, number][] = [];
  const versions: [PyMap, string][] = [];
  for (let step = 0; step < 6000; step++) {
    const key = keyOf();
    const r = random();
    if (r < 0.55) {
      map.set(key, step);
      modelSet(model, key, step, false);
    } else if (r < 0.65) {
      map.replace(key, step);
      modelSet(model, key, step, true);
    } else {
      const had = model.findIndex(([k]) => keyId(k) === keyId(key));
      assert.equal(map.delete(key), had >= 0);
      if (had >= 0) model.splice(had, 1);
    }
    if (step % 500 === 0) {
      // A copy is a version: later writes to either leave the other as it was.
      versions.push([map, JSON.stringify(model.map(([k, v]) => [keyId(k), v]))]);
      map = map.copy();
      model = model.map(([k, v]) => [k, v]);
    }
  }
  const listed = (m: PyMap) => JSON.stringify([...m].map(([k, v]) => [keyId(k), v]));
  assert.equal(listed(map), JSON.stringify(model.map(([k, v]) => [keyId(k), v])));
  assert.equal(map.size, model.length);
  for (const [key, value] of model) {
    assert.equal(map.get(key), value);
    assert.equal(map.storedKey(key), key, "the key object the model holds");
  }
  for (const [version, expected] of versions) assert.equal(listed(version), expected);
});

test("PyMap int index: look-ups stay exact under writes, deletes, replaces and forks (dense, 1-based, sparse, odd ids)", () => {
  for (const [seed, base] of [[11, 0], [12, 1], [13, 500]] as const) {
    const random = rng(seed);
    // Ids 0..79 from `base` (dense, 1-based, or none near 0), and ones the index must leave to the Map.
    const keyOf = (): Key => {
      const n = base + Math.floor(random() * 80);
      const r = random();
      if (r < 0.1) return new Float(n);
      if (r < 0.15) return BigInt(n);
      if (r < 0.2) return pickOdd(random);
      if (r < 0.23) return String(n);
      return n;
    };
    let map = new PyMap();
    let model = new Map<string, number>();
    const versions: [PyMap, Map<string, number>][] = [];
    const check = (m: PyMap, expected: Map<string, number>, keys: readonly Key[]) => {
      for (const key of keys) assert.equal(m.get(key), expected.get(keyId(key)!), `get(${String(key)}), seed ${seed}`);
    };
    for (let step = 0; step < 4000; step++) {
      const key = keyOf();
      const id = idOf(key)!;
      const r = random();
      if (r < 0.6) {
        if (r < 0.1) map._delete(id);
        map._set(id, key, step);
        model.set(keyId(key)!, step);
      } else {
        assert.equal(map._delete(id), model.delete(keyId(key)!));
      }
      check(map, model, [key, keyOf(), keyOf(), base, base + 1, -0]);
      if (step % 250 === 0) {
        // A fork: the new version takes the table (and its index); the old reads through it.
        versions.push([map, new Map(model)]);
        map = map._fork({});
        model = new Map(model);
      }
    }
    assert.equal(map.size, model.size);
    const every = Array.from({ length: 80 }, (_, i) => base + i);
    check(map, model, every);
    for (const [version, expected] of versions) check(version, expected, every);
  }
});

/** Keys whose ids the int index must not take: negative, -0, beyond 2**31, fractional, tagged. */
function pickOdd(random: () => number): Key {
  const odd: Key[] = [-1, -0, 2 ** 31, 2 ** 53 - 1, 0.5, 1.5, null, true, false, Object.freeze([1]), new Uint8Array([1])];
  return odd[Math.floor(random() * odd.length)]!;
}
