/**
 * The JSON codec, byte-compatible with Python's `flatsync.JsonCodec` (with the
 * standard library's json writing: floats as Python's `repr`, `1e+16`).
 *
 * Decoding parses the text itself, iteratively (any nesting, no recursion),
 * keeps every member of an object (so duplicates are seen), reads integers
 * exactly, and then checks the protocol's rules and the limits.
 */

import { DecodeError, EncodeError, LimitError } from "./errors.js";
import { makeMarker } from "./markers.js";
import { packetBytes } from "./cbor.js";
import { formatPath, type PathItem } from "./path.js";
import {
  DELETED,
  Float,
  List,
  Marker,
  MARKER_IDS,
  PyMap,
  limits as makeLimits,
  toHex,
  valueFromTree,
  valueToTree,
  type Key,
  type Limits,
  type Tree,
} from "./tree.js";

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const INT_KEY = /^(?:0|-?[1-9][0-9]*)$/;
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const utf8e = new TextEncoder();

// -- parsing JSON text into raw nodes ---------------------------------------------------------

/** A JSON object as parsed: its members in order, duplicates kept. */
class RawObject {
  constructor(readonly members: [string, Raw][]) {}
}
/** A JSON number as written: an int (no fraction, no exponent) or a float. */
class RawNumber {
  constructor(
    readonly text: string,
    readonly isInt: boolean,
  ) {}
}
type Raw = null | boolean | string | RawNumber | RawObject | Raw[];

const NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?/y;

class Malformed extends Error {}

function parseText(text: string): Raw {
  let pos = 0;
  const n = text.length;
  const ws = () => {
    while (pos < n) {
      const c = text.charCodeAt(pos);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) pos++;
      else break;
    }
  };
  const str = (): string => {
    // at the opening quote
    pos++;
    let out = "";
    let start = pos;
    for (;;) {
      if (pos >= n) throw new Malformed("an unterminated string");
      const c = text.charCodeAt(pos);
      if (c === 0x22) {
        out += text.slice(start, pos);
        pos++;
        return out;
      }
      if (c < 0x20) throw new Malformed("a control character in a string");
      if (c === 0x5c) {
        out += text.slice(start, pos);
        const e = text[pos + 1];
        const simple: Record<string, string> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
        if (e !== undefined && e in simple) {
          out += simple[e];
          pos += 2;
        } else if (e === "u") {
          const hex = text.slice(pos + 2, pos + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new Malformed("a bad \\u escape");
          out += String.fromCharCode(parseInt(hex, 16));
          pos += 6;
        } else throw new Malformed("a bad escape");
        start = pos;
      } else pos++;
    }
  };
  // An explicit stack of open containers: [container, pending member name].
  const stack: { node: Raw[] | RawObject; name: string | null }[] = [];
  let result: Raw | undefined;
  ws();
  for (;;) {
    // Read one value.
    let value: Raw;
    let opened = false;
    if (pos >= n) throw new Malformed("the text ends inside a value");
    const c = text[pos]!;
    if (c === "{" || c === "[") {
      pos++;
      ws();
      const node: Raw[] | RawObject = c === "{" ? new RawObject([]) : [];
      const close = c === "{" ? "}" : "]";
      if (text[pos] === close) {
        pos++;
        value = node;
      } else {
        stack.push({ node, name: null });
        opened = true;
        value = null;
      }
    } else if (c === '"') value = str();
    else if (text.startsWith("true", pos)) {
      value = true;
      pos += 4;
    } else if (text.startsWith("false", pos)) {
      value = false;
      pos += 5;
    } else if (text.startsWith("null", pos)) {
      value = null;
      pos += 4;
    } else if (text.startsWith("NaN", pos) || text.startsWith("Infinity", pos) || text.startsWith("-Infinity", pos)) {
      throw new Malformed("NaN and Infinity are not JSON (flatsync writes non-finite floats as {'~f': ...})");
    } else {
      NUMBER.lastIndex = pos;
      const m = NUMBER.exec(text);
      if (!m) throw new Malformed(`unexpected character at ${pos}`);
      pos += m[0].length;
      value = new RawNumber(m[0], m[1] === undefined && m[2] === undefined);
    }
    if (opened) {
      const top = stack[stack.length - 1]!;
      if (top.node instanceof RawObject) {
        ws();
        if (text[pos] !== '"') throw new Malformed("an object member name must be a string");
        top.name = str();
        ws();
        if (text[pos] !== ":") throw new Malformed("':' expected");
        pos++;
      }
      ws();
      continue;
    }
    // Hand the value to its container, closing the containers that end here.
    for (;;) {
      const top = stack[stack.length - 1];
      if (!top) {
        result = value;
        break;
      }
      if (top.node instanceof RawObject) top.node.members.push([top.name!, value]);
      else top.node.push(value);
      ws();
      const close = top.node instanceof RawObject ? "}" : "]";
      if (text[pos] === ",") {
        pos++;
        ws();
        if (top.node instanceof RawObject) {
          if (text[pos] !== '"') throw new Malformed("an object member name must be a string");
          top.name = str();
          ws();
          if (text[pos] !== ":") throw new Malformed("':' expected");
          pos++;
          ws();
        }
        break;
      }
      if (text[pos] === close) {
        pos++;
        stack.pop();
        value = top.node;
        continue;
      }
      throw new Malformed(`',' or '${close}' expected at ${pos}`);
    }
    if (result !== undefined) break;
  }
  ws();
  if (pos !== n) throw new Malformed("text after the value");
  return result;
}

// -- reading raw nodes into a protocol tree ---------------------------------------------------

const V = 0,
  T = 1,
  R = 2;

function fail(path: readonly PathItem[], message: string): never {
  throw new DecodeError(`${formatPath(path)}: ${message}`);
}

function utf8Length(text: string): number {
  return utf8e.encode(text).length;
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_INDEX = new Map([...B64].map((c, i) => [c, i]));

export function base64(data: Uint8Array): string {
  let out = "";
  for (let i = 0; i < data.length; i += 3) {
    const a = data[i]!,
      b = data[i + 1],
      c = data[i + 2];
    out += B64[a >> 2]! + B64[((a & 3) << 4) | ((b ?? 0) >> 4)]!;
    out += b === undefined ? "=" : B64[((b & 15) << 2) | ((c ?? 0) >> 6)]!;
    out += c === undefined ? "=" : B64[c & 63]!;
  }
  return out;
}

function unbase64(text: string): Uint8Array | null {
  if (text.length % 4) return null;
  const out: number[] = [];
  for (let i = 0; i < text.length; i += 4) {
    const chunk = text.slice(i, i + 4);
    const pad = chunk.endsWith("==") ? 2 : chunk.endsWith("=") ? 1 : 0;
    if (pad && i + 4 !== text.length) return null;
    let bits = 0;
    for (let j = 0; j < 4; j++) {
      const ch = chunk[j]!;
      const v = j >= 4 - pad ? 0 : B64_INDEX.get(ch);
      if (v === undefined) return null;
      bits = (bits << 6) | v;
    }
    out.push((bits >> 16) & 255);
    if (pad < 2) out.push((bits >> 8) & 255);
    if (pad < 1) out.push(bits & 255);
  }
  return Uint8Array.from(out);
}

const QUIET_NAN = "7ff8000000000000";

class Reader {
  readonly maxDepth: number;
  readonly maxItems: number;
  readonly maxString: number;
  totalLeft: number;
  constructor(limits: Limits) {
    this.maxDepth = limits.maxDepth;
    this.maxItems = limits.maxContainerItems;
    this.maxString = limits.maxStringLength;
    this.totalLeft = limits.maxTotalItems;
  }

  container(size: number, depth: number, path: readonly PathItem[]): void {
    if (depth >= this.maxDepth) throw new LimitError(`${formatPath(path)}: the packet nests deeper than ${this.maxDepth} levels`);
    if (size > this.maxItems) throw new LimitError(`${formatPath(path)}: a container of ${size} items is over the limit`);
    this.totalLeft -= size;
    if (this.totalLeft < 0) throw new LimitError(`${formatPath(path)}: the packet holds more items than max_total_items`);
  }

  string(text: string, path: readonly PathItem[]): void {
    if (text.length * 3 > this.maxString && utf8Length(text) > this.maxString) {
      throw new LimitError(`${formatPath(path)}: a string over the limit of ${this.maxString} bytes`);
    }
  }

  integer(digits: string, path: readonly PathItem[]): number | bigint {
    if (digits.length > 3 * this.maxString + 1) throw new LimitError(`${formatPath(path)}: an integer over ${this.maxString} bytes`);
    const value = BigInt(digits);
    const magnitude = value < 0n ? -value : value;
    if ((magnitude.toString(16).length + 1) >> 1 > this.maxString) {
      throw new LimitError(`${formatPath(path)}: an integer over ${this.maxString} bytes`);
    }
    return Number.isSafeInteger(Number(value)) && BigInt(Number(value)) === value ? Number(value) : value;
  }

  // Recursion is bounded: every level checks the depth first (max_depth).
  tree(node: Raw, depth: number, path: readonly PathItem[], ctx = V): Tree {
    if (typeof node === "string") {
      this.string(node, path);
      return node;
    }
    if (node === null || typeof node === "boolean") return node;
    if (node instanceof RawNumber) {
      if (node.isInt) {
        const value = BigInt(node.text);
        if (value > BigInt(MAX_SAFE) || value < -BigInt(MAX_SAFE)) {
          fail(path, `the integer ${node.text} is beyond 2**53 - 1 in magnitude; JSON carries it as {'~i': '...'}`);
        }
        return Number(value) || 0;
      }
      const value = Number(node.text);
      if (!Number.isFinite(value)) fail(path, "a number too large for a float");
      return Number.isInteger(value) || Object.is(value, -0) ? new Float(value) : value;
    }
    if (Array.isArray(node)) {
      this.container(node.length, depth, path);
      const inner = ctx === R ? R : T;
      return Object.freeze(node.map((item, index) => this.tree(item, depth + 1, [...path, index], inner)));
    }
    const members = node.members;
    if (members.length === 1) {
      const name = members[0]![0];
      if (name[0] === "~" && ((name.length === 2 && name[1]! >= "a" && name[1]! <= "z") || /^~[0-9]+$/.test(name))) {
        return this.tagged(name.slice(1), members[0]![1], depth, path, ctx);
      }
    }
    if (ctx === T) fail(path, "a tuple may not hold a mapping");
    this.container(members.length, depth, path);
    const out = new PyMap();
    for (const [text, value] of members) {
      const key = this.key(text, depth + 1, path);
      if (out.has(key)) fail(path, `the key ${text} appears twice`);
      out.set(key, this.tree(value, depth + 1, [...path, key]));
    }
    return out;
  }

  tagged(tag: string, payload: Raw, depth: number, path: readonly PathItem[], ctx: number): Tree {
    if (tag === "b") {
      if (typeof payload !== "string") fail(path, "'~b' (bytes) must hold a base64 string");
      if (payload.length > (Math.floor(this.maxString / 3) + 1) * 4) throw new LimitError(`${formatPath(path)}: a byte string over the limit`);
      const value = unbase64(payload);
      if (value === null) fail(path, "'~b' holds malformed base64");
      if (base64(value) !== payload) fail(path, "'~b' holds non-canonical base64");
      if (value.length > this.maxString) throw new LimitError(`${formatPath(path)}: a byte string over the limit`);
      return value;
    }
    if (tag === "i") {
      if (typeof payload !== "string" || !INT_KEY.test(payload)) fail(path, "'~i' must hold an integer's decimal digits");
      const value = this.integer(payload, path);
      if (typeof value === "number") fail(path, `'~i' holds ${value}, a plain JSON number`);
      return value;
    }
    if (tag === "f") {
      if (payload === "inf") return Infinity;
      if (payload === "-inf") return -Infinity;
      if (payload === "nan") return NaN;
      if (typeof payload === "string" && /^[0-9a-f]{16}$/.test(payload) && payload !== QUIET_NAN) {
        const bytes = new Uint8Array(8);
        for (let i = 0; i < 8; i++) bytes[i] = parseInt(payload.slice(2 * i, 2 * i + 2), 16);
        const value = new DataView(bytes.buffer).getFloat64(0);
        if (value !== value) return new Float(NaN, bytes);
      }
      fail(path, "'~f' must hold 'inf', '-inf', 'nan' or a NaN's 16 hex digits");
    }
    if (tag === "v") {
      if (!Array.isArray(payload) || payload.length !== 2 || typeof payload[0] !== "string") fail(path, "'~v' must hold [name, tree]");
      if (depth >= this.maxDepth) throw new LimitError(`${formatPath(path)}: the packet nests deeper than ${this.maxDepth}`);
      this.string(payload[0], path);
      const tree = this.tree(payload[1]!, depth + 1, path);
      try {
        return valueFromTree(payload[0], tree);
      } catch (exc) {
        fail(path, (exc as Error).message);
      }
    }
    if (ctx === T) fail(path, `a tuple may not hold '~${tag}'`);
    if (tag === "d") {
      if (!(payload instanceof RawNumber) || payload.text !== "0") fail(path, "'~d' (DELETED) must hold 0");
      return DELETED;
    }
    if (tag === "l") {
      if (!Array.isArray(payload)) fail(path, "'~l' (a list) must hold an array");
      this.container(payload.length, depth, path);
      return new List(payload.map((item, index) => this.tree(item, depth + 1, [...path, index])));
    }
    if (!/^[0-9]+$/.test(tag)) fail(path, `an unknown tag '~${tag}'`);
    const id = tag.length <= 3 && String(Number(tag)) === tag ? Number(tag) : -1;
    if (!MARKER_IDS.has(id)) fail(path, `an unknown marker '~${tag}'`);
    if (depth >= this.maxDepth) throw new LimitError(`${formatPath(path)}: the packet nests deeper than ${this.maxDepth}`);
    const content = this.tree(payload, depth + 1, path, R);
    try {
      return makeMarker(id, content);
    } catch (exc) {
      fail(path, (exc as Error).message);
    }
  }

  key(text: string, depth: number, path: readonly PathItem[]): Key {
    if (text[0] !== "~") {
      if (INT_KEY.test(text)) return this.integer(text, path);
      this.string(text, path);
      return text;
    }
    let parsed: Raw;
    try {
      parsed = parseText(text.slice(1));
    } catch {
      fail(path, `the key ${JSON.stringify(text)} is malformed`);
    }
    const key = this.keyItem(parsed, depth, path);
    if (
      (typeof key === "number" && Number.isInteger(key)) ||
      typeof key === "bigint" ||
      (typeof key === "string" && key[0] !== "~" && !INT_KEY.test(key))
    ) {
      fail(path, `the key ${JSON.stringify(text)} is not canonical`);
    }
    return key;
  }

  keyItem(node: Raw, depth: number, path: readonly PathItem[]): Key {
    if (Array.isArray(node)) {
      this.container(node.length, depth, path);
      return Object.freeze(node.map((item) => this.keyItem(item, depth + 1, path)));
    }
    if (node instanceof RawObject && (node.members.length !== 1 || !["~b", "~i", "~f"].includes(node.members[0]![0]))) {
      fail(path, "a key cannot hold a mapping or a marker");
    }
    const value = this.tree(node, depth, path, T) as Key;
    if ((typeof value === "number" && value !== value) || (value instanceof Float && value.value !== value.value)) {
      fail(path, "a NaN cannot be a key");
    }
    return value;
  }
}

/** Decode one JSON packet (UTF-8) into a protocol tree; changes nothing. */
export function decodeJson(data: Uint8Array, limits: Partial<Limits> = {}): Tree {
  const full = makeLimits(limits);
  packetBytes(data, full);
  let text: string;
  try {
    text = utf8.decode(data);
  } catch {
    throw new DecodeError("the packet is not UTF-8");
  }
  let raw: Raw;
  try {
    raw = parseText(text);
  } catch (exc) {
    if (exc instanceof DecodeError) throw exc;
    throw new DecodeError(`malformed JSON: ${(exc as Error).message}`);
  }
  return new Reader(full).tree(raw, 0, []);
}

// -- encoding ---------------------------------------------------------------------------------

/** A finite float as Python's `repr` writes it (`1.0`, `1e+16`, `1e-05`, `0.0001`). */
export function pyFloat(value: number): string {
  if (value === 0) return Object.is(value, -0) ? "-0.0" : "0.0";
  const [mantissa, expText] = value.toExponential().split("e") as [string, string];
  const exp = Number(expText);
  const negative = mantissa[0] === "-";
  const digits = mantissa.replace("-", "").replace(".", "");
  let out: string;
  if (exp < -4 || exp >= 16) {
    const body = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    out = `${body}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  } else if (exp < 0) {
    out = `0.${"0".repeat(-exp - 1)}${digits}`;
  } else if (digits.length <= exp + 1) {
    out = `${digits}${"0".repeat(exp + 1 - digits.length)}.0`;
  } else {
    out = `${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
  }
  return negative ? "-" + out : out;
}

function floatTag(value: number, bits: Uint8Array | null): string {
  if (value === value) return value > 0 ? '{"~f":"inf"}' : '{"~f":"-inf"}';
  const hex = bits ? toHex(bits) : QUIET_NAN;
  return `{"~f":${JSON.stringify(hex === QUIET_NAN ? "nan" : hex)}}`;
}

function out(tree: Tree, depth: number, limits: Limits): string {
  if (tree === null) return "null";
  switch (typeof tree) {
    case "boolean":
      return tree ? "true" : "false";
    case "string":
      return JSON.stringify(tree);
    case "bigint":
      return tree >= -BigInt(MAX_SAFE) && tree <= BigInt(MAX_SAFE) ? tree.toString() : `{"~i":"${tree.toString()}"}`;
    case "number":
      if (Number.isInteger(tree) && !Object.is(tree, -0)) {
        if (!Number.isSafeInteger(tree)) throw new EncodeError(`the number ${tree} is beyond 2**53: use a bigint, or a Float`);
        return String(tree);
      }
      return Number.isFinite(tree) ? pyFloat(tree) : floatTag(tree, null);
    case "symbol":
      if (tree === DELETED) return '{"~d":0}';
  }
  if (depth >= limits.maxDepth && (Array.isArray(tree) || tree instanceof PyMap || tree instanceof List || tree instanceof Marker)) {
    throw new LimitError(`the tree nests deeper than ${limits.maxDepth} levels`);
  }
  if (tree instanceof Float) return Number.isFinite(tree.value) ? pyFloat(tree.value) : floatTag(tree.value, tree.bits);
  if (tree instanceof Uint8Array) return `{"~b":"${base64(tree)}"}`;
  if (Array.isArray(tree)) return "[" + (tree as Tree[]).map((item) => out(item, depth + 1, limits)).join(",") + "]";
  if (tree instanceof List) return '{"~l":[' + tree.items.map((item) => out(item, depth + 1, limits)).join(",") + "]}";
  if (tree instanceof PyMap) {
    const parts: string[] = [];
    for (const [k, v] of tree) parts.push(JSON.stringify(keyOut(k, limits)) + ":" + out(v, depth + 1, limits));
    return "{" + parts.join(",") + "}";
  }
  if (tree instanceof Marker) return `{"~${tree.id}":${out(tree.content, depth + 1, limits)}}`;
  const typed = typeof tree === "object" ? valueToTree(tree as object) : null;
  if (typed) return `{"~v":[${JSON.stringify(typed[0])},${out(typed[1], depth + 1, limits)}]}`;
  throw new EncodeError(`cannot encode ${String(tree)}`);
}

function keyOut(key: Key, limits: Limits): string {
  if (typeof key === "string") {
    if (key[0] !== "~" && !INT_KEY.test(key)) return key;
  } else if (typeof key === "bigint" || (typeof key === "number" && Number.isInteger(key) && !Object.is(key, -0))) {
    return key.toString();
  }
  return "~" + out(key as Tree, 0, limits);
}

/** Encode a protocol tree as JSON text (UTF-8), as Python's JsonCodec writes it. */
export function encodeJson(tree: Tree, limits: Partial<Limits> = {}): Uint8Array {
  const full = makeLimits(limits);
  const data = utf8e.encode(out(tree, 0, full));
  if (data.length > full.maxPacketSize) throw new LimitError("the packet is over max_packet_size");
  return data;
}

/** The JSON codec, as Python's `flatsync.JsonCodec` (with the standard library's float forms). */
export const json: import("./codecs.js").Codec = Object.freeze({ name: "json", decode: decodeJson, encode: encodeJson });
