/** The frame header of session packets (Python's `flatsync._session._frames`), byte for byte. */

import { FrameError } from "./errors.js";

export const VERSION = 1;
export const SESSION_SIZE = 8;
const MAX_VARINT_BYTES = 9;
const ID_LIMIT = 65536;

export const enum Kind {
  DELTA = 0,
  SNAPSHOT = 1,
  ACK = 2,
  RESYNC = 3,
  REFRESH = 4,
  ANSWER = 5,
}
const KIND_NAMES = ["delta", "snapshot", "ack", "resync", "refresh", "answer"];

/** One entry of a schema table: a record's id, name and field names. */
export type SchemaEntry = readonly [id: number, name: string, fields: readonly string[]];

export interface Header {
  kind: Kind;
  frame: number;
  base: number | null;
  /** Bytes the header takes (the payload starts there). */
  size: number;
  schemas: readonly SchemaEntry[];
  session: Uint8Array | null;
}

class Cut extends Error {
  constructor(readonly reason: "cut" | "padded" | "long") {
    super(reason);
  }
}

/** An unsigned LEB128 varint at `pos`: its value and the offset after it (shortest form only). */
export function readUvarint(data: Uint8Array, pos: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (let i = 0; ; i++) {
    if (i >= MAX_VARINT_BYTES) throw new Cut("long");
    if (pos + i >= data.length) throw new Cut("cut");
    const b = data[pos + i]!;
    value += (b & 0x7f) * scale;
    scale *= 128;
    if (!(b & 0x80)) {
      if (b === 0 && i > 0) throw new Cut("padded");
      return [value, pos + i + 1];
    }
  }
}

/** The bytes of an unsigned varint. */
export function uvarint(value: number): number[] {
  const out: number[] = [];
  do {
    let b = value % 128;
    value = Math.floor(value / 128);
    if (value) b |= 0x80;
    out.push(b);
  } while (value);
  return out;
}

function varintError(exc: unknown, what: string): unknown {
  if (!(exc instanceof Cut)) return exc;
  if (exc.reason === "cut") return new FrameError(`the frame header is cut short in its ${what}`);
  if (exc.reason === "padded") return new FrameError(`the ${what} is not in its shortest form`);
  return new FrameError(`the ${what} is longer than ${MAX_VARINT_BYTES} bytes`);
}

function read(data: Uint8Array, pos: number, what: string): [number, number] {
  try {
    return readUvarint(data, pos);
  } catch (exc) {
    throw varintError(exc, what);
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function readText(data: Uint8Array, pos: number, what: string): [string, number] {
  const [size, at] = read(data, pos, `length of ${what}`);
  if (size === 0) throw new FrameError(`${what} is empty in the schema table`);
  if (size > data.length - at) throw new FrameError(`the schema table is cut short in ${what}`);
  try {
    return [utf8.decode(data.subarray(at, at + size)), at + size];
  } catch {
    throw new FrameError(`${what} in the schema table is not UTF-8`);
  }
}

function readTable(data: Uint8Array, pos: number): [SchemaEntry[], number] {
  const [count, start] = read(data, pos, "schema count");
  pos = start;
  if (count === 0 || count > data.length - pos) throw new FrameError(`a schema table cannot hold ${count} records here`);
  const entries: SchemaEntry[] = [];
  let last = -1;
  for (let i = 0; i < count; i++) {
    let rid: number;
    [rid, pos] = read(data, pos, "record id");
    if (rid >= ID_LIMIT) throw new FrameError(`record id ${rid} in the schema table is not below ${ID_LIMIT}`);
    if (rid <= last) throw new FrameError(`record ids in the schema table must increase (${last}, then ${rid})`);
    last = rid;
    let name: string;
    [name, pos] = readText(data, pos, `the name of record ${rid}`);
    let nfields: number;
    [nfields, pos] = read(data, pos, `field count of record ${rid}`);
    if (nfields === 0 || nfields > data.length - pos) throw new FrameError(`record ${name} cannot have ${nfields} fields here`);
    const fields: string[] = [];
    for (let f = 0; f < nfields; f++) {
      let field: string;
      [field, pos] = readText(data, pos, `field ${f} of record ${name}`);
      fields.push(field);
    }
    if (new Set(fields).size !== fields.length) throw new FrameError(`record ${name} repeats a field name in the schema table`);
    entries.push([rid, name, fields]);
  }
  return [entries, pos];
}

/** Parse the header at the start of a session packet (FrameError when it is malformed). */
export function parseHeader(data: Uint8Array): Header {
  if (!(data instanceof Uint8Array)) throw new TypeError("a packet is a Uint8Array");
  if (data.length === 0) throw new FrameError("an empty packet has no frame header");
  const first = data[0]!;
  if (first >> 4 !== VERSION) {
    throw new FrameError(`not a flatsync packet: its first byte 0x${first.toString(16).padStart(2, "0")} does not start a frame header of format version ${VERSION}`);
  }
  let code = first & 0x0f;
  const table = (code & 0x08) !== 0;
  if (table && [0, 1, 5].includes(code & 0x07)) code &= 0x07;
  if (code > 5) throw new FrameError(`unknown packet kind ${first & 0x0f}`);
  const kind = code as Kind;
  let pos: number;
  let frame: number;
  let base: number | null = null;
  if (kind === Kind.REFRESH) {
    const [value, at] = read(data, 1, "rejected base");
    return { kind, frame: 0, base: value === 0 ? null : value - 1, size: at, schemas: [], session: null };
  }
  [frame, pos] = read(data, 1, "frame number");
  if (kind === Kind.DELTA || kind === Kind.ANSWER) {
    let distance: number;
    [distance, pos] = read(data, pos, "base distance");
    if (distance === 0) throw new FrameError(`a delta to frame ${frame} cannot have itself as its base`);
    if (distance > frame) throw new FrameError(`a delta to frame ${frame} cannot start ${distance} frames earlier`);
    base = frame - distance;
  } else if (kind === Kind.RESYNC) {
    [base, pos] = read(data, pos, "rejected base");
  }
  let session: Uint8Array | null = null;
  if (kind === Kind.SNAPSHOT || kind === Kind.ANSWER) {
    if (pos + SESSION_SIZE > data.length) throw new FrameError("the frame header is cut short in its session");
    session = data.slice(pos, pos + SESSION_SIZE);
    pos += SESSION_SIZE;
  }
  let schemas: SchemaEntry[] = [];
  if (table) [schemas, pos] = readTable(data, pos);
  return { kind, frame, base, size: pos, schemas, session };
}

export function kindName(kind: Kind): string {
  return KIND_NAMES[kind]!;
}

const head = (kind: Kind) => (VERSION << 4) | kind;

/** An acknowledgement: the replica holds `frame`. */
export function ack(frame: number): Uint8Array {
  return Uint8Array.from([head(Kind.ACK), ...uvarint(frame)]);
}
/** A request to resend from frame `held`. */
export function resync(held: number, rejectedBase: number): Uint8Array {
  return Uint8Array.from([head(Kind.RESYNC), ...uvarint(held), ...uvarint(rejectedBase)]);
}
/** A request for a snapshot (`null`: asked for explicitly). */
export function refresh(rejectedBase: number | null): Uint8Array {
  return Uint8Array.from([head(Kind.REFRESH), ...uvarint(rejectedBase === null ? 0 : rejectedBase + 1)]);
}
/** The header of a delta from `base` to `frame`. */
export function deltaHeader(frame: number, base: number): Uint8Array {
  return Uint8Array.from([head(Kind.DELTA), ...uvarint(frame), ...uvarint(frame - base)]);
}
/** The header of a snapshot of `frame` of `session`. */
export function snapshotHeader(frame: number, session: Uint8Array): Uint8Array {
  return Uint8Array.from([head(Kind.SNAPSHOT), ...uvarint(frame), ...session]);
}
/** The header of a resync answer from `base` to `frame` of `session`. */
export function answerHeader(frame: number, base: number, session: Uint8Array): Uint8Array {
  return Uint8Array.from([head(Kind.ANSWER), ...uvarint(frame), ...uvarint(frame - base), ...session]);
}
