/**
 * flatsync for JavaScript: the replica and publisher sides of the Python
 * flatsync library's protocol, byte for byte.
 */
export * from "./errors.js";
export * from "./tree.js";
export { decodeCbor, encodeCbor } from "./cbor.js";
export { formatPath } from "./path.js";
export { decodeJson, encodeJson } from "./json.js";
