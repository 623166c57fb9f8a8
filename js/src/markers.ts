/** The markers' shapes, checked when a codec decodes one (as Python's `from_content`). */

import { DELETED, Float, List, Marker, PyMap, TypedValue, type Tree } from "./tree.js";

/** Board item types by code: name, size in bytes. */
export const ITEMS: readonly { name: string; size: number }[] = [
  { name: "u8", size: 1 },
  { name: "i8", size: 1 },
  { name: "u16", size: 2 },
  { name: "i16", size: 2 },
  { name: "u32", size: 4 },
  { name: "i32", size: 4 },
  { name: "u64", size: 8 },
  { name: "i64", size: 8 },
  { name: "f32", size: 4 },
  { name: "f64", size: 8 },
];
export const MAX_NDIM = 32;
export const ID_LIMIT = 65536;
const MAX_TUPLE_DEPTH = 32;
export const WIDTHS = [1, 2, 4, 8] as const;

/** Read an unsigned little-endian integer of `width` bytes (up to 8; beyond 2**53 as a float). */
export function readLE(data: Uint8Array, pos: number, width: number): number {
  let value = 0;
  for (let i = width - 1; i >= 0; i--) value = value * 256 + data[pos + i]!;
  return value;
}

/**
 * Walk the pairs or runs of a board delta's payload (forms 0 and 1; a pair is a
 * run of one item): `visit(first, last, at)` for each, where `at` is the offset
 * of its items' bytes. Returns what is malformed there, or null.
 */
export function eachRun(payload: Uint8Array, visit: (first: number, last: number, at: number) => void): string | null {
  const head = payload[0]!;
  const form = head >> 6;
  const width = WIDTHS[(head >> 4) & 3]!;
  const size = ITEMS[head & 15]!.size;
  let pos = 1;
  while (pos < payload.length) {
    const cut = form ? null : "pairs are not a whole number of pairs";
    if (pos + (form + 1) * width > payload.length) return cut ?? `a run header is cut short at byte ${pos}`;
    const first = readLE(payload, pos, width);
    const last = form ? readLE(payload, pos + width, width) : first;
    pos += (form + 1) * width;
    if (last < first) return `a run from index ${first} to index ${last} runs backwards`;
    const nbytes = (last - first + 1) * size;
    if (pos + nbytes > payload.length) return cut ?? `the run from index ${first} to ${last} is cut short`;
    visit(first, last, pos);
    pos += nbytes;
  }
  return null;
}

/** What is wrong with a board delta's payload, or null (no board needed to tell). */
export function payloadProblem(payload: Uint8Array): string | null {
  if (payload.length === 0) return null;
  const head = payload[0]!;
  const form = head >> 6;
  const code = head & 15;
  if (form > 2) return `unknown delta form ${form}`;
  if (code >= ITEMS.length) return `unknown item code ${code}`;
  if (form < 2) return eachRun(payload, () => {});
  const size = ITEMS[code]!.size;
  const body = payload.length - 1;
  if ((head >> 4) & 3) return "a blob delta's width bits must be 0";
  return body % size ? `a blob of ${body} bytes is not a whole number of ${size}-byte items` : null;
}

function isInt(value: Tree): value is number | bigint {
  return typeof value === "bigint" || (typeof value === "number" && Number.isInteger(value));
}

/** Whether `value` may stand in a tuple as a value (scalars, bytes, tuples, value types). */
export function valueProblem(value: Tree, depth = 0): string | null {
  if (Array.isArray(value)) {
    if (depth >= MAX_TUPLE_DEPTH) return `tuples nest deeper than ${MAX_TUPLE_DEPTH}`;
    for (const item of value as readonly Tree[]) {
      const problem = valueProblem(item, depth + 1);
      if (problem) return problem;
    }
    return null;
  }
  if (value instanceof PyMap || value instanceof List || value === DELETED || value instanceof Marker) {
    return "a tuple holds only scalars, bytes, tuples and value types";
  }
  return null;
}

/** The delta items' marker ids: Replace, ListDelta, BoardDelta, RecordDelta. */
const DELTA_MARKERS = new Set([6, 7, 10, 12]);

/** Check an item where a marker's content holds a snapshot value (Python's `snapshot_item`). */
function snapshotItem(item: Tree, where: string): void {
  if (Array.isArray(item)) {
    const problem = valueProblem(item);
    if (problem) throw new Error(`${where} holds a malformed tuple (${problem})`);
  } else if (item === DELETED) {
    throw new Error(`${where} holds undefined (DELETED), which is not a snapshot value`);
  } else if (item instanceof Marker && DELTA_MARKERS.has(item.id)) {
    throw new Error(`${where} holds a delta, which is not a snapshot value`);
  }
}

/** Check one list delta operation's shape (Python's `_check_op_shape`). */
function checkOp(op: Tree, number: number): void {
  const where = `list delta operation #${number}`;
  if (!Array.isArray(op) || op.length === 0) throw new Error(`${where} must be a non-empty array`);
  const items = op as Tree[];
  const code = items[0]!;
  if (!isInt(code) || code < 0 || code > 3) throw new Error(`${where} has an unknown opcode`);
  if (Number(code) === 3) {
    for (const value of items.slice(1)) snapshotItem(value, where);
    return;
  }
  if (Number(code) === 1 ? items.length < 3 : items.length !== 3) {
    throw new Error(`${where} has ${items.length} fields`);
  }
  const index = items[1]!;
  if (!isInt(index) || index < 0) throw new Error(`${where}: the index must be an int >= 0`);
  if (Number(code) === 0) {
    if (items[2] === DELETED) throw new Error(`${where} (set) holds undefined (DELETED)`);
    if (Array.isArray(items[2])) snapshotItem(items[2]!, where);
  } else if (Number(code) === 1) {
    for (const value of items.slice(2)) snapshotItem(value, where);
  } else {
    const count = items[2]!;
    if (!isInt(count) || count < 1) throw new Error(`${where} (delete): the count must be an int >= 1`);
  }
}

/** Build a marker from its decoded content, checking its shape; throws Error with the reason. */
export function makeMarker(id: number, content: Tree): Marker {
  switch (id) {
    case 6:
      snapshotItem(content, "a Replace");
      break;
    case 7: {
      if (!Array.isArray(content)) throw new Error("a list delta must hold an array of arrays");
      (content as Tree[]).forEach(checkOp);
      break;
    }
    case 9: {
      if (!Array.isArray(content) || content.length !== 3) {
        throw new Error("a board snapshot must be an array [item code, shape, data]");
      }
      const [code, shape, data] = content as Tree[];
      if (typeof code !== "number" || !Number.isInteger(code) || code < 0 || code >= ITEMS.length) {
        throw new Error("a board snapshot has an unknown item code");
      }
      if (
        !Array.isArray(shape) ||
        shape.length < 1 ||
        shape.length > MAX_NDIM ||
        !(shape as Tree[]).every((dim) => isInt(dim) && dim >= 0)
      ) {
        throw new Error("a board snapshot needs a shape of 1 to 32 sizes (ints >= 0)");
      }
      if (!(data instanceof Uint8Array)) throw new Error("a board snapshot holds its items in bytes");
      let expected = BigInt(ITEMS[code]!.size);
      for (const dim of shape as (number | bigint)[]) expected *= BigInt(dim);
      if (BigInt(data.length) !== expected) throw new Error("a board snapshot has the wrong number of bytes");
      break;
    }
    case 10: {
      if (!(content instanceof Uint8Array)) throw new Error("a board delta must be a byte string");
      const problem = payloadProblem(content);
      if (problem) throw new Error(`a board delta is malformed: ${problem}`);
      break;
    }
    case 11: {
      if (!Array.isArray(content) || content.length === 0) {
        throw new Error("a record snapshot must be an array [id, value, ...]");
      }
      const rid = content[0] as Tree;
      if (typeof rid !== "number" || !Number.isInteger(rid) || rid < 0 || rid >= ID_LIMIT) {
        throw new Error("a record snapshot's id is an int from 0 to 65535");
      }
      for (const value of (content as Tree[]).slice(1)) snapshotItem(value, "a record snapshot");
      break;
    }
    case 12: {
      if (!(content instanceof PyMap)) throw new Error("a record delta must be a map");
      for (const [index, change] of content) {
        if (!isInt(index as Tree) || (index as number | bigint) < 0) {
          throw new Error("a record delta's keys are field indexes (int >= 0)");
        }
        if (change === DELETED) throw new Error("a record delta cannot delete a field");
      }
      break;
    }
  }
  return new Marker(id, content);
}

export { Float, TypedValue };
