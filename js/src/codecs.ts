/**
 * The codecs as values to hand a {@link Replica}, a {@link Publisher} or a
 * {@link Client}: `cbor` (the default) and `json`. Each lives in its own module,
 * so a bundle holds only the codecs it names.
 */

import type { Limits, Tree } from "./tree.js";

export interface Codec {
  /** The name Python's codec has (`"cbor"`, `"json"`), sent in the handshake. */
  readonly name: string;
  decode(data: Uint8Array, limits?: Partial<Limits>): Tree;
  encode(tree: Tree, limits?: Partial<Limits>): Uint8Array;
}
