/**
 * Change listeners with path patterns: `["players", ANY, "hp"]`. A listener
 * runs after the whole packet applied (the state it reads is the new one),
 * once per event whose path matches its pattern, and also for an event on an
 * ancestor of the pattern's place (a player replaced as a whole: its `hp`
 * may have changed).
 */

import { List, PyMap, keyId, type Key, type Tree } from "./tree.js";
import { Record, type ChangeEvent } from "./state.js";

/** A wildcard in a path pattern: any key, any index. */
export const ANY: unique symbol = Symbol("flatsync.ANY");
export type Pattern = readonly (Key | typeof ANY)[];

function matchesItem(key: Key, pattern: Key | typeof ANY): boolean {
  return pattern === ANY || keyId(key) === keyId(pattern as Key);
}

/** Whether `path` matches the first `path.length` items of `pattern`. */
export function matchesPrefix(path: readonly Key[], pattern: Pattern): boolean {
  if (path.length > pattern.length) return false;
  for (let i = 0; i < path.length; i++) if (!matchesItem(path[i]!, pattern[i]!)) return false;
  return true;
}

/** The children of a state value: [key, value] pairs. */
function children(value: Tree): [Key, Tree][] {
  if (value instanceof PyMap) return [...value];
  if (value instanceof List) return value.items.map((item, i) => [i, item]);
  if (value instanceof Record) return value.fields.map((field, i) => [field, value.values[i]!]);
  return [];
}

/** Every place under `value` (at `path`) matching the rest of `pattern`: [path, value]. */
export function places(value: Tree, path: readonly Key[], pattern: Pattern): [Key[], Tree][] {
  if (path.length === pattern.length) return [[[...path], value]];
  const out: [Key[], Tree][] = [];
  const want = pattern[path.length]!;
  for (const [key, child] of children(value)) {
    if (matchesItem(key, want)) out.push(...places(child, [...path, key], pattern));
  }
  return out;
}

export type Listener = (event: ChangeEvent) => void;
export type ItemListener = (path: readonly Key[], value: Tree) => void;

interface Subscription {
  pattern: Pattern;
  onChange?: Listener;
  onAdd?: ItemListener;
  onRemove?: ItemListener;
}

/** The listeners of one replica. */
export class Listeners {
  private readonly subs = new Set<Subscription>();

  get size(): number {
    return this.subs.size;
  }

  add(sub: Subscription): () => void {
    this.subs.add(sub);
    return () => this.subs.delete(sub);
  }

  /** Dispatch a packet's events, after the packet applied. */
  dispatch(events: readonly ChangeEvent[]): void {
    for (const event of events) {
      for (const sub of this.subs) {
        const { pattern } = sub;
        if (sub.onChange && matchesPrefix(event.path, pattern)) sub.onChange(event);
        if (!sub.onAdd && !sub.onRemove) continue;
        // Items of the container at `pattern`: places of pattern + one more level.
        const itemPattern: Pattern = [...pattern, ANY];
        if (!matchesPrefix(event.path, itemPattern)) continue;
        const before = event.type === "added" ? [] : places(event.old, event.path, itemPattern);
        const after = event.type === "removed" ? [] : places(event.value, event.path, itemPattern);
        const ids = (list: [Key[], Tree][]) => new Set(list.map(([p]) => keyId(p as Key)));
        if (sub.onRemove) {
          const kept = ids(after);
          for (const [p, v] of before) if (!kept.has(keyId(p as Key))) sub.onRemove(p, v);
        }
        if (sub.onAdd) {
          const had = ids(before);
          for (const [p, v] of after) if (!had.has(keyId(p as Key))) sub.onAdd(p, v);
        }
      }
    }
  }
}
