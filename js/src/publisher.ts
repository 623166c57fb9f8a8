/**
 * The server side of a session (sans-I/O): each tick commits the root's delta
 * as frame n, and hands each client the packets that bring it there. Python's
 * `flatsync.Replica` and this package's {@link Replica} read them alike.
 *
 * Simpler than Python's publisher: there are no views. A client that is more
 * than one frame behind gets the missed frames merged into one delta, as in
 * Python, where that needs no snapshot (else one delta per frame: a nested
 * delta after a new value, or two board deltas, are not merged here). Records
 * ({@link TrackedRecord}) travel with their schemas as Python's do: a packet
 * carries in its header the schemas of the records its payload holds that the
 * client has not been sent (a snapshot or a resync answer: all it holds).
 */

import { cbor } from "./cbor.js";
import type { Codec } from "./codecs.js";
import { FrameError } from "./errors.js";
import { Kind, SESSION_SIZE, answerHeader, deltaHeader, parseHeader, snapshotHeader } from "./frames.js";
import { RECORD_SCHEMAS, TrackedMap } from "./tracked.js";
import { DELETED, List, Marker, PyMap, type Limits, type Tree } from "./tree.js";
import { uvarint } from "./frames.js";

export interface PublisherOptions {
  /** `cbor` (the default) or `json`. */
  codec?: Codec;
  limits?: Partial<Limits>;
  /** The session identity (8 bytes); random by default. */
  session?: Uint8Array;
  /** How many frames the history keeps (a client further behind gets a snapshot). */
  history?: number;
}

interface Client {
  /** The frame its chain of packets ends at, or null: it needs a snapshot. */
  chainEnd: number | null;
  /** A resync answer is due from this frame. */
  answerFrom: number | null;
  acked: number | null;
  /** The record ids whose schemas this client was sent since its last snapshot or answer. */
  known: Set<number>;
}

/** The record ids a payload tree holds (in record snapshots). */
function recordIds(tree: Tree, out: Set<number>): Set<number> {
  const stack: Tree[] = [tree];
  while (stack.length) {
    const item = stack.pop()!;
    if (item instanceof PyMap) for (const value of item.values()) stack.push(value);
    else if (item instanceof List) stack.push(...item.items);
    else if (Array.isArray(item)) stack.push(...(item as Tree[]));
    else if (item instanceof Marker) {
      if (item.id === 11) out.add((item.content as readonly number[])[0]!);
      stack.push(item.content);
    }
  }
  return out;
}

/** Thrown inside {@link mergeDeltas} for a pair it does not merge: the frames go one by one. */
class NoMerge extends Error {}

function isNested(tree: Tree): boolean {
  return tree instanceof PyMap || (tree instanceof Marker && (tree.id === 7 || tree.id === 10 || tree.id === 12));
}

/**
 * One delta equal to applying `first`, then `second` (Python's `merge`, for
 * the cases that need no snapshot: a nested delta after a value throws NoMerge).
 */
function mergeDeltas(first: Tree, second: Tree): Tree {
  if (first instanceof PyMap && second instanceof PyMap) return mergeMaps(first, second);
  if (first instanceof Marker && second instanceof Marker && first.id === second.id) {
    if (first.id === 7) return new Marker(7, Object.freeze([...(first.content as Tree[]), ...(second.content as Tree[])]));
    if (first.id === 12) return new Marker(12, mergeMaps(first.content as PyMap, second.content as PyMap));
  }
  throw new NoMerge();
}

function mergeMaps(first: PyMap, second: PyMap): PyMap {
  const out = first.copy();
  for (const [key, later] of second) {
    if (!out.has(key)) {
      out.set(key, later);
      continue;
    }
    const earlier = out.get(key)!;
    if (isNested(later)) out.set(key, mergeDeltas(earlier, later));
    else if (later === DELETED) out.set(key, DELETED);
    else if ((later instanceof Marker && later.id === 6) || earlier === DELETED) {
      // The entry is dropped and inserted again: the later key object wins.
      out.delete(key);
      out.set(key, later instanceof Marker && later.id === 6 ? later : new Marker(6, later));
    } else if (earlier instanceof Marker && earlier.id === 6) out.set(key, new Marker(6, later));
    else out.set(key, later);
  }
  return out;
}

const encoder = new TextEncoder();

/** A header with the schema table of `ids` (sorted) appended, its table bit set. */
function withTable(head: Uint8Array, ids: Iterable<number>): Uint8Array {
  const sorted = [...ids].sort((a, b) => a - b);
  if (!sorted.length) return head;
  const bytes: number[] = [...head];
  bytes[0]! |= 0x08;
  const text = (value: string) => {
    const data = encoder.encode(value);
    bytes.push(...uvarint(data.length), ...data);
  };
  bytes.push(...uvarint(sorted.length));
  for (const id of sorted) {
    const [name, fields] = RECORD_SCHEMAS.get(id)!;
    bytes.push(...uvarint(id));
    text(name);
    bytes.push(...uvarint(fields.length));
    for (const field of fields) text(field);
  }
  return Uint8Array.from(bytes);
}

function join(head: Uint8Array, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

export class Publisher {
  readonly root: TrackedMap;
  readonly session: Uint8Array;
  private frame_ = 0;
  /** Encoded deltas by frame (the delta from frame - 1). */
  private readonly history = new Map<number, Uint8Array>();
  /** The deltas of the history as trees, for merging a lagging client's frames. */
  private readonly historyTrees = new Map<number, Tree>();
  /** The record ids of each delta in the history (none kept while no record exists). */
  private readonly historyIds = new Map<number, readonly number[]>();
  private readonly historySize: number;
  private readonly clients = new Map<string, Client>();
  private readonly encode: (tree: Tree) => Uint8Array;

  constructor(root: TrackedMap, options: PublisherOptions = {}) {
    this.root = root;
    const limits = options.limits ?? {};
    const codec = options.codec ?? cbor;
    this.encode = (t) => codec.encode(t, limits);
    const session = options.session ?? crypto.getRandomValues(new Uint8Array(SESSION_SIZE));
    if (session.length !== SESSION_SIZE) throw new TypeError(`a session is ${SESSION_SIZE} bytes`);
    this.session = session.slice();
    this.historySize = options.history ?? 64;
    root.commit();
  }

  /** The last frame committed (0 before the first tick). */
  get frame(): number {
    return this.frame_;
  }

  addClient(id: string): void {
    this.clients.set(id, { chainEnd: null, answerFrom: null, acked: null, known: new Set() });
  }
  removeClient(id: string): void {
    this.clients.delete(id);
  }

  /** Commit the root's changes as the next frame; returns its number. */
  tick(): number {
    const delta = this.root.diff();
    this.root.commit();
    this.frame_ += 1;
    this.history.set(this.frame_, this.encode(delta));
    this.history.delete(this.frame_ - this.historySize);
    this.historyTrees.set(this.frame_, delta);
    this.historyTrees.delete(this.frame_ - this.historySize);
    if (RECORD_SCHEMAS.size) this.historyIds.set(this.frame_, [...recordIds(delta, new Set())]);
    this.historyIds.delete(this.frame_ - this.historySize);
    return this.frame_;
  }

  private snapshotPacket(client: Client): Uint8Array {
    const tree = this.root.snapshot();
    client.known = RECORD_SCHEMAS.size ? recordIds(tree, new Set()) : new Set();
    return join(withTable(snapshotHeader(this.frame_, this.session), client.known), this.encode(tree));
  }

  /** The record ids of frame's delta that the client has not been sent; they are now. */
  private newIds(client: Client, frame: number): number[] {
    const ids = (this.historyIds.get(frame) ?? []).filter((id) => !client.known.has(id));
    for (const id of ids) client.known.add(id);
    return ids;
  }

  /** The packets to send to a client now (a snapshot, or the deltas since its chain ends). */
  packetsFor(id: string): Uint8Array[] {
    const client = this.clients.get(id);
    if (!client) throw new Error(`no client ${id}`);
    if (this.frame_ === 0) return [];
    const out: Uint8Array[] = [];
    if (client.answerFrom !== null) {
      const from = client.answerFrom;
      client.answerFrom = null;
      if (from < this.frame_ && this.history.has(from + 1)) {
        // Packets after `from` may be lost, and the schemas they carried with them.
        client.known = new Set();
        const head = withTable(answerHeader(from + 1, from, this.session), this.newIds(client, from + 1));
        out.push(join(head, this.history.get(from + 1)!));
        client.chainEnd = from + 1;
      } else if (from !== this.frame_) client.chainEnd = null;
    }
    if (client.chainEnd !== null && client.chainEnd < this.frame_ && !this.history.has(client.chainEnd + 1)) {
      client.chainEnd = null;
    }
    if (client.chainEnd === null) {
      client.chainEnd = this.frame_;
      return [this.snapshotPacket(client)];
    }
    const merged = this.frame_ - client.chainEnd > 1 ? this.merged(client.chainEnd) : null;
    if (merged !== null) {
      const ids: number[] = [];
      for (let frame = client.chainEnd + 1; frame <= this.frame_; frame++) ids.push(...this.newIds(client, frame));
      out.push(join(withTable(deltaHeader(this.frame_, client.chainEnd), ids), this.encode(merged)));
    } else {
      for (let frame = client.chainEnd + 1; frame <= this.frame_; frame++) {
        out.push(join(withTable(deltaHeader(frame, frame - 1), this.newIds(client, frame)), this.history.get(frame)!));
      }
    }
    client.chainEnd = this.frame_;
    return out;
  }

  /** The frames after `base` merged into one delta, or null where they do not merge here. */
  private merged(base: number): Tree | null {
    let delta = this.historyTrees.get(base + 1) as Tree;
    try {
      for (let frame = base + 2; frame <= this.frame_; frame++) delta = mergeDeltas(delta, this.historyTrees.get(frame) as Tree);
    } catch (exc) {
      if (exc instanceof NoMerge) return null;
      throw exc;
    }
    return delta;
  }

  /** A packet from a client's replica: an acknowledgement or a request. */
  receive(id: string, packet: Uint8Array): void {
    const client = this.clients.get(id);
    if (!client) throw new Error(`no client ${id}`);
    const header = parseHeader(packet);
    if (header.kind === Kind.ACK) client.acked = header.frame;
    else if (header.kind === Kind.RESYNC) client.answerFrom = header.frame;
    else if (header.kind === Kind.REFRESH) {
      client.chainEnd = null;
      client.answerFrom = null;
    } else throw new FrameError("a publisher receives acknowledgements and requests, not frames");
  }
}
