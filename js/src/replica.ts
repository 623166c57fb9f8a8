/**
 * The client side of a session (Python's `flatsync.Replica`), with the same
 * frame, acknowledgement, resync, refresh and session-identity rules.
 *
 * `state` is an immutable, structurally shared tree: each applied packet gives
 * a new root (unchanged subtrees are the same objects), and a refused packet
 * leaves the old one. `subscribe()` calls back after every applied packet.
 *
 * How that stays cheap: the replica changes its mappings in place while no one
 * has seen them. Reading `state`, a subscriber, an event or a listener that
 * hands out a container publishes the tree: from then on the replica copies a
 * published small mapping, or forks a large one, before it changes it (only the
 * mappings on the changed paths), so what was handed out never changes. A refused packet leaves the
 * state as it was: the values it changed are put back, and it adds or removes
 * keys only once the whole packet fitted.
 */

import { decodeCborAt, patchCborAt } from "./cbor.js";
import type { Codec } from "./codecs.js";
import { DecodeError, FrameError, LimitError, PatchError } from "./errors.js";
import { Kind, SESSION_SIZE, ack, kindName, parseHeader, refresh, resync, type Header } from "./frames.js";
import { ANY, Listeners, places, type ItemListener, type Listener, type Pattern } from "./events.js";
import { Record, patch, refreshDelta, type ChangeEvent, type Schemas } from "./state.js";
import { List, PyMap, type Limits, type Tree } from "./tree.js";

export type DropReason = "duplicate" | "stale" | "gap" | "session";

/** What one received packet did. */
export type Outcome =
  | { applied: true; frame: number; base: number | null; changes: readonly ChangeEvent[] }
  | { applied: false; frame: number; base: number | null; reason: DropReason };

export interface ReplicaOptions {
  /** The publisher's codec: `cbor` (the default) or `json`. */
  codec?: Codec;
  limits?: Partial<Limits>;
  /** Whether receive() reports what each packet changed (true by default, as in Python). */
  events?: boolean;
}

function sameBytes(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

const NONE: readonly ChangeEvent[] = Object.freeze([]);

/** The outcome of a packet not applied (a function, not a closure made for every packet). */
function dropped(frame: number, base: number | null, reason: DropReason): Outcome {
  return { applied: false, frame, base, reason };
}

export class Replica {
  private state_ = new PyMap();
  /** The owner of the mappings the replica may change in place: a new one once the tree is published. */
  private owner: object = {};
  /** Whether the tree was handed out since the owner was made. */
  private published = false;
  private schemas_: Map<number, readonly [string, readonly string[]]> = new Map();
  private frame_: number | null = null;
  private session_: Uint8Array | null = null;
  private expected: Uint8Array | null = null;
  private ack_: number | null = null;
  private request: [Kind, number | null] | null = null;
  private readonly listeners = new Set<(state: PyMap) => void>();
  private readonly decode: (packet: Uint8Array, start: number) => Tree;
  /** The limits of the CBOR decoder, or null with another codec (then no fused path). */
  private readonly cborLimits: Partial<Limits> | null;
  private readonly wantEvents: boolean;
  private readonly changeListeners = new Listeners();

  constructor(options: ReplicaOptions = {}) {
    const limits = Object.freeze({ ...options.limits });
    // The CBOR decoder itself (not the `cbor` codec), so that a bundle of a replica holds no encoder.
    const codec = options.codec;
    this.decode = codec ? (data, start) => codec.decode(data.subarray(start), limits) : (data, start) => decodeCborAt(data, start, limits);
    this.cborLimits = codec ? null : limits;
    this.wantEvents = options.events ?? true;
  }

  /**
   * Call `listener(event)` for every change at a place matching `pattern`
   * (`ANY` matches any key), or at an ancestor of one, after each packet.
   * Returns the function that removes the listener.
   */
  on(pattern: Pattern, listener: Listener): () => void {
    return this.changeListeners.add({ pattern, onChange: listener });
  }

  /**
   * Call `listener(path, value)` for each item that appears in a container at
   * `pattern` (`["players"]`: each player), first for every item already there.
   */
  onAdd(pattern: Pattern, listener: ItemListener): () => void {
    const items: Pattern = [...pattern, ANY];
    for (const [path, value] of places(this.state, [], items)) listener(path, value);
    return this.changeListeners.add({ pattern, onAdd: listener });
  }

  /** Call `listener(path, old)` for each item that leaves a container at `pattern`. */
  onRemove(pattern: Pattern, listener: ItemListener): () => void {
    return this.changeListeners.add({ pattern, onRemove: listener });
  }

  /** The state at {@link frame}: immutable; a new root after each applied packet. */
  get state(): PyMap {
    this.published = true;
    return this.state_;
  }
  /** The frame the state is at, or null before the first snapshot. */
  get frame(): number | null {
    return this.frame_;
  }
  /** The session of the state held (8 bytes), or null before the first snapshot. */
  get session(): Uint8Array | null {
    return this.session_;
  }
  /** The record schemas the publisher sent, by id. */
  get schemas(): Schemas {
    return new Map(this.schemas_);
  }

  /** Call `listener(state)` after every applied packet; returns the unsubscribe function. */
  subscribe(listener: (state: PyMap) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Say which session the packets come from now (a transport's handshake). */
  expectSession(session: Uint8Array): void {
    if (!(session instanceof Uint8Array) || session.length !== SESSION_SIZE) {
      throw new TypeError(`a session identity is ${SESSION_SIZE} bytes`);
    }
    this.expected = session.slice();
    if (this.session_ !== null && !sameBytes(this.session_, session)) this.request = [Kind.REFRESH, null];
  }

  private learn(header: Header, fresh: boolean): Map<number, readonly [string, readonly string[]]> {
    if (!fresh && header.schemas.length === 0) return this.schemas_;
    const out = fresh ? new Map() : new Map(this.schemas_);
    for (const [id, name, fields] of header.schemas) {
      const known = out.get(id);
      if (known && (known[0] !== name || known[1].join("\u0000") !== fields.join("\u0000"))) {
        throw new PatchError(`the schema table gives record ${id} another name or other fields`);
      }
      out.set(id, [name, fields]);
    }
    return out;
  }

  /**
   * Apply one packet from the publisher. Throws FrameError (a malformed header),
   * DecodeError / LimitError (a payload that does not decode: a resync is
   * queued), PatchError (a payload that does not fit: a refresh is queued);
   * when it throws, the state, the frame and the schemas are as they were.
   */
  receive(packet: Uint8Array): Outcome {
    const header = parseHeader(packet);
    const { kind, frame, session } = header;
    const snapshot = kind === Kind.SNAPSHOT;
    if (!snapshot && kind !== Kind.DELTA && kind !== Kind.ANSWER) {
      throw new FrameError(`a replica receives frames, not a ${kindName(kind)} packet`);
    }
    const base = header.base;
    const held = this.frame_;
    let fresh = false;
    if (snapshot) {
      if (this.expected !== null && !sameBytes(session, this.expected)) return dropped(frame, base, "session");
      fresh = !sameBytes(session, this.session_);
      if (held !== null && frame <= held && !fresh) return dropped(frame, base, frame === held ? "duplicate" : "stale");
    } else {
      if ((session !== null && held !== null && !sameBytes(session, this.session_)) || (this.expected !== null && !sameBytes(this.expected, this.session_))) {
        this.ask(Kind.REFRESH, null);
        return dropped(frame, base, "session");
      }
      if (held === null || base !== held) {
        if (held !== null && frame <= held) return dropped(frame, base, frame === held ? "duplicate" : "stale");
        this.ask(held !== null ? Kind.RESYNC : Kind.REFRESH, base);
        return dropped(frame, base, held === null || base! > held ? "gap" : "stale");
      }
    }
    const events: ChangeEvent[] | null = this.wantEvents || this.changeListeners.size ? [] : null;
    const schemas = this.learn(header, fresh);
    // The common delta (mapping deltas of scalars) applies while it is read; anything else,
    // or anything refused, takes the general path (decode, then patch), which gives the errors.
    let state = !snapshot && this.cborLimits && patchCborAt(packet, header.size, this.cborLimits, this.state_, this.writer(), events);
    if (!state) {
      let tree: Tree;
      try {
        tree = this.decode(packet, header.size);
      } catch (exc) {
        // An undecodable delta asks for the frames again; an undecodable snapshot, for another.
        if (exc instanceof DecodeError || exc instanceof LimitError) this.ask(snapshot ? Kind.REFRESH : Kind.RESYNC, base);
        throw exc;
      }
      try {
        if (!(tree instanceof PyMap)) throw new PatchError(`root: a ${snapshot ? "snapshot" : "delta"} must be a mapping`);
        state = patch(this.state_, snapshot ? refreshDelta(this.state_, tree) : tree, schemas, this.writer(), events);
      } catch (exc) {
        if (exc instanceof PatchError) this.ask(Kind.REFRESH, null);
        throw exc;
      }
    }
    this.schemas_ = schemas;
    this.state_ = state;
    if (snapshot) this.session_ = session;
    this.applied(frame, events);
    if (snapshot) this.request = null;
    return { applied: true, frame, base, changes: events ?? NONE };
  }

  /** The owner that may change the tree in place now (a new one after the tree was published). */
  private writer(): object {
    if (this.published) {
      this.owner = {};
      this.published = false;
    }
    return this.owner;
  }

  private applied(frame: number, events: ChangeEvent[] | null): void {
    this.frame_ = frame;
    this.ack_ = frame;
    if (this.request !== null && this.request[0] === Kind.RESYNC) this.request = null;
    if (events) {
      // An event that hands out a container of the state publishes the tree.
      for (const event of events) {
        const value = event.type === "removed" ? null : event.value;
        if (typeof value === "object" && (value instanceof PyMap || value instanceof List || value instanceof Record)) this.published = true;
      }
      if (this.changeListeners.size) this.changeListeners.dispatch(events);
    }
    if (this.listeners.size) {
      this.published = true;
      for (const listener of this.listeners) listener(this.state_);
    }
  }

  private ask(kind: Kind, rejected: number | null): void {
    const request = this.request;
    if (request === null) {
      this.request = [kind, rejected];
      return;
    }
    const [oldKind, oldRejected] = request;
    if (oldKind === Kind.REFRESH && oldRejected === null) return;
    if (kind === Kind.REFRESH && rejected === null) {
      this.request = [kind, null];
      return;
    }
    if (oldRejected !== null && (rejected === null || rejected < oldRejected)) rejected = oldRejected;
    this.request = [kind === Kind.REFRESH || oldKind === Kind.REFRESH ? Kind.REFRESH : kind, rejected];
  }

  /** Ask for a snapshot (sent with the next {@link packetToSend}). */
  requestRefresh(): void {
    this.request = [Kind.REFRESH, null];
  }

  /** The packet to send to the publisher now (a request, else an acknowledgement), or null. */
  packetToSend(): Uint8Array | null {
    const request = this.request;
    if (request !== null) {
      this.request = null;
      this.ack_ = null;
      const [kind, rejected] = request;
      if (kind === Kind.REFRESH || this.frame_ === null) return refresh(rejected);
      return resync(this.frame_, rejected === null ? this.frame_ : rejected);
    }
    if (this.ack_ !== null) {
      const frame = this.ack_;
      this.ack_ = null;
      return ack(frame);
    }
    return null;
  }
}
