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
import { idSpace, recordId } from "./records.js";
import { Board, Record, sameTree } from "./state.js";
import { DELETED, Float, List, Marker, PyMap, keyId, type Key, type Tree } from "./tree.js";

export type Container = TrackedMap | TrackedList | TrackedBoard | TrackedRecord;
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

export function isContainer(value: unknown): value is Container {
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

/** A value's snapshot (a container's, or the value itself). */
export function snapshotValue(value: Tree): Tree {
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
  /** The key object stored for `key` (which may be `1.0` for `1`), or `undefined`. */
  storedKey(key: Key): Key | undefined {
    return this.data.storedKey(key);
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
export function newEntry(value: Container): Tree {
  if (value instanceof TrackedMap) return new Marker(6, value.snapshot());
  return value.snapshot();
}

/** A value that a container stores as is (not one that becomes a container). */
function isPlainValue(value: Tree): boolean {
  return !(
    isContainer(value) ||
    value instanceof PyMap ||
    value instanceof List ||
    value instanceof Board ||
    value instanceof Record ||
    (value instanceof Marker && (value.id === 9 || value.id === 11))
  );
}

/** A list item's size estimate: 1 for a value, 8 for a container (Python's `_weight`). */
const CONTAINER_WEIGHT = 8;
const EXTRA_WEIGHT = CONTAINER_WEIGHT - 1;
/** Lists up to this long are recounted with string lengths before going whole. */
const RECOUNT_ITEMS = 32;

const weight = (value: Tree): number => (isContainer(value) ? CONTAINER_WEIGHT : 1);

function countChildren(items: readonly Tree[]): number {
  let count = 0;
  for (const value of items) if (isContainer(value)) count++;
  return count;
}

/** The whole contents' size estimate, strings and bytes weighed by length (Python's `_recount`). */
function recount(items: readonly Tree[]): number {
  let total = 1;
  for (const value of items) {
    if (typeof value === "string") {
      let points = 0;
      for (const _ of value) points++;
      total += 1 + Math.floor(points / 8);
    } else if (value instanceof Uint8Array) total += 1 + Math.floor(value.length / 8);
    else total += weight(value);
  }
  return total;
}

/** An operation of a list's log: set (index, original, value), insert (index, items), delete (index, count). */
type LogOp = [0, number, Tree, Tree] | [1, number, Tree[]] | [2, number, number];

/**
 * A tracked list whose deltas are splices, as Python's `ListHandler` makes them
 * (the same operations give the same bytes): each change appends an operation
 * to a short log (set, insert, delete) with Python's peephole rules (inserts
 * into one run merge, a write into an item inserted this tick changes the
 * insert, contiguous deletes merge, a delete of inserted items removes them
 * from their insert), and the log becomes the whole contents (`(3, ...)`) when
 * its size estimate passes the whole list's.
 *
 * | Python                      | JavaScript                         |
 * | --------------------------- | ---------------------------------- |
 * | `h[i] = v`                  | `set(i, v)`                        |
 * | `h[i:j] = values`           | `splice(i, j - i, ...values)`      |
 * | `h.insert(i, v)`            | `splice(i, 0, v)` or `insert(i, v)` |
 * | `del h[i:j]`, `h.pop(i)`    | `splice(i, j - i)`                 |
 * | `h.append(v)`, `h.extend(values)` | `push(v)`, `push(...values)` |
 */
export class TrackedList extends Base {
  private items: Tree[] = [];
  private ops: LogOp[] = [];
  /** Writes after the last logged operation: index -> the item before the first of them. */
  private setrun: Map<number, Tree> | null = null;
  /** The items of the log's last insert when it ends at the end of the list. */
  private appendrun: Tree[] | null = null;
  private cost = 0;
  private whole = false;
  private kids = new Set<Container>();
  private nchildren = 0;

  constructor(items: readonly Tree[] = []) {
    super();
    this.items = items.map((v, i) => baseline(adopt(this, i, v)));
    this.nchildren = countChildren(this.items);
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
  private rekey(start: number): void {
    if (!this.nchildren) return;
    for (let i = start; i < this.items.length; i++) {
      const value = this.items[i]!;
      if (isContainer(value)) value.key = i;
    }
  }
  /** Write the item at `index` (an equal value of the same type is no change). */
  set(index: number, value: Tree): void {
    if (!(Number.isInteger(index) && index >= 0 && index < this.items.length)) throw new RangeError(`index ${index} out of range`);
    const old = this.items[index]!;
    if (old === value || (!isContainer(old) && isPlainValue(value) && sameTree(old, normalize(value)))) return;
    const item = adopt(this, index, value);
    if (isContainer(item)) this.nchildren++;
    if (isContainer(old)) {
      old.parent = null;
      this.nchildren--;
    }
    this.items[index] = item;
    this.recSet(index, old, item);
  }
  /**
   * Remove `deleteCount` items at `start` and insert `values` there, as
   * `Array.prototype.splice` does (Python's slice assignment: a value equal to
   * the item it replaces keeps it). Returns the removed items (containers come
   * out detached).
   */
  splice(start: number, deleteCount?: number, ...values: Tree[]): Tree[] {
    const n = this.items.length;
    start = Math.trunc(start);
    start = start < 0 ? Math.max(n + start, 0) : Math.min(start, n);
    const removed = deleteCount === undefined ? n - start : Math.min(Math.max(Math.trunc(deleteCount), 0), n - start);
    const added = values.length;
    const common = Math.min(removed, added);
    const olds = this.items.slice(start, start + removed);
    const fresh = this.prepare(start, olds, values);
    if (removed !== added) this.closeRun();
    this.items.splice(start, removed, ...fresh);
    this.nchildren += countChildren(fresh) - countChildren(olds);
    if (removed !== added) this.rekey(start + added);
    for (let j = 0; j < common; j++) if (fresh[j] !== olds[j]) this.recSet(start + j, olds[j]!, fresh[j]!);
    if (added > common) this.recInsert(start + common, fresh.slice(common));
    else if (removed > common) this.recDelete(start + common, removed - common);
    return olds;
  }
  /** Insert `value` before `index` (Python's `insert`). */
  insert(index: number, value: Tree): void {
    this.splice(index, 0, value);
  }
  /** Add values at the end (Python's `append` for one, `extend` for several). */
  push(...values: Tree[]): void {
    if (!values.length) return;
    const n = this.items.length;
    const fresh = this.prepare(n, [], values);
    this.items.push(...fresh);
    this.nchildren += countChildren(fresh);
    const run = this.appendrun;
    if (fresh.length === 1 && run !== null && !isContainer(fresh[0]!)) {
      run.push(fresh[0]!);
      this.cost += 1;
      return;
    }
    this.recInsert(n, fresh);
  }
  /** The items to store at `start`... for `values`, replacing `olds` (Python's `_prepare`). */
  private prepare(start: number, olds: readonly Tree[], values: readonly Tree[]): Tree[] {
    const common = Math.min(olds.length, values.length);
    olds.forEach((old, j) => {
      if (isContainer(old) && (j >= common || values[j] !== old)) old.parent = null;
    });
    return values.map((value, j) => {
      if (j < common) {
        const old = olds[j]!;
        if (value === old || (!isContainer(old) && isPlainValue(value) && sameTree(old, normalize(value)))) {
          if (isContainer(old)) old.parent = this;
          return old;
        }
      }
      return adopt(this, start + j, value);
    });
  }

  // -- recording (Python's ListHandler._rec_*) ---------------------------------------

  private checkSize(): void {
    if (this.cost > this.items.length + 1 + EXTRA_WEIGHT * this.nchildren) this.fallBack();
  }
  private fallBack(): void {
    if (this.items.length <= RECOUNT_ITEMS && this.cost < recount(this.items)) return;
    this.whole = true;
    this.ops = [];
    this.setrun = null;
    this.appendrun = null;
    this.kids = new Set();
  }
  private recSet(i: number, old: Tree, value: Tree): void {
    this.markDirty();
    if (this.whole) return;
    let run = this.setrun;
    if (run === null) {
      const last = this.ops[this.ops.length - 1];
      if (last && last[0] === 1) {
        const k = i - last[1];
        const values = last[2];
        if (k >= 0 && k < values.length) {
          // A write into an item inserted this tick changes the insert.
          this.cost += weight(value) - weight(values[k]!);
          values[k] = value;
          return;
        }
      }
      run = this.setrun = new Map();
      this.appendrun = null;
    } else if (run.has(i)) return;
    run.set(i, old);
    this.cost += 2 + weight(value);
    this.checkSize();
  }
  private log(): LogOp[] {
    const run = this.setrun;
    if (run === null) return this.ops;
    return [...this.ops, ...[...run].map(([i, orig]): LogOp => [0, i, orig, this.items[i]!])];
  }
  private closeRun(): void {
    const run = this.setrun;
    if (run === null) return;
    this.setrun = null;
    for (const [i, orig] of run) this.ops.push([0, i, orig, this.items[i]!]);
  }
  private recInsert(i: number, values: Tree[]): void {
    this.markDirty();
    if (this.whole) return;
    this.closeRun();
    const added = values.length + EXTRA_WEIGHT * countChildren(values);
    const last = this.ops[this.ops.length - 1];
    if (last && last[0] === 1) {
      const k = i - last[1];
      const run = last[2];
      if (k >= 0 && k <= run.length) {
        // Both the log and the whole list grow alike: no size check.
        run.splice(k, 0, ...values);
        this.cost += added;
        this.appendrun = last[1] + run.length === this.items.length ? run : null;
        return;
      }
    }
    const run = [...values];
    this.ops.push([1, i, run]);
    this.cost += 2 + added;
    this.appendrun = i + run.length === this.items.length ? run : null;
    this.checkSize();
  }
  private recDelete(i: number, count: number): void {
    this.markDirty();
    if (this.whole) return;
    this.closeRun();
    this.appendrun = null;
    const ops = this.ops;
    while (ops.length) {
      const last = ops[ops.length - 1]!;
      if (last[0] === 2) {
        if (i === last[1]) {
          last[2] += count;
          this.checkSize();
          return;
        }
        if (i + count === last[1]) {
          last[1] = i;
          last[2] += count;
          this.checkSize();
          return;
        }
      } else if (last[0] === 1) {
        const start = last[1];
        const run = last[2];
        const size = run.length;
        if (start <= i && i + count <= start + size) {
          const taken = run.splice(i - start, count);
          this.cost -= count + EXTRA_WEIGHT * countChildren(taken);
          if (!run.length) {
            ops.pop();
            this.cost -= 2;
          }
          this.checkSize();
          return;
        }
        if (i <= start && start + size <= i + count) {
          ops.pop();
          this.cost -= 2 + size + EXTRA_WEIGHT * countChildren(run);
          count -= size;
          if (!count) {
            this.checkSize();
            return;
          }
          continue;
        }
      }
      break;
    }
    ops.push([2, i, count]);
    this.cost += 3;
    this.checkSize();
  }
  childDirty(child: Container): void {
    if (!this.whole) this.kids.add(child);
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
    const out: Tree[] = [];
    const fresh = this.kids.size ? new Set<Tree>() : null;
    for (const entry of this.log()) {
      if (entry[0] === 0) {
        const value = entry[3];
        if (!isContainer(value)) {
          const orig = entry[2];
          if (!isContainer(orig) && (orig === value || sameTree(orig, value))) continue;
          out.push(Object.freeze([0, entry[1], value]));
        } else {
          fresh?.add(value);
          out.push(Object.freeze([0, entry[1], newEntry(value)]));
        }
      } else if (entry[0] === 1) {
        if (fresh) for (const value of entry[2]) if (isContainer(value)) fresh.add(value);
        out.push(Object.freeze([1, entry[1], ...entry[2].map(snapshotValue)]));
      } else out.push(Object.freeze([2, entry[1], entry[2]]));
    }
    if (fresh) {
      const nested: [number, Tree][] = [];
      for (const child of this.kids) {
        if (child.parent === this && !fresh.has(child)) {
          const sub = child.nestedDiff();
          if (sub !== null) nested.push([child.key as number, sub]);
        }
      }
      nested.sort((a, b) => a[0] - b[0]);
      for (const [index, sub] of nested) out.push(Object.freeze([0, index, sub]));
    }
    return out.length ? new Marker(7, Object.freeze(out)) : null;
  }
  commit(): void {
    if (!this.dirty) return;
    if (this.whole) {
      if (this.nchildren) for (const value of this.items) if (isContainer(value)) value.commit();
    } else {
      for (const entry of this.log()) {
        if (entry[0] === 0) {
          const value = entry[3];
          if (isContainer(value) && value.parent === this) value.commit();
        } else if (entry[0] === 1) {
          for (const value of entry[2]) if (isContainer(value) && value.parent === this) value.commit();
        }
      }
      for (const child of this.kids) if (child.parent === this) child.commit();
    }
    this.ops = [];
    this.setrun = null;
    this.appendrun = null;
    this.cost = 0;
    this.whole = false;
    this.kids = new Set();
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
  /** The id; by default the one Python computes from the name ({@link recordId}). */
  readonly id?: number;
  readonly name: string;
  readonly fields: readonly string[];
}

/**
 * The schemas of the records made in this process, by id (as Python's
 * `record_schemas()`): what a {@link Publisher} sends its replicas.
 */
export const RECORD_SCHEMAS: Map<number, readonly [name: string, fields: readonly string[]]> = new Map();

/** Check a record's schema as Python's `claim_record` does, register it; its id. */
function claimSchema(schema: RecordSchema): number {
  const { name, fields } = schema;
  if (!name || !fields.length || new Set(fields).size !== fields.length) {
    throw new TypeError(`record ${name || "''"}: a record has a name and distinct field names, at least one`);
  }
  const id = recordId(name, fields, schema.id);
  const same = (other: readonly string[]) => other.length === fields.length && other.every((f, i) => f === fields[i]);
  for (const [otherId, [otherName, otherFields]] of RECORD_SCHEMAS) {
    if (otherName === name && !same(otherFields)) {
      throw new TypeError(`record ${name} is already known with the fields (${otherFields.join(", ")}), not (${fields.join(", ")})`);
    }
    if (otherId === id && otherName !== name) {
      const space = idSpace(fields);
      let free: number | null = null;
      for (let step = 1; step < space && free === null; step++) if (!RECORD_SCHEMAS.has((id + step) % space)) free = (id + step) % space;
      const hint = free === null ? "" : `, e.g. { id: ${free} }`;
      throw new TypeError(`record ${name}: its id ${id} is taken by record ${otherName}; give one of them another id${hint} (or another name)`);
    }
  }
  if (!RECORD_SCHEMAS.has(id)) RECORD_SCHEMAS.set(id, Object.freeze([name, Object.freeze([...fields])]));
  return id;
}

/**
 * A tracked record (Python's `@flatsync.record` instances): a fixed list of
 * named fields, which travels as its id and values (`RecordSnapshot`) and
 * whose field writes ship as a `RecordDelta`. Its id is the one Python
 * computes from the name and fields ({@link recordId}); an explicit `id` (one
 * given to `@flatsync.record(id=...)`) is checked as Python checks it. A
 * Publisher sends each
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
    this.id = claimSchema(schema);
    this.name = schema.name;
    this.fields = RECORD_SCHEMAS.get(this.id)![1];
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
