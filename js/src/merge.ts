/**
 * Composing deltas (Python's `flatsync.merge`) and applying a delta to a
 * snapshot tree (`flatsync.protocol.apply_delta`), on protocol trees only:
 * what a {@link Publisher} needs to send a lagging client one delta for the
 * frames it missed. The algebra is Python's, step for step (`_tree/_merge.py`,
 * `BoardDelta.merged`, `merge_list_deltas`, `RecordDelta.merged`), so that a
 * merge gives the bytes Python's gives for the same deltas.
 */

import { PatchError } from "./errors.js";
import { ITEMS, WIDTHS, eachRun } from "./markers.js";
import { formatPath } from "./path.js";
import { DELETED, List, Marker, PyMap, type Key, type Tree } from "./tree.js";

type Path = readonly Key[];
type Op = readonly Tree[];

const where = (path: Path): string => formatPath(path);

/** Whether a change in a delta is a nested delta (a mapping delta or a typed delta). */
export function isNested(change: Tree | undefined): boolean {
  return change instanceof PyMap || (change instanceof Marker && (change.id === 7 || change.id === 10 || change.id === 12));
}

function isReplace(change: Tree | undefined): change is Marker {
  return change instanceof Marker && change.id === 6;
}

function describe(value: Tree | undefined): string {
  if (value === undefined) return "nothing";
  if (value === DELETED) return "DELETED";
  if (value instanceof PyMap) return "mapping";
  if (value instanceof List) return "list";
  if (value instanceof Marker) {
    return ({ 6: "Replace", 7: "list", 9: "board", 10: "board", 11: "record", 12: "record" } as { [id: number]: string })[value.id] ?? `marker ${value.id}`;
  }
  if (Array.isArray(value)) return "tuple";
  return value === null ? "None" : typeof value;
}

/**
 * One delta equal to applying `first`, then `second` (both of one container).
 * Neither is changed.
 *
 * @throws PatchError `second` cannot follow `first` (a nested delta for a key
 *   that `first` set to a scalar, two deltas of different kinds).
 */
export function merge(first: Tree, second: Tree, path: Path = []): Tree {
  if (first instanceof PyMap && second instanceof PyMap) return mergeMaps(first, second, path);
  if (first instanceof Marker && second instanceof Marker && first.id === second.id) {
    if (first.id === 7) return mergeLists(first, second, path);
    if (first.id === 10) return mergeBoards(first, second, path);
    if (first.id === 12) {
      checkRecordDelta(first, path);
      checkRecordDelta(second, path);
      return new Marker(12, mergeMaps(first.content as PyMap, second.content as PyMap, path));
    }
  }
  throw new PatchError(`${where(path)}: cannot merge a ${describe(first)} delta with a ${describe(second)} delta`);
}

function mergeMaps(first: PyMap, second: PyMap, path: Path): PyMap {
  const out = first.copy();
  for (const [key, later] of second) {
    const earlier = out.get(key);
    if (earlier === undefined) out.set(key, later);
    else if (isNested(later)) out.set(key, mergeNested(earlier, later, [...path, key]));
    else if (later === DELETED) out.set(key, DELETED);
    else if (isReplace(later) || earlier === DELETED) {
      // The entry is dropped and inserted again: the later key object wins.
      out.replace(key, isReplace(later) ? later : new Marker(6, later));
    } else if (isReplace(earlier)) out.set(key, new Marker(6, later));
    else out.set(key, later);
  }
  return out;
}

function mergeNested(earlier: Tree, later: Tree, path: Path): Tree {
  if (isReplace(earlier)) return new Marker(6, applyDelta(earlier.content, later, path));
  if (isNested(earlier)) return merge(earlier, later, path);
  if (earlier === DELETED || later instanceof PyMap) {
    throw new PatchError(`${where(path)}: a nested delta cannot follow ${describe(earlier)} set by the earlier delta`);
  }
  return applyDelta(earlier, later, path);
}

/**
 * A new snapshot: `snapshot` with `delta` applied (neither is changed).
 *
 * @throws PatchError the delta does not fit the snapshot.
 */
export function applyDelta(snapshot: Tree | undefined, delta: Tree, path: Path = []): Tree {
  if (!(delta instanceof PyMap)) {
    if (delta instanceof Marker && delta.id === 7) return applyList(snapshot, delta, path);
    if (delta instanceof Marker && delta.id === 10) return applyBoard(snapshot, delta, path);
    if (delta instanceof Marker && delta.id === 12) return applyRecord(snapshot, delta, path);
    throw new PatchError(`${where(path)}: ${describe(delta)} is not a delta`);
  }
  if (!(snapshot instanceof PyMap)) {
    throw new PatchError(`${where(path)}: a mapping delta needs a mapping, found ${describe(snapshot)}`);
  }
  const out = snapshot.copy();
  for (const [key, change] of delta) {
    if (change === DELETED) out.delete(key);
    else if (isReplace(change)) out.replace(key, change.content);
    else if (isNested(change)) out.set(key, applyDelta(out.get(key), change, [...path, key]));
    else out.set(key, change);
  }
  return out;
}

// -- records -------------------------------------------------------------------------

function checkRecordDelta(delta: Marker, path: Path): void {
  if (!(delta.content instanceof PyMap)) throw new PatchError(`${where(path)}: a record delta holds a map of changes`);
  for (const [index, change] of delta.content) {
    if (!((typeof index === "number" && Number.isInteger(index)) || typeof index === "bigint") || index < 0) {
      throw new PatchError(`${where(path)}: a record delta's keys are field indexes (int >= 0)`);
    }
    if (change === DELETED) throw new PatchError(`${where([...path, index])}: a record field cannot be deleted`);
  }
}

function applyRecord(snapshot: Tree | undefined, delta: Marker, path: Path): Marker {
  if (!(snapshot instanceof Marker && snapshot.id === 11 && Array.isArray(snapshot.content))) {
    throw new PatchError(`${where(path)}: a record delta needs a record, found ${describe(snapshot)}`);
  }
  checkRecordDelta(delta, path);
  const [id, ...values] = snapshot.content as readonly Tree[];
  for (const [key, change] of delta.content as PyMap) {
    const index = Number(key);
    if (index >= values.length) {
      throw new PatchError(`${where(path)}: field index ${index} is out of range for record ${String(id)} of ${values.length} fields`);
    }
    if (isReplace(change)) values[index] = change.content;
    else if (isNested(change)) values[index] = applyDelta(values[index], change, [...path, index]);
    else values[index] = change;
  }
  return new Marker(11, Object.freeze([id!, ...values]));
}

// -- boards --------------------------------------------------------------------------

const PAIRS = 0,
  RUNS = 1,
  BLOB = 2;

/** A pairs or runs payload (well formed) as index -> item bytes. */
function cells(payload: Uint8Array): Map<number, Uint8Array> {
  const size = ITEMS[payload[0]! & 15]!.size;
  const out = new Map<number, Uint8Array>();
  eachRun(payload, (first, last, at) => {
    for (let index = first; index <= last; index++, at += size) out.set(index, payload.subarray(at, at + size));
  });
  return out;
}

function maxIndex(payload: Uint8Array): number {
  let top = -1;
  for (const index of cells(payload).keys()) if (index > top) top = index;
  return top;
}

function writeLE(out: number[], value: number, width: number): void {
  for (let b = 0; b < width; b++) {
    out.push(value % 256);
    value = Math.floor(value / 256);
  }
}

/** The smaller of pairs and runs for sparse cells (Python's `_encode_cells`; pairs on a tie). */
export function encodeCells(code: number, wcode: number, items: Map<number, Uint8Array>): Uint8Array {
  const size = ITEMS[code]!.size;
  const width = WIDTHS[wcode]!;
  const order = [...items.keys()].sort((a, b) => a - b);
  const runs: [number, number][] = [];
  for (const index of order) {
    const last = runs[runs.length - 1];
    if (last && last[1] === index - 1) last[1] = index;
    else runs.push([index, index]);
  }
  const pairsSize = order.length * (width + size);
  let runsSize = 0;
  for (const [first, last] of runs) runsSize += 2 * width + (last - first + 1) * size;
  const out: number[] = [];
  if (pairsSize <= runsSize) {
    out.push((PAIRS << 6) | (wcode << 4) | code);
    for (const index of order) {
      writeLE(out, index, width);
      out.push(...items.get(index)!);
    }
  } else {
    out.push((RUNS << 6) | (wcode << 4) | code);
    for (const [first, last] of runs) {
      writeLE(out, first, width);
      writeLE(out, last, width);
      for (let index = first; index <= last; index++) out.push(...items.get(index)!);
    }
  }
  return Uint8Array.from(out);
}

function boardPayload(delta: Marker, path: Path): Uint8Array {
  if (!(delta.content instanceof Uint8Array)) throw new PatchError(`${where(path)}: a board delta holds bytes`);
  return delta.content;
}

function mergeBoards(earlier: Marker, later: Marker, path: Path): Marker {
  const first = boardPayload(earlier, path);
  const second = boardPayload(later, path);
  if (!second.length) return earlier;
  if (!first.length) return later;
  if ((first[0]! & 15) !== (second[0]! & 15)) {
    throw new PatchError(`${where(path)}: cannot merge a ${ITEMS[first[0]! & 15]?.name} board delta with a ${ITEMS[second[0]! & 15]?.name} board delta`);
  }
  if (second[0]! >> 6 === BLOB) return later;
  const code = first[0]! & 15;
  const size = ITEMS[code]!.size;
  if (first[0]! >> 6 === BLOB) {
    const data = first.slice();
    const top = maxIndex(second);
    if ((top + 1) * size > data.length - 1) {
      throw new PatchError(`${where(path)}: the later board delta writes index ${top} beyond the ${(data.length - 1) / size} items of the earlier blob`);
    }
    for (const [index, value] of cells(second)) data.set(value, 1 + index * size);
    return new Marker(10, data);
  }
  const merged = cells(first);
  for (const [index, value] of cells(second)) merged.set(index, value);
  const wcode = Math.max((first[0]! >> 4) & 3, (second[0]! >> 4) & 3);
  return new Marker(10, encodeCells(code, wcode, merged));
}

function applyBoard(snapshot: Tree | undefined, delta: Marker, path: Path): Marker {
  if (!(snapshot instanceof Marker && snapshot.id === 9)) {
    throw new PatchError(`${where(path)}: a board delta needs a board, found ${describe(snapshot)}`);
  }
  const [code, shape, data] = snapshot.content as [number, readonly Tree[], Uint8Array];
  const size = ITEMS[code]!.size;
  const payload = boardPayload(delta, path);
  if (!payload.length) return snapshot;
  if ((payload[0]! & 15) !== code) {
    throw new PatchError(`${where(path)}: a board delta for ${ITEMS[payload[0]! & 15]?.name} items does not fit a board of ${ITEMS[code]!.name} items`);
  }
  const length = data.length / size;
  if (payload[0]! >> 6 === BLOB) {
    if ((payload.length - 1) / size !== length) {
      throw new PatchError(`${where(path)}: a blob of ${(payload.length - 1) / size} items does not fit a board of ${length} items`);
    }
    return new Marker(9, Object.freeze([code, shape, payload.slice(1)]));
  }
  const top = maxIndex(payload);
  if (top >= length) {
    throw new PatchError(`${where(path)}: the board delta writes index ${top}, out of range for a board of ${length} items`);
  }
  const out = data.slice();
  for (const [index, value] of cells(payload)) out.set(value, index * size);
  return new Marker(9, Object.freeze([code, shape, out]));
}

// -- lists ---------------------------------------------------------------------------

const OP_NAMES = ["set", "insert", "delete", "whole"];

function isInt(value: Tree | undefined): boolean {
  return typeof value === "bigint" || (typeof value === "number" && Number.isInteger(value));
}

function opsOf(delta: Marker, path: Path): readonly Op[] {
  if (!Array.isArray(delta.content)) throw new PatchError(`${where(path)}: a list delta holds a tuple of operations`);
  return delta.content as readonly Op[];
}

/** Check an operation against a list of `length` items; its opcode (Python's `check_op`). */
function checkOp(op: Op, length: number, path: Path, number: number): number {
  const at = `${where(path)}: list delta operation #${number}`;
  if (!Array.isArray(op) || !op.length) throw new PatchError(`${at} must be a non-empty tuple`);
  const code = op[0];
  if (!isInt(code) || Number(code) < 0 || Number(code) > 3) throw new PatchError(`${at} has an unknown opcode`);
  const c = Number(code);
  if (c === 3) return c;
  if (c === 1 ? op.length < 3 : op.length !== 3) throw new PatchError(`${at} (${OP_NAMES[c]}) has ${op.length} fields`);
  if (!isInt(op[1])) throw new PatchError(`${at} (${OP_NAMES[c]}): the index is not an int`);
  const i = Number(op[1]);
  let fits: boolean;
  if (c === 0) fits = i >= 0 && i < length;
  else if (c === 1) fits = i >= 0 && i <= length;
  else {
    if (!isInt(op[2]) || Number(op[2]) < 1) throw new PatchError(`${at} (delete): the count must be a positive int`);
    fits = i >= 0 && i + Number(op[2]) <= length;
  }
  if (!fits) {
    throw new PatchError(`${where([...path, i])}: list delta operation #${number} (${OP_NAMES[c]}) does not fit a list of ${length} items at this point of the delta`);
  }
  return c;
}

function listItems(snapshot: Tree | undefined, path: Path): Tree[] {
  if (!(snapshot instanceof List)) throw new PatchError(`${where(path)}: a list delta needs a list, found ${describe(snapshot)}`);
  return [...snapshot.items];
}

function applyOps(items: Tree[], ops: readonly Op[], path: Path): Tree[] {
  let out = items;
  ops.forEach((op, number) => {
    const code = checkOp(op, out.length, path, number);
    if (code === 0) {
      const i = Number(op[1]);
      const change = op[2]!;
      if (isNested(change)) out[i] = applyDelta(out[i], change, [...path, i]);
      else if (change === DELETED) throw new PatchError(`${where([...path, i])}: DELETED cannot be a list item; a list deletes with opcode 2`);
      else out[i] = isReplace(change) ? change.content : change;
    } else if (code === 1) out.splice(Number(op[1]), 0, ...op.slice(2));
    else if (code === 2) out.splice(Number(op[1]), Number(op[2]));
    else out = op.slice(1);
  });
  return out;
}

function applyList(snapshot: Tree | undefined, delta: Marker, path: Path): List {
  return new List(applyOps(listItems(snapshot, path), opsOf(delta, path), path));
}

const isWhole = (op: Op): boolean => Array.isArray(op) && op.length >= 1 && isInt(op[0]) && Number(op[0]) === 3;
const tuple = (items: Tree[]): Op => Object.freeze(items);

function mergeLists(first: Marker, later: Marker, path: Path): Marker {
  const a = opsOf(first, path);
  const b = opsOf(later, path);
  for (let k = b.length - 1; k >= 0; k--) if (isWhole(b[k]!)) return new Marker(7, Object.freeze(b.slice(k)));
  for (let k = a.length - 1; k >= 0; k--) {
    if (isWhole(a[k]!)) {
      const contents = applyOps(a[k]!.slice(1), [...a.slice(k + 1), ...b], path);
      return new Marker(7, Object.freeze([tuple([3, ...contents])]));
    }
  }
  if (a.every(composable) && b.every(composable)) return new Marker(7, Object.freeze(new Net(path).apply(a).apply(b).ops()));
  // An operation of another shape (a peer's, say): concatenate, folding neighbours.
  const ops = [...a];
  for (const op of b) push(ops, op, path);
  return new Marker(7, Object.freeze(ops));
}

function mergeable(op: Op | undefined): boolean {
  if (!Array.isArray(op) || op.length < 3 || !isInt(op[0]) || !isInt(op[1])) return false;
  const code = Number(op[0]);
  return code === 1 || (op.length === 3 && (code === 0 || (code === 2 && isInt(op[2]))));
}

function composable(op: Op): boolean {
  if (!mergeable(op) || Number(op[1]) < 0) return false;
  const code = Number(op[0]);
  return (code !== 2 || Number(op[2]) >= 1) && (code !== 0 || op[2] !== DELETED);
}

const KEEP = 0,
  ORIG = 1,
  NEW = 2;
type Segment = [typeof KEEP, number, number] | [typeof ORIG, number, Tree] | [typeof NEW, Tree[]];

/** The net change of a run of list operations over a list of unknown length (Python's `_Net`). */
class Net {
  private segments: Segment[] = [];
  private tail = 0;
  constructor(private readonly path: Path) {}

  private cut(at: number): number {
    const segments = this.segments;
    let pos = 0;
    for (let k = 0; k < segments.length; k++) {
      if (pos === at) return k;
      const seg = segments[k]!;
      const size = seg[0] === KEEP ? seg[2] : seg[0] === ORIG ? 1 : seg[1].length;
      if (at < pos + size) {
        const cut = at - pos;
        if (seg[0] === KEEP) segments.splice(k, 1, [KEEP, seg[1], cut], [KEEP, seg[1] + cut, size - cut]);
        else {
          const values = seg[1] as Tree[];
          segments.splice(k, 1, [NEW, values.slice(0, cut)], [NEW, values.slice(cut)]);
        }
        return k + 1;
      }
      pos += size;
    }
    if (at > pos) {
      segments.push([KEEP, this.tail, at - pos]);
      this.tail += at - pos;
    }
    return segments.length;
  }

  private join(k: number): void {
    const segments = this.segments;
    if (k > 0 && k < segments.length && segments[k - 1]![0] === NEW && segments[k]![0] === NEW) {
      segments[k - 1] = [NEW, [...(segments[k - 1]![1] as Tree[]), ...(segments[k]![1] as Tree[])]];
      segments.splice(k, 1);
    }
  }

  apply(ops: readonly Op[]): this {
    const segments = this.segments;
    for (const op of ops) {
      const code = Number(op[0]);
      const i = Number(op[1]);
      if (code === 1) {
        const k = this.cut(i);
        segments.splice(k, 0, [NEW, op.slice(2)]);
        this.join(k + 1);
        this.join(k);
      } else if (code === 2) {
        const k = this.cut(i);
        const end = this.cut(i + Number(op[2]));
        segments.splice(k, end - k);
        this.join(k);
      } else {
        const k = this.cut(i);
        this.cut(i + 1);
        const seg = segments[k]!;
        const change = op[2]!;
        const at = [...this.path, i];
        if (seg[0] === KEEP) segments[k] = [ORIG, seg[1], change];
        else if (seg[0] === ORIG) seg[2] = then(seg[2], change, at);
        else {
          segments[k] = [NEW, [changed(seg[1][0]!, change, at)]];
          this.join(k + 1);
          this.join(k);
        }
      }
    }
    return this;
  }

  ops(): Op[] {
    const out: Op[] = [];
    let pos = 0;
    let kept = 0;
    let fresh: Tree[] = [];
    for (const seg of [...this.segments, [KEEP, this.tail, 0] as Segment]) {
      if (seg[0] === NEW) {
        fresh.push(...seg[1]);
        continue;
      }
      const j = seg[1];
      if (j > kept) out.push(tuple([2, pos, j - kept]));
      if (fresh.length) {
        out.push(tuple([1, pos, ...fresh]));
        pos += fresh.length;
        fresh = [];
      }
      if (seg[0] === KEEP) {
        pos += seg[2];
        kept = j + seg[2];
      } else {
        out.push(tuple([0, pos, seg[2]]));
        pos += 1;
        kept = j + 1;
      }
    }
    return out;
  }
}

/** The set of an original item that composes the sets `earlier` and `later`. */
function then(earlier: Tree, later: Tree, path: Path): Tree {
  if (!isNested(later)) return later;
  if (isNested(earlier)) return merge(earlier, later, path);
  if (isReplace(earlier)) return new Marker(6, applyDelta(earlier.content, later, path));
  return applyDelta(earlier, later, path);
}

/** An inserted item `value` after the set `change`. */
function changed(value: Tree, change: Tree, path: Path): Tree {
  if (isNested(change)) return applyDelta(value, change, path);
  return isReplace(change) ? change.content : change;
}

/** Append `op` to `ops`, merging it into the last operation where that is exact. */
function push(ops: Op[], op: Op, path: Path): void {
  const last = ops[ops.length - 1];
  if (!(mergeable(op) && mergeable(last))) {
    ops.push(op);
    return;
  }
  const code = Number(op[0]);
  const lcode = Number(last![0]);
  const i = Number(op[1]);
  const j = Number(last![1]);
  if (lcode === 1) {
    const run = last!.slice(2);
    const k = i - j;
    if (code === 1 && k >= 0 && k <= run.length) {
      run.splice(k, 0, ...op.slice(2));
      ops[ops.length - 1] = tuple([1, j, ...run]);
      return;
    }
    if (code === 0 && k >= 0 && k < run.length) {
      const change = op[2]!;
      if (isNested(change)) run[k] = applyDelta(run[k], change, [...path, i]);
      else if (change === DELETED) {
        ops.push(op);
        return;
      } else run[k] = isReplace(change) ? change.content : change;
      ops[ops.length - 1] = tuple([1, j, ...run]);
      return;
    }
    if (code === 2 && k >= 0 && k + Number(op[2]) <= run.length) {
      run.splice(k, Number(op[2]));
      if (run.length) ops[ops.length - 1] = tuple([1, j, ...run]);
      else ops.pop();
      return;
    }
  } else if (lcode === 2 && code === 2) {
    const count = Number(op[2]);
    const lcount = Number(last![2]);
    if (count > 0 && lcount > 0) {
      if (i === j) {
        ops[ops.length - 1] = tuple([2, j, lcount + count]);
        return;
      }
      if (i + count === j) {
        ops[ops.length - 1] = tuple([2, i, lcount + count]);
        return;
      }
    }
  } else if (lcode === 0 && code === 0 && i === j) {
    const change = op[2]!;
    if (!isNested(change) && change !== DELETED) {
      ops[ops.length - 1] = op;
      return;
    }
  }
  ops.push(op);
}
