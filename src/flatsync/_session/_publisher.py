"""The server side of a session: :class:`Publisher` commits frames and makes each client's packets.

Like h11 and wsproto, the session layer does no I/O at all: no socket,
thread, timer or event loop. The publisher turns the state into packets and
the packets the clients send back into decisions; the caller moves the
bytes. How the pieces fit (the docs' sessions page tells it at length):

* Each :meth:`Publisher.tick` commits the root's delta as frame ``n`` into a
  bounded ring. Nothing is encoded yet.
* :meth:`Publisher.packets_for` drains one client's outbox (its modes and
  their moves are in ``_state.py``): whatever arrives at the caller is one
  packet from ``sent`` to the latest frame (the frames in between merged:
  latest state wins), built from the ring and encoded once for every client
  with the same view and the same ``sent``.
* A replica that could not use a packet asks to resync from the frame it
  holds, and the publisher answers with the merge of the frames since then
  (or a snapshot, when they have left the ring).
* Records travel by id. A packet whose payload holds a record snapshot
  carries, in its header, the schema (name and field names) of each record
  the replica may not have yet, so that a replica rebuilds records whose
  classes its process lacks as mappings with the right field names (see
  :meth:`Publisher._schema_packet` for the rule that decides "may not have").
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Hashable
from typing import Any, TypeAlias

from .._codecs._cbor import CborCodec
from .._codecs._codec import Codec
from .._handlers._data import DataHandler
from .._tree._errors import CommitError, FrameError, LimitError
from .._tree._merge import apply_delta, merge
from ._events import Reply
from ._frames import (
    SESSION_SIZE,
    Header,
    Kind,
    answer_header,
    delta_header,
    parse,
    schema_table,
    snapshot_header,
)
from ._records import has_records, record_ids, schema_of
from ._state import (
    NEW,
    PAUSED,
    PRIVATE,
    RING_LEFT,
    SHARED,
    SNAPSHOT,
    VIEW_CHANGED,
    Client,
    Outboxes,
)
from ._views import Node, View, ViewCompiler, filter_delta, project_state, transition

__all__ = ["Publisher"]

#: A packet as the publisher caches it: its bytes (header without a schema
#: table, then the payload), the header's size, the record ids of the payload,
#: and its kind (DELTA, SNAPSHOT or ANSWER).
_Built: TypeAlias = tuple[bytes, int, frozenset[int], Kind]

_NO_IDS: frozenset[int] = frozenset()

_REFRESH = Reply(kind="refresh", frame=None)

# Looking an enum member up on its class costs about 90 ns (CPython 3.11): every
# packet a client sends passes through receive(), which uses these names.
_ACK, _RESYNC, _REFRESH_KIND = Kind.ACK, Kind.RESYNC, Kind.REFRESH
_DELTA, _SNAPSHOT, _ANSWER = Kind.DELTA, Kind.SNAPSHOT, Kind.ANSWER


#: What a merge may add to the sum of its two deltas' encoded sizes (map heads
#: that grow a byte as keys join, list operations that do not fold). The bound
#: is checked against an exact measure before it decides anything.
_MERGE_SLACK = 8

#: How many bytes a lagging client's pending delta may exceed its view's
#: snapshot by before it becomes that snapshot: a tiny state's transition or
#: catch-up a few bytes over its snapshot is kept (a snapshot replaces the whole
#: state on the replica, with events for all of it).
LAG_ALLOWANCE = 16

#: For how many frames a measured snapshot size answers "is this pending delta
#: still smaller than the snapshot?" (a fresh one is measured before anything is
#: decided). Measuring costs a snapshot's projection and encoding, so a large
#: state with slow readers measures once per this many frames.
SNAPSHOT_SIZE_AGE = 1024

#: From this snapshot size on, a pending delta becomes the snapshot from 7/8 of
#: its size (a hysteresis that spaces the measures of a delta near the snapshot).
_LARGE_SNAPSHOT = 4096


class _Frame:
    """One committed frame: the root's delta and, lazily, what each view gets of it."""

    __slots__ = ("_records", "delta", "number", "sizes", "totals", "views")

    def __init__(self, number: int, delta: dict[Any, Any]) -> None:
        self.number = number
        self.delta = delta
        self.views: dict[Node, dict[Any, Any]] = {}
        #: The encoded size of what each view gets of the delta (for the lag bound).
        self.sizes: dict[Node, int] = {}
        #: Per view: the sum of ``sizes`` over the ring's frames up to this one,
        #: from a start that is the same for every frame of the ring (differences
        #: of two totals are the sizes of the frames in between).
        self.totals: dict[Node, int] = {}
        self._records: bool | None = None

    def has_records(self) -> bool:
        """Whether the delta holds a record snapshot (so a view of it may need a schema table)."""
        if self._records is None:
            self._records = has_records() and bool(record_ids(self.delta))
        return self._records

    def for_view(self, node: Node) -> dict[Any, Any]:
        tree = self.views.get(node)
        if tree is None:
            tree = self.views[node] = filter_delta(self.delta, node)
        return tree


class Publisher:
    """The server side of a session: owns the root, commits frames, makes each client's packets.

    The publisher does no I/O. Each tick of the application's loop:

    1. mutate :attr:`root`;
    2. call :meth:`tick`, which commits the root's delta as the next frame;
    3. for each client whose transport can take a packet now, send what
       :meth:`packets_for` returns (a client that cannot take one is simply
       not asked: its pending frames merge into one, latest state wins);
    4. hand whatever the clients sent back to :meth:`receive`.

    Clients join with :meth:`add_client`, leave with :meth:`remove_client`,
    and change what they see with :meth:`set_view`. A new client gets a
    snapshot at the next tick, then one delta per drain.

    >>> import flatsync
    >>> pub = flatsync.Publisher(flatsync.DataHandler({"hp": 8}), session=bytes(range(8)))
    >>> pub.add_client("ann")
    >>> pub.tick()
    1
    >>> [p.hex(" ") for p in pub.packets_for("ann")]
    ['11 01 00 01 02 03 04 05 06 07 a1 62 68 70 08']
    >>> pub.root["hp"] = 7
    >>> pub.tick()
    2
    >>> [p.hex(" ") for p in pub.packets_for("ann")]
    ['10 02 01 a1 62 68 70 07']

    Args:
        root: The state. The publisher commits it now (what it holds is frame
            0) and at every tick, and owns it from now on: ``root.commit()``
            raises :exc:`~flatsync.CommitError` (call :meth:`tick`). A new
            publisher over the same root takes it over: this one's
            :meth:`tick` raises :exc:`~flatsync.CommitError` from then on.
        codec: The codec of every payload (a :class:`~flatsync.CborCodec` by
            default). Replicas must use the same.
        history: How many frames the ring keeps. A client whose last frame has
            left the ring gets a snapshot instead of a catch-up delta.
        session: The publisher's identity (:attr:`session`), 8 bytes; random
            by default. Pass one to make packets reproducible in tests; two
            publishers must never share one.

    Raises:
        TypeError: ``root`` is not a :class:`~flatsync.DataHandler`.
        ValueError: ``root`` is a read-only replica or sits inside another
            handler, ``history`` is below 1, or ``session`` is not 8 bytes.
    """

    def __init__(
        self,
        root: DataHandler,
        *,
        codec: Codec | None = None,
        history: int = 64,
        session: bytes | None = None,
    ) -> None:
        if not isinstance(root, DataHandler):
            raise TypeError(f"a publisher's root is a DataHandler, not {type(root).__name__}")
        if root.readonly:
            raise ValueError("a read-only replica cannot be published (it records no changes)")
        if root.parent is not None:
            raise ValueError("a publisher's root must be a root (it sits inside another handler)")
        if history < 1:
            raise ValueError(f"history must be at least 1, not {history}")
        if session is None:
            session = secrets.token_bytes(SESSION_SIZE)
        elif type(session) is not bytes or len(session) != SESSION_SIZE:
            raise ValueError(f"a session identity is {SESSION_SIZE} bytes, not {session!r}")
        self._session = session
        self._root = root
        self._codec: Codec = CborCodec() if codec is None else codec
        self._history = history
        self._frame = 0
        self._ring: deque[_Frame] = deque()
        self._clients: dict[Hashable, Client] = {}
        self._compiler = ViewCompiler()
        self._out = Outboxes()
        self._changing: set[Client] = set()
        self._cache: dict[tuple[Any, ...], _Built] = {}
        #: Per view: (frame, encoded size of its snapshot then), for the lag bound.
        self._snap_sizes: dict[Node, tuple[int, int]] = {}
        #: Per (view, sent) of lagging SHARED clients: (frame, exact encoded size of
        #: the merge from sent to that frame).
        self._measured: dict[tuple[Node, int], tuple[int, int]] = {}
        #: How many compiled view nodes the clients used at the last release.
        self._nodes_kept = 0
        #: The last acknowledgement :meth:`receive` reported (shared by every client's).
        self._ack_reply = Reply(kind="ack", frame=-1)
        root._commit()
        root._owner = self  # from now on root.commit() raises CommitError

    # -- what it holds ------------------------------------------------------------------

    @property
    def root(self) -> DataHandler:
        """The state, to mutate between ticks."""
        return self._root

    @property
    def codec(self) -> Codec:
        """The codec of every payload."""
        return self._codec

    @property
    def session(self) -> bytes:
        """The 8 bytes that identify this publisher (random unless given), for its whole life.

        Every snapshot and every resync answer carries it, so that a replica
        never applies a packet of this publisher to a state it built from
        another one (or from an earlier run of the same server); a transport
        sends it in its handshake (see :meth:`Replica.expect_session`).
        """
        return self._session

    @property
    def frame(self) -> int:
        """The number of the latest committed frame (``0`` before the first tick)."""
        return self._frame

    @property
    def history(self) -> int:
        """How many frames the ring keeps."""
        return self._history

    @property
    def clients(self) -> tuple[Hashable, ...]:
        """The ids of the clients, in the order they joined."""
        return tuple(self._clients)

    def view(self, client: Hashable) -> View | None:
        """The view ``client`` has now (``None``: everything); a :meth:`set_view` applies at the next tick.

        Raises:
            KeyError: no such client.
        """
        return self._client(client).view

    def acked(self, client: Hashable) -> int | None:
        """The newest frame ``client``'s replica said it holds, or ``None``.

        Raises:
            KeyError: no such client.
        """
        return self._client(client).acked

    def pending(self, client: Hashable) -> bool:
        """Whether :meth:`packets_for` would return something for ``client`` now.

        Raises:
            KeyError: no such client.
        """
        c = self._client(client)
        if c.mode is NEW or c.mode is PAUSED:
            return False
        if c.mode is not SHARED or c.resync is not None:
            return True
        return c.sent is not None and c.sent < self._frame

    def sent(self, client: Hashable) -> int | None:
        """The frame ``client``'s replica holds once every packet drained so far arrives.

        After a :meth:`packets_for` that returned packets, the frame they bring
        the client to (a transport's flow control counts the frames in flight
        beyond :meth:`acked` with it); ``None`` before the first packet.

        Raises:
            KeyError: no such client.
        """
        return self._client(client).sent

    def paused(self, client: Hashable) -> bool:
        """Whether ``client`` is paused (see :meth:`pause`).

        Raises:
            KeyError: no such client.
        """
        return self._client(client).mode is PAUSED

    def _client(self, client: Hashable) -> Client:
        try:
            return self._clients[client]
        except KeyError:
            raise KeyError(f"no client {client!r}") from None

    # -- clients ------------------------------------------------------------------------

    def add_client(self, client: Hashable, view: View | None = None) -> None:
        """A client joins; its first packet, a snapshot under ``view``, comes at the next tick.

        Args:
            client: Any hashable id (a connection, an address, a player id).
            view: What the client sees; ``None`` (the default) is everything.

        Raises:
            ValueError: a client with this id is already there (nothing changes).
            TypeError: ``view`` is not a :class:`~flatsync.View` or ``None``.
        """
        if client in self._clients:
            raise ValueError(f"client {client!r} has already joined")
        node = self._compiler.root(_check_view(view))
        c = Client(client, view, node)
        self._clients[client] = c
        self._out.join(c)

    def remove_client(self, client: Hashable) -> None:
        """A client leaves; everything kept for it is dropped.

        Raises:
            KeyError: no such client (nothing changes).
        """
        c = self._client(client)
        self._out.leave(c)
        self._changing.discard(c)
        del self._clients[client]
        self._release_views()

    def pause(self, client: Hashable) -> None:
        """``client``'s connection is gone, but it may come back: stop working for it until :meth:`resume`.

        A paused client costs a tick nothing: no packet is built, merged or
        measured for it, and it keeps no frame in the ring. The publisher keeps
        its place (the frame its chain ends at, its acknowledgement, its view),
        so that a :meth:`resume` from a frame still in the history continues
        with a delta. :meth:`packets_for` returns nothing for it, and
        :meth:`receive` takes only its acknowledgements. Pausing a paused
        client does nothing.

        Raises:
            KeyError: no such client (nothing changes).
        """
        c = self._client(client)
        self._out.pause(c)
        c.bound = None

    def resume(self, client: Hashable, held: int | None) -> bool:
        """``client`` is back (a new connection), and its replica holds frame ``held``.

        Nothing sent before reaches it any more (a new connection). When
        ``held`` is a frame of the client's chain under its current view, not
        older than its acknowledgement, and the ring still has the frames
        since, its next packet is the delta from ``held`` to the latest frame
        (the shared one, when other clients wait at ``held``); otherwise
        (``held`` is ``None``, unknown, or too old) a snapshot at the next
        tick. The client need not be paused (a connection that replaces a live
        one): it is paused first.

        A replica that follows another session refuses the delta and asks for
        a snapshot (a transport tells it the session with
        :meth:`Replica.expect_session`), so a wrong ``held`` never mixes states.

        Returns:
            Whether the client continues with a delta (``False``: a snapshot).

        Raises:
            KeyError: no such client (nothing changes).
        """
        c = self._client(client)
        out = self._out
        if c.mode is not PAUSED:
            out.pause(c)
        c.answered = None
        sent = c.sent
        ring = self._ring
        if (
            held is None
            or sent is None
            or held > sent
            or held < c.epoch
            or (c.acked is not None and held < c.acked)
            or not ring
            or held < ring[0].number - 1
        ):
            out.want_snapshot(c)
            return False
        c.acked = held
        out.resumed(c, held)
        return True

    def adopt(self, client: Hashable, view: View | None = None, *, held: int | None) -> bool:
        """A client whose replica already holds frame ``held`` of this session joins.

        For a client that comes from another publisher of the same session (a
        relay gateway's :class:`~flatsync.relay.FedPublisher`, fed the same
        frames): when ``held`` is the latest frame, or the ring has the frames
        since, it continues from there (its next packet is the delta from
        ``held``, the shared one when other clients wait at ``held``), as a
        :meth:`resume` does; otherwise (``held`` is ``None``, newer than the
        latest frame, or too old) it joins as :meth:`add_client` makes it,
        with a snapshot at the next tick. ``view`` must be the view its
        replica held ``held`` under. A replica of another session refuses the
        delta and asks for a snapshot, so a wrong ``held`` never mixes states.

        Returns:
            Whether it continues from ``held`` (``False``: a snapshot is due).

        Raises:
            ValueError: a client with this id is already there (nothing changes).
            TypeError: ``view`` is not a :class:`~flatsync.View` or ``None``.
        """
        self.add_client(client, view)
        latest = self._frame
        ring = self._ring
        if held is None or held > latest:
            return False
        if held != latest and not (ring and held >= ring[0].number - 1):
            return False
        c = self._clients[client]
        out = self._out
        out.pause(c)  # NEW -> PAUSED -> SHARED at ``held``: the table's legal moves
        c.epoch = held
        c.acked = held
        out.resumed(c, held)
        return True

    def _release_views(self) -> None:
        """Forget the compiled views no client uses, once they outnumber the used ones.

        A release walks the used nodes; it runs when the compiled nodes are
        more than twice those kept at the last release (plus 64), so its cost
        is spread over the views compiled since.
        """
        compiler = self._compiler
        if compiler.size <= 2 * self._nodes_kept + 64:
            return
        roots = {c.node for c in self._clients.values()}
        self._nodes_kept = compiler.release(roots)
        self._snap_sizes = {node: size for node, size in self._snap_sizes.items() if node in roots}

    def set_view(self, client: Hashable, view: View | None) -> None:
        """Change what ``client`` sees, from the next tick on.

        At the next tick the client's packet takes it from what it held to the
        new view of the new frame: subtrees that enter the view come as
        snapshots of their current state, subtrees that leave it as deletes.

        Raises:
            KeyError: no such client. TypeError: ``view`` is not a
                :class:`~flatsync.View` or ``None``. Nothing changes then.
        """
        c = self._client(client)
        c.next_view = _check_view(view)
        if c.next_view == c.view:
            self._changing.discard(c)
        else:
            self._changing.add(c)

    def request_snapshot(self, client: Hashable) -> None:
        """Send ``client`` a snapshot at the next tick, in place of its deltas.

        A paused client gets its snapshot when it resumes.

        Raises:
            KeyError: no such client (nothing changes).
        """
        c = self._client(client)
        if c.mode is PAUSED:
            c.sent = None  # its resume starts afresh
            return
        self._out.want_snapshot(c)

    # -- the merged frames -------------------------------------------------------------

    def _merged(self, node: Node, base: int, target: int) -> dict[Any, Any]:
        """The merge of frames ``base + 1`` to ``target`` as ``node`` sees them."""
        ring = self._ring
        first = ring[0].number
        out: dict[Any, Any] | None = None
        for index in range(base + 1 - first, target + 1 - first):
            delta = ring[index].for_view(node)
            if out is None:
                out = delta
            elif delta:
                out = merge(out, delta)
        assert out is not None
        return out

    # -- the tick -----------------------------------------------------------------------

    def tick(self) -> int:
        """Commit the root's changes as the next frame and return its number.

        The cost follows the size of the change and the number of distinct
        views with a client to serve, plus, for the few clients that need one,
        a snapshot (new clients, refresh requests, clients whose last frame
        left the ring) or a view transition. Nothing is encoded here.

        Raises:
            CommitError: another publisher took the root over (nothing changes).
            Exception: whatever a view's predicate raises. The publisher must
                then be discarded (some clients may have moved to the new frame
                and others not).
        """
        root = self._root
        if root._owner is not self:
            raise CommitError(
                "another Publisher took this root over: a root has one committer, and this "
                "publisher must not tick any more"
            )
        return self._commit_frame(root.diff())

    def _commit_frame(self, delta: dict[Any, Any]) -> int:
        """:meth:`tick` after the diff: commit ``delta`` as the next frame, move the clients.

        The relay's fed publisher calls it with a delta it received instead of
        one it diffed (its root already holds the delta applied).
        """
        root = self._root
        n = self._frame + 1
        frame = _Frame(n, delta)
        ring = self._ring
        ring.append(frame)

        # Clients that hold their pending packet: the new frame merges into it.
        out = self._out
        for c in out.holding:
            delta = frame.for_view(c.node)
            if c.private is None:
                c.private = delta
            elif delta:
                c.private = merge(c.private, delta)
            else:
                continue
            if c.bound is not None:
                c.bound += self._frame_size(frame, c.node) + _MERGE_SLACK

        # View changes: the frame under the old view, then the transition to the new one.
        if self._changing:
            transitions: dict[tuple[Node, Node], dict[Any, Any]] = {}
            for c in self._changing:
                old, view = c.node, c.next_view
                new = self._compiler.root(view)
                c.view = view
                c.node = new
                if old is new:
                    continue
                if c.mode is PAUSED:
                    c.epoch = n  # it resumes with a snapshot
                    continue
                if c.mode is NEW or c.mode is SNAPSHOT or c.resync is not None:
                    out.want_snapshot(c)
                    continue
                pair = (old, new)
                step = transitions.get(pair)
                if step is None:
                    step = transitions[pair] = transition(root, old, new)
                if c.mode is PRIVATE:
                    assert c.private is not None
                    pending = c.private
                else:
                    assert c.sent is not None
                    pending = self._merged(old, c.sent, n)
                out.diverged(c, merge(pending, step) if step else pending, VIEW_CHANGED)
                c.epoch = n
            self._changing.clear()
            self._release_views()

        # The ring is bounded: before a frame leaves it, the clients that still
        # need it take their merged pending delta privately.
        while len(ring) > self._history:
            leaving = ring[0].number
            for c in list(out.waiting.get(leaving - 1, ())):
                assert c.sent is not None
                out.diverged(c, self._merged(c.node, c.sent, n), RING_LEFT)
            ring.popleft()
            for c in [c for c in out.resyncs if c.resync is not None and c.resync < leaving]:
                out.want_snapshot(c)

        # A lagging client costs at most what its view's snapshot costs. Skipped
        # only when every SHARED client's chain ends at the previous frame (no
        # one lags): one chain end is not enough, a lone client may lag too.
        waiting = out.waiting
        if out.holding or self._measured or len(waiting) > 1 or (waiting and min(waiting) < n - 1):
            self._bound_lag(n)

        # Snapshots, one per distinct view.
        if out.want:
            snapshots: dict[Node, dict[Any, Any]] = {}
            for c in list(out.want):
                tree = snapshots.get(c.node)
                if tree is None:
                    tree = snapshots[c.node] = project_state(root, c.node)
                out.snapshot_taken(c, tree, n)

        root._commit()
        self._frame = n
        self._cache.clear()
        return n

    # -- the lag bound ------------------------------------------------------------------

    def _frame_size(self, frame: _Frame, node: Node) -> int:
        """The encoded size of what ``node`` sees of ``frame``'s delta."""
        size = frame.sizes.get(node)
        if size is None:
            size = frame.sizes[node] = len(self._codec.encode(frame.for_view(node)))
        return size

    def _total(self, index: int, node: Node) -> int:
        """``ring[index].totals[node]``, filled from the newest frame that has it.

        The frames that have a total for ``node`` are always a run from the ring's
        start, so filling goes forward only: a tick adds one frame per view.
        """
        ring = self._ring
        known = index
        while known >= 0 and node not in ring[known].totals:
            known -= 1
        total = ring[known].totals[node] if known >= 0 else 0
        for k in range(known + 1, index + 1):
            frame = ring[k]
            total += self._frame_size(frame, node)
            frame.totals[node] = total
        return total

    def _snapshot_size(self, node: Node, n: int, fresh: bool) -> int:
        """The encoded size of ``node``'s snapshot: of frame ``n`` if ``fresh``, else
        one measured within :data:`SNAPSHOT_SIZE_AGE` frames (the state of frame
        ``n`` is the root's during the tick)."""
        known = self._snap_sizes.get(node)
        if known is not None and (
            known[0] == n or (not fresh and n - known[0] <= SNAPSHOT_SIZE_AGE)
        ):
            return known[1]
        size = len(self._codec.encode(project_state(self._root, node)))
        self._snap_sizes[node] = (n, size)
        return size

    def _measure(self, delta: dict[Any, Any]) -> int | None:
        """The encoded size of ``delta``, or ``None`` when it is over the codec's limits."""
        try:
            return len(self._codec.encode(delta))
        except LimitError:
            return None

    def _bound_lag(self, n: int) -> None:
        """Turn a lagging client's pending delta into a snapshot once it outgrows it.

        A pending delta (the merge of the frames a client missed) grows with the
        ticks when keys come and go (or list operations of other shapes pile up); a snapshot of
        the client's view does not. Each lagging client (each group of SHARED
        clients with the same view and chain end) carries an upper bound of its
        pending delta's encoded size (the sum of the frames' sizes, plus
        :data:`_MERGE_SLACK` per merge); only when the bound passes the
        snapshot's size is the pending delta encoded to measure it (see
        :meth:`_within` for what is decided then). The work is a few additions
        per lagging client and tick, and an encoding each time a bound catches
        up with a snapshot.
        """
        out = self._out
        for c in list(out.holding):
            bound = self._within(c.node, n, c.bound, c.private or {}, None)
            if bound is None:
                out.want_snapshot(c)
            else:
                c.bound = bound
        # Lagging SHARED clients, by view and by the frame their chain ends at.
        measured = self._measured
        groups: dict[tuple[Node, int], list[Client]] = {}
        for sent, waiting in out.waiting.items():
            if sent < n - 1:
                for c in waiting:
                    groups.setdefault((c.node, sent), []).append(c)
        for key in [key for key in measured if key not in groups]:
            del measured[key]
        if not groups:
            return
        first = self._ring[0].number
        for key, clients in groups.items():
            node, sent = key
            start, bound = measured.get(key, (sent, 0))
            # The sizes of frames start + 1 to n (start + 1 is in the ring).
            after = start + 1 - first
            bound += (
                self._total(n - first, node)
                - self._total(after, node)
                + self._frame_size(self._ring[after], node)
                + _MERGE_SLACK * (n - start)
            )
            kept = self._within(node, n, bound, None, sent)
            if kept is None:
                measured.pop(key, None)
                for c in clients:
                    out.want_snapshot(c)
            elif kept != bound:
                measured[key] = (n, kept)

    def _within(
        self,
        node: Node,
        n: int,
        bound: int | None,
        private: dict[Any, Any] | None,
        sent: int | None,
    ) -> int | None:
        """Whether a pending delta under ``node`` stays a delta: its new bound, or ``None``.

        The delta is ``private``, or else the merge of the frames since
        ``sent``; ``bound`` is an upper bound of its encoded size (``None``:
        unknown). Within the view's snapshot size plus :data:`LAG_ALLOWANCE` it
        stays. Past it, the delta is encoded and measured: larger than
        the snapshot (measured afresh) plus the allowance, or over the codec's
        limits, it becomes the snapshot (``None``). For a snapshot of at least
        :data:`_LARGE_SNAPSHOT` bytes it does so from 7/8 of the snapshot's
        size already, so that a delta kept is at least an eighth of a snapshot
        away from the next measure (the measures cost at most a few times what
        the frames cost to encode).
        """
        allowance = LAG_ALLOWANCE
        stale = self._snapshot_size(node, n, False)
        if bound is not None and bound <= stale + allowance:
            return bound
        if private is None:
            assert sent is not None
            private = self._merged(node, sent, n)
        size = self._measure(private)
        snap = self._snapshot_size(node, n, True)
        if size is None or size > snap + allowance:
            return None
        if snap >= _LARGE_SNAPSHOT and size > snap - snap // 8:
            return None
        return size

    # -- packets out ----------------------------------------------------------------------

    def packets_for(self, client: Hashable) -> list[bytes]:
        """Drain ``client``'s outbox: the packets to send it now, in order.

        Call it when the client's transport can take packets. Usually one
        packet: a delta from the frame the client will hold once everything
        sent before arrives to the latest frame (the frames in between merged,
        so a client that was not drained for a while costs one packet), or a
        snapshot. An answer to a resync request comes first when there is one.
        The list is empty when there is nothing new (or a snapshot is due at
        the next tick).

        Packets are encoded once per tick for all clients with the same view
        and the same starting frame; the bytes returned are shared.

        Raises:
            KeyError: no such client.
            EncodeError, LimitError: the codec refused the tree (the state holds
                something the codec cannot encode, or the packet is over its
                limits). The outbox is as it was.
        """
        c = self._client(client)
        latest = self._frame
        mode = c.mode
        if mode is NEW or mode is PAUSED:
            return []
        # Whether a packet to the latest frame went out before, in this frame: then
        # a schema sent now may be missing on a replica that holds the latest frame.
        again = mode is SHARED and c.sent == latest
        if mode is SNAPSHOT:
            key: tuple[Any, ...] = ("s", c.node, c.snap_frame)
            built = self._cache.get(key)
            if built is None:
                assert c.snap is not None
                tree = c.snap if not c.private else apply_delta(c.snap, c.private)
                header = snapshot_header(latest, self._session)
                packet = header + self._codec.encode(tree)
                ids = frozenset(record_ids(tree)) if has_records() else _NO_IDS
                built = self._cache[key] = (packet, len(header), ids, Kind.SNAPSHOT)
            self._out.drained(c, latest)
            c.epoch = latest
            c.answered = (None, latest)
            return [self._schema_packet(c, built, None, latest, again)]
        assert c.sent is not None
        sent = c.sent
        planned: list[tuple[_Built, int, int]] = []  # (packet, base, frame)
        catchup = c.resync
        if catchup is not None:
            planned.append((self._shared_delta(c.node, catchup, sent, True), catchup, sent))
        if mode is PRIVATE:
            assert c.private is not None
            header = delta_header(latest, sent)
            packet = header + self._codec.encode(c.private)
            ids = frozenset(record_ids(c.private)) if has_records() else _NO_IDS
            planned.append(((packet, len(header), ids, Kind.DELTA), sent, latest))
        elif sent < latest:
            planned.append((self._shared_delta(c.node, sent, latest, False), sent, latest))
        out = [self._schema_packet(c, built, base, frame, again) for built, base, frame in planned]
        if catchup is not None:
            self._out.resync_answered(c)
            c.answered = (catchup, sent)
        if mode is PRIVATE or sent < latest:
            self._out.drained(c, latest)
        return out

    def _shared_delta(self, node: Node, base: int, target: int, answer: bool) -> _Built:
        """The merge of frames ``base + 1`` to ``target`` as ``node`` sees them, as a packet.

        ``answer``: a resync answer (an ANSWER header, with the session), else a DELTA.
        """
        key = ("a" if answer else "d", node, base, target)
        built = self._cache.get(key)
        if built is None:
            tree = self._merged(node, base, target)
            kind = Kind.ANSWER if answer else Kind.DELTA
            header = (
                answer_header(target, base, self._session) if answer else delta_header(target, base)
            )
            packet = header + self._codec.encode(tree)
            ring = self._ring
            first = ring[0].number
            records = any(
                ring[index].has_records() for index in range(base + 1 - first, target + 1 - first)
            )
            ids = frozenset(record_ids(tree)) if records else _NO_IDS
            built = self._cache[key] = (packet, len(header), ids, kind)
        return built

    def _schema_packet(
        self, c: Client, built: _Built, base: int | None, frame: int, again: bool
    ) -> bytes:
        """The packet to send ``c``: ``built``, with a schema table in its header if needed.

        A packet carries the schema of each record whose id its payload holds
        and that was never sent to this client, and of each record sent in a
        packet that a replica holding ``base`` may not have applied. Frames go
        up in the order packets are drained, and each packet brings a replica
        at most to the latest frame, so: a schema first sent while frame ``L``
        is the latest is on every replica that holds a frame after ``L`` (it
        crossed from ``L`` or before in a packet drained since, which carried it
        again), and, unless an earlier packet of the same frame reached ``L``
        without it (``again``), on every replica that holds ``L``. A packet
        based on an earlier frame carries it again; a delta for a client that
        has the schemas carries nothing, not a byte. A snapshot (``base`` is
        ``None``) starts afresh: it carries the schemas its payload needs, and
        only those count as sent.
        """
        packet, size, ids, kind = built
        schemas = c.schemas
        if base is None:
            schemas.clear()
            c.schemas_top = 0
            carry = set(ids)
        elif base < c.schemas_top:
            carry = {rid for rid, until in schemas.items() if base < until}
            carry.update(rid for rid in ids if rid not in schemas)
        elif ids and not ids.issubset(schemas):
            carry = {rid for rid in ids if rid not in schemas}
        else:
            return packet
        until = self._frame + 1 if again and base is not None else self._frame
        for rid in ids:
            if rid not in schemas:
                schemas[rid] = until
                c.schemas_top = max(c.schemas_top, until)
        entries = []
        for rid in carry:
            schema = schema_of(rid)
            if schema is not None:  # a record this process does not know cannot be named
                entries.append((rid, schema[0], schema[1]))
        if not entries:
            return packet
        table = schema_table(entries)
        if base is None:
            header = snapshot_header(frame, self._session, table)
        elif kind is Kind.ANSWER:
            header = answer_header(frame, base, self._session, table)
        else:
            header = delta_header(frame, base, table)
        return header + packet[size:]

    # -- packets in -----------------------------------------------------------------------

    def receive(self, client: Hashable, packet: bytes | bytearray | memoryview) -> Reply:
        """Take a packet that ``client``'s replica sent (see :meth:`Replica.packet_to_send`).

        An acknowledgement records which frame the replica holds. A resync
        request (the replica could not use a packet) schedules the merge of the
        frames since the frame it holds, in front of its next packet; when those
        frames have left the ring, or its view changed since, a snapshot at the
        next tick instead. A refresh request schedules a snapshot. Requests that
        an answer already drained covers (they crossed it on the way) are
        ignored, as are acknowledgements older than one already received.

        A packet of a replica that follows another session (another publisher,
        or an earlier run of this server) never raises: an acknowledgement of a
        frame never sent to this client is ignored (the client's next packet
        from here is a snapshot, or the replica refuses what is not of its
        session), and a resync request from a frame never sent to this client
        schedules a snapshot. A resync request of another session that names a
        frame this client was sent is answered as usual: the answer carries
        :attr:`session`, which that replica refuses, and asks for a snapshot.
        A paused client's acknowledgements are recorded, its requests ignored
        (its :meth:`resume` says where it is).

        Returns:
            What the packet said (whether or not it changed anything): an
            acknowledgement of a frame, or a request. A transport needs
            nothing else from the packet (after a request, what it has in
            flight is of no use to the client).

        Raises:
            KeyError: no such client.
            FrameError: the packet is malformed, of another format version, or
                not something a replica sends (a frame). Nothing changes. A
                transport should close such a peer's connection.
        """
        c = self._client(client)
        header = parse(packet)
        kind = header.kind
        if kind is _DELTA or kind is _SNAPSHOT or kind is _ANSWER:
            name = "a resync answer" if kind is Kind.ANSWER else f"a {kind.name.lower()} frame"
            raise FrameError(
                f"client {client!r} sent {name}; a publisher receives acknowledgements and requests"
            )
        if header.size != len(packet):
            raise FrameError(
                f"{len(packet) - header.size} bytes after the {kind.name.lower()} packet "
                f"of client {client!r}"
            )
        if kind is _ACK:
            reply = self._ack_reply  # every client acknowledges the same few frames: shared
            if reply.frame != header.frame:
                reply = self._ack_reply = Reply(kind="ack", frame=header.frame)
        elif kind is _RESYNC:
            reply = Reply(kind="resync", frame=header.frame)
        else:
            reply = _REFRESH
        if c.mode is PAUSED:
            sent = c.sent
            if (
                kind is _ACK
                and sent is not None
                and header.frame <= sent
                and (c.acked is None or header.frame > c.acked)
            ):
                c.acked = header.frame
            return reply
        self._take(c, header)
        return reply

    def _take(self, c: Client, header: Header) -> None:
        """What :meth:`receive` does with a valid packet of a client that is not paused."""
        kind = header.kind
        if kind is _REFRESH_KIND:
            if c.mode is NEW or c.mode is SNAPSHOT:
                return  # a snapshot is on its way
            rejected = header.base
            answered = c.answered
            if (
                rejected is not None
                and answered is not None
                and answered[0] is None
                and rejected < answered[1]
            ):
                return  # it rejected a packet sent before our last snapshot
            self._out.want_snapshot(c)
            return
        held = header.frame
        if c.sent is None:
            return  # from an earlier connection: this one has had nothing yet
        if held > c.sent:
            # Never sent to it: the replica holds a state of another session.
            if kind is _RESYNC and c.mode is not NEW and c.mode is not SNAPSHOT:
                self._out.want_snapshot(c)
            return
        if c.acked is not None and held < c.acked:
            return  # an old packet, overtaken
        c.acked = held
        if kind is _ACK or c.mode is NEW or c.mode is SNAPSHOT or held == c.sent:
            return
        rejected = header.base
        assert rejected is not None
        answered = c.answered
        if (
            answered is not None
            and rejected < answered[1]
            and (answered[0] is None or answered[0] == held)
        ):
            return  # it rejected a packet sent before our answer to the same request
        if held >= c.epoch and held >= self._ring[0].number - 1:
            self._out.ask_resync(c, held)
        else:
            self._out.want_snapshot(c)

    def __repr__(self) -> str:
        return (
            f"<Publisher frame={self._frame} clients={len(self._clients)} "
            f"history={self._history} codec={self._codec.name}>"
        )


def _check_view(view: Any) -> View | None:
    if view is not None and not isinstance(view, View):
        raise TypeError(f"a view is a flatsync.View or None, not {type(view).__name__}")
    return view
