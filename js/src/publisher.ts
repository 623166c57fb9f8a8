/**
 * The server side of a session (sans-I/O): each tick commits the root's delta
 * as frame n, and hands each client the packets that bring it there. Python's
 * `flatsync.Replica` and this package's {@link Replica} read them alike.
 *
 * Simpler than Python's publisher: a client that is behind gets one delta per
 * missed frame (Python merges them into one), there are no views, and records
 * are not written (the schema-table kinds are never sent).
 */

import { cbor } from "./cbor.js";
import type { Codec } from "./codecs.js";
import { FrameError } from "./errors.js";
import { Kind, SESSION_SIZE, answerHeader, deltaHeader, parseHeader, snapshotHeader } from "./frames.js";
import { TrackedMap } from "./tracked.js";
import type { Limits, Tree } from "./tree.js";

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
    this.clients.set(id, { chainEnd: null, answerFrom: null, acked: null });
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
    return this.frame_;
  }

  private snapshotPacket(): Uint8Array {
    return join(snapshotHeader(this.frame_, this.session), this.encode(this.root.snapshot()));
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
        out.push(join(answerHeader(from + 1, from, this.session), this.history.get(from + 1)!));
        client.chainEnd = from + 1;
      } else if (from !== this.frame_) client.chainEnd = null;
    }
    if (client.chainEnd !== null && client.chainEnd < this.frame_ && !this.history.has(client.chainEnd + 1)) {
      client.chainEnd = null;
    }
    if (client.chainEnd === null) {
      client.chainEnd = this.frame_;
      return [this.snapshotPacket()];
    }
    for (let frame = client.chainEnd + 1; frame <= this.frame_; frame++) {
      out.push(join(deltaHeader(frame, frame - 1), this.history.get(frame)!));
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
