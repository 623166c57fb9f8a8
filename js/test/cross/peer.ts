/**
 * The JavaScript side of the cross-language test (tests/test_js_cross.py):
 * one JSON command a line on stdin, one JSON answer a line on stdout.
 *
 *   {"cmd": "replica", "codec": "cbor"}                 a new JS Replica
 *   {"cmd": "receive", "hex": "..."}                    -> {reply, frame, state, outcome | error}
 *   {"cmd": "publisher", "codec": "json", "session": "...", "schemas": [[id, name, fields]],
 *    "clients": ["c", ...]}                              a new JS Publisher, clients "c" (the default), ...
 *   {"cmd": "tick", "ops": [...], "drain": ["c"]}        -> {packets, frame, state}; with "drain", packets
 *                                                        is {client: [...]} for the clients drained
 *   {"cmd": "reply", "hex": "...", "client": "c"}        the Python replica's packet
 *   {"cmd": "view", "client": "c", "view": rules | null} the client's view changes
 *   {"cmd": "ids", "records": [[name, fields, id | null]]} -> {ids: [id | error name]}
 *
 * A view is a list of rules, a rule a list of items: ["key", tagged], ["any"],
 * ["set", [tagged, ...]] or ["pred", name] (a predicate of PREDICATES). The
 * "publisher" command takes "views": {client: rules}.
 *
 * States travel in the vectors' type-tagged form.
 */

import { createInterface } from "node:readline";
import { ANY, Publisher, RECORD_SCHEMAS, View, recordId, type RuleItem, Replica, cbor, json, TrackedBoard, TrackedList, TrackedMap, TrackedRecord, fromHex, snapshotOf, toHex, type Key, type Tree } from "../../src/index.js";
import { tagged, untagged } from "../helpers.js";

let replica: Replica | null = null;

/** The predicates a test's views may use (the same functions on the Python side). */
const PREDICATES: { [name: string]: (key: Key) => boolean } = {
  even: (key) => typeof key === "number" && Number.isInteger(key) && key % 2 === 0,
  text: (key) => typeof key === "string",
};

function viewOf(rules: unknown): View | null {
  if (rules === null || rules === undefined) return null;
  return new View(
    ...(rules as unknown[][][]).map((rule) =>
      rule.map(([kind, value]): RuleItem => {
        if (kind === "any") return ANY;
        if (kind === "set") return new Set((value as unknown[]).map((k) => untagged(k) as Key));
        if (kind === "pred") return PREDICATES[value as string]!;
        return untagged(value) as Key;
      }),
    ),
  );
}
let publisher: Publisher | null = null;

type Container = TrackedMap | TrackedList | TrackedBoard | TrackedRecord;

function container(path: unknown[]): Container {
  let node: unknown = publisher!.root;
  for (const step of path) {
    const key = untagged(step) as Key;
    if (node instanceof TrackedMap) node = node.get(key);
    else if (node instanceof TrackedRecord) node = node.get(key as string);
    else node = (node as TrackedList).at(key as number);
  }
  return node as Container;
}

function apply(op: unknown[]): void {
  const [name, path, a, b] = op as [string, unknown[], unknown, unknown];
  const target = container(path);
  if (name === "set") (target as TrackedMap).set(untagged(a) as Key, untagged(b));
  else if (name === "del") (target as TrackedMap).delete(untagged(a) as Key);
  else if (name === "board") (target as TrackedBoard).set(a as number, untagged(b) as number | bigint);
  else if (name === "lset") (target as TrackedList).set(a as number, untagged(b));
  else if (name === "insert") (target as TrackedList).splice(a as number, 0, untagged(b));
  else if (name === "ldel") (target as TrackedList).splice(a as number, 1);
  else if (name === "splice") {
    const [start, count] = a as [number, number];
    (target as TrackedList).splice(start, count, ...(b as unknown[]).map(untagged));
  } else if (name === "push") (target as TrackedList).push(...(b as unknown[]).map(untagged));
  else if (name === "rset") (target as TrackedRecord).set(a as string, untagged(b));
  else throw new Error(`unknown op ${name}`);
}

function handle(command: { [k: string]: unknown }): unknown {
  switch (command.cmd) {
    case "replica":
      replica = new Replica({ codec: command.codec === "json" ? json : cbor });
      return {};
    case "receive": {
      let outcome: unknown = null;
      let error: string | null = null;
      try {
        const result = replica!.receive(fromHex(command.hex as string));
        outcome = result.applied ? { applied: result.frame } : { dropped: result.reason };
      } catch (exc) {
        error = (exc as Error).name;
      }
      const reply = replica!.packetToSend();
      return { outcome, error, reply: reply && toHex(reply), frame: replica!.frame, state: tagged(snapshotOf(replica!.state)) };
    }
    case "publisher": {
      for (const [id, name, fields] of (command.schemas ?? []) as [number, string, string[]][]) {
        RECORD_SCHEMAS.set(id, [name, fields]);
      }
      const root = new TrackedMap(untagged(command.state) as unknown as Iterable<[Key, Tree]>);
      publisher = new Publisher(root, { codec: command.codec === "json" ? json : cbor, session: fromHex(command.session as string) });
      const views = (command.views ?? {}) as { [id: string]: unknown };
      for (const id of (command.clients ?? ["c"]) as string[]) publisher.addClient(id, { view: viewOf(views[id]) });
      return {};
    }
    case "tick": {
      for (const op of command.ops as unknown[][]) apply(op);
      const frame = publisher!.tick();
      const drain = command.drain as string[] | undefined;
      const packets = drain
        ? Object.fromEntries(drain.map((id) => [id, publisher!.packetsFor(id).map(toHex)]))
        : publisher!.packetsFor("c").map(toHex);
      return { packets, frame, state: tagged(publisher!.root.snapshot()) };
    }
    case "ids":
      return {
        ids: (command.records as [string, string[], number | null][]).map(([name, fields, given]) => {
          try {
            return recordId(name, fields, given);
          } catch (exc) {
            return (exc as Error).name;
          }
        }),
      };
    case "view":
      publisher!.setView(command.client as string, viewOf(command.view));
      return {};
    case "reply":
      publisher!.receive((command.client as string | undefined) ?? "c", fromHex(command.hex as string));
      return {};
  }
  throw new Error(`unknown command ${String(command.cmd)}`);
}

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  let answer: unknown;
  try {
    answer = handle(JSON.parse(line) as { [k: string]: unknown });
  } catch (exc) {
    answer = { crash: `${(exc as Error).name}: ${(exc as Error).message}\n${(exc as Error).stack}` };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
});
