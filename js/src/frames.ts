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

/** Where the header is read (module state: no pair per field). */
let at = 0;

/** The unsigned LEB128 varint (shortest form only) at {@link at}, the header's `what`; moves `at` past it. */
function read(data: Uint8Array, what: string): number {
  let value = 0;
  let scale = 1;
  for (let i = 0; ; i++) {
    if (i >= MAX_VARINT_BYTES) throw new FrameError(`the ${what} is longer than ${MAX_VARINT_BYTES} bytes`);
    if (at >= data.length) throw new FrameError(`the frame header is cut short in its ${what}`);
    const b = data[at++]!;
    value += (b & 0x7f) * scale;
    scale *= 128;
    if (!(b & 0x80)) {
      if (b === 0 && i > 0) throw new FrameError(`the ${what} is not in its shortest form`);
      return value;
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

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function readText(data: Uint8Array, what: string): string {
  const size = read(data, `length of ${what}`);
  if (size === 0) throw new FrameError(`${what} is empty in the schema table`);
  if (size > data.length - at) throw new FrameError(`the schema table is cut short in ${what}`);
  try {
    return utf8.decode(data.subarray(at, (at += size)));
  } catch {
    throw new FrameError(`${what} in the schema table is not UTF-8`);
  }
}

function readTable(data: Uint8Array): SchemaEntry[] {
  const count = read(data, "schema count");
  if (count === 0 || count > data.length - at) throw new FrameError(`a schema table cannot hold ${count} records here`);
  const entries: SchemaEntry[] = [];
  let last = -1;
  for (let i = 0; i < count; i++) {
    const rid = read(data, "record id");
    if (rid >= ID_LIMIT) throw new FrameError(`record id ${rid} in the schema table is not below ${ID_LIMIT}`);
    if (rid <= last) throw new FrameError(`record ids in the schema table must increase (${last}, then ${rid})`);
    last = rid;
    const name = readText(data, `the name of record ${rid}`);
    const nfields = read(data, `field count of record ${rid}`);
    if (nfields === 0 || nfields > data.length - at) throw new FrameError(`record ${name} cannot have ${nfields} fields here`);
    const fields: string[] = [];
    for (let f = 0; f < nfields; f++) fields.push(readText(data, `field ${f} of record ${name}`));
    if (new Set(fields).size !== fields.length) throw new FrameError(`record ${name} repeats a field name in the schema table`);
    entries.push([rid, name, fields]);
  }
  return entries;
}

const NONE: readonly SchemaEntry[] = Object.freeze([]);

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
  at = 1;
  if (kind === Kind.REFRESH) {
    const value = read(data, "rejected base");
    return { kind, frame: 0, base: value === 0 ? null : value - 1, size: at, schemas: NONE, session: null };
  }
  const frame = read(data, "frame number");
  let base: number | null = null;
  if (kind === Kind.DELTA || kind === Kind.ANSWER) {
    const distance = read(data, "base distance");
    if (distance === 0) throw new FrameError(`a delta to frame ${frame} cannot have itself as its base`);
    if (distance > frame) throw new FrameError(`a delta to frame ${frame} cannot start ${distance} frames earlier`);
    base = frame - distance;
  } else if (kind === Kind.RESYNC) base = read(data, "rejected base");
  let session: Uint8Array | null = null;
  if (kind === Kind.SNAPSHOT || kind === Kind.ANSWER) {
    if (at + SESSION_SIZE > data.length) throw new FrameError("the frame header is cut short in its session");
    session = data.slice(at, (at += SESSION_SIZE));
  }
  const schemas = table ? readTable(data) : NONE;
  return { kind, frame, base, size: at, schemas, session };
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
