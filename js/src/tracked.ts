/**
 * The writing side: tracked containers whose changes make minimal deltas, with
 * Python's tracking rule (a change registers its container once up the tree,
 * `diff()` walks only dirty branches) and Python's unchanged-value rule (an
 * equal value of the same type is no change; floats by bits).
 *
 * | Python        | JavaScript                                     |
 * | ------------- | ---------------------------------------------- |
 * | DataHandler   | {@link TrackedMap} (Python's key model)        |
 * | ListHandler   | {@link TrackedList}                            |
 * | ByteHandler   | {@link TrackedBoard}                           |
 * | a record      | {@link TrackedRecord}                          |
 *
 * Values are tree items ({@link Tree}): a plain {@link PyMap}, {@link List} or
 * {@link Board} written in becomes a tracked container, a {@link Record} a
 * {@link TrackedRecord}.
 */

import { ITEMS } from "./markers.js";
import { Board, Record, sameTree } from "./state.js";
import { DELETED, Float, List, Marker, PyMap, keyId, type Key, type Tree } from "./tree.js";

type Container = TrackedMap | TrackedList | TrackedBoard | TrackedRecord;
const ABSENT = Symbol("absent");

/** A value's canonical form: safe bigints as numbers, non-integral Floats as numbers. */
function normalize(value: Tree): Tree {
  if (typeof value === "bigint" && Number.isSafeInteger(Number(value)) && BigInt(Number(value)) === value) return Number(value);
  if (typeof value === "number" && Number.isInteger(value) && !Number.isSafeInteger(value)) {
    throw new TypeError(`the number ${value} is beyond 2**53: write a bigint for an int, or a Float`);
  }
  if (typeof value === "number" && Object.is(value, -0)) return new Float(-0);
  if (value instanceof Float && value.bits === null && !Number.isInteger(value.value) && !Object.is(value.value, -0)) return value.value;
  if (Array.isArray(value)) return Object.freeze((value as Tree[]).map(normalize));
  return value;
}

function isContainer(value: unknown): value is Container {
  return value instanceof TrackedMap || value instanceof TrackedList || value instanceof TrackedBoard || value instanceof TrackedRecord;
}

/** A plain tree value or container as a tracked one, attached to `parent` at `key`. */
function adopt(parent: Container, key: Key, value: Tree): Tree {
  let out: Tree;
  if (value instanceof PyMap) out = new TrackedMap(value);
  else if (value instanceof List) out = new TrackedList(value.items);
  else if (value instanceof Board) out = new TrackedBoard(value.item, value.shape, value.data);
  else if (value instanceof Record) out = new TrackedRecord({ id: value.id, name: value.name, fields: value.fields }, value.values);
  else if (value instanceof Marker && value.id === 11) {
    const [id, ...values] = value.content as [number, ...Tree[]];
    const schema = RECORD_SCHEMAS.get(id);
    if (!schema) throw new TypeError(`record ${id} is unknown here: make it a TrackedRecord (or a Record) with its schema`);
    out = new TrackedRecord({ id, name: schema[0], fields: schema[1] }, values);
  }
  else if (value instanceof Marker && value.id === 9) {
    const [code, shape, data] = value.content as [number, number[], Uint8Array];
    out = new TrackedBoard(ITEMS[code]!.name, shape.map(Number), data);
  }
  else if (isContainer(value)) {
    if (value.parent !== null) throw new Error("a tracked container sits in one place only");
    out = value;
  } else return normalize(value);
  (out as Container).parent = parent;
  (out as Container).key = key;
  return out;
}

function baseline(value: Tree): Tree {
  if (isContainer(value)) value.commit();
  return value;
}

function snapshotValue(value: Tree): Tree {
  return isContainer(value) ? value.snapshot() : value;
}

abstract class Base {
  parent: Container | null = null;
  key: Key = null;
  protected dirty = false;
  /** Register this container as changed, once, up the tree. */
  protected markDirty(): void {
    if (this.dirty) return;
    this.dirty = true;
    const parent = this.parent;
    if (parent) parent.childDirty(this as unknown as Container);
  }
  abstract childDirty(child: Container): void;
  abstract snapshot(): Tree;
  abstract diff(): Tree | null;
  abstract commit(): void;
}

/** A tracked mapping with Python's key model (`1`, `1.0`, `true` one key). */
export class TrackedMap extends Base {
  private readonly data = new PyMap();
  /** Changed keys since the last commit: key identity → [key as written, original value]. */
  private changes = new Map<string, [Key, Tree | typeof ABSENT]>();
  private reinserted = new Map<string, Key>();

  constructor(entries?: Iterable<readonly [Key, Tree]>) {
    super();
    // The initial entries are the baseline, not changes: a tracked container
    // passed in starts clean too (else its pending changes would never ship).
    if (entries) for (const [k, v] of entries) this.data.set(k, baseline(adopt(this, k, v)));
  }
  get size(): number {
    return this.data.size;
  }
  get(key: Key): Tree | undefined {
    return this.data.get(key);
  }
  has(key: Key): boolean {
    return this.data.has(key);
  }
  keys(): IterableIterator<Key> {
    return this.data.keys();
  }
  entries(): IterableIterator<[Key, Tree]> {
    return this.data.entries();
  }
  [Symbol.iterator](): IterableIterator<[Key, Tree]> {
    return this.data.entries();
  }

  private note(id: string, key: Key, old: Tree | typeof ABSENT): void {
    if (!this.changes.has(id)) {
      this.changes.set(id, [key, old]);
      this.markDirty();
    }
  }

  set(key: Key, value: Tree): this {
    const id = keyId(key);
    if (id === null) throw new TypeError("a NaN cannot be a key");
    const old = this.data.has(key) ? this.data.get(key)! : ABSENT;
    if (old === value) return this;
    if (old !== ABSENT && !isContainer(old) && !isContainer(value) && !(value instanceof PyMap) && !(value instanceof List) && !(value instanceof Board) && !(value instanceof Record) && sameTree(old, normalize(value))) {
      return this;
    }
    const adopted = adopt(this, key, value);
    if (this.changes.has(id)) {
      if (old === ABSENT) this.reinserted.set(id, key);
    } else this.note(id, key, old);
    if (old !== ABSENT && isContainer(old)) old.parent = null;
    this.data.set(key, adopted);
    return this;
  }

  delete(key: Key): boolean {
    const id = keyId(key);
    if (id === null || !this.data.has(key)) return false;
    const old = this.data.get(key)!;
    this.data.delete(key);
    this.note(id, key, old);
    if (isContainer(old)) old.parent = null;
    return true;
  }

  childDirty(child: Container): void {
    this.note(keyId(child.key)!, child.key, child);
  }

  snapshot(): PyMap {
    const out = new PyMap();
    for (const [k, v] of this.data) out.set(k, snapshotValue(v));
    return out;
  }

  /** The delta since the last commit (an empty mapping when nothing changed). */
  diff(): PyMap {
    return this.nestedDiff() ?? new PyMap();
  }

  nestedDiff(): PyMap | null {
    if (!this.changes.size) return null;
    const out = new PyMap();
    for (const [id, [key, orig]] of this.changes) {
      const cur = this.data.has(key) ? this.data.get(key)! : ABSENT;
      if (cur === ABSENT) {
        if (orig !== ABSENT) out.set(key, DELETED);
        continue;
      }
      const again = this.reinserted.get(id);
      if (again !== undefined) {
        if (orig === ABSENT) out.set(again, isContainer(cur) ? newEntry(cur) : cur);
        else out.set(again, new Marker(6, snapshotValue(cur)));
        continue;
      }
      if (!isContainer(cur)) {
        if (orig !== ABSENT && !isContainer(orig) && sameTree(cur, orig)) continue;
        out.set(key, cur);
      } else if (cur === orig) {
        const sub = cur.nestedDiff();
        if (sub !== null) out.set(key, sub);
      } else {
        const entry = newEntry(cur);
        if (orig !== ABSENT && entry instanceof Marker && entry.id === 6) out.set(this.data.storedKey(key)!, entry);
        else out.set(key, entry);
      }
    }
    return out.size ? out : null;
  }

  commit(): void {
    if (!this.dirty) return;
    for (const [, [key]] of this.changes) {
      const cur = this.data.get(key);
      if (isContainer(cur)) cur.commit();
    }
    this.changes = new Map();
    this.reinserted = new Map();
    this.dirty = false;
  }
}

/** What a new container is, as a mapping delta's value. */
function newEntry(value: Container): Tree {
  if (value instanceof TrackedMap) return new Marker(6, value.snapshot());
  return value.snapshot();
}

/**
 * A tracked list. A structural change (insert, delete) ships the whole list
 * (`(3, ...)`); item writes and changes inside items ship as `(0, i, ...)`.
 */
export class TrackedList extends Base {
  private items: Tree[] = [];
  private whole = false;
  private changed = new Map<number, Tree>();

  constructor(items: readonly Tree[] = []) {
    super();
    this.items = items.map((v, i) => baseline(adopt(this, i, v)));
  }
  get length(): number {
    return this.items.length;
  }
  at(index: number): Tree | undefined {
    return this.items[index];
  }
  [Symbol.iterator](): IterableIterator<Tree> {
    return this.items[Symbol.iterator]();
  }
  private reindex(): void {
    this.items.forEach((v, i) => {
      if (isContainer(v)) v.key = i;
    });
  }
  set(index: number, value: Tree): void {
    if (!(index >= 0 && index < this.items.length)) throw new RangeError(`index ${index} out of range`);
    const old = this.items[index]!;
    if (old === value || (!isContainer(old) && !isContainer(value) && !(value instanceof PyMap) && !(value instanceof List) && !(value instanceof Board) && !(value instanceof Record) && sameTree(old, normalize(value)))) return;
    if (isContainer(old)) old.parent = null;
    this.items[index] = adopt(this, index, value);
    if (!this.changed.has(index)) this.changed.set(index, old);
    this.markDirty();
  }
  /** Insert values at `index` (the whole list ships at the next diff). */
  splice(index: number, deleteCount: number, ...values: Tree[]): Tree[] {
    const removed = this.items.splice(index, deleteCount, ...values.map((v, i) => adopt(this, index + i, v)));
    for (const old of removed) if (isContainer(old)) old.parent = null;
    this.reindex();
    this.whole = true;
    this.markDirty();
    return removed;
  }
  push(...values: Tree[]): void {
    this.splice(this.items.length, 0, ...values);
  }
  childDirty(child: Container): void {
    const index = child.key as number;
    if (!this.changed.has(index)) this.changed.set(index, child);
    this.markDirty();
  }
  snapshot(): List {
    return new List(this.items.map(snapshotValue));
  }
  diff(): Tree | null {
    return this.nestedDiff();
  }
  nestedDiff(): Marker | null {
    if (!this.dirty) return null;
    if (this.whole) return new Marker(7, Object.freeze([Object.freeze([3, ...this.items.map(snapshotValue)])]));
    const ops: Tree[] = [];
    for (const [index, orig] of [...this.changed].sort((a, b) => a[0] - b[0])) {
      const cur = this.items[index]!;
      if (!isContainer(cur)) {
        if (!isContainer(orig) && sameTree(cur, orig)) continue;
        ops.push(Object.freeze([0, index, cur]));
      } else if (cur === orig) {
        const sub = cur.nestedDiff();
        if (sub !== null) ops.push(Object.freeze([0, index, sub]));
      } else ops.push(Object.freeze([0, index, newEntry(cur)]));
    }
    return ops.length ? new Marker(7, Object.freeze(ops)) : null;
  }
  commit(): void {
    if (!this.dirty) return;
    for (const value of this.items) if (isContainer(value)) value.commit();
    this.whole = false;
    this.changed = new Map();
    this.dirty = false;
  }
}

/** A tracked board: items of one numeric type, little-endian, row-major. */
export class TrackedBoard extends Base {
  readonly item: string;
  readonly code: number;
  readonly shape: readonly number[];
  private readonly bytes: Uint8Array;
  private readonly view: DataView;
  private orig = new Map<number, Uint8Array>();

  constructor(item: string, shape: readonly number[], data?: Uint8Array) {
    super();
    const code = ITEMS.findIndex((t) => t.name === item);
    if (code < 0) throw new TypeError(`unknown item type ${item}`);
    this.item = item;
    this.code = code;
    this.shape = Object.freeze([...shape]);
    const n = shape.reduce((a, b) => a * b, 1) * ITEMS[code]!.size;
    this.bytes = data ? data.slice() : new Uint8Array(n);
    if (this.bytes.length !== n) throw new RangeError("the data does not fit the shape");
    this.view = new DataView(this.bytes.buffer);
  }
  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
  private get itemSize(): number {
    return ITEMS[this.code]!.size;
  }
  /** The item at a flat index. */
  get(index: number): number | bigint {
    return new Board(this.code, this.shape, this.bytes).at(index);
  }
  /** Write the item at a flat index (an equal item, by bits, is no change). */
  set(index: number, value: number | bigint): void {
    if (!(index >= 0 && index < this.size)) throw new RangeError(`index ${index} out of range`);
    const size = this.itemSize;
    const pos = index * size;
    const before = this.bytes.slice(pos, pos + size);
    const v = this.view;
    switch (this.item) {
      case "u8":
        v.setUint8(pos, Number(value));
        break;
      case "i8":
        v.setInt8(pos, Number(value));
        break;
      case "u16":
        v.setUint16(pos, Number(value), true);
        break;
      case "i16":
        v.setInt16(pos, Number(value), true);
        break;
      case "u32":
        v.setUint32(pos, Number(value), true);
        break;
      case "i32":
        v.setInt32(pos, Number(value), true);
        break;
      case "u64":
        v.setBigUint64(pos, BigInt(value), true);
        break;
      case "i64":
        v.setBigInt64(pos, BigInt(value), true);
        break;
      case "f32":
        v.setFloat32(pos, Number(value), true);
        break;
      default:
        v.setFloat64(pos, Number(value), true);
    }
    if (before.every((b, i) => b === this.bytes[pos + i])) return;
    if (!this.orig.has(index)) this.orig.set(index, before);
    this.markDirty();
  }
  childDirty(): void {}
  snapshot(): Marker {
    return new Marker(9, Object.freeze([this.code, Object.freeze([...this.shape]), this.bytes.slice()]));
  }
  diff(): Tree | null {
    return this.nestedDiff();
  }
  nestedDiff(): Marker | null {
    if (!this.dirty) return null;
    const size = this.itemSize;
    const cells = [...this.orig]
      .filter(([i, before]) => before.some((b, j) => b !== this.bytes[i * size + j]))
      .map(([i]) => i)
      .sort((a, b) => a - b);
    if (!cells.length) return null;
    // Python's choice (ByteHandler._nested_diff): runs bridge gaps shorter than a
    // run header; the blob wins only when smaller than both, pairs on a tie with runs.
    const n = this.size;
    const wcode = n <= 256 ? 0 : n <= 65536 ? 1 : n <= 2 ** 32 ? 2 : 3;
    const width = [1, 2, 4, 8][wcode]!;
    const bridge = 2 * width;
    const runs: [number, number][] = [];
    for (const i of cells) {
      const last = runs[runs.length - 1];
      if (last && (i - last[1] - 1) * size < bridge) last[1] = i;
      else runs.push([i, i]);
    }
    const pairsSize = cells.length * (width + size);
    let runsSize = 0;
    for (const [first, last] of runs) runsSize += bridge + (last - first + 1) * size;
    const blobSize = n * size;
    const writeIndex = (out: Uint8Array, pos: number, index: number) => {
      for (let b = 0; b < width; b++) {
        out[pos + b] = index % 256;
        index = Math.floor(index / 256);
      }
    };
    let payload: Uint8Array;
    if (blobSize < pairsSize && blobSize < runsSize) {
      payload = new Uint8Array(1 + blobSize);
      payload[0] = 0x80 | this.code;
      payload.set(this.bytes, 1);
    } else if (pairsSize <= runsSize) {
      payload = new Uint8Array(1 + pairsSize);
      payload[0] = (wcode << 4) | this.code;
      let pos = 1;
      for (const i of cells) {
        writeIndex(payload, pos, i);
        payload.set(this.bytes.subarray(i * size, (i + 1) * size), pos + width);
        pos += width + size;
      }
    } else {
      payload = new Uint8Array(1 + runsSize);
      payload[0] = 0x40 | (wcode << 4) | this.code;
      let pos = 1;
      for (const [first, last] of runs) {
        writeIndex(payload, pos, first);
        writeIndex(payload, pos + width, last);
        payload.set(this.bytes.subarray(first * size, (last + 1) * size), pos + bridge);
        pos += bridge + (last - first + 1) * size;
      }
    }
    return new Marker(10, payload);
  }
  commit(): void {
    this.orig = new Map();
    this.dirty = false;
  }
}

/** A record's schema: its id (as the Python library gives it), its name and its field names. */
export interface RecordSchema {
  readonly id: number;
  readonly name: string;
  readonly fields: readonly string[];
}

/**
 * The schemas of the records made in this process, by id (as Python's
 * `record_schemas()`): what a {@link Publisher} sends its replicas.
 */
export const RECORD_SCHEMAS: Map<number, readonly [name: string, fields: readonly string[]]> = new Map();

function claimSchema(schema: RecordSchema): void {
  const { id, name, fields } = schema;
  if (!(Number.isInteger(id) && id >= 0 && id < 65536)) throw new RangeError(`record ${name}: its id ${id} is not below 65,536`);
  if (!name || !fields.length || new Set(fields).size !== fields.length) {
    throw new TypeError(`record ${name || "''"}: a record has a name and distinct field names, at least one`);
  }
  const known = RECORD_SCHEMAS.get(id);
  if (!known) {
    RECORD_SCHEMAS.set(id, Object.freeze([name, Object.freeze([...fields])]));
    return;
  }
  if (known[0] !== name || known[1].length !== fields.length || known[1].some((f, i) => f !== fields[i])) {
    throw new TypeError(`record ${name}: its id ${id} is taken by record ${known[0]} (${known[1].join(", ")})`);
  }
}

/**
 * A tracked record (Python's `@flatsync.record` instances): a fixed list of
 * named fields, which travels as its id and values (`RecordSnapshot`) and
 * whose field writes ship as a `RecordDelta`. The schema's id must be the
 * one the Python side uses (`flatsync.protocol.record_schemas()`, or the
 * `readonly id` of `flatsync types`' declarations); a Publisher sends each
 * client the schemas of the records it holds, so Python replicas rebuild them
 * as their registered class or a read-only `RecordView`.
 */
export class TrackedRecord extends Base {
  readonly id: number;
  readonly name: string;
  readonly fields: readonly string[];
  private readonly values: Tree[];
  private changed = new Map<number, Tree>();

  constructor(schema: RecordSchema, values: readonly Tree[]) {
    super();
    claimSchema(schema);
    this.id = schema.id;
    this.name = schema.name;
    this.fields = RECORD_SCHEMAS.get(schema.id)![1];
    if (values.length !== this.fields.length) {
      throw new TypeError(`record ${this.name} has ${this.fields.length} fields, not ${values.length}`);
    }
    this.values = values.map((v, i) => baseline(adopt(this, i, v)));
  }
  private index(field: string | number): number {
    const index = typeof field === "number" ? field : this.fields.indexOf(field);
    if (!(Number.isInteger(index) && index >= 0 && index < this.fields.length)) {
      throw new RangeError(`record ${this.name} has no field ${String(field)}`);
    }
    return index;
  }
  /** The value of a field (by name or index). */
  get(field: string | number): Tree {
    return this.values[this.index(field)]!;
  }
  /** Write a field (by name or index); an equal value of the same type is no change. */
  set(field: string | number, value: Tree): void {
    const index = this.index(field);
    const old = this.values[index]!;
    if (old === value || (!isContainer(old) && !isContainer(value) && !(value instanceof PyMap) && !(value instanceof List) && !(value instanceof Board) && !(value instanceof Record) && sameTree(old, normalize(value)))) return;
    if (isContainer(old)) old.parent = null;
    this.values[index] = adopt(this, index, value);
    if (!this.changed.has(index)) this.changed.set(index, old);
    this.markDirty();
  }
  childDirty(child: Container): void {
    const index = child.key as number;
    if (!this.changed.has(index)) this.changed.set(index, child);
    this.markDirty();
  }
  snapshot(): Marker {
    return new Marker(11, Object.freeze([this.id, ...this.values.map(snapshotValue)]));
  }
  diff(): Tree | null {
    return this.nestedDiff();
  }
  nestedDiff(): Marker | null {
    if (!this.dirty) return null;
    const out = new PyMap();
    for (const [index, orig] of [...this.changed].sort((a, b) => a[0] - b[0])) {
      const cur = this.values[index]!;
      if (!isContainer(cur)) {
        if (!isContainer(orig) && sameTree(cur, orig)) continue;
        out.set(index, cur);
      } else if (cur === orig) {
        const sub = cur.nestedDiff();
        if (sub !== null) out.set(index, sub);
      } else out.set(index, newEntry(cur));
    }
    return out.size ? new Marker(12, out) : null;
  }
  commit(): void {
    if (!this.dirty) return;
    for (const value of this.values) if (isContainer(value)) value.commit();
    this.changed = new Map();
    this.dirty = false;
  }
}

export { ABSENT as _ABSENT };
