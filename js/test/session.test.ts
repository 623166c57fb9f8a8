import { test } from "node:test";
import assert from "node:assert/strict";
import { Replica, cbor, decodeCbor, decodeJson, fromHex, json, snapshotOf, toHex } from "../src/index.js";
import { loadVectors, registerVectorTypes, tagged } from "./helpers.js";

registerVectorTypes();

interface Step {
  packet: string;
  applied?: number;
  dropped?: string;
  error?: string;
  reply: string | null;
  frame: number | null;
  state: unknown;
}
interface SessionVector {
  name: string;
  codec: "cbor" | "json";
  steps: Step[];
}

for (const vector of loadVectors<SessionVector>("sessions.json")) {
  test(`sessions.json: ${vector.name}: the replica does what Python's did, packet by packet`, () => {
    const replica = new Replica({ codec: vector.codec === "json" ? json : cbor });
    let last: unknown = null;
    replica.subscribe((state) => (last = state));
    vector.steps.forEach((step, index) => {
      const where = `${vector.name}, step ${index}`;
      let outcome;
      try {
        outcome = replica.receive(fromHex(step.packet));
      } catch (exc) {
        assert.equal((exc as Error).name, step.error ?? "(accepted)", `${where}: ${(exc as Error).message}`);
        outcome = null;
      }
      if (outcome?.applied) assert.equal(outcome.frame, step.applied, where);
      if (outcome && !outcome.applied) assert.equal(outcome.reason, step.dropped, where);
      const reply = replica.packetToSend();
      assert.equal(reply === null ? null : toHex(reply), step.reply, `${where}: reply`);
      assert.equal(replica.frame, step.frame, `${where}: frame`);
      assert.deepEqual(tagged(snapshotOf(replica.state)), step.state, `${where}: state`);
      if (outcome?.applied) assert.equal(last, replica.state, `${where}: subscribers see the new state`);
    });
  });
}

test("a refused packet leaves the state and the frame as they were", () => {
  const replica = new Replica();
  replica.receive(fromHex("11 01 00 01 02 03 04 05 06 07 a1 62 68 70 08"));
  const state = replica.state;
  assert.equal(toHex(replica.packetToSend()!), "1201");
  assert.throws(() => replica.receive(fromHex("10 02 01 a1 62 68 70")), { name: "DecodeError" });
  assert.equal(replica.state, state);
  assert.equal(replica.frame, 1);
  assert.equal(toHex(replica.packetToSend()!), "130101");
  assert.throws(() => replica.receive(fromHex("10 02 01 a1 62 68 70 a1 01 02")), { name: "PatchError" });
  assert.equal(replica.state, state);
  assert.equal(toHex(replica.packetToSend()!), "1400");
  assert.throws(() => replica.receive(fromHex("20 01")), { name: "FrameError" });
  const applied = replica.receive(fromHex("10 02 01 a1 62 68 70 07"));
  assert.deepEqual(applied, { applied: true, frame: 2, base: 1, changes: [{ type: "changed", path: ["hp"], old: 8, value: 7 }] });
  assert.equal(replica.state.get("hp"), 7);
});

test("hostile input: __proto__ and constructor keys are data, deep nesting is a LimitError", () => {
  const replica = new Replica({ codec: json });
  replica.receive(new TextEncoder().encode('\u0011\u0001\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000{"__proto__":{"polluted":1},"constructor":2}'));
  assert.equal(({} as { polluted?: number }).polluted, undefined);
  assert.equal(replica.state.get("constructor"), 2);
  const deep = new Uint8Array(100_001).fill(0x81);
  deep[100_000] = 0x01;
  const packet = new Uint8Array(deep.length + 3);
  packet.set([0x10, 0x02, 0x01]);
  packet.set(deep, 3);
  const cbor = new Replica();
  cbor.receive(fromHex("11 01 00 00 00 00 00 00 00 00 a0"));
  assert.throws(() => cbor.receive(packet), { name: "LimitError" });
  const text = new TextEncoder().encode("[".repeat(100_000) + "1" + "]".repeat(100_000));
  assert.throws(() => decodeJson(text), { name: "LimitError" });
  assert.throws(() => decodeCbor(packet.subarray(3)), { name: "LimitError" });
});
