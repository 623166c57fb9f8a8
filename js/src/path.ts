/** Paths inside a state or a packet, written as Python writes them: `root['players'][3]`. */

import { Float, type Key } from "./tree.js";

export type PathItem = Key;

function repr(key: Key): string {
  if (key === null) return "None";
  if (typeof key === "string") return `'${key}'`;
  if (typeof key === "boolean") return key ? "True" : "False";
  if (key instanceof Float) return key.toString();
  if (key instanceof Uint8Array) return `b'${Array.from(key, (b) => b.toString(16).padStart(2, "0")).join("")}'`;
  if (Array.isArray(key)) return `(${(key as Key[]).map(repr).join(", ")}${key.length === 1 ? "," : ""})`;
  return String(key);
}

export function formatPath(path: readonly PathItem[]): string {
  return "root" + path.map((k) => `[${repr(k)}]`).join("");
}
