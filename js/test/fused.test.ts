import { test } from "node:test";
import assert from "node:assert/strict";
import { DELETED, Float, List, Marker, PyMap, Replica, cbor, deltaHeader, encodeCbor, snapshotHeader, type ChangeEvent, type Key, type Limits, type Tree } from "../src/index.js";
import { patchCborAt } from "../src/cbor.js";
import { tagged, rng } from "./helpers.js";

// The fused path (a replica applies a CBOR mapping delta while it reads it) against the
// general path (decode, then patch: a replica given the `cbor` codec takes only that one),
// on random states, random deltas and random corruptions of them (truncation at every
// byte, bit flips): the same outcome or the same error (class and message), the same
// state after, the same events in the same order, the same request to the publisher.

const SESSION = new Uint8Array(8).fill(7);

function packet(header: Uint8Array, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(header.length + body.length);
  out.set(header);
  out.set(body, header.length);
  return out;
}

const eventForm = (e: ChangeEvent): unknown => [e.type, e.path.map((k) => tagged(k as Tree)), "old" in e ? tagged(e.old) : null, "value" in e ? tagged(e.value) : null];

/** What receiving `data` did to `replica`: the outcome or the error, the state after, the request. */
function receive(replica: Replica, data: Uint8Array): unknown {
  let result: unknown;
  try {
    const outcome = replica.receive(data);
    result = outcome.applied ? ["applied", outcome.frame, outcome.changes.map(eventForm)] : ["dropped", outcome.reason];
  } catch (exc) {
    result = ["error", (exc as Error).name, (exc as Error).message];
  }
  // The state without handing it out (reading `state` would publish the tree).
  const state = (replica as unknown as { state_: PyMap }).state_;
  return [result, JSON.stringify(tagged(state)), replica.packetToSend()];
}

/** Random cases: `limits` (a function of the PRNG) gives each case's limits, for every replica of it. */
function randomCases(
  seed: number,
  extra: number,
  cases: number,
  odd: number,
  limitsOf: (random: () => number) => Partial<Limits> = () => ({}),
): { fused: number; declined: number; variants: number } {
  const random = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const KEYS: readonly Key[] = [0, 1, 2, 23, 24, 300, "a", "x", "hp", "__proto__", "\udc00s", "é", new Float(1), true, Object.freeze([1, "t"]), -5, ...Array.from({ length: extra }, (_, i) => 100 + i)];
  const scalar = (): Tree =>
    pick<Tree>([random() * 100, Math.floor(random() * 100), -Math.floor(random() * 1000), 2 ** 40, "s", "", "long text key value", null, false, true, new Float(2), 1.5, new Uint8Array([1, 2]), 2n ** 70n, -(2n ** 64n)]);
  const stateMap = (depth: number): PyMap => {
    const out = new PyMap();
    for (let i = Math.floor(random() * (depth === 0 ? 6 + extra : 5)); i > 0; i--) {
      out.set(pick(KEYS), depth < 3 && random() < 0.4 ? stateMap(depth + 1) : scalar());
    }
    return out;
  };
  /** A delta for `map`: mostly the common shape, sometimes what the fused path declines or the patch refuses. */
  const delta = (map: PyMap | undefined, depth: number): PyMap => {
    const out = new PyMap();
    for (let i = Math.floor(random() * (depth === 0 ? 4 + extra / 2 : 4)); i > 0; i--) {
      const key = pick(KEYS);
      const old = map?.get(key);
      const r = random();
      if (old instanceof PyMap && r < 0.45) out.set(key, delta(old, depth + 1));
      else if (r < 0.6) out.set(key, DELETED);
      else if (random() < odd) {
        // What the fused path declines, or a mapping delta for a scalar or a missing key (a PatchError).
        out.set(key, pick<Tree>([new Marker(6, scalar()), new List([1, 2]), Object.freeze([1, 2]), new PyMap([["y", 1]])]));
      } else out.set(key, scalar());
    }
    return out;
  };
  let fused = 0;
  let declined = 0;
  let variants = 0;
  for (let c = 0; c < cases; c++) {
    const state = stateMap(0);
    const snapshot = packet(snapshotHeader(1, SESSION), encodeCbor(state));
    const body = encodeCbor(delta(state, 0));
    const header = deltaHeader(2, 1);
    const bodies = [body];
    for (let cut = 0; cut < body.length; cut++) bodies.push(body.slice(0, cut));
    for (let f = 0; f < 12; f++) {
      const flipped = body.slice();
      const at = Math.floor(random() * body.length);
      flipped[at]! ^= 1 << Math.floor(random() * 8);
      bodies.push(flipped);
    }
    bodies.push(packet(body, new Uint8Array([0])));
    const events = c % 3 !== 0;
    const publish = c % 4 === 0;
    const limits = limitsOf(random);
    // Under tight limits the snapshot itself may be refused: by both paths alike, and the case is skipped.
    const first = receive(new Replica({ codec: cbor, events, limits }), snapshot);
    assert.deepEqual(receive(new Replica({ events, limits }), snapshot), first);
    if ((first as [unknown[]])[0][0] === "error") continue;
    for (const b of bodies) {
      const data = packet(header, b);
      const general = new Replica({ codec: cbor, events, limits });
      const replica = new Replica({ events, limits });
      general.receive(snapshot);
      replica.receive(snapshot);
      // Handed-out trees: the fused path forks (or copies) before it changes a mapping.
      const held = publish ? JSON.stringify(tagged(replica.state)) : null;
      general.packetToSend();
      replica.packetToSend();
      const owner = (replica as unknown as { owner: object }).owner;
      const probe = patchCborAt(data, header.length, (replica as unknown as { cborLimits: Partial<Limits> }).cborLimits, (replica as unknown as { state_: PyMap }).state_, publish ? {} : owner, null);
      if (probe === null) declined++;
      else fused++;
      // The probe may have changed the state in place: start again from the snapshot.
      const fresh = new Replica({ events, limits });
      fresh.receive(snapshot);
      fresh.packetToSend();
      if (publish) void fresh.state;
      assert.deepEqual(receive(fresh, data), receive(general, data), `case ${c}, body ${Buffer.from(b).toString("hex")}`);
      if (held !== null) assert.equal(JSON.stringify(tagged(replica.state)), held);
      variants++;
    }
  }
  return { fused, declined, variants };
}

test("fused apply: the same result as decode-then-patch on random deltas, truncations and bit flips", () => {
  const { fused, declined, variants } = randomCases(21, 0, 150, 0.2);
  assert.ok(fused > variants / 10 && declined > variants / 2, `${fused} fused, ${declined} declined of ${variants}`);
});

test("fused apply on large mappings (a JS Map; more than 16 keys in one delta)", () => {
  const { fused, variants } = randomCases(22, 40, 40, 0.01);
  assert.ok(fused > variants / 20, `${fused} fused of ${variants}`);
});

test("fused apply under tight limits (string length, items, depth): the same result as the general path", () => {
  const { fused, declined, variants } = randomCases(23, 0, 150, 0.2, (random) => ({
    maxStringLength: Math.floor(random() * 24),
    maxContainerItems: 1 + Math.floor(random() * 6),
    maxDepth: 2 + Math.floor(random() * 3),
    maxTotalItems: 4 + Math.floor(random() * 30),
  }));
  assert.ok(fused > variants / 20 && declined > variants / 2, `${fused} fused, ${declined} declined of ${variants}`);
});

test("fused apply: a refusal after changes in place puts every value back; duplicate keys are refused as the decoder does", () => {
  const replica = new Replica();
  const state = new PyMap([["e", new PyMap([["x", 1], ["y", 2]])], ["z", 5]]);
  replica.receive(packet(snapshotHeader(1, SESSION), encodeCbor(state)));
  const before = JSON.stringify(tagged(replica.state));
  // {"e": {"x": 9}, "z": 6, "q": {"a": 1}}: the last is a mapping delta for a missing key.
  const bad = encodeCbor(new PyMap([["e", new PyMap([["x", 9]])], ["z", 6], ["q", new PyMap([["a", 1]])]]));
  assert.throws(() => replica.receive(packet(deltaHeader(2, 1), bad)), { name: "PatchError" });
  assert.equal(JSON.stringify(tagged(replica.state)), before);
  // {"z": 6, "z": 7}
  const twice = Uint8Array.from([0xa2, 0x61, 0x7a, 0x06, 0x61, 0x7a, 0x07]);
  assert.throws(() => replica.receive(packet(deltaHeader(2, 1), twice)), { name: "DecodeError", message: /appears twice/ });
  assert.equal(JSON.stringify(tagged(replica.state)), before);
  const good = encodeCbor(new PyMap([["e", new PyMap([["x", 9], ["y", DELETED]])], ["z", 6], ["n", 1.5]]));
  const outcome = replica.receive(packet(deltaHeader(2, 1), good));
  assert.ok(outcome.applied);
  assert.deepEqual(outcome.changes.map(eventForm), [
    ["changed", [["str", "e"], ["str", "x"]], ["int", "1"], ["int", "9"]],
    ["removed", [["str", "e"], ["str", "y"]], ["int", "2"], null],
    ["changed", [["str", "z"]], ["int", "5"], ["int", "6"]],
    ["added", [["str", "n"]], null, tagged(1.5)],
  ]);
  assert.equal(JSON.stringify(tagged(replica.state)), JSON.stringify(tagged(new PyMap([["e", new PyMap([["x", 9]])], ["z", 6], ["n", 1.5]]))));
});

test("fused apply: a mapping delta of more than 128 keys takes the general path, with the same result", () => {
  const replica = new Replica();
  replica.receive(packet(snapshotHeader(1, SESSION), encodeCbor(new PyMap([["e", new PyMap()]]))));
  const wide = new PyMap([["e", new PyMap(Array.from({ length: 200 }, (_, i) => [i, i * 0.5] as [Key, Tree]))]]);
  const data = packet(deltaHeader(2, 1), encodeCbor(wide));
  const state = (replica as unknown as { state_: PyMap }).state_;
  assert.equal(patchCborAt(data, 3, {}, state, {}, null), null);
  const narrow = new PyMap([["e", new PyMap(Array.from({ length: 128 }, (_, i) => [i, i * 0.5] as [Key, Tree]))]]);
  assert.notEqual(patchCborAt(packet(deltaHeader(2, 1), encodeCbor(narrow)), 3, {}, state, {}, null), null);
  const outcome = replica.receive(data);
  assert.ok(outcome.applied && outcome.changes.length === 200);
  assert.equal(JSON.stringify(tagged(replica.state)), JSON.stringify(tagged(wide)));
});
