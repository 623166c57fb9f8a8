import { test } from "node:test";
import assert from "node:assert/strict";
import { PyMap, type Tree } from "../src/index.js";
import { applyMap, build, snapshotOf, type Schemas } from "../src/state.js";
import { loadVectors, registerVectorTypes, tagged, untagged } from "./helpers.js";

registerVectorTypes();

interface PatchVector {
  name: string;
  schemas: [number, string, string[]][];
  snapshot: unknown;
  delta: unknown;
  result?: unknown;
  error?: string;
}

test("patches.json: every delta gives Python's state, or Python's error and no change", () => {
  for (const vector of loadVectors<PatchVector>("patches.json")) {
    const schemas: Schemas = new Map(vector.schemas.map(([id, name, fields]) => [id, [name, fields] as const]));
    const state = build(untagged(vector.snapshot), schemas, []) as PyMap;
    const before = JSON.stringify(tagged(snapshotOf(state)));
    let result: Tree;
    try {
      result = applyMap(state, untagged(vector.delta) as PyMap, schemas);
    } catch (exc) {
      assert.equal((exc as Error).name, vector.error ?? "(accepted)", `${vector.name}: ${(exc as Error).message}`);
      assert.equal(JSON.stringify(tagged(snapshotOf(state))), before, `${vector.name}: state changed`);
      continue;
    }
    assert.equal(vector.error, undefined, `${vector.name}: accepted, Python says ${vector.error}`);
    assert.deepEqual(tagged(snapshotOf(result)), vector.result, vector.name);
    assert.equal(JSON.stringify(tagged(snapshotOf(state))), before, `${vector.name}: the old state changed`);
  }
});
