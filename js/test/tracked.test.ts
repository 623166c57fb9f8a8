import { test } from "node:test";
import assert from "node:assert/strict";
import { Float, List, Publisher, PyMap, Replica, TrackedBoard, TrackedList, TrackedMap, TrackedRecord, encodeCbor, sameTree, snapshotOf, toHex, type Tree } from "../src/index.js";

const hex = (tree: Tree) => toHex(encodeCbor(tree));

test("tracked maps: the seed's deltas, byte for byte as in Python", () => {
  const players = new TrackedMap([
    [1, new PyMap([["name", "notch"], ["pos", [2, 2]], ["hp", 8]])],
    [2, new PyMap([["name", "jeb"], ["pos", [2, 3]], ["hp", 1]])],
    [3, new PyMap([["name", "c418"], ["pos", [2, 4]], ["hp", 7]])],
  ]);
  assert.equal(hex(players.snapshot()).length, 140);
  const c418 = players.get(3) as TrackedMap;
  c418.set("hp", (c418.get("hp") as number) - 1);
  assert.equal(hex(players.diff()), "a103a1626870" + "06");
  players.commit();
  players.delete(2);
  assert.equal(hex(players.diff()), "a102f7");
  players.commit();
  assert.equal(hex(players.diff()), "a0");
  players.set(4, new PyMap([["name", "dinnerbone"], ["pos", [5, 5]], ["hp", 10]]));
  assert.equal(hex(players.diff()), "a104c6a3646e616d656a64696e6e6572626f6e6563706f738205056268700a");
});

test("tracked maps: Python's no-change and key-object rules", () => {
  const m = new TrackedMap([[1, "x"], ["f", 0.5]]);
  m.set(1, "x");
  m.set("f", 0.5);
  assert.equal(hex(m.diff()), "a0", "equal writes are no change");
  m.set("new", 1);
  m.delete("new");
  assert.equal(hex(m.diff()), "a0", "set then delete of a new key is nothing");
  m.set("f", new Float(-0));
  assert.equal(hex(m.diff()), "a16166f98000", "-0.0 differs from 0.5; floats by bits");
  m.commit();
  m.set(new Float(1), new PyMap([["k", 1]]));
  // A new mapping under the existing key 1 written as 1.0: the replica must keep the key 1.
  assert.equal(hex(m.diff()), "a101c6a1616b01");
  m.commit();
  m.delete(1);
  m.set(true, "t");
  // Deleted and inserted again: the new key object (True) replaces the old one.
  assert.equal(hex(m.diff()), "a1f5c66174");
});

test("tracked lists and boards", () => {
  const root = new TrackedMap([["bag", new TrackedList(["axe"])], ["b", new TrackedBoard("u16", [2, 3])]]);
  root.commit();
  (root.get("bag") as TrackedList).push("rope");
  // An insert, as Python's ListHandler sends it: (1, 1, "rope").
  assert.equal(hex(root.diff()), "a163626167c78183010164726f7065");
  root.commit();
  (root.get("b") as TrackedBoard).set(5, 0x1234);
  assert.equal(hex(root.diff()), "a16162ca44020534" + "12");
});

test("a tracked container passed to a constructor is the baseline: its later changes ship", () => {
  const entities = new TrackedMap();
  entities.set(5, new PyMap([["x", 0.5]]));
  const root = new TrackedMap([["entities", entities]]);
  assert.equal(hex(root.diff()), "a0");
  (entities.get(5) as TrackedMap).set("x", 3.25);
  assert.equal(hex(root.diff()), "a168656e746974696573a105a16178f94280");
});

test("tracked records: the wire format page's Crab, byte for byte as Python's publisher sends it", () => {
  const crab = { id: 16439, name: "Crab", fields: ["kind", "hp"] };
  const root = new TrackedMap([[1, new TrackedRecord(crab, ["bat", 3])]]);
  const publisher = new Publisher(root, { session: new Uint8Array(8) });
  publisher.addClient("ann");
  publisher.tick();
  assert.equal(
    toHex(publisher.packetsFor("ann")[0]!),
    // A snapshot with a table, frame 1, the session; one record: 16439 "Crab" (2 fields) "kind" "hp"; the payload.
    "19" + "01" + "0000000000000000" + "01" + "b78001" + "0443726162" + "02" + "046b696e64" + "026870" + "a101cb831940376362617403",
  );
  (root.get(1) as TrackedRecord).set("hp", 2);
  publisher.tick();
  assert.equal(toHex(publisher.packetsFor("ann")[0]!), "100201a101cca10102", "a known schema is not sent again");
  (root.get(1) as TrackedRecord).set("hp", 2);
  assert.equal(hex(root.diff()), "a0", "an equal write is no change");
  root.set(2, new TrackedRecord(crab, ["crab", new PyMap([["x", 1]])]));
  (root.get(2) as TrackedRecord).get("hp");
  assert.throws(() => new TrackedRecord({ id: 16439, name: "Lobster", fields: ["kind"] }, ["x"]), /taken by record Crab/);
  assert.throws(() => (root.get(1) as TrackedRecord).set("mana", 1), /no field mana/);
  publisher.tick();
  const [packet] = publisher.packetsFor("ann");
  assert.equal(toHex(packet!).slice(0, 6), "100301", "a new crab: its schema was sent already");
  (((root.get(2) as TrackedRecord).get("hp")) as TrackedMap).set("x", 2);
  assert.equal(hex(root.diff()), "a102cca101a1617802");
});

test("a lagging client gets its missed frames merged into one delta ", () => {
  const root = new TrackedMap([
    ["m", new PyMap([["a", 1], ["b", 2]])],
    ["l", new List([1, 2])],
    ["board", new TrackedBoard("u8", [4])],
    ["r", new TrackedRecord({ id: 16439, name: "Crab", fields: ["kind", "hp"] }, ["bat", 3])],
  ]);
  const publisher = new Publisher(root, { session: new Uint8Array(8) });
  publisher.addClient("ann");
  publisher.tick();
  const replica = new Replica();
  for (const packet of publisher.packetsFor("ann")) replica.receive(packet);
  const m = root.get("m") as TrackedMap;
  m.set("a", 5);
  m.delete("b");
  (root.get("l") as TrackedList).set(0, 9);
  (root.get("r") as TrackedRecord).set("hp", 2);
  root.set("x", 1);
  publisher.tick();
  m.set("b", 7);
  m.set("a", new PyMap([["deep", 1]]));
  (root.get("l") as TrackedList).push(3);
  (root.get("r") as TrackedRecord).set("kind", "crab");
  root.delete("x");
  publisher.tick();
  (root.get("l") as TrackedList).set(1, 8);
  (root.get("board") as TrackedBoard).set(1, 4);
  root.set(1.0, "one");
  publisher.tick();
  const packets = publisher.packetsFor("ann");
  assert.equal(packets.length, 1, "three frames, one delta");
  assert.equal(toHex(packets[0]!).slice(0, 6), "100403", "frame 4, from frame 1");
  for (const packet of packets) replica.receive(packet);
  assert.ok(sameTree(snapshotOf(replica.state), root.snapshot()));
  // Two board deltas merge into one (pairs 2 and 3 become a run), as Python's do.
  (root.get("board") as TrackedBoard).set(2, 5);
  publisher.tick();
  (root.get("board") as TrackedBoard).set(3, 6);
  publisher.tick();
  const merged = publisher.packetsFor("ann");
  assert.equal(merged.length, 1);
  assert.equal(toHex(merged[0]!), "100602" + "a165626f617264ca45" + "0002050306");
  for (const packet of merged) replica.receive(packet);
  assert.ok(sameTree(snapshotOf(replica.state), root.snapshot()));
});

test("a lagging client's merged delta becomes a snapshot once it outgrows one (Python's lag bound, byte for byte)", () => {
  const run = (clients: string[]) => {
    const root = new TrackedMap([["hp", 1]]);
    const publisher = new Publisher(root, { session: new Uint8Array(8) });
    for (const id of clients) publisher.addClient(id);
    publisher.tick();
    for (const id of clients) publisher.packetsFor(id);
    for (let i = 0; i < 12; i++) {
      root.set(`key${i}`, i);
      root.delete(`key${i}`);
      root.set(`k${i}`, "x".repeat(10));
      if (i > 2) root.delete(`k${i - 3}`);
      publisher.tick();
      if (clients.includes("a")) publisher.packetsFor("a");
    }
    return publisher.packetsFor("c").map(toHex);
  };
  const kept = "6a78787878787878787878";
  // With a client up to date beside it: a snapshot (frame 13), as Python's publisher sends.
  assert.deepEqual(run(["a", "c"]), ["110d0000000000000000a462687001626b39" + kept + "636b3130" + kept + "636b3131" + kept]);
  // Alone, the same: a lone laggard's lag is bounded too.
  assert.deepEqual(run(["c"]), run(["a", "c"]));
});
