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

/** One entry of a {@link PyMap}; never changed once made, so versions share it. */
interface Entry {
  readonly id: string;
  readonly key: Key;
  readonly value: Tree;
  /** Insertion order: a key keeps its place when written, and goes last when deleted and inserted again. */
  readonly seq: number;
}
type Slot = Entry | HNode | Entry[] | undefined;
/** A node of the hash trie: 32 slots; a node whose `edit` is a map's own may be changed in place. */
interface HNode {
  edit: object;
  slots: Slot[];
}

function hashOf(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

const MAX_SHIFT = 30;
/** Up to this many entries a map is an array (small maps are most maps: entities' fields). */
const SMALL = 8;
/** The edit token of a map that owns no node yet. */
const EDIT_NONE: object = Object.freeze({});

function isEntry(slot: Slot): slot is Entry {
  return slot !== undefined && !Array.isArray(slot) && "seq" in slot;
}

/**
 * A mapping with Python's key model: `1`, `1.0` and `true` are one key, tuples
 * (frozen arrays) and bytes are found by value, `__proto__` is a key like any
 * other. Entries keep Python's insertion order; writing an existing key keeps
 * the key object it has.
 *
 * It is a persistent hash trie: {@link copy} costs nothing, and a write to a
 * copy copies only the few nodes on its path, so that the versions of a
 * replica's state share all they have in common.
 */
export class PyMap {
  /** A small map: its entries in order, in an array (up to SMALL entries; then a trie). */
  private small: Entry[] | null = [];
  private root: HNode | null = null;
  private size_ = 0;
  private nextSeq = 0;
  private edit: object = EDIT_NONE;
  /** Trie mode: the ids in insertion order, while no key was added or removed since it was made (shared by copies). */
  private order: readonly string[] | null = null;

  constructor(entries?: Iterable<readonly [Key, Tree]>) {
    if (entries) for (const [k, v] of entries) this.set(k, v);
  }
  get size(): number {
    return this.size_;
  }

  private find(id: string): Entry | undefined {
    const small = this.small;
    if (small !== null) {
      for (let i = 0; i < small.length; i++) if (small[i]!.id === id) return small[i];
      return undefined;
    }
    let node = this.root;
    if (node === null) return undefined;
    const hash = hashOf(id);
    for (let shift = 0; ; shift += 5) {
      const slot: Slot = node.slots[(hash >>> shift) & 31];
      if (slot === undefined) return undefined;
      if (Array.isArray(slot)) return slot.find((e) => e.id === id);
      if (isEntry(slot)) return slot.id === id ? slot : undefined;
      node = slot;
    }
  }

  private own(node: HNode): HNode {
    if (this.edit === EDIT_NONE) this.edit = {};
    return node.edit === this.edit ? node : { edit: this.edit, slots: node.slots.slice() };
  }

  /** Leave array mode: every entry into a trie, the order kept. */
  private grow(): void {
    const entries = this.small!;
    this.small = null;
    this.order = entries.map((e) => e.id);
    for (const entry of entries) this.put(entry);
  }

  /** Put `entry` (replacing the entry of its id); returns whether the id is new. */
  private put(entry: Entry): boolean {
    const small = this.small;
    if (small !== null) {
      for (let i = 0; i < small.length; i++) {
        if (small[i]!.id === entry.id) {
          small[i] = entry;
          return false;
        }
      }
      if (small.length < SMALL) {
        small.push(entry);
        return true;
      }
      this.grow();
    }
    const hash = hashOf(entry.id);
    if (this.edit === EDIT_NONE) this.edit = {};
    if (this.root === null) this.root = { edit: this.edit, slots: new Array(32) };
    else this.root = this.own(this.root);
    let node = this.root;
    for (let shift = 0; ; shift += 5) {
      const i = (hash >>> shift) & 31;
      const slot = node.slots[i];
      if (slot === undefined) {
        node.slots[i] = entry;
        return true;
      }
      if (Array.isArray(slot)) {
        const at = slot.findIndex((e) => e.id === entry.id);
        const bucket = slot.slice();
        if (at >= 0) bucket[at] = entry;
        else bucket.push(entry);
        node.slots[i] = bucket;
        return at < 0;
      }
      if (isEntry(slot)) {
        if (slot.id === entry.id) {
          node.slots[i] = entry;
          return false;
        }
        if (shift >= MAX_SHIFT) {
          node.slots[i] = [slot, entry];
          return true;
        }
        // Split: a new node holding the old entry, then go on into it.
        const child: HNode = { edit: this.edit, slots: new Array(32) };
        child.slots[(hashOf(slot.id) >>> (shift + 5)) & 31] = slot;
        node.slots[i] = child;
        node = child;
        continue;
      }
      const child = this.own(slot);
      node.slots[i] = child;
      node = child;
    }
  }

  /** Remove the entry of `id`; returns whether there was one. */
  private remove(id: string): boolean {
    const small = this.small;
    if (small !== null) {
      const at = small.findIndex((e) => e.id === id);
      if (at >= 0) small.splice(at, 1);
      return at >= 0;
    }
    if (this.root === null || this.find(id) === undefined) return false;
    const hash = hashOf(id);
    this.root = this.own(this.root);
    let node = this.root;
    for (let shift = 0; ; shift += 5) {
      const i = (hash >>> shift) & 31;
      const slot = node.slots[i]!;
      if (Array.isArray(slot)) {
        const bucket = slot.filter((e) => e.id !== id);
        node.slots[i] = bucket.length === 1 ? bucket[0] : bucket;
        return true;
      }
      if (isEntry(slot)) {
        node.slots[i] = undefined;
        return true;
      }
      const child = this.own(slot);
      node.slots[i] = child;
      node = child;
    }
  }

  /** The value at `key`, or `undefined`. */
  get(key: Key): Tree | undefined {
    const id = keyId(key);
    return id === null ? undefined : this.find(id)?.value;
  }
  has(key: Key): boolean {
    const id = keyId(key);
    return id !== null && this.find(id) !== undefined;
  }
  /** The key object stored for `key` (which may be `1.0` for `1`), or `undefined`. */
  storedKey(key: Key): Key | undefined {
    const id = keyId(key);
    return id === null ? undefined : this.find(id)?.key;
  }

  private idOf(key: Key): string {
    const id = keyId(key);
    if (id === null) throw new TypeError("a NaN cannot be a key");
    return id;
  }

  private added(id: string): void {
    this.size_ += 1;
    if (this.small !== null) return;
    // The order stays known while keys are only appended to a map that has not been copied.
    if (this.order !== null && Object.isFrozen(this.order)) this.order = null;
    else if (this.order !== null) (this.order as string[]).push(id);
  }

  /** Set `key` to `value`; an existing key keeps its key object and place (as in a Python dict). */
  set(key: Key, value: Tree): this {
    const id = this.idOf(key);
    const entry = this.find(id);
    if (entry) this.put({ id, key: entry.key, value, seq: entry.seq });
    else {
      this.put({ id, key, value, seq: this.nextSeq++ });
      this.added(id);
    }
    return this;
  }
  /** Remove `key` and insert it again with this key object, last (a `Replace`). */
  replace(key: Key, value: Tree): this {
    const id = this.idOf(key);
    this.delete(key);
    this.put({ id, key, value, seq: this.nextSeq++ });
    this.added(id);
    return this;
  }
  delete(key: Key): boolean {
    const id = keyId(key);
    if (id === null || !this.remove(id)) return false;
    this.size_ -= 1;
    this.order = null;
    return true;
  }
  /** Used by the decoders: add a key that must be new; false when it is a duplicate. */
  addNew(key: Key, value: Tree): boolean {
    const id = this.idOf(key);
    if (this.find(id) !== undefined) return false;
    this.put({ id, key, value, seq: this.nextSeq++ });
    this.added(id);
    return true;
  }

  private ordered(): readonly Entry[] {
    if (this.small !== null) return this.small.slice();
    if (this.order !== null) return this.order.map((id) => this.find(id)!);
    const out: Entry[] = [];
    const stack: HNode[] = this.root ? [this.root] : [];
    while (stack.length) {
      for (const slot of stack.pop()!.slots) {
        if (slot === undefined) continue;
        if (Array.isArray(slot)) out.push(...slot);
        else if (isEntry(slot)) out.push(slot);
        else stack.push(slot);
      }
    }
    out.sort((a, b) => a.seq - b.seq);
    this.order = Object.freeze(out.map((e) => e.id));
    return out;
  }

  *entries(): IterableIterator<[Key, Tree]> {
    for (const e of this.ordered()) yield [e.key, e.value];
  }
  *keys(): IterableIterator<Key> {
    for (const e of this.ordered()) yield e.key;
  }
  *values(): IterableIterator<Tree> {
    for (const e of this.ordered()) yield e.value;
  }
  [Symbol.iterator](): IterableIterator<[Key, Tree]> {
    return this.entries();
  }
  /** A copy, at no cost: both share every node until one of them is written. */
  copy(): PyMap {
    const out = new PyMap();
    if (this.small !== null) {
      out.small = this.small.slice();
      out.size_ = this.size_;
      out.nextSeq = this.nextSeq;
      return out;
    }
    out.small = null;
    out.root = this.root;
    out.size_ = this.size_;
    out.nextSeq = this.nextSeq;
    if (this.order !== null) this.order = Object.freeze(this.order as string[]);
    out.order = this.order;
    this.edit = EDIT_NONE;
    return out;
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

/** Complete limits from a partial set. */
export function limits(partial: Partial<Limits> = {}): Limits {
  return { ...DEFAULT_LIMITS, ...partial };
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
