/**
 * The CBOR codec (RFC 8949), byte-compatible with Python's `flatsync.CborCodec`.
 *
 * Decoding is one pass over the bytes with an explicit stack (no recursion for
 * values, so no nesting can overflow the call stack), checks every declared
 * length against the limits and the bytes left before it allocates, builds
 * maps as {@link PyMap}s (a `__proto__` key is data), and refuses what Python
 * refuses, with the same error classes.
 */

import { DecodeError, EncodeError, LimitError } from "./errors.js";
import { makeMarker } from "./markers.js";
import {
  DELETED,
  Float,
  List,
  Marker,
  MARKER_IDS,
  PyMap,
  TypedValue,
  limits as makeLimits,
  valueFromTree,
  valueToTree,
  idOf,
  type Id,
  type Key,
  type Limits,
  type Tree,
} from "./tree.js";
import { formatPath, type PathItem } from "./path.js";
import { changedTo, later, putBack, removed, type Events } from "./state.js";

const ROOT = 0,
  MAP = 1,
  TUPLE = 2,
  LIST = 3,
  RAW = 4,
  MARKER = 5,
  VALUE = 6;
const V = 0,
  T = 1,
  R = 2;
const CONTEXT = [V, V, T, V, R, R, V];
const MISSING = Symbol("missing");

class Refused extends Error {
  constructor(
    message: string,
    readonly limit = false,
  ) {
    super(message);
  }
}
class Short extends Error {}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);


function intOf(value: bigint): number | bigint {
  return value <= MAX_SAFE && value >= -MAX_SAFE ? Number(value) : value;
}

/** 2 ** (e - 24) for e from 0 to 30: a half's scale. */
const POW2 = Array.from({ length: 31 }, (_, e) => 2 ** (e - 24));

function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * POW2[0]!;
  if (exp === 31) return mant ? NaN : sign * Infinity;
  return sign * (1024 + mant) * POW2[exp - 1]!;
}

const QUIET_NAN = [0x7f, 0xf8, 0, 0, 0, 0, 0, 0];

function nanBits(hi: number, lo: number): Uint8Array {
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint32(0, hi);
  view.setUint32(4, lo);
  return out;
}

/** A decoded NaN as a tree item: a NaN other than the quiet one keeps its bits. */
function nanItem(bits: Uint8Array): number | Float {
  return bits.every((b, i) => b === QUIET_NAN[i]) ? NaN : new Float(NaN, bits.slice());
}

/** Where multi-byte floats and 8-byte heads are read (no DataView per packet). */
const SCRATCH = new Uint8Array(8);
const SCRATCH_VIEW = new DataView(SCRATCH.buffer);

/** The `n` bytes at `pos`, in a view at offset 0. */
function load(data: Uint8Array, pos: number, n: number): DataView {
  for (let i = 0; i < n; i++) SCRATCH[i] = data[pos + i]!;
  return SCRATCH_VIEW;
}

/** Where the last {@link argAt} or {@link floatAt} read ended (module state: no object per read). */
let END = 0;

/**
 * The argument of the head at `pos` when it fits in 4 bytes after the first,
 * else -1 (8 bytes, indefinite, reserved); sets {@link END}, which the caller
 * checks against the size (bytes past the end read as 0).
 */
function argAt(data: Uint8Array, pos: number): number {
  const ai = data[pos]! & 31;
  // (1, 2, 4 or 8 bytes follow the first for ai 24 to 27, none below.)
  END = pos + 1 + ((1 << ai) >> 24);
  if (ai < 24) return ai;
  if (ai === 24) return data[pos + 1]!;
  if (ai === 25) return (data[pos + 1]! << 8) | data[pos + 2]!;
  return ai === 26 ? data[pos + 1]! * 0x1000000 + ((data[pos + 2]! << 16) | (data[pos + 3]! << 8) | data[pos + 4]!) : -1;
}

/** The text of the UTF-8 bytes from `pos` to `end` (short ASCII, most keys, without a TextDecoder call). */
function textAt(data: Uint8Array, pos: number, end: number): string {
  if (end - pos > 15) return utf8At(data, pos, end);
  let out = "";
  for (let i = pos; i < end; i++) {
    const c = data[i]!;
    if (c > 0x7f) return utf8At(data, pos, end);
    out += String.fromCharCode(c);
  }
  return out;
}

function utf8At(data: Uint8Array, pos: number, end: number): string {
  try {
    return utf8.decode(data.subarray(pos, end));
  } catch {
    throw new Refused("a text string that is not valid UTF-8");
  }
}

/** The float whose head byte `b` (0xf9 to 0xfb) is at `pos`; sets {@link END}. */
function floatAt(data: Uint8Array, b: number, pos: number): number | Float {
  const n = b === 0xf9 ? 2 : b === 0xfa ? 4 : 8;
  END = pos + 1 + n;
  if (END > data.length) throw new Short();
  const value = n === 2 ? halfToNumber((data[pos + 1]! << 8) | data[pos + 2]!) : n === 4 ? load(data, pos + 1, 4).getFloat32(0) : load(data, pos + 1, 8).getFloat64(0);
  if (value !== value) return nanAt(data, n, pos);
  return Number.isInteger(value) || Object.is(value, -0) ? new Float(value) : value;
}

/** The NaN at `pos` (`n` bytes after its head), as Python reads it. */
function nanAt(data: Uint8Array, n: number, pos: number): number | Float {
  if (n === 2) {
    // Python reads a half NaN as the quiet NaN of its sign, payload dropped.
    return nanItem(nanBits(data[pos + 1]! & 0x80 ? 0xfff80000 : 0x7ff80000, 0));
  }
  if (n === 4) {
    // A single NaN widens as the hardware does: payload shifted, quiet bit set.
    const bits = load(data, pos + 1, 4).getUint32(0);
    const hi = ((bits & 0x80000000) | 0x7ff80000 | ((bits >>> 3) & 0xfffff)) >>> 0;
    return nanItem(nanBits(hi, ((bits & 7) << 29) >>> 0));
  }
  return nanItem(data.subarray(pos + 1, pos + 9));
}

/** The stack of the last finished parse, for the next one (no array per packet). */
let spare: unknown[] | null = [];

class Parser {
  readonly size: number;
  readonly maxDepth: number;
  readonly maxItems: number;
  readonly maxString: number;
  totalLeft: number;
  /** The open containers, six slots each: left, kind, depth, out, key, tag (flat: no object per container). */
  readonly stack: unknown[] = spare ?? [];
  /** The stack's height after an error (where() reads it). */
  sp = 0;
  constructor(
    readonly data: Uint8Array,
    limits: Limits,
    /** Where the packet starts in `data`. */
    readonly start: number,
  ) {
    spare = null;
    this.size = data.length;
    this.maxDepth = limits.maxDepth;
    this.maxItems = limits.maxContainerItems;
    this.maxString = limits.maxStringLength;
    this.totalLeft = limits.maxTotalItems;
  }

  /** What head() and float() read: the major type, the argument, the offset after the item. */
  major = 0;
  arg: number | bigint = 0;
  end = 0;

  /** Read a head: sets major, arg (a number, or a bigint beyond 2**53) and end (the offset after the head). */
  head(pos: number): void {
    const { data, size } = this;
    if (pos >= size) throw new Short();
    const ai = data[pos]! & 31;
    this.major = data[pos]! >> 5;
    let arg: number | bigint = argAt(data, pos);
    if (arg < 0) {
      if (ai === 31) throw new Refused("an indefinite-length item (flatsync sends only definite lengths)");
      if (ai > 27) throw new Refused(`a reserved additional information value ${ai}`);
      arg = intOf(load(data, pos + 1, 8).getBigUint64(0));
    }
    if (END > size) throw new Short();
    this.arg = arg;
    this.end = END;
  }

  container(size: number | bigint, depth: number, perItem: number, pos: number): number {
    const n = typeof size === "number" ? size : Number(size);
    if (n * perItem > this.size - pos) {
      throw new Refused(`a container declares ${size} items but only ${this.size - pos} bytes follow`);
    }
    if (depth >= this.maxDepth) throw new Refused(`the packet nests deeper than ${this.maxDepth} levels`, true);
    if (n > this.maxItems) throw new Refused(`a container of ${n} items is over the limit of ${this.maxItems}`, true);
    this.totalLeft -= n;
    if (this.totalLeft < 0) throw new Refused("the packet holds more items than max_total_items", true);
    return n;
  }

  string(length: number | bigint, pos: number): number {
    const end = pos + Number(length);
    if (end > this.size) throw new Refused(`a string declares ${length} bytes but only ${this.size - pos} follow`);
    if (Number(length) > this.maxString) {
      throw new Refused(`a string of ${length} bytes is over the limit of ${this.maxString}`, true);
    }
    return end;
  }

  /** The text (major 3) or bytes (major 2) of `length` bytes at `pos`; sets end. */
  str(major: number, length: number | bigint, pos: number): string | Uint8Array {
    const end = (this.end = this.string(length, pos));
    return major === 3 ? textAt(this.data, pos, end) : this.data.slice(pos, end);
  }

  /** The bignum at `pos` (after its tag); sets end. */
  bignum(tag: number, pos: number): number | bigint {
    this.head(pos);
    if (this.major !== 2) throw new Refused("a bignum (tag 2 or 3) must hold a byte string");
    const at = this.end;
    const end = this.string(this.arg, at);
    let value = 0n;
    for (let i = at; i < end; i++) value = (value << 8n) | BigInt(this.data[i]!);
    this.end = end;
    return intOf(tag === 2 ? value : -1n - value);
  }

  /** The map key at `pos`; sets end. */
  key(depth: number, pos: number): Key {
    if (pos >= this.size) throw new Short();
    const b = this.data[pos]!;
    if (b >= 0xf9 && b <= 0xfb) {
      const value = floatAt(this.data, b, pos);
      this.end = END;
      if (value !== value || (value instanceof Float && value.value !== value.value)) {
        throw new Refused("a NaN cannot be a map key (it is never equal to itself)");
      }
      return value;
    }
    this.head(pos);
    const { major, arg, end: at } = this;
    if (major === 0) return arg;
    if (major === 1) return typeof arg === "bigint" ? intOf(-1n - arg) : -1 - arg;
    if (major === 2 || major === 3) return this.str(major, arg, at);
    if (major === 4) {
      const n = this.container(arg, depth, 1, at);
      const items: Key[] = [];
      let p = at;
      for (let i = 0; i < n; i++) {
        items.push(this.key(depth + 1, p));
        p = this.end;
      }
      this.end = p;
      return Object.freeze(items);
    }
    if (major === 6 && (arg === 2 || arg === 3)) return this.bignum(arg, at);
    if (b === 0xf4 || b === 0xf5) return b === 0xf5;
    if (b === 0xf6) return null;
    const what = b === 0xf7 ? "undefined (DELETED)" : major === 5 ? "a map" : major === 6 ? `tagged (tag ${arg})` : "this simple value";
    throw new Refused(`a map key cannot be ${what}`);
  }

  run(): Tree {
    const { data, size, stack, maxDepth } = this;
    let left = 1,
      kind = ROOT,
      depth = 0,
      out: Tree[] | PyMap = [],
      key: Key | typeof MISSING = MISSING,
      tag = 0;
    let ctx = V;
    let pos = this.start;
    let value: Tree;
    let sp = 0;
    const push = () => {
      stack[sp] = left;
      stack[sp + 1] = kind;
      stack[sp + 2] = depth;
      stack[sp + 3] = out;
      stack[sp + 4] = key;
      stack[sp + 5] = tag;
      sp += 6;
    };
    try {
      for (;;) {
        if (left === 0) {
          if (kind === ROOT) {
            if (pos !== size) throw new Refused(`${size - pos} trailing bytes after the packet`);
            return (out as Tree[])[0]!;
          }
          if (kind === MAP) value = out as PyMap;
          else if (kind === LIST) value = new List(out as Tree[]);
          else if (kind === TUPLE || kind === RAW) value = Object.freeze(out as Tree[]);
          else if (kind === MARKER) {
            try {
              value = makeMarker(tag, (out as Tree[])[0]!);
            } catch (exc) {
              throw new Refused((exc as Error).message);
            }
          } else {
            const [name, tree] = out as [string, Tree];
            try {
              value = valueFromTree(name, tree);
            } catch (exc) {
              throw new Refused((exc as Error).message);
            }
          }
          sp -= 6;
          left = stack[sp] as number;
          kind = stack[sp + 1] as number;
          depth = stack[sp + 2] as number;
          out = stack[sp + 3] as Tree[] | PyMap;
          key = stack[sp + 4] as Key | typeof MISSING;
          tag = stack[sp + 5] as number;
          stack[sp + 3] = stack[sp + 4] = null;
          ctx = CONTEXT[kind]!;
        } else {
          left -= 1;
          if (kind === MAP) {
            key = MISSING;
            key = this.key(depth, pos);
            pos = this.end;
          } else if (kind === VALUE && (out as Tree[]).length === 0) {
            this.head(pos);
            if (this.major !== 3) throw new Refused("a value type's name must be a text string");
            const at = this.end;
            const end = this.string(this.arg, at);
            (out as Tree[]).push(textAt(this.data, at, end));
            pos = end;
          }
          if (pos >= size) throw new Short();
          const b = data[pos]!;
          if (b < 0x18) {
            value = b;
            pos += 1;
          } else if (b >= 0xf9 && b <= 0xfb) {
            value = floatAt(data, b, pos);
            pos = END;
          } else if (b === 0xf7) {
            if (ctx === T) throw new Refused("a tuple cannot hold undefined (DELETED)");
            value = DELETED;
            pos += 1;
          } else if (b >= 0xf4 && b <= 0xf6) {
            value = b === 0xf6 ? null : b === 0xf5;
            pos += 1;
          } else {
            this.head(pos);
            const { major, arg } = this;
            pos = this.end;
            if (major === 0) value = arg;
            else if (major === 1) value = typeof arg === "bigint" ? intOf(-1n - arg) : -1 - arg;
            else if (major === 2 || major === 3) {
              value = this.str(major, arg, pos);
              pos = this.end;
            } else if (major === 4 || major === 5) {
              if (major === 5 && ctx === T) throw new Refused("a tuple cannot hold a map");
              const n = this.container(arg, depth, major - 3, pos);
              push();
              if (major === 5) {
                left = n;
                kind = MAP;
                out = new PyMap();
                ctx = V;
              } else {
                left = n;
                kind = ctx === R ? RAW : TUPLE;
                out = [];
                ctx = CONTEXT[kind]!;
              }
              depth += 1;
              continue;
            } else if (major === 7) {
              throw new Refused(`the simple value ${arg} is not part of the protocol`);
            } else if (arg === 2 || arg === 3) {
              value = this.bignum(arg, pos);
              pos = this.end;
            } else {
              const t = Number(arg);
              if (ctx === T && t !== 27) throw new Refused(`a tuple cannot hold tag ${arg}`);
              if (depth >= maxDepth) throw new Refused(`the packet nests deeper than ${maxDepth} levels`, true);
              if (t !== 8 && t !== 27 && !MARKER_IDS.has(t)) throw new Refused(`tag ${arg} is not part of the protocol`);
              push();
              depth += 1;
              if (t === 8) {
                this.head(pos);
                const after = this.end;
                if (this.major !== 4) throw new Refused("tag 8 (a list) must hold an array");
                left = this.container(this.arg, depth - 1, 1, after);
                pos = after;
                kind = LIST;
                out = [];
                ctx = V;
              } else if (t === 27) {
                if (pos >= size) throw new Short();
                if (data[pos] !== 0x82) throw new Refused("tag 27 (a value type) must hold an array [name, tree]");
                pos += 1;
                left = 1;
                kind = VALUE;
                out = [];
                ctx = V;
              } else {
                left = 1;
                kind = MARKER;
                out = [];
                ctx = R;
                tag = t;
              }
              continue;
            }
          }
        }
        if (kind === MAP) {
          if (!(out as PyMap).addNew(key as Key, value)) {
            throw new Refused(`the key ${String(key)} appears twice in one map`);
          }
        } else {
          (out as Tree[]).push(value);
        }
      }
    } catch (exc) {
      push();
      this.sp = sp;
      throw exc;
    }
  }

  where(): string {
    const path: PathItem[] = [];
    const stack = this.stack;
    for (let i = 6; i < this.sp; i += 6) {
      const kind = stack[i + 1];
      if (kind === MAP) {
        if (stack[i + 4] === MISSING) break;
        path.push(stack[i + 4] as Key);
      } else if (kind === TUPLE || kind === LIST || kind === RAW) {
        path.push((stack[i + 3] as Tree[]).length);
      }
    }
    return formatPath(path);
  }
}

/** Check the packet's type and size (every decoder's preamble). */
export function packetBytes(data: Uint8Array, limits: Limits): Uint8Array {
  if (!(data instanceof Uint8Array)) throw new TypeError("decode() takes a Uint8Array");
  if (data.length > limits.maxPacketSize) {
    throw new LimitError(`a packet of ${data.length} bytes is over the limit of ${limits.maxPacketSize}`);
  }
  return data;
}

/** Decode one CBOR packet into a protocol tree (see {@link Tree}); changes nothing. */
export function decodeCbor(data: Uint8Array, limits: Partial<Limits> = {}): Tree {
  return decodeCborAt(data, 0, limits);
}

/** Decode the CBOR packet that starts at `start` in `data` (a session packet's payload, after its header). */
export function decodeCborAt(data: Uint8Array, start: number, limits: Partial<Limits> = {}): Tree {
  const full = makeLimits(limits);
  if (!(data instanceof Uint8Array)) throw new TypeError("decode() takes a Uint8Array");
  const size = data.length - start;
  if (size > full.maxPacketSize) throw new LimitError(`a packet of ${size} bytes is over the limit of ${full.maxPacketSize}`);
  if (size === 0) throw new DecodeError("an empty packet");
  const parser = new Parser(data, full, start);
  try {
    const tree = parser.run();
    spare = parser.stack;
    return tree;
  } catch (exc) {
    if (exc instanceof Refused) {
      throw new (exc.limit ? LimitError : DecodeError)(`${parser.where()}: ${exc.message}`);
    }
    if (exc instanceof Short) throw new DecodeError(`${parser.where()}: the packet ends inside an item`);
    throw exc;
  }
}

/** Thrown by the fused path where it hands the packet to the general one. */
const DECLINE = /* @__PURE__ */ new Short();
/** The fused path's logs (reused: no array per packet): undo is map, id, old, ...; later is map, id, key, value, ... */
const UNDO: (PyMap | Id | Tree)[] = [];
const LATER: (PyMap | Id | Key | Tree)[] = [];
/** The keys seen in the open mappings, to refuse a duplicate as the decoder does (a scan: at most 128 keys a mapping). */
const SEEN: Id[] = [];

/**
 * Apply the CBOR mapping delta at `start` in `data` to the state `state` while
 * reading it (no delta tree), as decoding it and then `patch(state, delta,
 * schemas, owner, events)` would: same state, same events, same order. It reads
 * the common shape, nested mapping deltas (at most 128 keys each) whose values
 * are scalars or DELETED, and returns the new root; where it meets anything else
 * (a marker, a list, a tag, a larger mapping) or anything the general path would
 * refuse (bytes that do not decode, a limit, a delta that does not fit), it puts
 * back what it changed, empties `events` and returns null: the caller then runs
 * the general path, which gives the same result, or the same error.
 */
export function patchCborAt(data: Uint8Array, start: number, limits: Partial<Limits>, state: PyMap, owner: object, events: Events): PyMap | null {
  const full = makeLimits(limits);
  const size = data.length;
  // (An empty packet: head() throws, and the general path says so.)
  if (size - start > full.maxPacketSize) return null;
  const parser = new Parser(data, full, start);
  const stack = parser.stack;
  // The path is kept for events only.
  const path: Key[] = [];
  const at = { path, events, undo: UNDO, later: LATER };
  let sp = 0;
  // The undo log's length (written by index: the array keeps its store from packet to packet).
  let nu = 0;
  try {
    parser.head(start);
    if ((parser.major as number) !== 5) throw DECLINE;
    let left = parser.container(parser.arg, 0, 2, parser.end);
    let pos = parser.end;
    if (left === 0 && pos === size) return state;
    const root = state._o === owner ? state : state._fork(owner);
    let map = root;
    let depth = 1;
    let from = 0;
    let top = 0;
    for (;;) {
      while (left === 0) {
        if (depth === 1) {
          if (pos !== size) throw DECLINE;
          if (LATER.length) later(LATER);
          // (A big log is let go; a small one keeps its store for the next packet.)
          if (nu > 3072) UNDO.length = 0;
          return root;
        }
        top = from;
        from = stack[--sp] as number;
        left = stack[--sp] as number;
        map = stack[--sp] as PyMap;
        if (events !== null) path.pop();
        depth -= 1;
      }
      left -= 1;
      // The key: an int or a short text read here, the others by the parser. (Past the end,
      // data[pos] is undefined: no branch below takes it but the last, and parser.key() throws.)
      let b = data[pos]!;
      let key: Key;
      if (b < 0x1b) {
        key = argAt(data, pos);
        pos = END;
        if (pos > size) throw DECLINE;
      } else if (b > 0x60 && b < 0x78) {
        const end = pos + b - 0x5f;
        if (end > size || b - 0x60 > parser.maxString) throw DECLINE;
        key = textAt(data, pos + 1, end);
        pos = end;
      } else {
        key = parser.key(depth, pos);
        pos = parser.end;
      }
      // Not null: key() refuses a NaN.
      const id = idOf(key)!;
      for (let i = from; i < top; i++) if (SEEN[i] === id) throw DECLINE;
      SEEN[top++] = id;
      if (top - from > 128) throw DECLINE;
      // The old value; in a small map, where it is (written there directly).
      const a = map._a;
      let i = 0;
      let old: Tree | undefined;
      if (a !== null) {
        while (i < a.length && a[i] !== id) i += 2;
        old = i < a.length ? a[i + 1] : undefined;
      } else old = map._get(id);
      b = data[pos]!;
      let value: Tree;
      if (b >= 0xf9 && b <= 0xfb) {
        value = floatAt(data, b, pos);
        pos = END;
      } else if (b === 0xf7) {
        removed(map, id, key, old, at);
        pos += 1;
        continue;
      } else if (b >= 0xf4 && b <= 0xf6) {
        value = b === 0xf6 ? null : b === 0xf5;
        pos += 1;
      } else {
        // An int, a string or a mapping (an 8-byte head, rarer, by the parser).
        let arg: number | bigint = argAt(data, pos);
        const major = b >> 5;
        if (arg < 0) {
          parser.head(pos);
          arg = parser.arg;
        }
        pos = END;
        if (pos > size) throw DECLINE;
        if (major === 0) value = arg;
        // (A bigint beyond 2**53 throws a TypeError here, and the general path reads it.)
        else if (major === 1) value = -1 - (arg as number);
        else if (major === 2 || major === 3) {
          value = parser.str(major, arg, pos);
          pos = parser.end;
        } else if (major === 5) {
          // A mapping delta: go down into the mapping (forked first when the owner does not own it).
          if (!(old instanceof PyMap)) throw DECLINE;
          const n = parser.container(arg, depth, 2, pos);
          let sub = old;
          if (sub._o !== owner) {
            sub = old._fork(owner);
            UNDO[nu++] = map;
            UNDO[nu++] = id;
            UNDO[nu++] = old;
            map._set(id, key, sub);
          }
          stack[sp++] = map;
          stack[sp++] = left;
          stack[sp++] = from;
          from = top;
          map = sub;
          left = n;
          depth += 1;
          if (events !== null) path.push(key);
          continue;
        } else throw DECLINE;
      }
      if (events !== null) {
        path.push(key);
        changedTo(old, value, at);
        path.pop();
      }
      // A new key waits until the whole delta fitted; a value is written now, and logged
      // (not compared first: reading a large state's old numbers costs cache misses).
      if (old === undefined) LATER.push(map, id, key, value);
      else {
        UNDO[nu++] = map;
        UNDO[nu++] = id;
        UNDO[nu++] = old;
        if (a !== null) a[i + 1] = value;
        else map._set(id, key, value);
      }
    }
  } catch {
    // Put back every value changed in place (newest first); the keys to add or remove were not touched.
    UNDO.length = nu;
    putBack(UNDO);
    if (events !== null) events.length = 0;
    LATER.length = 0;
    return null;
  } finally {
    // (What the stack holds are the state's own mappings: the next parse overwrites them.)
    spare = stack;
  }
}

// -- encoding -----------------------------------------------------------------------------

/** A growable byte buffer. */
export class Writer {
  buf = new Uint8Array(256);
  view = new DataView(this.buf.buffer);
  length = 0;
  ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  byte(b: number): void {
    this.ensure(1);
    this.buf[this.length++] = b;
  }
  bytes(data: ArrayLike<number>): void {
    this.ensure(data.length);
    this.buf.set(data, this.length);
    this.length += data.length;
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

const utf8e = /* @__PURE__ */ new TextEncoder();

function head(w: Writer, major: number, arg: number | bigint): void {
  const m = major << 5;
  if (typeof arg === "bigint" || arg > 0xffffffff) {
    w.ensure(9);
    w.buf[w.length] = m | 27;
    w.view.setBigUint64(w.length + 1, BigInt(arg));
    w.length += 9;
  } else if (arg < 24) w.byte(m | arg);
  else if (arg < 0x100) {
    w.byte(m | 24);
    w.byte(arg);
  } else if (arg < 0x10000) {
    w.ensure(3);
    w.buf[w.length] = m | 25;
    w.view.setUint16(w.length + 1, arg);
    w.length += 3;
  } else {
    w.ensure(5);
    w.buf[w.length] = m | 26;
    w.view.setUint32(w.length + 1, arg);
    w.length += 5;
  }
}

const U64 = (1n << 64n) - 1n;

function encodeInt(w: Writer, value: number | bigint): void {
  if (typeof value === "number") {
    if (value >= 0) head(w, 0, value);
    else head(w, 1, -1 - value);
    return;
  }
  const magnitude = value >= 0n ? value : -1n - value;
  const major = value >= 0n ? 0 : 1;
  if (magnitude <= U64) {
    head(w, major, magnitude <= MAX_SAFE ? Number(magnitude) : magnitude);
    return;
  }
  w.byte(major === 0 ? 0xc2 : 0xc3);
  const hex = magnitude.toString(16);
  const bytes = new Uint8Array((hex.length + 1) >> 1);
  const padded = hex.length % 2 ? "0" + hex : hex;
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(padded.slice(2 * i, 2 * i + 2), 16);
  head(w, 2, bytes.length);
  w.bytes(bytes);
}

const f32 = /* @__PURE__ */ new Float32Array(1);
const u32 = /* @__PURE__ */ new Uint32Array(f32.buffer);

/** The half-precision bits that hold `value` exactly, or -1. */
function toHalf(value: number): number {
  f32[0] = value;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return mant ? -1 : sign | 0x7c00;
  if (exp === 0 && mant === 0) return sign;
  const e = exp - 127;
  if (e >= -14 && e <= 15) {
    if (mant & 0x1fff) return -1;
    return sign | ((e + 15) << 10) | (mant >> 13);
  }
  if (e >= -24 && e < -14) {
    const scaled = Math.abs(value) * 2 ** 24;
    if (!Number.isInteger(scaled)) return -1;
    return sign | scaled;
  }
  return -1;
}

export function encodeFloat(w: Writer, value: number, bits: Uint8Array | null = null): void {
  if (value !== value) {
    w.byte(0xfb);
    w.bytes(bits ?? QUIET_NAN);
    return;
  }
  if (Math.fround(value) === value) {
    const half = toHalf(value);
    if (half >= 0) {
      w.ensure(3);
      w.buf[w.length] = 0xf9;
      w.view.setUint16(w.length + 1, half);
      w.length += 3;
      return;
    }
    w.ensure(5);
    w.buf[w.length] = 0xfa;
    w.view.setFloat32(w.length + 1, value);
    w.length += 5;
    return;
  }
  w.ensure(9);
  w.buf[w.length] = 0xfb;
  w.view.setFloat64(w.length + 1, value);
  w.length += 9;
}

function encodeItem(w: Writer, tree: Tree, depth: number, limits: Limits): void {
  if (tree === null) return w.byte(0xf6);
  switch (typeof tree) {
    case "boolean":
      return w.byte(tree ? 0xf5 : 0xf4);
    case "number":
      if (Number.isInteger(tree)) {
        if (Number.isSafeInteger(tree)) return encodeInt(w, tree);
        throw new EncodeError(`the number ${tree} is beyond 2**53: use a bigint, or a Float for a float`);
      }
      return encodeFloat(w, tree);
    case "bigint":
      return encodeInt(w, tree);
    case "string": {
      const bytes = utf8e.encode(tree);
      if (bytes.length > limits.maxStringLength) throw new LimitError("a string over the limit");
      head(w, 3, bytes.length);
      return w.bytes(bytes);
    }
    case "symbol":
      if (tree === DELETED) return w.byte(0xf7);
      break;
  }
  if (depth >= limits.maxDepth && (Array.isArray(tree) || tree instanceof PyMap || tree instanceof List || tree instanceof Marker || tree instanceof TypedValue)) {
    throw new LimitError(`the tree nests deeper than ${limits.maxDepth} levels`);
  }
  if (tree instanceof Float) return encodeFloat(w, tree.value, tree.bits);
  if (tree instanceof Uint8Array) {
    head(w, 2, tree.length);
    return w.bytes(tree);
  }
  if (Array.isArray(tree)) {
    head(w, 4, tree.length);
    for (const item of tree as readonly Tree[]) encodeItem(w, item, depth + 1, limits);
    return;
  }
  if (tree instanceof PyMap) {
    head(w, 5, tree.size);
    for (const [k, v] of tree) {
      encodeItem(w, k as Tree, depth + 1, limits);
      encodeItem(w, v, depth + 1, limits);
    }
    return;
  }
  if (tree instanceof List) {
    w.byte(0xc8);
    head(w, 4, tree.items.length);
    for (const item of tree.items) encodeItem(w, item, depth + 1, limits);
    return;
  }
  if (tree instanceof Marker) {
    w.byte(0xc0 | tree.id);
    return encodeItem(w, tree.content, depth + 1, limits);
  }
  const typed = typeof tree === "object" ? valueToTree(tree as object) : null;
  if (typed) {
    w.bytes([0xd8, 0x1b, 0x82]);
    encodeItem(w, typed[0], depth + 1, limits);
    return encodeItem(w, typed[1], depth + 1, limits);
  }
  throw new EncodeError(`cannot encode ${String(tree)}`);
}

/** Encode a protocol tree as CBOR, as Python's CborCodec writes it. */
export function encodeCbor(tree: Tree, limits: Partial<Limits> = {}): Uint8Array {
  const full = makeLimits(limits);
  const w = new Writer();
  encodeItem(w, tree, 0, full);
  if (w.length > full.maxPacketSize) throw new LimitError("the packet is over max_packet_size");
  return w.result();
}

/** The CBOR codec, as Python's `flatsync.CborCodec` (the default). */
export const cbor: import("./codecs.js").Codec = /* @__PURE__ */ Object.freeze({ name: "cbor", decode: decodeCbor, encode: encodeCbor });
