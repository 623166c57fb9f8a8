/**
 * Change listeners with path patterns: `["players", ANY, "hp"]`. A listener
 * runs after the whole packet applied (the state it reads is the new one),
 * once per event whose path matches its pattern, and also for an event on an
 * ancestor of the pattern's place (a player replaced as a whole: its `hp`
 * may have changed).
 */

import { List, PyMap, idOf, type Id, type Key, type Tree } from "./tree.js";
import { Record, type ChangeEvent } from "./state.js";

/** A wildcard in a path pattern: any key, any index. */
export const ANY: unique symbol = Symbol("flatsync.ANY");
export type Pattern = readonly (Key | typeof ANY)[];

/** A pattern as key ids (ANY as itself), made once per listener. */
type Ids = readonly (Id | null | typeof ANY)[];

function ids(pattern: Pattern): Ids {
  return pattern.map((item) => (item === ANY ? ANY : idOf(item as Key)));
}

/** Whether `path` matches the first `path.length` items of the pattern `want`. */
function matches(path: readonly Key[], want: Ids): boolean {
  if (path.length > want.length) return false;
  // (From the end: the last keys tell listeners apart, "x" from "y".)
  for (let i = path.length - 1; i >= 0; i--) {
    const item = want[i];
    if (item !== ANY && idOf(path[i]!) !== item) return false;
  }
  return true;
}

/** Whether `path` matches the first `path.length` items of `pattern`. */
export function matchesPrefix(path: readonly Key[], pattern: Pattern): boolean {
  return matches(path, ids(pattern));
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
  const id = want === ANY ? ANY : idOf(want as Key);
  for (const [key, child] of children(value)) {
    if (id === ANY || idOf(key) === id) out.push(...places(child, [...path, key], pattern));
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

interface Sub extends Subscription {
  /** The pattern's ids, and those of its items' pattern (one more level: ANY). */
  want: Ids;
  items: Ids;
}

/** The listeners of one replica. */
export class Listeners {
  private readonly subs = new Set<Sub>();

  get size(): number {
    return this.subs.size;
  }

  add(subscription: Subscription): () => void {
    const want = ids(subscription.pattern);
    const sub: Sub = { ...subscription, want, items: [...want, ANY] };
    this.subs.add(sub);
    return () => this.subs.delete(sub);
  }

  /** Dispatch a packet's events, after the packet applied. */
  dispatch(events: readonly ChangeEvent[]): void {
    for (const event of events) {
      for (const sub of this.subs) {
        if (sub.onChange && matches(event.path, sub.want)) sub.onChange(event);
        if ((!sub.onAdd && !sub.onRemove) || !matches(event.path, sub.items)) continue;
        // Items of the container at `pattern`: places of pattern + one more level.
        const itemPattern: Pattern = [...sub.pattern, ANY];
        const before = event.type === "added" ? [] : places(event.old, event.path, itemPattern);
        const after = event.type === "removed" ? [] : places(event.value, event.path, itemPattern);
        const keys = (list: [Key[], Tree][]) => new Set(list.map(([p]) => idOf(p as Key)));
        if (sub.onRemove) {
          const kept = keys(after);
          for (const [p, v] of before) if (!kept.has(idOf(p as Key))) sub.onRemove(p, v);
        }
        if (sub.onAdd) {
          const had = keys(before);
          for (const [p, v] of after) if (!had.has(idOf(p as Key))) sub.onAdd(p, v);
        }
      }
    }
  }
}
