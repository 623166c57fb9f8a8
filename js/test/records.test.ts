import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { TrackedRecord, recordId } from "../src/index.js";
import { sha256 } from "../src/records.js";

test("sha256 matches node:crypto at every length around the block boundaries", () => {
  let seed = 7;
  const byte = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) & 0xff;
  for (let length = 0; length < 300; length++) {
    const data = Uint8Array.from({ length }, byte);
    assert.equal(Buffer.from(sha256(data)).toString("hex"), createHash("sha256").update(data).digest("hex"), `length ${length}`);
  }
});

test("record ids: Python's default from the name, explicit ids checked as Python checks them", () => {
  assert.equal(recordId("Crab", ["kind", "hp"]), 16439, "the wire format page's Crab");
  const crab = new TrackedRecord({ name: "Crab", fields: ["kind", "hp"] }, ["bat", 3]);
  assert.equal(crab.id, 16439);
  assert.ok(recordId("One", ["x"]) < 24, "one short field: the snapshot may spend one byte on its id");
  assert.equal(recordId("One", ["x"], 23), 23);
  assert.throws(() => recordId("One", ["x"], 24), RangeError);
  assert.throws(() => recordId("Big", ["kind", "hp"], 65536), RangeError);
  assert.throws(() => recordId("Big", ["kind", "hp"], 1.5), TypeError);
  assert.throws(() => new TrackedRecord({ id: 16439, name: "Lobster", fields: ["kind"] }, ["x"]), /taken by record Crab; give one of them another id, e\.g\. \{ id: 16440 \}/);
  assert.throws(() => new TrackedRecord({ name: "Crab", fields: ["kind"] }, ["x"]), /already known with the fields/);
});
