"""The state machine of a client's outbox, on the publisher's side.

Everything that affects a client's mode lives here, as h11 keeps its
connection states in ``h11/_state.py``: the modes (:class:`Mode`), what moves
a client from one to another (:class:`Trigger`), the table of every legal
move (:data:`TRANSITIONS`), the one function that applies it
(:func:`next_mode`), and :class:`Outboxes`, the publisher's indexes of its
clients by mode, which changes a client's mode only through that function.
A move the table does not hold raises :class:`TransitionError`: it would be a
bug in the publisher, never something a peer can cause.

The publisher (``_publisher.py``) decides *when* a trigger fires (a tick, a
drain, a packet from the replica); this module decides *what* it does to the
client's mode and to the indexes. A client's outbox is never a queue of
packets: it is where the client's chain of packets ends (``sent``) plus,
rarely, one private merged delta or a snapshot::

    mode       holds                                     next packet
    NEW        nothing yet                               a snapshot, taken at the next tick
    SNAPSHOT   a snapshot of frame snap_frame,           that snapshot, brought to the latest frame
               and the merged delta since
    PRIVATE    one merged delta from sent to the latest  that delta (its own bytes)
    SHARED     nothing: the frames since sent are in     the merge of the ring's frames from sent,
               the ring                                  encoded once for every client alike
    PAUSED     nothing (its connection is gone; sent,    none, until it resumes: then the merge of
               acked and epoch are kept)                 the ring's frames from the frame it holds

The moves (:data:`TRANSITIONS`; a dash is illegal)::

    mode \\ trigger  want snapshot  snapshot taken  drained  view changed  ring left  paused  resumed
    NEW             NEW            SNAPSHOT        -        -             -          PAUSED  -
    SNAPSHOT        NEW            -               SHARED   -             -          PAUSED  -
    PRIVATE         NEW            -               SHARED   PRIVATE       -          PAUSED  -
    SHARED          NEW            -               SHARED   PRIVATE       PRIVATE    PAUSED  -
    PAUSED          NEW            -               -        -             -          PAUSED  SHARED

A client joins in NEW and leaves from any mode. A paused client is in no
index: no tick merges, projects or measures anything for it, and it keeps no
frame in the ring. It resumes into SHARED (its chain continues from the frame
its replica holds, when the ring still has the frames since) or, through
"want snapshot", into NEW.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable
from typing import Any

from ._views import Node, View

__all__ = [
    "DRAINED",
    "NEW",
    "PAUSE",
    "PAUSED",
    "PRIVATE",
    "RESUME",
    "RING_LEFT",
    "SHARED",
    "SNAPSHOT",
    "SNAPSHOT_TAKEN",
    "TRANSITIONS",
    "VIEW_CHANGED",
    "WANT_SNAPSHOT",
    "Client",
    "Mode",
    "Outboxes",
    "TransitionError",
    "Trigger",
    "next_mode",
]


class Mode(enum.Enum):
    """The mode of a client's outbox (see the module's table)."""

    NEW = "new"
    SNAPSHOT = "snapshot"
    PRIVATE = "private"
    SHARED = "shared"
    PAUSED = "paused"

    # Members are singletons: hash them by identity. Enum.__hash__ is a Python-level
    # call, which made every table lookup four times slower (CPython 3.11).
    __hash__ = object.__hash__


class Trigger(enum.Enum):
    """What moves a client from one mode to another."""

    #: A snapshot is due: the client asked for one (``request_snapshot``, a
    #: refresh request), a resync the ring can no longer answer, or a view
    #: change while a snapshot is due or a catch-up is pending.
    WANT_SNAPSHOT = "want snapshot"
    #: A tick took the snapshot of a client that wanted one.
    SNAPSHOT_TAKEN = "snapshot taken"
    #: ``packets_for`` drained what the client held, or the ring's frames since ``sent``.
    DRAINED = "drained"
    #: A tick changed the client's view: its pending delta and the view's
    #: transition merge into one private delta.
    VIEW_CHANGED = "view changed"
    #: The frame after ``sent`` leaves the ring: the client takes its merged
    #: pending delta privately.
    RING_LEFT = "ring left"
    #: The client's connection is gone for now (``Publisher.pause``): what it
    #: held is dropped, the frame its chain ends at is kept.
    PAUSED = "paused"
    #: A paused client resumes from a frame of its chain that the ring still
    #: covers (``Publisher.resume``): it waits, SHARED, at that frame.
    RESUMED = "resumed"

    __hash__ = object.__hash__  # as Mode's


#: Every legal move: ``TRANSITIONS[mode][trigger]`` is the mode after it.
TRANSITIONS: dict[Mode, dict[Trigger, Mode]] = {
    Mode.NEW: {
        Trigger.WANT_SNAPSHOT: Mode.NEW,
        Trigger.SNAPSHOT_TAKEN: Mode.SNAPSHOT,
        Trigger.PAUSED: Mode.PAUSED,
    },
    Mode.SNAPSHOT: {
        Trigger.WANT_SNAPSHOT: Mode.NEW,
        Trigger.DRAINED: Mode.SHARED,
        Trigger.PAUSED: Mode.PAUSED,
    },
    Mode.PRIVATE: {
        Trigger.WANT_SNAPSHOT: Mode.NEW,
        Trigger.DRAINED: Mode.SHARED,
        Trigger.VIEW_CHANGED: Mode.PRIVATE,
        Trigger.PAUSED: Mode.PAUSED,
    },
    Mode.SHARED: {
        Trigger.WANT_SNAPSHOT: Mode.NEW,
        Trigger.DRAINED: Mode.SHARED,
        Trigger.VIEW_CHANGED: Mode.PRIVATE,
        Trigger.RING_LEFT: Mode.PRIVATE,
        Trigger.PAUSED: Mode.PAUSED,
    },
    Mode.PAUSED: {
        Trigger.WANT_SNAPSHOT: Mode.NEW,
        Trigger.PAUSED: Mode.PAUSED,
        Trigger.RESUMED: Mode.SHARED,
    },
}


# Looking an enum member up on its class costs about 90 ns in CPython 3.11 (8 ns
# for a global): the hot paths (every drain, every tick) use these names.
NEW, SNAPSHOT, PRIVATE, SHARED = Mode.NEW, Mode.SNAPSHOT, Mode.PRIVATE, Mode.SHARED
PAUSED = Mode.PAUSED
WANT_SNAPSHOT, SNAPSHOT_TAKEN, DRAINED = (
    Trigger.WANT_SNAPSHOT,
    Trigger.SNAPSHOT_TAKEN,
    Trigger.DRAINED,
)
VIEW_CHANGED, RING_LEFT = Trigger.VIEW_CHANGED, Trigger.RING_LEFT
PAUSE, RESUME = Trigger.PAUSED, Trigger.RESUMED


class TransitionError(RuntimeError):
    """A trigger that the mode's row of :data:`TRANSITIONS` does not hold (a bug in the publisher)."""


def next_mode(mode: Mode, trigger: Trigger) -> Mode:
    """The mode after ``trigger`` in ``mode``: the one place that reads :data:`TRANSITIONS`.

    Raises:
        TransitionError: the move is not in the table.
    """
    try:
        return TRANSITIONS[mode][trigger]
    except KeyError:
        raise TransitionError(
            f"a client in mode {mode.value} cannot take '{trigger.value}'"
        ) from None


class Client:
    """One client of a publisher: its view, its outbox, what its replica said."""

    __slots__ = (
        "acked",
        "answered",
        "bound",
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

    def __init__(self, client_id: Hashable, view: View | None, node: Node) -> None:
        self.id = client_id
        self.view = view
        self.node = node
        self.next_view: View | None = None
        #: Changed by :class:`Outboxes` only, through :func:`next_mode`.
        self.mode = NEW
        #: The frame the replica holds once every packet drained so far arrives.
        self.sent: int | None = None
        #: The first frame since which the view did not change (resync needs it).
        self.epoch = 0
        #: The newest frame the replica said it holds.
        self.acked: int | None = None
        #: PRIVATE: the merged delta from ``sent``; SNAPSHOT: the delta since the snapshot.
        self.private: dict[Any, Any] | None = None
        #: An upper bound on the encoded size of ``private`` (None: unknown, measure it).
        self.bound: int | None = None
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


class Outboxes:
    """A publisher's clients indexed by mode; every change of a client's mode goes through here.

    Attributes:
        want: The NEW clients (a snapshot is due at the next tick).
        holding: The SNAPSHOT and PRIVATE clients (each new frame merges into what they hold).
        waiting: The SHARED clients by ``sent`` (the frame after it must stay
            in the ring for them).
        resyncs: The clients with a pending catch-up (``resync`` is set).
    """

    __slots__ = ("holding", "resyncs", "waiting", "want")

    def __init__(self) -> None:
        self.want: set[Client] = set()
        self.holding: set[Client] = set()
        self.waiting: dict[int, set[Client]] = {}
        self.resyncs: set[Client] = set()

    def join(self, c: Client) -> None:
        """A new client (in mode NEW) joins."""
        assert c.mode is NEW
        self.want.add(c)

    def leave(self, c: Client) -> None:
        """A client leaves: it is in no index any more, and holds nothing."""
        self._unhook(c)

    def want_snapshot(self, c: Client) -> None:
        """A snapshot is due for ``c`` at the next tick; what it held or waited for is dropped."""
        mode = next_mode(c.mode, WANT_SNAPSHOT)
        self._unhook(c)
        c.mode = mode
        self.want.add(c)

    def snapshot_taken(self, c: Client, tree: dict[Any, Any], frame: int) -> None:
        """The tick took ``tree``, the snapshot of frame ``frame`` that ``c`` wanted."""
        c.mode = next_mode(c.mode, SNAPSHOT_TAKEN)
        self.want.discard(c)
        c.snap = tree
        c.snap_frame = frame
        c.private = None
        c.bound = 0
        self.holding.add(c)

    def drained(self, c: Client, latest: int) -> None:
        """``packets_for`` drained ``c`` up to frame ``latest``: it holds nothing now."""
        old = c.mode
        c.mode = next_mode(old, DRAINED)
        waiting = self.waiting
        if old is SHARED:  # the common case, once per client and tick: inlined
            sent = c.sent
            assert sent is not None
            before = waiting[sent]
            before.discard(c)
            if not before:
                del waiting[sent]
        else:  # a SHARED client holds nothing already
            self.holding.discard(c)
            c.private = None
            c.snap = None
        c.sent = latest
        after = waiting.get(latest)
        if after is None:
            waiting[latest] = {c}
        else:
            after.add(c)

    def diverged(self, c: Client, private: dict[Any, Any], trigger: Trigger) -> None:
        """``c`` takes ``private`` as its pending delta (``trigger``: VIEW_CHANGED or RING_LEFT)."""
        old = c.mode
        c.mode = next_mode(old, trigger)
        if old is SHARED:
            self._stop_waiting(c)
        c.private = private
        c.bound = None
        self.holding.add(c)

    def ask_resync(self, c: Client, held: int) -> None:
        """A catch-up from frame ``held`` goes in front of ``c``'s next packet."""
        c.resync = held
        self.resyncs.add(c)

    def resync_answered(self, c: Client) -> None:
        """The catch-up was drained."""
        c.resync = None
        self.resyncs.discard(c)

    def pause(self, c: Client) -> None:
        """``c``'s connection is gone: it holds nothing and is in no index; ``sent`` is kept.

        A client that was waiting for a snapshot (NEW, SNAPSHOT) forgets its
        chain (``sent`` becomes ``None``): it resumes with a snapshot.
        """
        old = c.mode
        mode = next_mode(old, PAUSE)
        self._unhook(c)
        c.mode = mode
        if old is NEW or old is SNAPSHOT:
            c.sent = None

    def resumed(self, c: Client, held: int) -> None:
        """Paused ``c`` continues from frame ``held``: it waits, SHARED, at that frame."""
        c.mode = next_mode(c.mode, RESUME)
        c.sent = held
        after = self.waiting.get(held)
        if after is None:
            self.waiting[held] = {c}
        else:
            after.add(c)

    def _stop_waiting(self, c: Client) -> None:
        assert c.sent is not None
        waiting = self.waiting.get(c.sent)
        if waiting is not None:
            waiting.discard(c)
            if not waiting:
                del self.waiting[c.sent]

    def _unhook(self, c: Client) -> None:
        if c.mode is SHARED and c.sent is not None:
            self._stop_waiting(c)
        self.holding.discard(c)
        self.want.discard(c)
        self.resyncs.discard(c)
        c.private = None
        c.snap = None
        c.resync = None
