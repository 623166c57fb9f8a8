/**
 * The server side of a session (sans-I/O): each tick commits the root's delta
 * as frame n, and hands each client the packets that bring it there. Python's
 * `flatsync.Replica` and this package's {@link Replica} read them alike.
 *
 * A port of Python's `flatsync.Publisher` (`_session/_publisher.py` and the
 * client modes of `_session/_state.py`), so that for the same state, history
 * and client replies it sends the same bytes:
 *
 *     mode      holds                                   next packet
 *     NEW       nothing yet                             a snapshot, taken at the next tick
 *     SNAPSHOT  a snapshot of a frame, and the merged   that snapshot, brought to the latest frame
 *               delta since
 *     PRIVATE   one merged delta from sent to latest    that delta
 *     SHARED    nothing: the frames since sent are in   the merge of the ring's frames since sent,
 *               the ring                                encoded once for every client alike
 *
 * A lagging client gets one delta, the merge of the frames it missed
 * ({@link merge}); once that merge outgrows a snapshot (by Python's measure:
 * `LAG_ALLOWANCE` bytes, or 7/8 of a snapshot of 4 KB or more), a snapshot.
 * A resync request is answered with the merge of the frames since the frame
 * the replica holds. Records ({@link TrackedRecord}) travel with their schemas
 * in packet headers, by Python's rule.
 */

import { cbor } from "./cbor.js";
import type { Codec } from "./codecs.js";
import { FrameError, LimitError } from "./errors.js";
import { Kind, SESSION_SIZE, answerHeader, deltaHeader, parseHeader, snapshotHeader, uvarint } from "./frames.js";
import { applyDelta, merge } from "./merge.js";
import { RECORD_SCHEMAS, TrackedMap } from "./tracked.js";
import { List, Marker, PyMap, type Limits, type Tree } from "./tree.js";
import { View, ViewCompiler, filterDelta, projectState, transition, type Node } from "./views.js";

export interface PublisherOptions {
  /** `cbor` (the default) or `json`. */
  codec?: Codec;
  limits?: Partial<Limits>;
  /** The session identity (8 bytes); random by default. */
  session?: Uint8Array;
  /** How many frames the history keeps (a client further behind gets a snapshot). */
  history?: number;
}

/** What a client sees (Python's `add_client(client, view)`). */
export interface AddClientOptions {
  /** The client's {@link View}; null or absent: everything. */
  view?: View | null;
}

/** What a merge may add to the sum of its two deltas' encoded sizes (Python's `_MERGE_SLACK`). */
const MERGE_SLACK = 8;
/** How many bytes a lagging client's delta may exceed its snapshot by (Python's `LAG_ALLOWANCE`). */
const LAG_ALLOWANCE = 16;
/** For how many frames a measured snapshot size stays good enough (Python's `SNAPSHOT_SIZE_AGE`). */
const SNAPSHOT_SIZE_AGE = 1024;
/** From this snapshot size on, a delta becomes the snapshot from 7/8 of its size. */
const LARGE_SNAPSHOT = 4096;

const enum Mode {
  NEW,
  SNAPSHOT,
  PRIVATE,
  SHARED,
}

interface Client {
  mode: Mode;
  view: View | null;
  nextView: View | null;
  /** The compiled root of the client's view. */
  node: Node;
  /** The frame the replica holds once every packet drained so far arrives. */
  sent: number | null;
  /** The first frame since which the client's chain holds (a resync from before needs a snapshot). */
  epoch: number;
  acked: number | null;
  /** PRIVATE: the merged delta from sent; SNAPSHOT: the delta since the snapshot. */
  private: PyMap | null;
  /** An upper bound of the encoded size of `private` (null: unknown). */
  bound: number | null;
  snap: PyMap | null;
  snapFrame: number;
  /** A pending catch-up from this frame (the answer to a resync request). */
  resync: number | null;
  /** The last answer drained: [from frame, or null for a snapshot; to frame]. */
  answered: [number | null, number] | null;
  /** Record id -> the frame after which a replica surely has its schema. */
  schemas: Map<number, number>;
  schemasTop: number;
}

interface Frame {
  readonly number: number;
  readonly delta: PyMap;
  /** What each view gets of the delta. */
  readonly views: Map<Node, PyMap>;
  /** The encoding of what each view gets. */
  readonly bytes: Map<Node, Uint8Array>;
  /** Per view: the sum of the ring's frame sizes up to this one, from a start common to the ring. */
  readonly totals: Map<Node, number>;
  records: boolean | null;
}

function forView(frame: Frame, node: Node): PyMap {
  let tree = frame.views.get(node);
  if (tree === undefined) frame.views.set(node, (tree = filterDelta(frame.delta, node)));
  return tree;
}

/** A packet as built once for every client alike: bytes, header size, record ids, kind. */
type Built = readonly [packet: Uint8Array, size: number, ids: ReadonlySet<number>, kind: Kind];

const NO_IDS: ReadonlySet<number> = new Set();

/** The record ids a payload tree holds (in record snapshots). */
function recordIds(tree: Tree): Set<number> {
  const out = new Set<number>();
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
  /** How many frames the ring keeps. */
  readonly history: number;
  private frame_ = 0;
  private readonly ring: Frame[] = [];
  private readonly clients = new Map<string, Client>();
  private readonly encode: (tree: Tree) => Uint8Array;
  // The outboxes by mode (Python's `Outboxes`).
  private readonly want = new Set<Client>();
  private readonly holding = new Set<Client>();
  private readonly waiting = new Map<number, Set<Client>>();
  private readonly resyncs = new Set<Client>();
  private readonly compiler = new ViewCompiler();
  /** The clients whose view changes at the next tick. */
  private readonly changing = new Set<Client>();
  /** How many compiled view nodes the clients used at the last release. */
  private nodesKept = 0;
  /** Packets built this tick, for every client alike. */
  private cache = new Map<string, Built>();
  /** Per view: the frame and encoded size of its last snapshot measured, for the lag bound. */
  private readonly snapSizes = new Map<Node, [frame: number, size: number]>();
  /** Per view and frame that lagging SHARED clients' chains end at: [frame, bound of their merged delta]. */
  private readonly measured = new Map<string, [number, number]>();

  constructor(root: TrackedMap, options: PublisherOptions = {}) {
    if (!(root instanceof TrackedMap)) throw new TypeError("a publisher's root is a TrackedMap");
    if (root.parent !== null) throw new Error("a publisher's root must be a root (it sits inside another container)");
    this.root = root;
    const limits = options.limits ?? {};
    const codec = options.codec ?? cbor;
    this.encode = (t) => codec.encode(t, limits);
    const session = options.session ?? crypto.getRandomValues(new Uint8Array(SESSION_SIZE));
    if (session.length !== SESSION_SIZE) throw new TypeError(`a session is ${SESSION_SIZE} bytes`);
    this.session = session.slice();
    this.history = options.history ?? 64;
    if (!(Number.isInteger(this.history) && this.history >= 1)) throw new RangeError(`history must be at least 1, not ${this.history}`);
    root.commit();
  }

  /** The last frame committed (0 before the first tick). */
  get frame(): number {
    return this.frame_;
  }

  private client(id: string): Client {
    const c = this.clients.get(id);
    if (!c) throw new Error(`no client ${id}`);
    return c;
  }

  /** A client joins; its first packet, a snapshot under its view, comes at the next tick. */
  addClient(id: string, options: AddClientOptions = {}): void {
    if (this.clients.has(id)) throw new Error(`client ${id} has already joined`);
    const view = checkView(options.view ?? null);
    const c: Client = {
      mode: Mode.NEW,
      view,
      nextView: null,
      node: this.compiler.root(view),
      sent: null,
      epoch: 0,
      acked: null,
      private: null,
      bound: null,
      snap: null,
      snapFrame: 0,
      resync: null,
      answered: null,
      schemas: new Map(),
      schemasTop: 0,
    };
    this.clients.set(id, c);
    this.want.add(c);
  }

  /** A client leaves; everything kept for it is dropped. */
  removeClient(id: string): void {
    const c = this.client(id);
    this.unhook(c);
    this.changing.delete(c);
    this.clients.delete(id);
    this.releaseViews();
  }

  /**
   * Forget the compiled views no client uses, once they outnumber the used
   * ones (Python's `_release_views`): more than twice those kept at the last
   * release, plus 64.
   */
  private releaseViews(): void {
    if (this.compiler.size <= 2 * this.nodesKept + 64) return;
    const roots = new Set<Node>();
    for (const c of this.clients.values()) roots.add(c.node);
    this.nodesKept = this.compiler.release(roots);
    for (const node of [...this.snapSizes.keys()]) if (!roots.has(node)) this.snapSizes.delete(node);
  }

  /** The newest frame the client's replica said it holds, or null. */
  acked(id: string): number | null {
    return this.client(id).acked;
  }

  /** The frame the client's replica holds once every packet drained so far arrives, or null. */
  sent(id: string): number | null {
    return this.client(id).sent;
  }

  /** The view the client has now (null: everything); a {@link setView} applies at the next tick. */
  view(id: string): View | null {
    return this.client(id).view;
  }

  /**
   * Change what the client sees, from the next tick on: its next packet takes
   * it from what it held to the new view of the new frame (subtrees that enter
   * the view come as snapshots, those that leave as deletes).
   */
  setView(id: string, view: View | null): void {
    const c = this.client(id);
    c.nextView = checkView(view);
    if (c.nextView === null ? c.view === null : c.nextView.equals(c.view)) this.changing.delete(c);
    else this.changing.add(c);
  }

  /** Send the client a snapshot at the next tick, in place of its deltas. */
  requestSnapshot(id: string): void {
    this.wantSnapshot(this.client(id));
  }

  // -- the outboxes (Python's `Outboxes`) ----------------------------------------------

  private stopWaiting(c: Client): void {
    const waiting = this.waiting.get(c.sent!);
    if (waiting) {
      waiting.delete(c);
      if (!waiting.size) this.waiting.delete(c.sent!);
    }
  }

  private unhook(c: Client): void {
    if (c.mode === Mode.SHARED && c.sent !== null) this.stopWaiting(c);
    this.holding.delete(c);
    this.want.delete(c);
    this.resyncs.delete(c);
    c.private = null;
    c.snap = null;
    c.resync = null;
  }

  private wantSnapshot(c: Client): void {
    this.unhook(c);
    c.mode = Mode.NEW;
    this.want.add(c);
  }

  private drained(c: Client, latest: number): void {
    if (c.mode === Mode.SHARED) this.stopWaiting(c);
    else {
      this.holding.delete(c);
      c.private = null;
      c.snap = null;
    }
    c.mode = Mode.SHARED;
    c.sent = latest;
    const after = this.waiting.get(latest);
    if (after) after.add(c);
    else this.waiting.set(latest, new Set([c]));
  }

  private diverged(c: Client, delta: PyMap): void {
    if (c.mode === Mode.SHARED) this.stopWaiting(c);
    c.mode = Mode.PRIVATE;
    c.private = delta;
    c.bound = null;
    this.holding.add(c);
  }

  // -- frames ------------------------------------------------------------------------

  private frameBytes(frame: Frame, node: Node): Uint8Array {
    let bytes = frame.bytes.get(node);
    if (bytes === undefined) frame.bytes.set(node, (bytes = this.encode(forView(frame, node))));
    return bytes;
  }

  private frameRecords(frame: Frame): boolean {
    return (frame.records ??= RECORD_SCHEMAS.size > 0 && recordIds(frame.delta).size > 0);
  }

  /** The frames after `base` up to `target` merged into one delta, as `node` sees them. */
  private merged(node: Node, base: number, target: number): PyMap {
    const first = this.ring[0]!.number;
    let out: PyMap | null = null;
    for (let index = base + 1 - first; index <= target - first; index++) {
      const delta = forView(this.ring[index]!, node);
      if (out === null) out = delta;
      else if (delta.size) out = merge(out, delta) as PyMap;
    }
    return out!;
  }

  /** Commit the root's changes as the next frame; returns its number. */
  tick(): number {
    const n = this.frame_ + 1;
    const frame: Frame = { number: n, delta: this.root.diff(), views: new Map(), bytes: new Map(), totals: new Map(), records: null };
    const ring = this.ring;
    ring.push(frame);

    // Clients that hold their pending packet: the new frame merges into it.
    for (const c of this.holding) {
      const delta = forView(frame, c.node);
      if (c.private === null) c.private = delta;
      else if (delta.size) c.private = merge(c.private, delta) as PyMap;
      else continue;
      if (c.bound !== null) c.bound += this.frameBytes(frame, c.node).length + MERGE_SLACK;
    }

    // View changes: the frame under the old view, then the transition to the new one.
    if (this.changing.size) {
      const transitions = new Map<string, PyMap>();
      for (const c of this.changing) {
        const old = c.node;
        const view = c.nextView;
        const now = this.compiler.root(view);
        c.view = view;
        c.node = now;
        if (old === now) continue;
        if (c.mode === Mode.NEW || c.mode === Mode.SNAPSHOT || c.resync !== null) {
          this.wantSnapshot(c);
          continue;
        }
        const pair = `${old.serial},${now.serial}`;
        let step = transitions.get(pair);
        if (step === undefined) transitions.set(pair, (step = transition(this.root, old, now)));
        const pending = c.mode === Mode.PRIVATE ? c.private! : this.merged(old, c.sent!, n);
        this.diverged(c, step.size ? (merge(pending, step) as PyMap) : pending);
        c.epoch = n;
      }
      this.changing.clear();
      this.releaseViews();
    }

    // The ring is bounded: before a frame leaves it, the clients that still need
    // it take their merged pending delta privately.
    while (ring.length > this.history) {
      const leaving = ring[0]!.number;
      for (const c of [...(this.waiting.get(leaving - 1) ?? [])]) this.diverged(c, this.merged(c.node, c.sent!, n));
      ring.shift();
      for (const c of [...this.resyncs]) if (c.resync !== null && c.resync < leaving) this.wantSnapshot(c);
    }

    // A lagging client costs at most what a snapshot costs. (Python's condition,
    // kept for its bytes: clients that all wait at one frame are not measured,
    // so a lone lagging client gets the merge however large it grows.)
    // Skipped only when every shared client's chain ends at the previous frame
    // (no one lags): one chain end is not enough, a lone client may lag too.
    const waiting = this.waiting;
    if (this.holding.size || this.measured.size || waiting.size > 1 || (waiting.size === 1 && waiting.keys().next().value! < n - 1)) this.boundLag(n);

    if (this.want.size) {
      const snapshots = new Map<Node, PyMap>();
      for (const c of [...this.want]) {
        let tree = snapshots.get(c.node);
        if (tree === undefined) snapshots.set(c.node, (tree = projectState(this.root, c.node)));
        c.mode = Mode.SNAPSHOT;
        this.want.delete(c);
        c.snap = tree;
        c.snapFrame = n;
        c.private = null;
        c.bound = 0;
        this.holding.add(c);
      }
    }

    this.root.commit();
    this.frame_ = n;
    this.cache = new Map();
    return n;
  }

  // -- the lag bound (Python's `_bound_lag`) -----------------------------------------

  private total(index: number, node: Node): number {
    const ring = this.ring;
    let known = index;
    while (known >= 0 && !ring[known]!.totals.has(node)) known--;
    let total = known >= 0 ? ring[known]!.totals.get(node)! : 0;
    for (let k = known + 1; k <= index; k++) {
      total += this.frameBytes(ring[k]!, node).length;
      ring[k]!.totals.set(node, total);
    }
    return total;
  }

  private snapshotSize(node: Node, n: number, fresh: boolean): number {
    const known = this.snapSizes.get(node);
    if (known !== undefined && (known[0] === n || (!fresh && n - known[0] <= SNAPSHOT_SIZE_AGE))) return known[1];
    const size = this.encode(projectState(this.root, node)).length;
    this.snapSizes.set(node, [n, size]);
    return size;
  }

  private measure(delta: PyMap): number | null {
    try {
      return this.encode(delta).length;
    } catch (exc) {
      if (exc instanceof LimitError) return null;
      throw exc;
    }
  }

  /** Whether a pending delta stays a delta: its new bound, or null (a snapshot). */
  private within(node: Node, n: number, bound: number | null, delta: PyMap | null, sent: number | null): number | null {
    const stale = this.snapshotSize(node, n, false);
    if (bound !== null && bound <= stale + LAG_ALLOWANCE) return bound;
    const size = this.measure(delta ?? this.merged(node, sent!, n));
    const snap = this.snapshotSize(node, n, true);
    if (size === null || size > snap + LAG_ALLOWANCE) return null;
    if (snap >= LARGE_SNAPSHOT && size > snap - Math.floor(snap / 8)) return null;
    return size;
  }

  private boundLag(n: number): void {
    for (const c of [...this.holding]) {
      const bound = this.within(c.node, n, c.bound, c.private?.size ? c.private : new PyMap(), null);
      if (bound === null) this.wantSnapshot(c);
      else c.bound = bound;
    }
    // Lagging SHARED clients, by view and by the frame their chain ends at.
    const groups = new Map<string, [Node, number, Client[]]>();
    for (const [sent, waiting] of this.waiting) {
      if (sent >= n - 1) continue;
      for (const c of waiting) {
        const key = `${c.node.serial},${sent}`;
        const group = groups.get(key);
        if (group) group[2].push(c);
        else groups.set(key, [c.node, sent, [c]]);
      }
    }
    for (const key of [...this.measured.keys()]) if (!groups.has(key)) this.measured.delete(key);
    if (!groups.size) return;
    const first = this.ring[0]!.number;
    for (const [key, [node, sent, clients]] of groups) {
      let [start, bound] = this.measured.get(key) ?? [sent, 0];
      const after = start + 1 - first;
      bound += this.total(n - first, node) - this.total(after, node) + this.frameBytes(this.ring[after]!, node).length + MERGE_SLACK * (n - start);
      const kept = this.within(node, n, bound, null, sent);
      if (kept === null) {
        this.measured.delete(key);
        for (const c of clients) this.wantSnapshot(c);
      } else if (kept !== bound) this.measured.set(key, [n, kept]);
    }
  }

  // -- packets out -------------------------------------------------------------------

  /** The packets to send to a client now: usually one (a snapshot, or the delta since its chain ends). */
  packetsFor(id: string): Uint8Array[] {
    const c = this.client(id);
    const latest = this.frame_;
    if (c.mode === Mode.NEW) return [];
    const again = c.mode === Mode.SHARED && c.sent === latest;
    if (c.mode === Mode.SNAPSHOT) {
      const key = `s${c.node.serial},${c.snapFrame}`;
      let built = this.cache.get(key);
      if (built === undefined) {
        const tree = c.private?.size ? applyDelta(c.snap!, c.private) : c.snap!;
        const header = snapshotHeader(latest, this.session);
        const ids = RECORD_SCHEMAS.size ? recordIds(tree) : NO_IDS;
        built = [join(header, this.encode(tree)), header.length, ids, Kind.SNAPSHOT];
        this.cache.set(key, built);
      }
      this.drained(c, latest);
      c.epoch = latest;
      c.answered = [null, latest];
      return [this.schemaPacket(c, built, null, latest, again)];
    }
    const sent = c.sent!;
    const planned: [Built, number, number][] = [];
    const catchup = c.resync;
    if (catchup !== null) planned.push([this.sharedDelta(c.node, catchup, sent, true), catchup, sent]);
    const mode = c.mode;
    if (mode === Mode.PRIVATE) {
      const header = deltaHeader(latest, sent);
      const ids = RECORD_SCHEMAS.size ? recordIds(c.private!) : NO_IDS;
      planned.push([[join(header, this.encode(c.private!)), header.length, ids, Kind.DELTA], sent, latest]);
    } else if (sent < latest) planned.push([this.sharedDelta(c.node, sent, latest, false), sent, latest]);
    const out = planned.map(([built, base, frame]) => this.schemaPacket(c, built, base, frame, again));
    if (catchup !== null) {
      c.resync = null;
      this.resyncs.delete(c);
      c.answered = [catchup, sent];
    }
    if (mode === Mode.PRIVATE || sent < latest) this.drained(c, latest);
    return out;
  }

  /** The merge of frames `base + 1` to `target`, as a packet (an answer to a resync, or a delta). */
  private sharedDelta(node: Node, base: number, target: number, answer: boolean): Built {
    const key = `${answer ? "a" : "d"}${node.serial},${base},${target}`;
    let built = this.cache.get(key);
    if (built === undefined) {
      const first = this.ring[0]!.number;
      let tree: PyMap;
      let body: Uint8Array;
      if (target === base + 1) {
        const frame = this.ring[target - first]!;
        tree = forView(frame, node);
        body = this.frameBytes(frame, node);
      } else {
        tree = this.merged(node, base, target);
        body = this.encode(tree);
      }
      const header = answer ? answerHeader(target, base, this.session) : deltaHeader(target, base);
      let records = false;
      for (let index = base + 1 - first; index <= target - first && !records; index++) records = this.frameRecords(this.ring[index]!);
      const ids = records ? recordIds(tree) : NO_IDS;
      built = [join(header, body), header.length, ids, answer ? Kind.ANSWER : Kind.DELTA];
      this.cache.set(key, built);
    }
    return built;
  }

  /**
   * The packet to send `c`: `built`, with a schema table in its header if needed
   * (Python's `_schema_packet`: a packet carries the schema of each record its
   * payload holds that was never sent to this client, and of each record sent
   * in a packet that a replica holding `base` may not have applied).
   */
  private schemaPacket(c: Client, built: Built, base: number | null, frame: number, again: boolean): Uint8Array {
    const [packet, size, ids, kind] = built;
    const schemas = c.schemas;
    let carry: Set<number>;
    if (base === null) {
      schemas.clear();
      c.schemasTop = 0;
      carry = new Set(ids);
    } else if (base < c.schemasTop) {
      carry = new Set();
      for (const [rid, until] of schemas) if (base < until) carry.add(rid);
      for (const rid of ids) if (!schemas.has(rid)) carry.add(rid);
    } else if (ids.size && [...ids].some((rid) => !schemas.has(rid))) {
      carry = new Set([...ids].filter((rid) => !schemas.has(rid)));
    } else return packet;
    const until = again && base !== null ? this.frame_ + 1 : this.frame_;
    for (const rid of ids) {
      if (!schemas.has(rid)) {
        schemas.set(rid, until);
        c.schemasTop = Math.max(c.schemasTop, until);
      }
    }
    const entries = [...carry].filter((rid) => RECORD_SCHEMAS.has(rid));
    if (!entries.length) return packet;
    let header: Uint8Array;
    if (base === null) header = snapshotHeader(frame, this.session);
    else if (kind === Kind.ANSWER) header = answerHeader(frame, base, this.session);
    else header = deltaHeader(frame, base);
    return join(withTable(header, entries), packet.subarray(size));
  }

  // -- packets in --------------------------------------------------------------------

  /**
   * A packet from a client's replica: an acknowledgement, a resync request
   * (answered with the merge of the frames since the frame it holds, in front
   * of its next packet; a snapshot when they left the history) or a refresh
   * request (a snapshot at the next tick). Requests that an answer already
   * drained covers are ignored, as are acknowledgements older than one
   * already received.
   *
   * @throws FrameError the packet is malformed, or a frame (not something a replica sends). Nothing changes.
   */
  receive(id: string, packet: Uint8Array): void {
    const c = this.client(id);
    const header = parseHeader(packet);
    const kind = header.kind;
    if (kind === Kind.DELTA || kind === Kind.SNAPSHOT || kind === Kind.ANSWER) {
      throw new FrameError(`client ${id} sent a frame; a publisher receives acknowledgements and requests`);
    }
    if (header.size !== packet.length) throw new FrameError(`${packet.length - header.size} bytes after the packet of client ${id}`);
    if (kind === Kind.REFRESH) {
      if (c.mode === Mode.NEW || c.mode === Mode.SNAPSHOT) return; // a snapshot is on its way
      const rejected = header.base;
      const answered = c.answered;
      if (rejected !== null && answered !== null && answered[0] === null && rejected < answered[1]) return;
      this.wantSnapshot(c);
      return;
    }
    const held = header.frame;
    if (c.sent === null) return;
    if (held > c.sent) {
      // Never sent to it: the replica holds a state of another session.
      if (kind === Kind.RESYNC && c.mode !== Mode.NEW && c.mode !== Mode.SNAPSHOT) this.wantSnapshot(c);
      return;
    }
    if (c.acked !== null && held < c.acked) return; // an old packet, overtaken
    c.acked = held;
    if (kind === Kind.ACK || c.mode === Mode.NEW || c.mode === Mode.SNAPSHOT || held === c.sent) return;
    const rejected = header.base!;
    const answered = c.answered;
    if (answered !== null && rejected < answered[1] && (answered[0] === null || answered[0] === held)) return;
    if (held >= c.epoch && held >= this.ring[0]!.number - 1) {
      c.resync = held;
      this.resyncs.add(c);
    } else this.wantSnapshot(c);
  }
}

function checkView(view: View | null): View | null {
  if (view !== null && !(view instanceof View)) throw new TypeError("a view is a View or null");
  return view;
}
