import assert from "node:assert/strict";
import { test } from "node:test";
import { ANY, List, Publisher, PyMap, Replica, TrackedList, TrackedMap, View, encodeCbor, snapshotOf, toHex } from "../src/index.js";

test("views: projections, filtered deltas and transitions, byte for byte as Python's publisher sends them", () => {
  const m = new PyMap();
  for (let i = 0; i < 20; i++) m.set(i, i * 10);
  m.set("k", "kay");
  const root = new TrackedMap([
    ["m", m],
    ["r", new PyMap([["x", 1], ["y", 2]])],
    ["l", new List([1, 2])],
    ["hp", 5],
  ]);
  const publisher = new Publisher(root, { session: new Uint8Array(8) });
  // A set of keys in a large mapping: visited in the order of Python's repr ('k', 1, 3).
  publisher.addClient("set", { view: new View(["m", new Set(["k", 3, 1])]) });
  publisher.addClient("two", { view: new View(["r"], ["m", 2]) });
  publisher.addClient("any", { view: new View([ANY, "x"]) });
  const drain = () => ["set", "two", "any"].map((id) => publisher.packetsFor(id).map(toHex));
  publisher.tick();
  assert.deepEqual(drain(), [
    ["11010000000000000000a1616da3616b636b6179010a03181e"],
    ["11010000000000000000a2616da102146172a2617801617902"],
    ["11010000000000000000a2616da06172a1617801"],
  ]);
  const tm = root.get("m") as TrackedMap;
  tm.set(3, 33);
  tm.set(4, 44);
  (root.get("r") as TrackedMap).set("x", 9);
  root.set("hp", 6);
  publisher.tick();
  // A value where a view goes deeper reaches the client as a delete (hp under (ANY, "x")).
  assert.deepEqual(drain(), [["100201a1616da1031821"], ["100201a16172a1617809"], ["100201a26172a1617809626870f7"]]);
  publisher.setView("two", new View(["l"], ["hp"]));
  publisher.setView("set", new View(["m", new Set(["k", 5])]));
  assert.ok(publisher.view("two")!.equals(new View(["r"], ["m", 2])), "a new view applies at the next tick");
  (root.get("l") as TrackedList).push(3);
  publisher.tick();
  // Transitions: what leaves the view is deleted, what enters comes as a snapshot, in the rules' order.
  assert.deepEqual(drain(), [["100301a1616da301f703f7051832"], ["100301a46172f7616df7616cc88301020362687006"], ["100301a0"]]);
  assert.ok(new View(["a"], ["b"]).equals(new View(["b"], ["a"], ["a"])), "views are values");
  assert.ok(new View(["a"]).or(new View([1])).equals(new View([1.0], ["a"])));
});

test("views: a set of keys in a large mapping is visited in the order of Python's repr of its keys", () => {
  const m = new PyMap();
  for (let i = 0; i < 60; i++) m.set(i, i);
  const tuple = Object.freeze([0, "a"]);
  m.set(Uint8Array.of(0x6b), 1).set(null, 2).set(tuple, 3).set("it's", 4).set("k", 5).set(Uint8Array.of(0, 0x7a), 6);
  const publisher = new Publisher(new TrackedMap([["m", m]]), { session: new Uint8Array(8) });
  const keys = new Set([Uint8Array.of(0x6b), null, Object.freeze([0, "a"]), "it's", "k", 3, -1, Uint8Array.of(0, 0x7a), true]);
  publisher.addClient("s", { view: new View(["m", keys]) });
  publisher.tick();
  assert.deepEqual(publisher.packetsFor("s").map(toHex), ["11010000000000000000a1616da8646974277304616b0582006161030303f602010142007a06416b01"]);
});

test("views no client uses any more are released: per-player views do not pile up", () => {
  const root = new TrackedMap([["players", new PyMap([[1, new PyMap([["hp", 1]])]])]]);
  const publisher = new Publisher(root, { session: new Uint8Array(8) });
  const compiled = () => (publisher as unknown as { compiler: { size: number } }).compiler.size;
  publisher.addClient("stay", { view: new View(["players", 1]) });
  for (let id = 0; id < 2000; id++) {
    publisher.addClient(`p${id}`, { view: new View(["players", id, "hp"], ["players", ANY, "pos"]) });
    publisher.tick();
    publisher.packetsFor(`p${id}`);
    if (id % 3 === 0) publisher.setView(`p${id}`, new View(["players", id]));
    publisher.tick();
    publisher.removeClient(`p${id}`);
  }
  assert.ok(compiled() < 200, `${compiled()} compiled nodes`);
  const packets = publisher.packetsFor("stay");
  assert.equal(packets.length, 1);
  const replica = new Replica();
  replica.receive(packets[0]!);
  assert.equal(toHex(encodeCbor(snapshotOf(replica.state))), "a167706c6179657273a101a1626870" + "01", "{players: {1: {hp: 1}}}");
});
