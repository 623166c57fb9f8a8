/**
 * flatsync for JavaScript: the replica and publisher sides of the Python
 * flatsync library's protocol, byte for byte.
 */
export * from "./errors.js";
export * from "./tree.js";
export { cbor, decodeCbor, encodeCbor } from "./cbor.js";
export type { Codec } from "./codecs.js";
export { formatPath } from "./path.js";
export { json, decodeJson, encodeJson } from "./json.js";
export { Replica, type DropReason, type Outcome, type ReplicaOptions } from "./replica.js";
export { Board, Record, applyMap, build, snapshotOf, refreshDelta, sameTree, type Schemas } from "./state.js";
export { parseHeader, ack, resync, refresh, deltaHeader, snapshotHeader, answerHeader, type Header, type SchemaEntry } from "./frames.js";
export { ANY, type Pattern, type Listener, type ItemListener } from "./events.js";
export type { ChangeEvent } from "./state.js";
export { TrackedMap, TrackedList, TrackedBoard, TrackedRecord, RECORD_SCHEMAS, type RecordSchema } from "./tracked.js";
export { Publisher, type PublisherOptions, type AddClientOptions } from "./publisher.js";
export { View, type RuleItem } from "./views.js";
export { merge, applyDelta } from "./merge.js";
export { recordId } from "./records.js";
export { Client, PROTOCOL_VERSION, decodeWelcome, encodeHello, type ClientOptions, type Welcome, type SocketLike, type SocketConstructor } from "./client.js";
export type { MapOf, ListOf, BoardOf, RecordOf, TypedValueOf } from "./typed.js";
