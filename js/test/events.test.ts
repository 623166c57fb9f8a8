import { test } from "node:test";
import assert from "node:assert/strict";
import { ANY, DELETED, Float, Marker, PyMap, Replica, deltaHeader, encodeJson, json, snapshotHeader, type ChangeEvent } from "../src/index.js";
import { packet } from "./helpers.js";

const SESSION = new Uint8Array(8).fill(3);

const player = (name: string, hp: number) =>
  new PyMap([
    ["name", name],
    ["hp", hp],
  ]);

test("listeners: path patterns with wildcards, onAdd replaying what exists, onRemove, after the whole patch", () => {
  const replica = new Replica();
  replica.receive(packet(snapshotHeader(1, SESSION), new PyMap([["players", new PyMap([[1, player("ann", 8)], [2, player("bob", 5)]])], ["t", 0]])));
  const seen: string[] = [];
  replica.on(["players", ANY, "hp"], (event: ChangeEvent) => {
    // The state the listener reads is the new one, whatever the order of changes.
    const t = replica.state.get("t");
    seen.push(`${event.type} ${event.path.join("/")} t=${String(t)}`);
  });
  const added: string[] = [];
  replica.onAdd(["players"], (path, value) => added.push(`${path.join("/")}:${String((value as PyMap).get("name"))}`));
  assert.deepEqual(added, ["players/1:ann", "players/2:bob"]);
  const removed: string[] = [];
  replica.onRemove(["players"], (path) => removed.push(path.join("/")));
  const before = replica.state;
  replica.receive(
    packet(
      deltaHeader(2, 1),
      new PyMap([
        ["players", new PyMap([[1, new PyMap([["hp", 7]])], [2, DELETED], [3, new Marker(6, player("cy", 9))]])],
        ["t", 1],
      ]),
    ),
  );
  // An event on an ancestor of the pattern (a player removed or added whole) reaches it too.
  assert.deepEqual(seen, ["changed players/1/hp t=1", "removed players/2 t=1", "added players/3 t=1"]);
  assert.deepEqual(added, ["players/1:ann", "players/2:bob", "players/3:cy"]);
  assert.deepEqual(removed, ["players/2"]);
  // Structural sharing: the old state is intact; unchanged subtrees are shared.
  assert.equal(((before.get("players") as PyMap).get(1) as PyMap).get("hp"), 8);
  assert.notEqual(replica.state, before);
  const unchanged = new Replica();
  unchanged.receive(packet(snapshotHeader(1, SESSION), new PyMap([["a", new PyMap([["x", 1]])], ["b", 1]])));
  const a = unchanged.state.get("a");
  unchanged.receive(packet(deltaHeader(2, 1), new PyMap([["b", 2]])));
  assert.equal(unchanged.state.get("a"), a);
});

test("listeners: patterns match by Python's key equality (1, 1.0 and True one key; a string never None)", () => {
  // JSON, which can carry a lone surrogate (UTF-8 cannot): a text key that looks like a tagged id.
  const replica = new Replica({ codec: json });
  const send = (header: Uint8Array, tree: PyMap) => {
    const body = encodeJson(tree);
    const out = new Uint8Array(header.length + body.length);
    out.set(header);
    out.set(body, header.length);
    return replica.receive(out);
  };
  const keys = [null, "\udc00N", 1, "1", "\udc00s1"];
  send(snapshotHeader(1, SESSION), new PyMap(keys.map((k, i) => [k, i])));
  const seen: string[] = [];
  for (const [name, pattern] of [["None", [null]], ["tagged text", ["\udc00N"]], ["int", [new Float(1)]], ["bool", [true]], ["text 1", ["1"]], ["any", [ANY]]] as const) {
    replica.on(pattern, (event) => seen.push(`${name}: ${JSON.stringify(event.path)}`));
  }
  send(deltaHeader(2, 1), new PyMap(keys.map((k, i) => [k, i + 10])));
  assert.deepEqual(seen.filter((line) => !line.startsWith("any")), [
    "None: [null]",
    'tagged text: ["\\udc00N"]',
    "int: [1]",
    "bool: [1]",
    'text 1: ["1"]',
  ]);
  assert.equal(seen.filter((line) => line.startsWith("any")).length, keys.length);
});
