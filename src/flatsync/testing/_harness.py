"""Harnesses that keep replicas in step with a source: :class:`SyncPair` and :class:`Convergence`.

Re-exported by :mod:`flatsync.testing`; no hypothesis needed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._codecs._cbor import CborCodec
from .._codecs._codec import Codec
from .._handlers._base import Handler
from .._handlers._data import DataHandler
from .._tree._events import Event
from .._tree._merge import apply_delta, merge
from ._equal import assert_strict_equal

__all__ = ["Convergence", "SyncPair"]


class SyncPair:
    """A source :class:`~flatsync.DataHandler` and a replica that follows it through a codec.

    The replica is built from the encoded snapshot of ``source``, which is then
    committed (its pending changes are part of that snapshot). Mutate
    :attr:`source`, call :meth:`tick`, check with :meth:`assert_synced` (this is
    h11's ``ConnectionPair`` for state):

    >>> from flatsync import DataHandler
    >>> pair = SyncPair(DataHandler({1: {"name": "notch", "hp": 8}}))
    >>> pair.source[1]["hp"] -= 1
    >>> len(pair.tick()), pair.events
    (7, [Changed(path=(1, 'hp'), old=8, new=7)])
    >>> pair.assert_synced()

    Args:
        source: The state to follow.
        codec: The codec between the two (a :class:`~flatsync.CborCodec` by default).

    Attributes:
        source: The tracked state.
        replica: The read-only replica.
        codec: The codec every packet goes through.
        events: The events that the last :meth:`tick` returned from ``patch``.
    """

    def __init__(self, source: DataHandler, codec: Codec | None = None) -> None:
        self.source = source
        self.codec: Codec = CborCodec() if codec is None else codec
        self.replica = DataHandler.from_snapshot(self.codec.decode(self.snapshot_packet()))
        source.commit()
        self.events: list[Event] = []

    def snapshot_packet(self) -> bytes:
        """The encoded snapshot of the source (what a new client would receive)."""
        return self.codec.encode(self.source.snapshot())

    def tick(self) -> bytes:
        """Ship ``source.diff()`` through the codec to the replica, commit, return the packet.

        Raises:
            FlatsyncError: what encoding, decoding or ``patch`` raised; the source is
                then not committed.
        """
        packet = self.codec.encode(self.source.diff())
        self.events = self.replica.patch(self.codec.decode(packet))
        self.source.commit()
        return packet

    def assert_synced(self) -> None:
        """Assert that the replica strictly equals the source (see :func:`strict_equal`).

        Raises:
            AssertionError: they differ; the message names the first path.
        """
        assert_strict_equal(self.replica, self.source)
        assert_strict_equal(self.replica.snapshot(), self.source.snapshot())


class Convergence:
    """A source and three replicas that must converge with it, tick after tick.

    The harness that flatsync's own state machines share (through
    :class:`ConvergenceMachine`): each :meth:`tick` ships ``source.diff()``
    through the codec to

    * :attr:`replica`, which gets every tick;
    * :attr:`late`, a late joiner built from the snapshot of a tick that asked
      for one (``tick(join=True)``), which gets every tick after it;
    * :attr:`merged`, which gets only ``merge()`` of each pair of ticks;

    and asserts, strictly (:func:`assert_strict_equal`): that ``diff()``
    forgets nothing and survives the codec; that ``apply_delta`` of the last
    snapshot and the delta (or of the merge) gives the new snapshot; that after
    ``commit()`` the diff is empty and every replica equals the source; and that
    the snapshot survives the codec. The source may be a handler of any kind
    (a :class:`~flatsync.DataHandler`, a :class:`~flatsync.ListHandler`, ...):
    the replicas are built with its class's ``from_snapshot``.

    >>> from flatsync import DataHandler
    >>> sync = Convergence(DataHandler({"hp": 8}))
    >>> sync.source["hp"] = 7
    >>> sync.tick(join=True)
    {'hp': 7}
    >>> sync.source["hp"] = 6
    >>> sync.tick()
    {'hp': 6}
    >>> sync.merged["hp"]
    6
    >>> sync.settle()

    Args:
        source: The state to follow; it is committed first.
        codec: The codec every packet goes through (a :class:`~flatsync.CborCodec`
            by default).
        after_tick: Called at the end of every :meth:`tick` (also the ticks of
            :meth:`settle`) with the decoded delta, once the replicas are
            checked: the place for checks of your own, such as a replica more.

    Attributes:
        source: The tracked state.
        replica: The replica that gets every tick.
        late: The late joiner, or ``None`` until a tick asked for one.
        merged: The replica that gets merged pairs of ticks.
        previous: The snapshot at the last tick.
        ticks: How many ticks have run.
    """

    def __init__(
        self,
        source: Handler,
        codec: Codec | None = None,
        *,
        after_tick: Callable[[Any], object] | None = None,
    ) -> None:
        # The replicas are of the source's kind, typed Any: a DataHandler's are indexed,
        # a ListHandler's too, and so on.
        self.source: Any = source
        self.codec: Codec = CborCodec() if codec is None else codec
        self.after_tick = after_tick
        snapshot = source.snapshot()
        source.commit()
        self.replica: Any = self._replica_of(snapshot)
        self.merged: Any = self._replica_of(snapshot)
        self.late: Any = None
        self.previous: Any = snapshot
        self.ticks = 0
        #: The diff of a handler with no change (``{}`` for a mapping).
        self._no_change: Any = self.replica.diff()
        self._pending: Any = None
        self._pending_base: Any = None

    def _replica_of(self, snapshot: Any) -> Any:
        return type(self.source).from_snapshot(self.wire(snapshot))

    def wire(self, tree: Any) -> Any:
        """``tree`` after a trip through the codec."""
        return self.codec.decode(self.codec.encode(tree))

    @property
    def replicas(self) -> list[Any]:
        """The replicas that are in step after every tick (every-tick and late joiner)."""
        return [self.replica] if self.late is None else [self.replica, self.late]

    def tick(self, join: bool = False) -> Any:
        """Ship one tick to the replicas, commit, check them; return the decoded delta.

        Args:
            join: Build a new late joiner from this tick's snapshot afterwards.

        Raises:
            AssertionError: a replica, a merge or a round trip disagrees; the
                message names the first path that differs.
        """
        source = self.source
        delta = source.diff()
        assert_strict_equal(source.diff(), delta)  # diff() forgets nothing
        decoded = self.wire(delta)
        assert_strict_equal(decoded, delta)
        snapshot = source.snapshot()
        assert_strict_equal(apply_delta(self.previous, decoded), snapshot)
        for replica in self.replicas:
            replica.patch(decoded)
        if self._pending is None:
            self._pending = decoded
            self._pending_base = self.previous
        else:
            merged = self.wire(merge(self._pending, decoded))
            assert_strict_equal(apply_delta(self._pending_base, merged), snapshot)
            self.merged.patch(merged)
            assert_strict_equal(self.merged, source)
            self._pending = None
        source.commit()
        after = source.diff()
        assert type(after) is type(self._no_change), "diff() right after commit() is not empty"
        assert_strict_equal(after, self._no_change)
        for replica in self.replicas:
            assert_strict_equal(replica, source)
            assert_strict_equal(replica.snapshot(), snapshot)
        assert_strict_equal(self.wire(snapshot), snapshot)
        self.previous = snapshot
        self.ticks += 1
        if join:
            self.late = self._replica_of(snapshot)
        if self.after_tick is not None:
            self.after_tick(decoded)
        return decoded

    def settle(self) -> None:
        """Tick twice, so that the merged replica is in step too, and check it.

        Raises:
            AssertionError: as :meth:`tick` does.
        """
        self.tick()
        self.tick()
        assert_strict_equal(self.merged, self.source)
