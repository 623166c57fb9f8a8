/**
 * The server side of a session (sans-I/O): each tick commits the root's delta
 * as frame n, and hands each client the packets that bring it there. Python's
 * `flatsync.Replica` and this package's {@link Replica} read them alike.
 *
 * Simpler than Python's publisher: a client that is behind gets one delta per
 * missed frame (Python merges them into one), and there are no views. Records
 * ({@link TrackedRecord}) travel with their schemas as Python's do: a packet
 * carries in its header the schemas of the records its payload holds that the
 * client has not been sent (a snapshot or a resync answer: all it holds).
 */

import { cbor } from "./cbor.js";
import type { Codec } from "./codecs.js";
import { FrameError } from "./errors.js";
import { Kind, SESSION_SIZE, answerHeader, deltaHeader, parseHeader, snapshotHeader } from "./frames.js";
import { RECORD_SCHEMAS, TrackedMap } from "./tracked.js";
import { List, Marker, PyMap, type Limits, type Tree } from "./tree.js";
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
    for (let frame = client.chainEnd + 1; frame <= this.frame_; frame++) {
      out.push(join(withTable(deltaHeader(frame, frame - 1), this.newIds(client, frame)), this.history.get(frame)!));
    }
    client.chainEnd = this.frame_;
    return out;
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
