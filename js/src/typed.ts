/**
 * Typed views of the state, for TypeScript: the same objects as {@link PyMap},
 * {@link List}, {@link Board} and {@link Record}, with what they hold declared.
 * They cost nothing at run time (types only). `flatsync types` (the Python
 * library's command line) writes them for a module's record classes, so that a
 * client's reads of the state type-check:
 *
 * ```ts
 * import type { Player } from "./state.js";       // written by `flatsync types mygame.records`
 * const players = replica.state.get("players") as MapOf<number, Player>;
 * const hp = players.get(1)?.get("hp");           // number | bigint | undefined
 * ```
 */

import type { Board, Record } from "./state.js";
import type { Key, List, PyMap, Tree, TypedValue } from "./tree.js";

/** A mapping whose keys are `K` and values `V`. */
export interface MapOf<K extends Key, V extends Tree> extends PyMap {
  get(key: K): V | undefined;
  has(key: K): boolean;
  storedKey(key: K): K | undefined;
  entries(): IterableIterator<[K, V]>;
  keys(): IterableIterator<K>;
  values(): IterableIterator<V>;
  [Symbol.iterator](): IterableIterator<[K, V]>;
}

/** A list whose items are `T`. */
export interface ListOf<T extends Tree> extends List {
  readonly items: readonly T[];
}

/** A board of item type `I` (`"u8"`, ..., `"f64"`). */
export interface BoardOf<I extends string> extends Board {
  readonly item: I;
}

/** A record named `N` whose fields are `F` (field name to value type). */
export interface RecordOf<N extends string, F extends { readonly [field: string]: Tree }> extends Record {
  readonly name: N;
  readonly fields: readonly (keyof F & string)[];
  /** The value of the field `name`. */
  get<K extends keyof F & string>(name: K): F[K];
  /** The fields as a plain frozen object. */
  toObject(): Readonly<F>;
}

/** A value of the value type registered as `N`, kept as its name and tree. */
export interface TypedValueOf<N extends string> extends TypedValue {
  readonly name: N;
}
