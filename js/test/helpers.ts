/** Shared by the tests: the vectors' type-tagged JSON form, and the vectors' value types. */

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { DELETED, Float, List, Marker, PyMap, TypedValue, encodeCbor, fromHex, registerType, toHex, type Tree } from "../src/index.js";

const VECTORS = fileURLToPath(new URL("../../../vectors/", import.meta.url));

export function loadVectors<T>(name: string): T[] {
  return JSON.parse(readFileSync(VECTORS + name, "utf-8")) as T[];
}

const f64 = new DataView(new ArrayBuffer(8));

function floatHex(value: number): string {
  f64.setFloat64(0, value);
  return toHex(new Uint8Array(f64.buffer));
}

/** The type-tagged form of a JS tree (vectors/generate.py documents it). */
export function tagged(tree: Tree): unknown {
  if (tree === null) return ["none"];
  if (tree === DELETED) return ["deleted"];
  switch (typeof tree) {
    case "boolean":
      return ["bool", tree];
    case "bigint":
      return ["int", tree.toString()];
    case "number":
      if (Number.isInteger(tree) && !Object.is(tree, -0)) return ["int", String(tree)];
      return ["float", floatHex(tree)];
    case "string":
      return ["str", tree];
  }
  if (tree instanceof Float) return ["float", tree.bits ? toHex(tree.bits) : floatHex(tree.value)];
  if (tree instanceof Uint8Array) return ["bytes", toHex(tree)];
  if (Array.isArray(tree)) return ["tuple", (tree as Tree[]).map(tagged)];
  if (tree instanceof List) return ["list", tree.items.map(tagged)];
  if (tree instanceof PyMap) return ["dict", [...tree].map(([k, v]) => [tagged(k as Tree), tagged(v)])];
  if (tree instanceof Marker) return ["marker", tree.id, tagged(tree.content)];
  if (tree instanceof TypedValue) return ["value", tree.name, tagged(tree.tree)];
  throw new Error(`no tagged form for ${String(tree)}`);
}

/** The JS tree of a tagged form. */
export function untagged(node: unknown): Tree {
  const [kind, a, b] = node as [string, any, any];
  switch (kind) {
    case "none":
      return null;
    case "deleted":
      return DELETED;
    case "bool":
      return a as boolean;
    case "int": {
      const big = BigInt(a as string);
      return big <= BigInt(Number.MAX_SAFE_INTEGER) && big >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
    }
    case "float": {
      const bytes = fromHex(a as string);
      const value = new DataView(bytes.buffer).getFloat64(0);
      if (value !== value) return a === "7ff8000000000000" ? NaN : new Float(NaN, bytes);
      return Number.isInteger(value) || Object.is(value, -0) ? new Float(value) : value;
    }
    case "str":
      return a as string;
    case "bytes":
      return fromHex(a as string);
    case "tuple":
      return Object.freeze((a as unknown[]).map(untagged));
    case "list":
      return new List((a as unknown[]).map(untagged));
    case "dict":
      return new PyMap((a as [unknown, unknown][]).map(([k, v]) => [untagged(k) as any, untagged(v)]));
    case "marker":
      return new Marker(a as number, untagged(b));
    case "value":
      return new TypedValue(a as string, untagged(b));
  }
  throw new Error(`unknown tagged kind ${kind}`);
}

let registered = false;

/** Register the value types the vectors use (vectors.Team, vectors.Vec). */
export function registerVectorTypes(): void {
  if (registered) return;
  registered = true;
  registerType({
    name: "vectors.Team",
    fromTree: (tree) => {
      if (tree !== "red" && tree !== "blue") throw new Error("not a Team");
      return tree;
    },
  });
  registerType({
    name: "vectors.Vec",
    fromTree: (tree) => {
      const ok = (v: Tree) => (typeof v === "number" && !Number.isInteger(v)) || v instanceof Float;
      if (!Array.isArray(tree) || tree.length !== 2 || !tree.every(ok)) throw new Error("a Vec is a pair of floats");
      return tree;
    },
  });
}

/** A small deterministic PRNG (xorshift32), so that a failure replays. */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

/** A session packet: a frame header, then ``tree`` in CBOR. */
export function packet(header: Uint8Array, tree: Tree): Uint8Array {
  const body = encodeCbor(tree);
  const out = new Uint8Array(header.length + body.length);
  out.set(header);
  out.set(body, header.length);
  return out;
}
