/**
 * Views: which parts of the state a client of a {@link Publisher} sees (a port
 * of Python's `flatsync.View` and `_session/_views.py`, with the same rules and
 * the same trees, so that a JS publisher sends a client under a view the bytes
 * Python's sends).
 *
 * A view is a set of rules; a rule is a path pattern whose items match the keys
 * of one level of nested mappings: a key, {@link ANY}, a `Set` of keys, or a
 * predicate `(key) => boolean`. A rule shows the whole subtree at every path it
 * matches, and the mappings on the way there (holding only what is shown).
 * Views descend into mappings only: a list, or any other value, is shown whole
 * or not at all.
 */

import { ANY } from "./events.js";
import { formatPath } from "./path.js";
import { Marker, PyMap, DELETED, keyId, type Key, type Tree } from "./tree.js";
import { TrackedMap, isContainer, newEntry, snapshotValue } from "./tracked.js";

/** One item of a view rule: a key, ANY, a set of keys, or a predicate on the key. */
export type RuleItem = Key | typeof ANY | ReadonlySet<Key> | ((key: Key) => boolean);

type Item =
  | { readonly kind: "key"; readonly key: Key; readonly id: string }
  | { readonly kind: "any"; readonly id: string }
  | { readonly kind: "set"; readonly keys: readonly Key[]; readonly id: string }
  | { readonly kind: "pred"; readonly fn: (key: Key) => boolean; readonly id: string };
type Rule = readonly Item[];

const functionIds = new WeakMap<object, number>();
let nextFunction = 0;

/** Text as Python's `repr` quotes it (`bytes`: true for a bytes literal's ASCII rules). */
function quoted(chars: Iterable<string>, text: string, bytes: boolean): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = "";
  for (const ch of chars) {
    const code = ch.codePointAt(0)!;
    if (ch === "\\") out += "\\\\";
    else if (ch === quote) out += "\\" + ch;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (bytes && (code < 0x20 || code >= 0x7f)) out += "\\x" + code.toString(16).padStart(2, "0");
    else out += ch;
  }
  return quote + out + quote;
}

/**
 * A key as Python's `repr` writes it (the order Python sorts a rule's set of
 * keys in): exact for strings, ints, booleans, None, bytes and tuples of
 * those (a string's unprintable characters and some floats aside).
 */
function pyRepr(key: Key): string {
  if (typeof key === "string") return quoted(key, key, false);
  if (key instanceof Uint8Array) {
    const text = String.fromCharCode(...key);
    return "b" + quoted(text, text, true);
  }
  if (Array.isArray(key)) {
    const items = (key as readonly Key[]).map(pyRepr);
    return `(${items.join(", ")}${items.length === 1 ? "," : ""})`;
  }
  return formatPath([key]).slice(5, -1);
}

function normalizeItem(item: RuleItem, rule: readonly RuleItem[]): Item {
  if (item === ANY) return { kind: "any", id: "*" };
  if (item instanceof Set) {
    const keys = new Map<string, Key>();
    for (const key of item as ReadonlySet<Key>) {
      const id = keyId(key);
      if (id === null) throw new TypeError(`view rule ${String(rule)}: a NaN cannot be a key`);
      if (!keys.has(id)) keys.set(id, key);
    }
    const sorted = [...keys.values()].map((key) => [pyRepr(key), key] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return { kind: "set", keys: sorted.map(([, key]) => key), id: "S" + JSON.stringify([...keys.keys()].sort()) };
  }
  if (typeof item === "function") {
    let id = functionIds.get(item);
    if (id === undefined) functionIds.set(item, (id = nextFunction++));
    return { kind: "pred", fn: item as (key: Key) => boolean, id: `p${id}` };
  }
  const id = keyId(item as Key);
  if (id === null) throw new TypeError(`view rule ${String(rule)}: a NaN cannot be a key`);
  return { kind: "key", key: item as Key, id: "k" + id };
}

const ruleId = (rule: Rule): string => JSON.stringify(rule.map((item) => item.id));

/** The rules without repeats, in their first order (Python's `dict.fromkeys`). */
function unique(rules: Iterable<Rule>): Rule[] {
  const seen = new Map<string, Rule>();
  for (const rule of rules) {
    const id = ruleId(rule);
    if (!seen.has(id)) seen.set(id, rule);
  }
  return [...seen.values()];
}

/**
 * Which parts of the state a client sees: a set of path rules. `new View([])`
 * shows everything, `new View()` nothing; `a.or(b)` joins two views. Views are
 * values: equal rules make equal views ({@link View.equals}), and clients with
 * equal views share the bytes of every frame.
 *
 * ```js
 * const publicView = new View(["players", ANY, "pos"], ["players", ANY, "name"]);
 * const mine = publicView.or(new View(["players", 7, "inventory"]));
 * publisher.addClient("ann", { view: mine });
 * ```
 */
export class View {
  /** The rules as given (repeats dropped). */
  readonly rules: readonly (readonly RuleItem[])[];
  /** @internal the normalized rules */
  readonly given: readonly Rule[];
  /** @internal the identity of the set of rules */
  readonly id: string;

  constructor(...rules: (readonly RuleItem[])[]) {
    const normalized = rules.map((rule) => {
      if (!Array.isArray(rule)) throw new TypeError("a view rule is an array of path items (keys, ANY, sets, predicates)");
      return rule.map((item) => normalizeItem(item, rule));
    });
    const seen = new Map<string, number>();
    normalized.forEach((rule, index) => {
      const id = ruleId(rule);
      if (!seen.has(id)) seen.set(id, index);
    });
    const kept = [...seen.values()];
    this.rules = Object.freeze(kept.map((index) => Object.freeze([...rules[index]!])));
    this.given = Object.freeze(kept.map((index) => normalized[index]!));
    this.id = JSON.stringify([...seen.keys()].sort());
    Object.freeze(this);
  }

  /** A view that shows what either shows. */
  or(other: View): View {
    return new View(...this.rules, ...other.rules);
  }

  /** Whether the two views have the same rules (in any order). */
  equals(other: View | null): boolean {
    return other !== null && other.id === this.id;
  }
}

// -- compiled views ---------------------------------------------------------------------

let nextNode = 0;

/** A compiled position in a view; interned by its remaining rules. */
export class Node {
  readonly serial = nextNode++;
  covered: boolean;
  fixed = new Map<string, { key: Key; node: Node | null; tails: Rule[] }>();
  default: Node | null = null;
  preds: [(key: Key) => boolean, Rule][] | null = null;
  anyTails: Rule[] = [];
  enumerable = false;
  constructor(
    readonly compiler: ViewCompiler,
    covered: boolean,
  ) {
    this.covered = covered;
  }

  /** The node of `key`'s child, or null when nothing of it is shown. */
  child(key: Key): Node | null {
    const id = keyId(key)!;
    const fixed = this.fixed.get(id);
    if (this.preds === null) return fixed ? fixed.node : this.default;
    const tails = [...(fixed ? fixed.tails : this.anyTails)];
    for (const [predicate, rest] of this.preds) if (predicate(key)) tails.push(rest);
    return this.compiler.node(unique(tails));
  }
}

/** Compiles views into interned nodes (one per publisher). */
export class ViewCompiler {
  private readonly nodes = new Map<string, Node>();
  readonly everything: Node;
  readonly nothing: Node;

  constructor() {
    this.everything = new Node(this, true);
    this.everything.default = this.everything;
    this.nothing = new Node(this, false);
    this.nothing.enumerable = true;
  }

  /** How many nodes are compiled (interned) now. */
  get size(): number {
    return this.nodes.size;
  }

  /**
   * Forget every compiled node that `roots` do not reach (through literal keys
   * and "any other key"); returns how many are kept. Nodes computed for
   * predicate matches are compiled again when asked for.
   */
  release(roots: Iterable<Node>): number {
    const live = new Set<Node>([this.everything, this.nothing]);
    const stack = [...roots];
    while (stack.length) {
      const node = stack.pop()!;
      if (live.has(node)) continue;
      live.add(node);
      for (const { node: child } of node.fixed.values()) if (child !== null) stack.push(child);
      if (node.default !== null) stack.push(node.default);
    }
    for (const [ident, node] of this.nodes) if (!live.has(node)) this.nodes.delete(ident);
    return this.nodes.size;
  }

  /** The node of the root under `view` (null: everything). */
  root(view: View | null): Node {
    if (view === null) return this.everything;
    return this.node([...view.given]) ?? this.nothing;
  }

  node(tails: Rule[]): Node | null {
    if (!tails.length) return null;
    const ident = JSON.stringify(tails.map(ruleId).sort());
    const known = this.nodes.get(ident);
    if (known) return known;
    if (tails.some((tail) => tail.length === 0)) return this.everything;
    const node = new Node(this, false);
    this.nodes.set(ident, node);
    const literal = new Map<string, { key: Key; rests: Rule[] }>();
    const anyTails: Rule[] = [];
    const preds: [(key: Key) => boolean, Rule][] = [];
    const add = (key: Key, id: string, rest: Rule) => {
      const found = literal.get(id);
      if (found) found.rests.push(rest);
      else literal.set(id, { key, rests: [rest] });
    };
    for (const tail of tails) {
      const head = tail[0]!;
      const rest = tail.slice(1);
      if (head.kind === "any") anyTails.push(rest);
      else if (head.kind === "set") for (const key of head.keys) add(key, keyId(key)!, rest);
      else if (head.kind === "pred") preds.push([head.fn, rest]);
      else add(head.key, head.id.slice(1), rest);
    }
    node.anyTails = unique(anyTails);
    for (const [id, { key, rests }] of literal) {
      const fixedTails = unique([...rests, ...anyTails]);
      node.fixed.set(id, { key, node: null, tails: fixedTails });
    }
    for (const entry of node.fixed.values()) entry.node = this.node(entry.tails);
    node.default = this.node(node.anyTails);
    node.preds = preds.length ? preds : null;
    node.enumerable = node.default === null && node.preds === null;
    return node;
  }
}

// -- the trees a view gets ----------------------------------------------------------------

type Mapping = PyMap | TrackedMap;

/** The (stored key, value) pairs of `mapping` that `node` may show. */
function keysToVisit(mapping: Mapping, node: Node): Iterable<[Key, Tree]> {
  if (node.enumerable && 4 * node.fixed.size + 8 < mapping.size) {
    const out: [Key, Tree][] = [];
    for (const { key } of node.fixed.values()) {
      if (mapping.has(key)) out.push([mapping.storedKey(key)!, mapping.get(key)!]);
    }
    return out;
  }
  return mapping.entries();
}

/** The part of a mapping snapshot that `node` shows (subtrees shared). */
export function projectSnapshot(tree: PyMap, node: Node): PyMap {
  if (node.covered) return tree;
  const out = new PyMap();
  for (const [key, value] of keysToVisit(tree, node)) {
    const child = node.child(key);
    if (child === null) continue;
    if (child.covered) out.set(key, value);
    else if (value instanceof PyMap) out.set(key, projectSnapshot(value, child));
  }
  return out;
}

/** The snapshot of the part of a live mapping that `node` shows. */
export function projectState(mapping: TrackedMap, node: Node): PyMap {
  if (node.covered) return mapping.snapshot();
  const out = new PyMap();
  for (const [key, value] of keysToVisit(mapping, node)) {
    const child = node.child(key);
    if (child === null) continue;
    if (child.covered) out.set(key, snapshotValue(value));
    else if (value instanceof TrackedMap) out.set(key, projectState(value, child));
  }
  return out;
}

/** The delta a client under `node` gets of a mapping delta. */
export function filterDelta(delta: PyMap, node: Node): PyMap {
  if (node.covered) return delta;
  const out = new PyMap();
  for (const [key, change] of delta) {
    const child = node.child(key);
    if (child === null) continue;
    if (child.covered) out.set(key, change);
    else if (change instanceof PyMap) {
      const sub = filterDelta(change, child);
      if (sub.size) out.set(key, sub);
    } else if (change === DELETED) out.set(key, DELETED);
    else if (change instanceof Marker && change.id === 6) {
      const value = change.content;
      out.set(key, value instanceof PyMap ? new Marker(6, projectSnapshot(value, child)) : DELETED);
    } else if (change instanceof Marker && (change.id === 7 || change.id === 10 || change.id === 12)) continue;
    else out.set(key, DELETED); // a value that is not a mapping: hidden here
  }
  return out;
}

/**
 * The delta from what `old` shows of `mapping` to what `now` shows of it:
 * subtrees that enter the view come as snapshots, those that leave as deletes.
 */
export function transition(mapping: TrackedMap, old: Node, now: Node): PyMap {
  const out = new PyMap();
  if (old === now) return out;
  let items: Iterable<[Key, Tree]>;
  if (old.enumerable && now.enumerable) {
    const keys = new Map<string, Key>();
    for (const [id, { key }] of old.fixed) keys.set(id, key);
    for (const [id, { key }] of now.fixed) if (!keys.has(id)) keys.set(id, key);
    const list: [Key, Tree][] = [];
    for (const key of keys.values()) if (mapping.has(key)) list.push([mapping.storedKey(key)!, mapping.get(key)!]);
    items = list;
  } else items = mapping.entries();
  for (const [key, value] of items) {
    const was = old.child(key);
    const is = now.child(key);
    if (was === is) continue;
    const isMap = value instanceof TrackedMap;
    const held = was !== null && (was.covered || isMap);
    if (is === null || !(is.covered || isMap)) {
      if (held) out.set(key, DELETED);
    } else if (is.covered) out.set(key, isContainer(value) ? newEntry(value) : value);
    else if (held && was !== null && !was.covered) {
      const sub = transition(value as TrackedMap, was, is);
      if (sub.size) out.set(key, sub);
    } else out.set(key, new Marker(6, projectState(value as TrackedMap, is)));
  }
  return out;
}
