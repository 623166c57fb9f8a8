"""Sessions: a sans-I/O :class:`Publisher` (server side) and :class:`Replica` (client side).

Like h11 and wsproto, this module does no I/O at all: no socket, thread, timer
or event loop. The publisher turns the state into packets and the packets the
clients send back into decisions; the replica turns packets into state and
events, and tells what to send back. The caller moves the bytes.

How the pieces fit (the docs' sessions page tells it at length):

* Each :meth:`Publisher.tick` commits the root's delta as frame ``n`` into a
  bounded ring. Nothing is encoded yet.
* :meth:`Publisher.packets_for` drains one client's outbox. A client's outbox
  is never a queue of packets: it is where the client's chain of packets ends
  (``sent``) plus, rarely, one private merged delta. So whatever arrives at the
  caller is one packet from ``sent`` to the latest frame (the frames in
  between merged: latest state wins), built from the ring and encoded once for
  every client with the same view and the same ``sent``.
* The replica applies a delta only on the exact frame it was built for. A
  packet it cannot use (lost, reordered, duplicated) leaves its state as it
  was; it then asks to resync from the frame it holds, and the publisher
  answers with the merge of the frames since then (or a snapshot, when they
  have left the ring).
* Records travel by id. A packet whose payload holds a record snapshot carries,
  in its header, the schema (name and field names) of each record the replica
  may not have yet, so that a replica rebuilds records whose classes its
  process lacks as mappings with the right field names (see
  :meth:`Publisher._schema_packet` for the rule that decides "may not have").
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from typing import Any, Literal, TypeAlias

import attrs

from .._codecs._cbor import CborCodec
from .._codecs._codec import Codec
from .._handlers._base import snapshot_value
from .._handlers._data import DataHandler, _stored_key
from .._tree._errors import DecodeError, FrameError, LimitError, PatchError
from .._tree._events import Event
from .._tree._markers import DELETED, Replace
from .._tree._merge import apply_delta, merge
from .._tree._records import (
    Schema,
    has_records,
    merge_schemas,
    record_ids,
    schema_of,
    schemas_in_use,
)
from .._tree._values import ABSENT, VALUE_TYPES, same_value
from ._frames import (
    Header,
    Kind,
    ack,
    delta_header,
    parse,
    refresh,
    resync,
    schema_table,
    snapshot_header,
)
from ._views import View, ViewCompiler, _Node, filter_delta, project_state, transition

__all__ = ["DropReason", "FrameApplied", "FrameDropped", "Publisher", "Replica", "SessionEvent"]

DropReason: TypeAlias = Literal["duplicate", "stale", "gap"]


@attrs.frozen(kw_only=True)
class FrameApplied:
    """The replica applied a packet and now holds frame ``frame``.

    It comes last in what :meth:`Replica.receive` returns, after the
    :class:`~flatsync.Added`/:class:`~flatsync.Removed`/:class:`~flatsync.Changed`
    events of the packet.

    Attributes:
        frame: The frame the replica now holds.
        base: The frame the delta was applied to; ``None`` for a snapshot.
    """

    frame: int
    base: int | None


@attrs.frozen(kw_only=True)
class FrameDropped:
    """The replica set a packet aside without changing anything.

    Attributes:
        frame: The frame the packet would have brought the replica to.
        base: The frame the packet's delta applies to; ``None`` for a snapshot.
        reason: ``"duplicate"``: the replica already holds ``frame``.
            ``"stale"``: the packet is older than what the replica holds, or was
            built on an older frame. ``"gap"``: the packet was built on a frame
            the replica has not received. For ``"gap"`` (and for a stale packet
            that would have led further than the replica is) the replica asks
            the publisher to resync: see :meth:`Replica.packet_to_send`.
    """

    frame: int
    base: int | None
    reason: Literal["duplicate", "stale", "gap"]


SessionEvent: TypeAlias = FrameApplied | FrameDropped
"""What :meth:`Replica.receive` reports about the packet itself."""


# -- the publisher ------------------------------------------------------------------------


#: A packet as the publisher caches it: its bytes (header without a schema
#: table, then the payload), the header's size, and the record ids of the payload.
_Built: TypeAlias = tuple[bytes, int, frozenset[int]]

_NO_IDS: frozenset[int] = frozenset()


class _Frame:
    """One committed frame: the root's delta and, lazily, what each view gets of it."""

    __slots__ = ("_records", "delta", "number", "views")

    def __init__(self, number: int, delta: dict[Any, Any]) -> None:
        self.number = number
        self.delta = delta
        self.views: dict[_Node, dict[Any, Any]] = {}
        self._records: bool | None = None

    def has_records(self) -> bool:
        """Whether the delta holds a record snapshot (so a view of it may need a schema table)."""
        if self._records is None:
            self._records = has_records() and bool(record_ids(self.delta))
        return self._records

    def for_view(self, node: _Node) -> dict[Any, Any]:
        tree = self.views.get(node)
        if tree is None:
            tree = self.views[node] = filter_delta(self.delta, node)
        return tree


# The modes of a client's outbox.
_NEW = 0  # wants a snapshot, taken at the next tick
_SNAPSHOT = 1  # holds a snapshot (frame ``snap_frame``) and the merged delta since
_PRIVATE = 2  # holds one merged delta from ``sent`` to the latest frame
_SHARED = 3  # nothing held: the packet from ``sent`` is built from the ring

_MODE_NAMES = {_NEW: "new", _SNAPSHOT: "snapshot", _PRIVATE: "private", _SHARED: "shared"}


class _Client:
    __slots__ = (
        "acked",
        "answered",
        "epoch",
        "id",
        "mode",
        "next_view",
        "node",
        "private",
        "resync",
        "schemas",
        "schemas_top",
        "sent",
        "snap",
        "snap_frame",
        "view",
    )

    def __init__(self, client_id: Hashable, view: View | None, node: _Node) -> None:
        self.id = client_id
        self.view = view
        self.node = node
        self.next_view: View | None = None
        self.mode = _NEW
        #: The frame the replica holds once every packet drained so far arrives.
        self.sent: int | None = None
        #: The first frame since which the view did not change (resync needs it).
        self.epoch = 0
        #: The newest frame the replica said it holds.
        self.acked: int | None = None
        #: _PRIVATE: the merged delta from ``sent``; _SNAPSHOT: the delta since the snapshot.
        self.private: dict[Any, Any] | None = None
        self.snap: dict[Any, Any] | None = None
        self.snap_frame = 0
        #: A pending catch-up from this frame (answer to a resync request).
        self.resync: int | None = None
        #: The last answer drained: (from frame, or None for a snapshot; to frame).
        self.answered: tuple[int | None, int] | None = None
        #: Record id -> a frame: the schema was sent in a packet drained when that
        #: frame (or the one before) was the latest, so a packet whose base is
        #: before it may reach a replica that lacks it, and carries it again.
        self.schemas: dict[int, int] = {}
        #: The largest frame in ``schemas`` (packets based on it or later carry none).
        self.schemas_top = 0


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
    >>> pub = flatsync.Publisher(flatsync.DataHandler({"hp": 8}))
    >>> pub.add_client("ann")
    >>> pub.tick()
    1
    >>> [p.hex(" ") for p in pub.packets_for("ann")]
    ['11 01 a1 62 68 70 08']
    >>> pub.root["hp"] = 7
    >>> pub.tick()
    2
    >>> [p.hex(" ") for p in pub.packets_for("ann")]
    ['10 02 01 a1 62 68 70 07']

    Args:
        root: The state. The publisher commits it now (what it holds is frame
            0) and at every tick; nothing else should call its ``commit``.
        codec: The codec of every payload (a :class:`~flatsync.CborCodec` by
            default). Replicas must use the same.
        history: How many frames the ring keeps. A client whose last frame has
            left the ring gets a snapshot instead of a catch-up delta.

    Raises:
        TypeError: ``root`` is not a :class:`~flatsync.DataHandler`.
        ValueError: ``root`` is a read-only replica or sits inside another
            handler, or ``history`` is below 1.
    """

    def __init__(self, root: DataHandler, *, codec: Codec | None = None, history: int = 64) -> None:
        if not isinstance(root, DataHandler):
            raise TypeError(f"a publisher's root is a DataHandler, not {type(root).__name__}")
        if root.readonly:
            raise ValueError("a read-only replica cannot be published (it records no changes)")
        if root.parent is not None:
            raise ValueError("a publisher's root must be a root (it sits inside another handler)")
        if history < 1:
            raise ValueError(f"history must be at least 1, not {history}")
        self._root = root
        self._codec: Codec = CborCodec() if codec is None else codec
        self._history = history
        self._frame = 0
        self._ring: deque[_Frame] = deque()
        self._clients: dict[Hashable, _Client] = {}
        self._compiler = ViewCompiler()
        self._waiting: dict[int, set[_Client]] = {}
        self._holding: set[_Client] = set()  # _SNAPSHOT and _PRIVATE clients
        self._want: set[_Client] = set()  # _NEW clients
        self._changing: set[_Client] = set()
        self._resyncs: set[_Client] = set()
        self._cache: dict[tuple[Any, ...], _Built] = {}
        root.commit()

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
        if c.mode == _NEW:
            return False
        if c.mode != _SHARED or c.resync is not None:
            return True
        return c.sent is not None and c.sent < self._frame

    def _client(self, client: Hashable) -> _Client:
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
        c = _Client(client, view, node)
        self._clients[client] = c
        self._want.add(c)

    def remove_client(self, client: Hashable) -> None:
        """A client leaves; everything kept for it is dropped.

        Raises:
            KeyError: no such client (nothing changes).
        """
        c = self._client(client)
        self._unhook(c)
        self._changing.discard(c)
        del self._clients[client]

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

        Raises:
            KeyError: no such client (nothing changes).
        """
        self._to_new(self._client(client))

    # -- the state machine of a client's outbox -------------------------------------------

    def _unhook(self, c: _Client) -> None:
        if c.mode == _SHARED and c.sent is not None:
            waiting = self._waiting.get(c.sent)
            if waiting is not None:
                waiting.discard(c)
                if not waiting:
                    del self._waiting[c.sent]
        self._holding.discard(c)
        self._want.discard(c)
        self._resyncs.discard(c)
        c.private = None
        c.snap = None
        c.resync = None

    def _to_new(self, c: _Client) -> None:
        self._unhook(c)
        c.mode = _NEW
        self._want.add(c)

    def _to_shared(self, c: _Client, sent: int) -> None:
        self._holding.discard(c)
        c.private = None
        c.snap = None
        c.mode = _SHARED
        c.sent = sent
        self._waiting.setdefault(sent, set()).add(c)

    def _to_private(self, c: _Client, private: dict[Any, Any]) -> None:
        if c.mode == _SHARED:
            assert c.sent is not None
            waiting = self._waiting[c.sent]
            waiting.discard(c)
            if not waiting:
                del self._waiting[c.sent]
        c.mode = _PRIVATE
        c.private = private
        self._holding.add(c)

    def _merged(self, node: _Node, base: int, target: int) -> dict[Any, Any]:
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
            Exception: whatever a view's predicate raises. The publisher must
                then be discarded (some clients may have moved to the new frame
                and others not).
        """
        root = self._root
        n = self._frame + 1
        frame = _Frame(n, root.diff())
        ring = self._ring
        ring.append(frame)

        # Clients that hold their pending packet: the new frame merges into it.
        for c in self._holding:
            delta = frame.for_view(c.node)
            if c.private is None:
                c.private = delta
            elif delta:
                c.private = merge(c.private, delta)

        # View changes: the frame under the old view, then the transition to the new one.
        if self._changing:
            transitions: dict[tuple[_Node, _Node], dict[Any, Any]] = {}
            for c in self._changing:
                old, view = c.node, c.next_view
                new = self._compiler.root(view)
                c.view = view
                c.node = new
                if old is new:
                    continue
                if c.mode in (_NEW, _SNAPSHOT) or c.resync is not None:
                    self._to_new(c)
                    continue
                pair = (old, new)
                step = transitions.get(pair)
                if step is None:
                    step = transitions[pair] = transition(root, old, new)
                if c.mode == _PRIVATE:
                    assert c.private is not None
                    pending = c.private
                else:
                    assert c.sent is not None
                    pending = self._merged(old, c.sent, n)
                self._to_private(c, merge(pending, step) if step else pending)
                c.epoch = n
            self._changing.clear()

        # The ring is bounded: before a frame leaves it, the clients that still
        # need it take their merged pending delta privately.
        while len(ring) > self._history:
            leaving = ring[0].number
            for c in self._waiting.pop(leaving - 1, set()):
                assert c.sent is not None
                private = self._merged(c.node, c.sent, n)
                c.mode = _PRIVATE
                c.private = private
                self._holding.add(c)
            ring.popleft()
            for c in [c for c in self._resyncs if c.resync is not None and c.resync < leaving]:
                self._to_new(c)

        # Snapshots, one per distinct view.
        if self._want:
            snapshots: dict[_Node, dict[Any, Any]] = {}
            for c in self._want:
                tree = snapshots.get(c.node)
                if tree is None:
                    tree = snapshots[c.node] = project_state(root, c.node)
                c.mode = _SNAPSHOT
                c.snap = tree
                c.snap_frame = n
                c.private = None
                self._holding.add(c)
            self._want.clear()

        root.commit()
        self._frame = n
        self._cache.clear()
        return n

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
        if mode == _NEW:
            return []
        # Whether a packet to the latest frame went out before, in this frame: then
        # a schema sent now may be missing on a replica that holds the latest frame.
        again = mode == _SHARED and c.sent == latest
        if mode == _SNAPSHOT:
            key: tuple[Any, ...] = ("s", c.node, c.snap_frame)
            built = self._cache.get(key)
            if built is None:
                assert c.snap is not None
                tree = c.snap if not c.private else apply_delta(c.snap, c.private)
                header = snapshot_header(latest)
                packet = header + self._codec.encode(tree)
                ids = frozenset(record_ids(tree)) if has_records() else _NO_IDS
                built = self._cache[key] = (packet, len(header), ids)
            self._to_shared(c, latest)
            c.epoch = latest
            c.answered = (None, latest)
            return [self._schema_packet(c, built, None, latest, again)]
        assert c.sent is not None
        sent = c.sent
        planned: list[tuple[_Built, int, int]] = []  # (packet, base, frame)
        catchup = c.resync
        if catchup is not None:
            planned.append((self._shared_delta(c.node, catchup, sent), catchup, sent))
        if mode == _PRIVATE:
            assert c.private is not None
            header = delta_header(latest, sent)
            packet = header + self._codec.encode(c.private)
            ids = frozenset(record_ids(c.private)) if has_records() else _NO_IDS
            planned.append(((packet, len(header), ids), sent, latest))
        elif sent < latest:
            planned.append((self._shared_delta(c.node, sent, latest), sent, latest))
        out = [self._schema_packet(c, built, base, frame, again) for built, base, frame in planned]
        if catchup is not None:
            c.resync = None
            self._resyncs.discard(c)
            c.answered = (catchup, sent)
        if mode == _PRIVATE or sent < latest:
            if mode == _SHARED:
                waiting = self._waiting[sent]
                waiting.discard(c)
                if not waiting:
                    del self._waiting[sent]
            self._to_shared(c, latest)
        return out

    def _shared_delta(self, node: _Node, base: int, target: int) -> _Built:
        key = ("d", node, base, target)
        built = self._cache.get(key)
        if built is None:
            tree = self._merged(node, base, target)
            header = delta_header(target, base)
            packet = header + self._codec.encode(tree)
            ring = self._ring
            first = ring[0].number
            records = any(
                ring[index].has_records() for index in range(base + 1 - first, target + 1 - first)
            )
            ids = frozenset(record_ids(tree)) if records else _NO_IDS
            built = self._cache[key] = (packet, len(header), ids)
        return built

    def _schema_packet(
        self, c: _Client, built: _Built, base: int | None, frame: int, again: bool
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
        packet, size, ids = built
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
        header = snapshot_header(frame, table) if base is None else delta_header(frame, base, table)
        return header + packet[size:]

    # -- packets in -----------------------------------------------------------------------

    def receive(self, client: Hashable, packet: bytes | bytearray | memoryview) -> None:
        """Take a packet that ``client``'s replica sent (see :meth:`Replica.packet_to_send`).

        An acknowledgement records which frame the replica holds. A resync
        request (the replica could not use a packet) schedules the merge of the
        frames since the frame it holds, in front of its next packet; when those
        frames have left the ring, or its view changed since, a snapshot at the
        next tick instead. A refresh request schedules a snapshot. Requests that
        an answer already drained covers (they crossed it on the way) are
        ignored, as are acknowledgements older than one already received.

        Raises:
            KeyError: no such client.
            FrameError: the packet is malformed, of another format version, not
                something a replica sends, or it names a frame the publisher has
                not sent to this client. Nothing changes.
        """
        c = self._client(client)
        header = parse(packet)
        kind = header.kind
        if kind is Kind.DELTA or kind is Kind.SNAPSHOT:
            raise FrameError(
                f"client {client!r} sent a {kind.name.lower()} frame; a publisher receives "
                "acknowledgements and requests"
            )
        if header.size != len(packet):
            raise FrameError(
                f"{len(packet) - header.size} bytes after the {kind.name.lower()} packet "
                f"of client {client!r}"
            )
        if kind is Kind.REFRESH:
            if c.mode in (_NEW, _SNAPSHOT):
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
            self._to_new(c)
            return
        held = header.frame
        if held > self._frame:
            raise FrameError(
                f"client {client!r} says it holds frame {held}, but the latest frame is "
                f"{self._frame} (a replica follows one publisher: make a new one to follow another)"
            )
        if c.sent is None:
            return  # from an earlier connection: this one has had nothing yet
        if held > c.sent:
            raise FrameError(f"client {client!r} says it holds frame {held}, never sent to it")
        if c.acked is not None and held < c.acked:
            return  # an old packet, overtaken
        c.acked = held
        if kind is Kind.ACK or c.mode in (_NEW, _SNAPSHOT) or held == c.sent:
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
            c.resync = held
            self._resyncs.add(c)
        else:
            self._to_new(c)

    def __repr__(self) -> str:
        return (
            f"<Publisher frame={self._frame} clients={len(self._clients)} "
            f"history={self._history} codec={self._codec.name}>"
        )


def _check_view(view: Any) -> View | None:
    if view is not None and not isinstance(view, View):
        raise TypeError(f"a view is a flatsync.View or None, not {type(view).__name__}")
    return view


# -- the replica --------------------------------------------------------------------------


class Replica:
    """The client side of a session: applies a publisher's packets in order, and tells what to send back.

    :attr:`state` is a read-only :class:`~flatsync.DataHandler`, empty until
    the first snapshot arrives, and the same object for the replica's whole
    life (a snapshot that refreshes it is applied as a change, with events).
    A delta is applied only to the exact frame it was built for; any other
    packet leaves the state as it was and is reported as a
    :class:`FrameDropped`, and when the replica is missing something it asks
    to resync. After each :meth:`receive`, send what :meth:`packet_to_send`
    returns (an acknowledgement or a request).

    >>> import flatsync
    >>> replica = flatsync.Replica()
    >>> replica.receive(bytes.fromhex("11 01 a1 62 68 70 08"))
    [Added(path=('hp',), new=8), FrameApplied(frame=1, base=None)]
    >>> replica.packet_to_send().hex(" ")
    '12 01'
    >>> replica.receive(bytes.fromhex("10 03 01 a1 62 68 70 06"))
    [FrameDropped(frame=3, base=2, reason='gap')]
    >>> replica.state, replica.packet_to_send().hex(" ")
    (DataHandler({'hp': 8}), '13 01 02')

    Records arrive as instances of their class where it is registered in the
    replica's process, and as read-only :class:`~flatsync.RecordView` mappings
    with the same fields where it is not: the publisher sends each record's
    name and field names along, once (:attr:`schemas`).

    Args:
        codec: The publisher's codec (a :class:`~flatsync.CborCodec` by default).
    """

    def __init__(self, codec: Codec | None = None) -> None:
        self._codec: Codec = CborCodec() if codec is None else codec
        self._state = DataHandler.from_snapshot({})
        self._schemas: dict[int, Schema] = {}
        self._frame: int | None = None
        self._ack: int | None = None
        #: A pending request: (kind, the rejected base or None).
        self._request: tuple[Kind, int | None] | None = None

    @property
    def state(self) -> DataHandler:
        """The replicated state, read-only, as the client's view shows frame :attr:`frame`."""
        return self._state

    @property
    def frame(self) -> int | None:
        """The frame the state is at, or ``None`` before the first snapshot."""
        return self._frame

    @property
    def codec(self) -> Codec:
        """The codec of every payload."""
        return self._codec

    @property
    def schemas(self) -> dict[int, Schema]:
        """What the publisher sent of record schemas, as ``{id: (name, field names)}`` (a copy)."""
        return dict(self._schemas)

    def _learn(self, header: Header) -> dict[int, Schema]:
        """The schemas with the packet's table added (applied once the packet is)."""
        if not header.schemas:
            return self._schemas
        return merge_schemas(self._schemas, ((rid, (n, f)) for rid, n, f in header.schemas))

    def receive(
        self, packet: bytes | bytearray | memoryview
    ) -> list[Event | FrameApplied | FrameDropped]:
        """Apply one packet from the publisher; return what changed.

        A snapshot newer than the state, or a delta built on exactly the frame
        the state is at, is applied: the result is the
        :class:`~flatsync.Added`/:class:`~flatsync.Removed`/:class:`~flatsync.Changed`
        events, then a :class:`FrameApplied`, and an acknowledgement is queued.
        Any other packet changes nothing and gives one :class:`FrameDropped`:
        a duplicate or an older packet is ignored, and a packet that shows the
        replica missed something (a gap) queues a request to resync from the
        frame it holds (or, before the first snapshot, a refresh request).

        When it raises, the state, the frame and the record schemas are exactly
        as they were.

        Raises:
            FrameError: the header is malformed (its schema table too), of
                another format version, or not a frame (an acknowledgement).
            DecodeError, LimitError: the payload does not decode; the packet
                counts as lost (a resync request is queued).
            PatchError: the payload decodes but does not fit the state, which
                means the two sides disagree: a refresh request is queued. Also
                when the packet's schema table gives a record other fields than
                the class registered here under its name: the two programs
                declare it differently, which no refresh mends, so nothing is
                queued.
        """
        header = parse(packet)
        kind = header.kind
        frame = header.frame
        held = self._frame
        if kind is Kind.DELTA:
            base = header.base
            assert base is not None
            if held is None or base != held:
                if held is not None and frame <= held:
                    reason: DropReason = "duplicate" if frame == held else "stale"
                else:
                    reason = "gap" if held is None or base > held else "stale"
                    self._ask(Kind.RESYNC if held is not None else Kind.REFRESH, base)
                return [FrameDropped(frame=frame, base=base, reason=reason)]
            schemas = self._learn(header)
            try:
                delta = self._codec.decode(memoryview(packet)[header.size :])
            except (DecodeError, LimitError):
                self._ask(Kind.RESYNC, base)
                raise
            try:
                with schemas_in_use(schemas):
                    events: list[Event | FrameApplied | FrameDropped] = list(
                        self._state.patch(delta)
                    )
            except PatchError:
                self._ask(Kind.REFRESH, None)
                raise
            self._schemas = schemas
            self._applied(frame)
            events.append(FrameApplied(frame=frame, base=base))
            return events
        if kind is Kind.SNAPSHOT:
            if held is not None and frame <= held:
                reason = "duplicate" if frame == held else "stale"
                return [FrameDropped(frame=frame, base=None, reason=reason)]
            schemas = self._learn(header)
            try:
                tree = self._codec.decode(memoryview(packet)[header.size :])
            except (DecodeError, LimitError):
                self._ask(Kind.REFRESH, None)
                raise
            try:
                if type(tree) is not dict:
                    raise PatchError(
                        f"root: a snapshot must be a mapping (dict), got {type(tree).__name__}"
                    )
                with schemas_in_use(schemas):
                    events = list(self._state.patch(_refresh_delta(self._state, tree)))
            except PatchError:
                self._ask(Kind.REFRESH, None)
                raise
            self._schemas = schemas
            self._applied(frame)
            self._request = None
            events.append(FrameApplied(frame=frame, base=None))
            return events
        raise FrameError(f"a replica receives frames, not a {kind.name.lower()} packet")

    def _applied(self, frame: int) -> None:
        self._frame = frame
        self._ack = frame
        if self._request is not None and self._request[0] is Kind.RESYNC:
            self._request = None  # it is somewhere else now; a new gap asks again

    def _ask(self, kind: Kind, rejected: int | None) -> None:
        request = self._request
        if request is None:
            self._request = (kind, rejected)
            return
        old_kind, old_rejected = request
        if old_kind is Kind.REFRESH and old_rejected is None:
            return  # an explicit refresh covers everything
        if kind is Kind.REFRESH and rejected is None:
            self._request = (kind, None)
            return
        if old_rejected is not None and (rejected is None or rejected < old_rejected):
            rejected = old_rejected
        self._request = (Kind.REFRESH if Kind.REFRESH in (kind, old_kind) else kind, rejected)

    def request_refresh(self) -> None:
        """Ask the publisher for a snapshot (sent with the next :meth:`packet_to_send`).

        The state is left as it is until the snapshot arrives.
        """
        self._request = (Kind.REFRESH, None)

    def packet_to_send(self) -> bytes | None:
        """The packet to send to the publisher now, or ``None``: a request, else an acknowledgement.

        Requests and acknowledgements coalesce: only the newest matters, so
        calling this once per received packet, or once per tick, is the
        caller's choice. A request also acknowledges the frame the replica holds.
        """
        request = self._request
        if request is not None:
            self._request = None
            self._ack = None
            kind, rejected = request
            if kind is Kind.REFRESH or self._frame is None:
                return refresh(rejected)
            return resync(self._frame, self._frame if rejected is None else rejected)
        if self._ack is not None:
            frame, self._ack = self._ack, None
            return ack(frame)
        return None

    def __repr__(self) -> str:
        return f"<Replica frame={self._frame} entries={len(self._state)}>"


def _refresh_delta(current: DataHandler, tree: dict[Any, Any]) -> dict[Any, Any]:
    """The delta from ``current`` to the snapshot ``tree`` (the replica's refresh)."""
    out: dict[Any, Any] = {}
    for key in current:
        if key not in tree:
            out[key] = DELETED
    for key, value in tree.items():
        old = dict.get(current, key, ABSENT)
        if old is ABSENT or not same_value(_stored_key(current, key), key):
            out[key] = Replace(value)
        elif isinstance(old, DataHandler) and type(value) is dict:
            sub = _refresh_delta(old, value)
            if sub:
                out[key] = sub
        elif not _same_tree(snapshot_value(old), value):
            out[key] = Replace(value)
    return out


def _same_tree(a: Any, b: Any) -> bool:
    """Strict equality of two snapshot trees: types, key types and float bits."""
    t = type(a)
    if t is not type(b):
        return False
    if t is dict:
        if len(a) != len(b):
            return False
        for key, value in a.items():
            other = b.get(key, ABSENT)
            if other is ABSENT or not same_value(_stored_key(b, key), key):
                return False
            if not _same_tree(value, other):
                return False
        return True
    if t is list:
        return len(a) == len(b) and all(_same_tree(x, y) for x, y in zip(a, b, strict=True))
    if t in VALUE_TYPES:
        return same_value(a, b)
    return bool(a == b)
