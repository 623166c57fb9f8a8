/**
 * The replica's state: trees of read-only containers. A replica changes the
 * mappings it owns in place, and forks (large) or copies (small) a mapping it
 * has handed out before it changes it, so what was handed out never changes and
 * unchanged subtrees are shared; a refused delta leaves the state as it was.
 *
 * | in the state      | JavaScript                                             |
 * | ----------------- | ------------------------------------------------------ |
 * | a mapping         | {@link PyMap} (never mutated once published)           |
 * | a list            | {@link List}                                           |
 * | a board           | {@link Board}: item type, shape, bytes, typed array    |
 * | a record          | {@link Record}: fields by name, read-only              |
 * | anything else     | the tree item itself (scalars, tuples, value types)    |
 */

import { PatchError } from "./errors.js";
import { ITEMS, eachRun } from "./markers.js";
import { formatPath, type PathItem } from "./path.js";
import { DELETED, Float, List, Marker, PyMap, TypedValue, idOf, type Id, type Key, type Tree } from "./tree.js";

/** A board: items of one numeric type in row-major order, little-endian bytes. */
export class Board {
  readonly item: string;
  readonly code: number;
  readonly shape: readonly number[];
  /** The items' bytes, little-endian (never mutated once published). */
  readonly data: Uint8Array;
  constructor(code: number, shape: readonly number[], data: Uint8Array) {
    this.code = code;
    this.item = ITEMS[code]!.name;
    this.shape = Object.freeze([...shape]);
    this.data = data;
    Object.freeze(this);
  }
  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
  /** The items as a typed array (a copy; 64-bit integers as BigInt64Array or BigUint64Array). */
  get array(): ArrayLike<number | bigint> {
    return new ARRAYS[this.code]!(this.data.slice().buffer);
  }
  /** The item at a flat (row-major) index. */
  at(index: number): number | bigint {
    const v = new DataView(this.data.buffer, this.data.byteOffset, this.data.byteLength) as unknown as { [get: string]: (pos: number, le: boolean) => number | bigint };
    // Uint8Array -> getUint8, BigInt64Array -> getBigInt64, Float32Array -> getFloat32, ...
    return v["get" + ARRAYS[this.code]!.name.slice(0, -5)]!(index * ITEMS[this.code]!.size, true);
  }
}

/** The typed array of each item code (the order of ITEMS). */
const ARRAYS = [Uint8Array, Int8Array, Uint16Array, Int16Array, Uint32Array, Int32Array, BigUint64Array, BigInt64Array, Float32Array, Float64Array] as const;

/** The name and field names of a record, by id. */
export type Schemas = ReadonlyMap<number, readonly [name: string, fields: readonly string[]]>;

/** A record: a read-only object whose fields are named by its schema. */
export class Record {
  readonly id: number;
  readonly name: string;
  readonly fields: readonly string[];
  readonly values: readonly Tree[];
  constructor(id: number, name: string, fields: readonly string[], values: readonly Tree[]) {
    this.id = id;
    this.name = name;
    this.fields = fields;
    this.values = Object.freeze([...values]);
    Object.freeze(this);
  }
  /** The value of the field `name`, or `undefined`. */
  get(name: string): Tree | undefined {
    const index = this.fields.indexOf(name);
    return index < 0 ? undefined : this.values[index];
  }
  /** The fields as a plain frozen object (keys from the schema; no prototype). */
  toObject(): Readonly<{ [field: string]: Tree }> {
    const out = Object.create(null) as { [field: string]: Tree };
    this.fields.forEach((field, i) => (out[field] = this.values[i]!));
    return Object.freeze(out);
  }
}

/** What a patch changed, reported after the whole patch applied. */
export type ChangeEvent =
  | { type: "added"; path: readonly Key[]; value: Tree }
  | { type: "removed"; path: readonly Key[]; old: Tree }
  | { type: "changed"; path: readonly Key[]; old: Tree; value: Tree }
  | { type: "cells"; path: readonly Key[]; indexes: readonly number[]; old: Board; value: Board };

/** Where a patch collects its events (null: none wanted). */
export type Events = ChangeEvent[] | null;

function refuse(path: readonly PathItem[], message: string): never {
  throw new PatchError(`${formatPath(path)}: ${message}`);
}

function isInt(value: Tree): value is number {
  return typeof value === "number" && Number.isInteger(value);
}

/**
 * A patch in progress. It runs in one pass over the delta: a value of an
 * existing key changes in place (the mappings `owner` owns; the others are
 * forked first) and is logged in `undo`; a key that comes, goes or is replaced
 * waits in `later` until the whole delta fitted. A refusal puts the logged
 * values back, so a refused delta leaves the state as it was, order included.
 */
interface Pass {
  readonly schemas: Schemas;
  /** Where the patch is (a stack: pushed and popped on the way). */
  readonly path: PathItem[];
  /** The owner whose mappings the pass changes in place; it forks or copies the others first. */
  readonly owner: object;
  /** The values changed in place, to put back after a refusal: map, id, old value, ... */
  readonly undo: (PyMap | Id | Tree)[];
  /** The keys to add, remove (DELETED) or replace once the delta fitted: map, id, key, value, ... */
  readonly later: (PyMap | Id | Key | Tree)[];
  readonly events: Events;
}

function pass(schemas: Schemas, path: readonly PathItem[], owner: object, events: Events): Pass {
  return { schemas, path: [...path], owner, undo: [], later: [], events };
}

function isScalar(value: Tree): boolean {
  return typeof value !== "object" || value === null || value instanceof Float || value instanceof Uint8Array || Array.isArray(value);
}

function buildIn(tree: Tree, p: Pass): Tree {
  if (tree instanceof PyMap) {
    tree._o = p.owner;
    const a = tree._a;
    if (a !== null) {
      for (let i = 1; i < a.length; i += 2) {
        const child = a[i] as Tree;
        if (!isScalar(child)) a[i] = buildAt(child, tree._key(a[i - 1] as Id), p);
      }
      return tree;
    }
    const values = tree._m!;
    // (Written here directly: the int index, made again when next read.)
    tree._i = null;
    for (const [id, child] of values) {
      if (isScalar(child)) continue;
      const built = buildAt(child, tree._key(id), p);
      if (built !== child) values.set(id, built);
    }
    return tree;
  }
  if (tree instanceof List) return new List(tree.items.map((item, i) => buildAt(item, i, p)));
  if (tree === DELETED) refuse(p.path, "a snapshot cannot hold DELETED");
  if (tree instanceof Marker) {
    if (tree.id === 9) {
      const [code, shape, data] = tree.content as [number, number[], Uint8Array];
      return new Board(code, shape.map(Number), data);
    }
    if (tree.id === 11) {
      const [rid, ...values] = tree.content as [number, ...Tree[]];
      const schema = p.schemas.get(rid);
      if (!schema) refuse(p.path, `a record of unknown id ${rid}`);
      const fields = schema[1];
      if (fields.length !== values.length) {
        refuse(p.path, `record ${schema[0]} has ${fields.length} fields, the snapshot ${values.length} values`);
      }
      return new Record(rid, schema[0], fields, values.map((v, i) => buildAt(v, fields[i]!, p)));
    }
    refuse(p.path, `a snapshot cannot hold marker ${tree.id}`);
  }
  return tree;
}

/** The built value of `tree` at the key `key` under the place `p.path`. */
function buildAt(tree: Tree, key: Key, p: Pass): Tree {
  p.path.push(key);
  const built = buildIn(tree, p);
  p.path.pop();
  return built;
}

/**
 * Build the state of a snapshot value (a `PyMap` in it is a mapping's contents).
 * The decoded tree is the caller's to give away: its mappings become the state's
 * as they are (owned by `owner`: read-only to others when it is not null), with
 * only the items that need building (boards, records, lists) replaced.
 */
export function build(tree: Tree, schemas: Schemas, path: readonly PathItem[] = [], owner: object | null = null): Tree {
  return buildIn(tree, pass(schemas, path, owner as object, null));
}

/** The snapshot tree of a state value (as Python's `snapshot()` gives it). */
export function snapshotOf(value: Tree): Tree {
  if (value instanceof PyMap) {
    const out = new PyMap();
    for (const [k, v] of value) out.set(k, snapshotOf(v));
    return out;
  }
  if (value instanceof List) return new List(value.items.map(snapshotOf));
  if (value instanceof Board) return new Marker(9, Object.freeze([value.code, Object.freeze([...value.shape]), value.data]));
  if (value instanceof Record) return new Marker(11, Object.freeze([value.id, ...value.values.map(snapshotOf)]));
  return value;
}

// -- one pass: changes values in place with an undo log, defers what adds or removes keys --

/**
 * Apply `delta` to `map` (which `p.owner` owns): a changed value is written at
 * once and logged in `p.undo`; a key added, removed or replaced waits in
 * `p.later` until the whole delta fitted (so that a refusal can put every
 * mapping back as it was, order included).
 */
function patchIn(map: PyMap, delta: PyMap, p: Pass): void {
  const a = delta._a;
  if (a !== null) for (let i = 0; i < a.length; i += 2) patchEntry(map, delta, a[i] as Id, a[i + 1] as Tree, p);
  else for (const [id, change] of delta._m!) patchEntry(map, delta, id, change, p);
}

function patchEntry(map: PyMap, delta: PyMap, id: Id, change: Tree, p: Pass): void {
  const key = delta._key(id);
  const old = map._get(id);
  if (change === DELETED) return removed(map, id, key, old, p);
  p.path.push(key);
  const value = patchValue(old, change, p);
  p.path.pop();
  settle(map, id, key, old, value, p, change instanceof Marker && change.id === 6);
}

/** What a pass (or the fused CBOR path, see `patchCborAt`) changes, and where. */
export interface Log {
  readonly path: PathItem[];
  readonly events: Events;
  readonly undo: (PyMap | Id | Tree)[];
  readonly later: (PyMap | Id | Key | Tree)[];
}

/** The key `key` (id `id`) of `map`, which held `old`, is DELETED: it goes once the delta fitted. */
export function removed(map: PyMap, id: Id, key: Key, old: Tree | undefined, p: Log): void {
  if (old !== undefined) {
    p.later.push(map, id, key, DELETED);
    if (p.events !== null) p.events.push({ type: "removed", path: [...p.path, key], old });
  }
}

/** The key `key` of `map`, which held `old`, holds `value` now: in place (logged), or once the delta fitted (a new key, a Replace). */
export function settle(map: PyMap, id: Id, key: Key, old: Tree | undefined, value: Tree, p: Log, replace = false): void {
  if (old === undefined || replace) p.later.push(map, id, key, value);
  else if (value !== old) {
    p.undo.push(map, id, old);
    map._set(id, key, value);
  }
}

/** The new value at `p.path`, which held `old`, after `change` (PatchError when it does not fit). */
function patchValue(old: Tree | undefined, change: Tree, p: Pass): Tree {
  if (typeof change !== "object" || change === null) {
    if (change === DELETED) refuse(p.path, "a snapshot cannot hold DELETED");
    return changedTo(old, change, p);
  }
  if (change instanceof PyMap) {
    if (!(old instanceof PyMap)) refuse(p.path, `a mapping delta for ${old === undefined ? "a missing entry" : "a value that is not a mapping"}`);
    const map = old._o === p.owner ? old : old._fork(p.owner);
    patchIn(map, change, p);
    return map;
  }
  if (change instanceof Marker) {
    switch (change.id) {
      case 7: {
        if (!(old instanceof List)) refuse(p.path, "a list delta for a value that is not a list");
        return listWith(old, change.content as readonly Tree[][], p);
      }
      case 10:
        if (!(old instanceof Board)) refuse(p.path, "a board delta for a value that is not a board");
        return boardChange(old, change.content as Uint8Array, p);
      case 12: {
        if (!(old instanceof Record)) refuse(p.path, "a record delta for a value that is not a record");
        const values = [...old.values];
        const delta = change.content as PyMap;
        for (const [id, field] of delta._v) {
          const index = delta._key(id);
          if (typeof index !== "number" || index < 0 || index >= values.length) refuse(p.path, `record ${old.name} has no field ${String(index)}`);
          p.path.push(old.fields[index]!);
          values[index] = patchValue(values[index], field, p);
          p.path.pop();
        }
        return new Record(old.id, old.name, old.fields, values);
      }
      case 6:
        return changedTo(old, buildIn(change.content, p), p);
    }
  }
  return changedTo(old, buildIn(change, p), p);
}

/** The new list after a list delta, built on a copy: the old list's mappings are copied (or forked) before they change. */
function listWith(list: List, ops: readonly Tree[][], p: Pass): List {
  const sub: Pass = { schemas: p.schemas, path: p.path, owner: {}, undo: [], later: [], events: p.events };
  const events = sub.events;
  const path = p.path;
  const at = (i: number): Key[] => [...path, i];
  const items = [...list.items];
  for (const op of ops) {
    const code = op[0];
    if (code === 0 && op.length === 3 && isInt(op[1]!)) {
      const i = op[1];
      if (i < 0 || i >= items.length) refuse(path, `a list delta changes item ${i} of ${items.length}`);
      if (op[2] === DELETED) refuse(path, "a list item cannot be deleted by a change");
      path.push(i);
      items[i] = patchValue(items[i], op[2]!, sub);
      later(sub.later);
      path.pop();
    } else if (code === 1 && op.length >= 2 && isInt(op[1]!)) {
      const i = op[1];
      if (i < 0 || i > items.length) refuse(path, `a list delta inserts at ${i} in ${items.length} items`);
      const added = op.slice(2).map((v, j) => buildAt(v, i + j, sub));
      items.splice(i, 0, ...added);
      if (events) added.forEach((value, j) => events.push({ type: "added", path: at(i + j), value }));
    } else if (code === 2 && op.length >= 3 && isInt(op[1]!) && isInt(op[2]!)) {
      const [i, n] = [op[1], op[2]];
      if (i < 0 || n < 0 || i + n > items.length) refuse(path, `a list delta deletes ${n} items at ${i} of ${items.length}`);
      const removed = items.splice(i, n);
      if (events) removed.forEach((old, j) => events.push({ type: "removed", path: at(i + j), old }));
    } else if (code === 3) {
      const old = new List(items.slice());
      const fresh = op.slice(1).map((v, j) => buildAt(v, j, sub));
      items.splice(0, items.length, ...fresh);
      if (events) events.push({ type: "changed", path: [...path], old, value: new List(items.slice()) });
    } else {
      refuse(path, `an unknown list operation ${String(code)}`);
    }
  }
  return new List(items);
}

function boardChange(board: Board, payload: Uint8Array, p: Pass): Board {
  const indexes: number[] | null = p.events ? [] : null;
  const result = boardWith(board, payload, p.path, indexes);
  if (indexes && result !== board) {
    const size = ITEMS[board.code]!.size;
    const cells = [...new Set(indexes)].filter((i) => {
      for (let b = i * size; b < (i + 1) * size; b++) if (board.data[b] !== result.data[b]) return true;
      return false;
    });
    if (cells.length) p.events!.push({ type: "cells", path: [...p.path], indexes: cells.sort((a, b) => a - b), old: board, value: result });
  }
  return result;
}

function boardWith(board: Board, payload: Uint8Array, path: readonly PathItem[], indexes: number[] | null): Board {
  if (payload.length === 0) return board;
  const head = payload[0]!;
  const form = head >> 6;
  const code = head & 15;
  if (code !== board.code) refuse(path, `a board delta of item type ${ITEMS[code]?.name} for a board of ${board.item}`);
  const size = ITEMS[code]!.size;
  const n = board.size;
  const data = board.data.slice();
  if (form === 2) {
    if (payload.length - 1 !== data.length) refuse(path, `a blob of ${payload.length - 1} bytes for a board of ${data.length}`);
    data.set(payload.subarray(1));
    if (indexes) for (let i = 0; i < n; i++) indexes.push(i);
    return new Board(board.code, board.shape, data);
  }
  eachRun(payload, (first, last, at) => {
    if (last >= n) refuse(path, `a board delta writes index ${last} of ${n}`);
    data.set(payload.subarray(at, at + (last - first + 1) * size), first * size);
    if (indexes) for (let i = first; i <= last; i++) indexes.push(i);
  });
  return new Board(board.code, board.shape, data);
}

/** `value`, after noting its event: the place held `old` (also the fused CBOR path's, see `patchCborAt`). */
export function changedTo(old: Tree | undefined, value: Tree, p: Log | Pass): Tree {
  const events = p.events;
  if (events !== null) {
    if (old === undefined) events.push({ type: "added", path: p.path.slice(), value });
    else if (
      // (Two numbers, the common change, compared here: sameTree does not inline.)
      typeof old === "number" && typeof value === "number"
        ? !Object.is(old, value)
        : isScalar(old) && isScalar(value)
          ? !sameTree(old, value)
          : !sameTree(snapshotOf(old), snapshotOf(value))
    ) {
      events.push({ type: "changed", path: p.path.slice(), old, value });
    }
  }
  return value;
}

/**
 * Apply `delta` to the state `map` and return the new state: in place for the
 * mappings `owner` owns (a copy, owned by `owner`, for the others). A delta
 * that does not fit throws a PatchError and changes nothing.
 */
export function patch(map: PyMap, delta: PyMap, schemas: Schemas, owner: object, events: Events = null, path: readonly PathItem[] = []): PyMap {
  if (delta.size === 0) return map;
  const p = pass(schemas, path, owner, events);
  const root = map._o === owner ? map : map._fork(owner);
  try {
    patchIn(root, delta, p);
  } catch (exc) {
    // Put back every value changed in place (newest first); the keys to add or remove were not touched yet.
    putBack(p.undo);
    throw exc;
  }
  later(p.later);
  return root;
}

/** Put back the values a pass changed in place (`map, id, old, ...`), newest first, and empty the log. */
export function putBack(undo: (PyMap | Id | Tree)[]): void {
  for (let i = undo.length - 3; i >= 0; i -= 3) (undo[i] as PyMap)._set(undo[i + 1] as Id, undo[i + 1] as Key, undo[i + 2] as Tree);
  undo.length = 0;
}

/** Add, remove and replace the keys a pass deferred (`map, id, key, value, ...`), in order, and empty the log. */
export function later(todo: (PyMap | Id | Key | Tree)[]): void {
  for (let i = 0; i < todo.length; i += 4) {
    const map = todo[i] as PyMap;
    const id = todo[i + 1] as Id;
    const value = todo[i + 3] as Tree;
    map._delete(id);
    if (value !== DELETED) map._set(id, todo[i + 2] as Key, value);
  }
  todo.length = 0;
}

/** A new mapping: `map` with `delta` applied (PatchError when it does not fit); `map` is unchanged. */
export function applyMap(map: PyMap, delta: PyMap, schemas: Schemas, path: readonly PathItem[] = [], events: Events = null): PyMap {
  return patch(map, delta, schemas, {}, events, path);
}

/** Strict equality of two snapshot trees: types, key types, float bits (mapping order aside). */
export function sameTree(a: Tree, b: Tree): boolean {
  if (a === b) return typeof a !== "number" || !Object.is(a, -0) || Object.is(b, -0);
  if (typeof a !== typeof b) return false;
  if (typeof a === "number") return Object.is(a, b);
  if (a instanceof Float) {
    if (!(b instanceof Float) || !Object.is(a.value, b.value)) return false;
    return (a.bits === null && b.bits === null) || (!!a.bits && !!b.bits && a.bits.every((x, i) => x === b.bits![i]));
  }
  if (a instanceof Uint8Array) return b instanceof Uint8Array && a.length === b.length && a.every((x, i) => x === b[i]);
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => sameTree(x as Tree, (b as Tree[])[i]!));
  if (a instanceof List) return b instanceof List && sameTree(a.items, b.items);
  if (a instanceof Marker) return b instanceof Marker && a.id === b.id && sameTree(a.content, b.content);
  if (a instanceof TypedValue) return b instanceof TypedValue && a.name === b.name && sameTree(a.tree, b.tree);
  if (a instanceof PyMap) {
    if (!(b instanceof PyMap) || a.size !== b.size) return false;
    for (const [k, v] of a) {
      if (!b.has(k) || !sameKey(b.storedKey(k)!, k) || !sameTree(v, b.get(k)!)) return false;
    }
    return true;
  }
  return false;
}

/** Whether two keys are the same key object type and value (`1` and `1.0` are not). */
export function sameKey(a: Key, b: Key): boolean {
  return idOf(a) === idOf(b) && sameTree(a as Tree, b as Tree);
}

/** The delta from the state `current` to the snapshot `tree` (Python's refresh rule). */
export function refreshDelta(current: PyMap, tree: PyMap): PyMap {
  const out = new PyMap();
  for (const key of current.keys()) if (!tree.has(key)) out.set(key, DELETED);
  for (const [key, value] of tree) {
    const old = current.get(key);
    if (old === undefined || !sameKey(current.storedKey(key)!, key)) out.set(key, new Marker(6, value));
    else if (old instanceof PyMap && value instanceof PyMap) {
      const sub = refreshDelta(old, value);
      if (sub.size) out.set(key, sub);
    } else if (!sameTree(snapshotOf(old), value)) out.set(key, new Marker(6, value));
  }
  return out;
}
