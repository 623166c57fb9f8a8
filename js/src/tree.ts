/**
 * The protocol tree in JavaScript: what a codec decodes to and encodes from.
 *
 * | Python            | JavaScript                                                        |
 * | ----------------- | ----------------------------------------------------------------- |
 * | `None`            | `null`                                                            |
 * | `bool`            | `boolean`                                                         |
 * | `int`             | `number` (a safe integer), or `bigint` beyond 2**53 - 1           |
 * | `float`           | `number` when it is not an integer; a {@link Float} otherwise     |
 * | `str`, `bytes`    | `string`, `Uint8Array`                                            |
 * | `tuple`           | a frozen `Array`                                                  |
 * | `dict`            | a {@link PyMap} (Python's key model: `1`, `1.0`, `true` one key)  |
 * | `list`            | a {@link List}                                                    |
 * | `DELETED`         | {@link DELETED}                                                   |
 * | a marker          | a {@link Marker} (its number and its content)                     |
 * | a value type      | a {@link TypedValue}                                              |
 */

/** A float whose value a plain `number` would read as an int: `1.0`, `-0.0`, or a NaN with its bits. */
export class Float {
  /** The value; for a NaN, {@link bits} holds its payload. */
  readonly value: number;
  /** A NaN's 8 bytes (big-endian), when they are not the quiet NaN 7ff8000000000000. */
  readonly bits: Uint8Array | null;
  constructor(value: number, bits: Uint8Array | null = null) {
    this.value = value;
    this.bits = bits;
    Object.freeze(this);
  }
  /** Arithmetic and comparisons see the number. */
  valueOf(): number {
    return this.value;
  }
  toString(): string {
    return Number.isInteger(this.value) && !Object.is(this.value, -0)
      ? this.value.toFixed(1)
      : String(this.value);
  }
}

/** Make a float tree item: a plain number when that reads back as a float, else a {@link Float}. */
export function float(value: number): number | Float {
  return Number.isInteger(value) || Object.is(value, -0) ? new Float(value) : value;
}

/** A list (Python `list`; a tuple is a frozen Array). */
export class List {
  readonly items: readonly Tree[];
  constructor(items: readonly Tree[]) {
    this.items = items;
    Object.freeze(this);
  }
}

/** In a delta: the key is gone. */
export const DELETED: unique symbol = Symbol("flatsync.DELETED");
export type Deleted = typeof DELETED;

/** A marker: its number (6 to 15 on the wire) and its content tree. */
export class Marker {
  readonly id: number;
  readonly content: Tree;
  constructor(id: number, content: Tree) {
    this.id = id;
    this.content = content;
    Object.freeze(this);
  }
}

/** Marker numbers: Replace, ListDelta, BoardSnapshot, BoardDelta, RecordSnapshot, RecordDelta. */
export const REPLACE = 6,
  LIST_DELTA = 7,
  BOARD_SNAPSHOT = 9,
  BOARD_DELTA = 10,
  RECORD_SNAPSHOT = 11,
  RECORD_DELTA = 12;
/** The marker numbers this version of the format knows. */
export const MARKER_IDS: ReadonlySet<number> = new Set([6, 7, 9, 10, 11, 12]);

/** A value of a registered value type that this process keeps as its name and tree. */
export class TypedValue {
  readonly name: string;
  readonly tree: Tree;
  constructor(name: string, tree: Tree) {
    this.name = name;
    this.tree = tree;
    Object.freeze(this);
  }
}

export type Key = null | boolean | number | bigint | Float | string | Uint8Array | readonly Key[];
export type Tree =
  | null
  | boolean
  | number
  | bigint
  | Float
  | string
  | Uint8Array
  | readonly Tree[]
  | PyMap
  | List
  | Deleted
  | Marker
  | TypedValue
  | object;

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Lower-case hex of bytes. */
export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]!];
  return out;
}

/** Bytes of a hex string (spaces allowed). */
export function fromHex(hex: string): Uint8Array {
  const clean = hex.replace(/\s+/g, "");
  const out = new Uint8Array(clean.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * The identity of a key under Python's equality: `1`, `1.0`, `true` and `1n` give
 * one string; a NaN gives `null` (it can never be a key).
 */
export function keyId(key: Key): string | null {
  if (key === null) return "N";
  switch (typeof key) {
    case "string":
      return "s" + key;
    case "boolean":
      return key ? "n1" : "n0";
    case "bigint":
      return "n" + key.toString();
    case "number":
      return numberId(key);
  }
  if (key instanceof Float) return numberId(key.value);
  if (key instanceof Uint8Array) return "b" + toHex(key);
  if (Array.isArray(key)) {
    const parts: string[] = [];
    for (const item of key as readonly Key[]) {
      const id = keyId(item);
      if (id === null) return null;
      parts.push(id);
    }
    return "t" + JSON.stringify(parts);
  }
  throw new TypeError(`not a key: ${String(key)}`);
}

function numberId(value: number): string | null {
  if (value !== value) return null;
  if (Number.isInteger(value)) {
    return "n" + (Number.isSafeInteger(value) ? String(value === 0 ? 0 : value) : BigInt(value).toString());
  }
  return "n" + String(value);
}

/** A key's identity in a {@link PyMap}'s table: the key itself for a string or a number, else a tagged string. */
export type Id = string | number;

/** Tags the ids of keys that are neither strings nor numbers (a text key starting with it is tagged too). */
const TAG = "\udc00";

/**
 * The identity of a key under Python's equality, cheap for the common keys: a
 * string or a number is its own id, `true` is 1, `1.0` is 1, a bigint that a
 * float equals is that number; `None`, bytes, tuples and other bigints get a
 * tagged string. A NaN gives `null` (it can never be a key).
 */
export function idOf(key: Key): Id | null {
  // (Small, so that it inlines: the common keys first, the others in otherId.)
  if (typeof key === "number") return key === key ? key : null;
  if (typeof key === "string") return key.charCodeAt(0) === 0xdc00 ? TAG + "s" + key : key;
  return otherId(key);
}

function otherId(key: Key): Id | null {
  if (typeof key === "boolean") return key ? 1 : 0;
  if (typeof key === "bigint") {
    const n = Number(key);
    return Number.isFinite(n) && BigInt(n) === key ? n : TAG + "i" + key;
  }
  if (key === null) return TAG + "N";
  if (key instanceof Float) return key.value === key.value ? key.value : null;
  if (key instanceof Uint8Array) return TAG + "b" + toHex(key);
  if (Array.isArray(key)) {
    let out = TAG + "t";
    for (const item of key as readonly Key[]) {
      const id = idOf(item);
      if (id === null) return null;
      out += (typeof id === "number" ? String(id) : JSON.stringify(id)) + ",";
    }
    return out;
  }
  throw new TypeError(`not a key: ${String(key)}`);
}

/** Up to this many entries a map is a flat array (most maps are small: entities' fields). */
const SMALL = 16;

const READ_ONLY = "a replica's state is read-only (copy() a mapping to change the copy)";

/**
 * A mapping with Python's key model: `1`, `1.0` and `true` are one key, tuples
 * (frozen arrays) and bytes are found by value, `__proto__` is a key like any
 * other. Entries keep Python's insertion order; writing an existing key keeps
 * the key object it has.
 *
 * A mapping of a replica's state is read-only: its `set`, `replace` and
 * `delete` throw a `TypeError` (`copy()` gives a mapping you may change).
 */
export class PyMap {
  /**
   * @internal A small map (up to {@link SMALL} entries): `[id, value, id, value, ...]`
   * in order, found by a scan; null once the map outgrew it (then {@link _m} holds it).
   */
  _a: (Id | Tree)[] | null = [];
  /** @internal A larger map: the values by key id, in insertion order (a JS Map keeps Python's dict order). */
  _m: Map<Id, Tree> | null = null;
  /** @internal The key objects that are not their own id (`1.0`, `true`, tuples, bytes...). */
  _k: Map<Id, Key> | null = null;
  /** @internal The owner that may change this map in place (a replica's), or null: anyone may. */
  _o: object | null = null;
  /**
   * @internal A past version of a large map (see {@link _fork}): the newer version it
   * reads through, and its own values where that one changed since (same keys, same order).
   */
  _n: PyMap | null = null;
  _u: Map<Id, Tree> | null = null;
  /** @internal The past version that reads through this map: it keeps its values before this map changes them. */
  _d: PyMap | null = null;
  /**
   * @internal A large map's values by small int id, for look-ups without hashing (a
   * JS Map's hash table costs a cache miss a look-up on a large state): for every
   * int j below its length, `_i[j]` is the value under j, or undefined. Null: not made yet.
   */
  _i: (Tree | undefined)[] | null = null;

  constructor(entries?: Iterable<readonly [Key, Tree]>) {
    if (entries) for (const [k, v] of entries) this.set(k, v);
  }
  get size(): number {
    const a = this._a;
    return a !== null ? a.length >> 1 : this._n !== null ? this._n.size : this._m!.size;
  }

  /** @internal The values by key id, in order, as a JS Map (a small map becomes a large one). */
  get _v(): Map<Id, Tree> {
    this._own();
    const m = this._m;
    if (m !== null) return m;
    const a = this._a!;
    const out = new Map<Id, Tree>();
    for (let i = 0; i < a.length; i += 2) out.set(a[i] as Id, a[i + 1] as Tree);
    this._a = null;
    return (this._m = out);
  }

  /** @internal The value under `id`, or undefined. */
  _get(id: Id): Tree | undefined {
    const a = this._a;
    if (a === null) {
      if (this._n === null) {
        if (typeof id === "number" && (id | 0) === id) {
          const index = this._i ?? this._index();
          if (id < index.length && id >= 0) return index[id];
        }
        return this._m!.get(id);
      }
      const value = this._u!.get(id);
      return value !== undefined ? value : this._n._get(id);
    }
    for (let i = 0; i < a.length; i += 2) if (a[i] === id) return a[i + 1] as Tree;
    return undefined;
  }

  /** @internal Make {@link _i}: the values under 0, 1, 2... up to the first id missing after 0. */
  _index(): (Tree | undefined)[] {
    const m = this._m!;
    const index: (Tree | undefined)[] = [];
    for (let j = 0; ; j++) {
      const value = m.get(j);
      if (value === undefined && j) return (this._i = index);
      index.push(value);
    }
  }

  /** @internal Keep {@link _i} in step with a write of `value` (undefined: a removal) under `id`. */
  _put(id: Id, value: Tree | undefined): void {
    const index = this._i;
    if (index !== null && typeof id === "number" && (id | 0) === id && id >= 0 && id <= index.length) index[id] = value;
  }

  /** @internal Whether `id` is a key. */
  _has(id: Id): boolean {
    const a = this._a;
    if (a === null) return this._n !== null ? this._n._has(id) : this._m!.has(id);
    for (let i = 0; i < a.length; i += 2) if (a[i] === id) return true;
    return false;
  }

  /** @internal The key object stored under `id`. */
  _key(id: Id): Key {
    if (this._n !== null) return this._n._key(id);
    const key = this._k?.get(id);
    return key === undefined ? id : key;
  }

  /** @internal Set `id` (new: with the key object `key`); the owner's write, unchecked. Returns whether `id` is new. */
  _set(id: Id, key: Key, value: Tree): boolean {
    this._own();
    const a = this._a;
    let added: boolean;
    if (a !== null && (a.length < SMALL * 2 || this._has(id))) {
      for (let i = 0; i < a.length; i += 2) {
        if (a[i] === id) {
          a[i + 1] = value;
          return false;
        }
      }
      a.push(id, value);
      added = true;
    } else {
      const m = this._v;
      const past = this._d;
      if (past !== null) {
        // Keep the past version's value, or let it take its own copy before a key comes or goes.
        const old = m.get(id);
        if (old === undefined) past._own();
        else if (!past._u!.has(id)) past._u!.set(id, old);
      }
      const size = m.size;
      m.set(id, value);
      this._put(id, value);
      added = m.size !== size;
    }
    if (added && (id !== key || (key === 0 && 1 / key < 0))) (this._k ??= new Map()).set(id, key);
    return added;
  }

  /** @internal Remove `id`; the owner's write, unchecked. */
  _delete(id: Id): boolean {
    this._own();
    const a = this._a;
    if (a === null) {
      if (!this._m!.has(id)) return false;
      this._d?._own();
      this._m!.delete(id);
      this._put(id, undefined);
    } else {
      let i = 0;
      while (i < a.length && a[i] !== id) i += 2;
      if (i >= a.length) return false;
      a.splice(i, 2);
    }
    this._k?.delete(id);
    return true;
  }

  /**
   * @internal A version that `owner` may change in place, this one left as it is. A
   * large map is not copied: the new version takes its table, and this one becomes a
   * past version that reads through it and keeps its own values where the new one
   * changes them (until a key comes or goes there: then it takes its own copy).
   */
  _fork(owner: object): PyMap {
    if (this._a !== null || this._n !== null) return this._copy(owner);
    const out = new PyMap();
    [out._a, out._m, out._k, out._o, out._d, out._i] = [null, this._m, this._k, owner, this, this._i];
    // This version never changes again: an older one that reads through it needs no more from it.
    [this._m, this._k, this._n, this._u, this._d, this._i] = [null, null, out, new Map(), null, null];
    return out;
  }

  /** @internal A past version takes its own table (and reads through nothing any more). */
  _own(): void {
    const next = this._n;
    if (next === null) return;
    let head = next;
    while (head._n !== null) head = head._n;
    const m = new Map<Id, Tree>();
    for (const id of head._m!.keys()) m.set(id, this._get(id)!);
    if (head._k !== null) this._k = new Map(head._k);
    if (next._d === this) next._d = null;
    [this._m, this._n, this._u] = [m, null, null];
  }

  /** @internal A copy that `owner` may change in place. */
  _copy(owner: object | null): PyMap {
    this._own();
    const out = new PyMap();
    const a = this._a;
    if (a !== null) out._a = a.slice();
    else [out._a, out._m] = [null, new Map(this._m)];
    if (this._k !== null) out._k = new Map(this._k);
    out._o = owner;
    return out;
  }

  private writable(key: Key): Id {
    if (this._o !== null) throw new TypeError(READ_ONLY);
    const id = idOf(key);
    if (id === null) throw new TypeError("a NaN cannot be a key");
    return id;
  }

  /** The value at `key`, or `undefined`. */
  get(key: Key): Tree | undefined {
    const id = idOf(key);
    return id === null ? undefined : this._get(id);
  }
  has(key: Key): boolean {
    const id = idOf(key);
    return id !== null && this._has(id);
  }
  /** The key object stored for `key` (which may be `1.0` for `1`), or `undefined`. */
  storedKey(key: Key): Key | undefined {
    const id = idOf(key);
    return id === null || !this._has(id) ? undefined : this._key(id);
  }

  /** Set `key` to `value`; an existing key keeps its key object and place (as in a Python dict). */
  set(key: Key, value: Tree): this {
    this._set(this.writable(key), key, value);
    return this;
  }
  /** Remove `key` and insert it again with this key object, last (a `Replace`). */
  replace(key: Key, value: Tree): this {
    const id = this.writable(key);
    this._delete(id);
    this._set(id, key, value);
    return this;
  }
  delete(key: Key): boolean {
    if (this._o !== null) throw new TypeError(READ_ONLY);
    const id = idOf(key);
    return id !== null && this._delete(id);
  }
  /** Used by the decoders: add a key that must be new; false when it is a duplicate (the map is then spoilt). */
  addNew(key: Key, value: Tree): boolean {
    return this._set(this.writable(key), key, value);
  }

  *entries(): IterableIterator<[Key, Tree]> {
    this._own();
    const a = this._a;
    if (a === null) for (const [id, value] of this._m!) yield [this._key(id), value];
    else for (let i = 0; i < a.length; i += 2) yield [this._key(a[i] as Id), a[i + 1] as Tree];
  }
  *keys(): IterableIterator<Key> {
    for (const [key] of this.entries()) yield key;
  }
  *values(): IterableIterator<Tree> {
    for (const [, value] of this.entries()) yield value;
  }
  [Symbol.iterator](): IterableIterator<[Key, Tree]> {
    return this.entries();
  }
  /** A copy that you may change (a replica's state is read-only). */
  copy(): PyMap {
    return this._copy(null);
  }
}

/** The bounds a codec enforces (Python's `flatsync.Limits`, same defaults, same units). */
export interface Limits {
  maxPacketSize: number;
  maxDepth: number;
  maxContainerItems: number;
  maxStringLength: number;
  maxTotalItems: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxPacketSize: 64 * 1024 * 1024,
  maxDepth: 64,
  maxContainerItems: 1_000_000,
  maxStringLength: 16 * 1024 * 1024,
  maxTotalItems: 10_000_000,
});

let lastPartial: Partial<Limits> | null = null;
let lastFull: Limits = DEFAULT_LIMITS;

/** Complete limits from a partial set (the last frozen set's are kept: a replica decodes with one). */
export function limits(partial: Partial<Limits> = {}): Limits {
  if (partial === lastPartial) return lastFull;
  const full = { ...DEFAULT_LIMITS, ...partial };
  if (Object.isFrozen(partial)) [lastPartial, lastFull] = [partial, full];
  return full;
}

/** How one value type travels: its name, and functions to and from its tree. */
export interface ValueType<T = unknown> {
  name: string;
  /** The class of its values (the encoder finds the type by `value.constructor`). */
  cls?: abstract new (...args: never[]) => T;
  toTree?: (value: T) => Tree;
  /** Runs on what a peer sent: throw to refuse the tree (a DecodeError). */
  fromTree?: (tree: Tree) => T;
}

const TYPES_BY_NAME = new Map<string, ValueType<any>>();
const TYPES_BY_CLASS = new Map<unknown, ValueType<any>>();

/**
 * Register a value type (as Python's `register_type`): without `cls`, its
 * values stay {@link TypedValue}s whose trees `fromTree` checks.
 */
export function registerType<T>(type: ValueType<T>): void {
  TYPES_BY_NAME.set(type.name, type);
  if (type.cls) TYPES_BY_CLASS.set(type.cls, type);
}

/** A decoded value type: the registered type's value, or a DecodeError. */
export function valueFromTree(name: string, tree: Tree): Tree {
  const type = TYPES_BY_NAME.get(name);
  if (!type) throw new Error(`unknown value type ${JSON.stringify(name)}`);
  let value: unknown;
  try {
    value = type.fromTree ? type.fromTree(tree) : tree;
  } catch (exc) {
    throw new Error(`value type ${name} refused its tree: ${(exc as Error).message}`);
  }
  return type.cls ? (value as Tree) : new TypedValue(name, tree);
}

/** The name and tree of a value for encoders, or `null` when it is no value type. */
export function valueToTree(value: object): [string, Tree] | null {
  if (value instanceof TypedValue) return [value.name, value.tree];
  const type = TYPES_BY_CLASS.get(value.constructor);
  if (!type) return null;
  return [type.name, type.toTree ? type.toTree(value) : (value as Tree)];
}

/** Whether `tree` is a tuple (a frozen or plain Array). */
export function isTuple(tree: unknown): tree is readonly Tree[] {
  return Array.isArray(tree);
}
