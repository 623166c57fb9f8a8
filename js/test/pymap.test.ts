import { test } from "node:test";
import assert from "node:assert/strict";
import { Float, PyMap, keyId, type Key } from "../src/index.js";
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
