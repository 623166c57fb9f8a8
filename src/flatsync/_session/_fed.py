"""A publisher fed with another publisher's frames: what a relay gateway serves its clients with.

An ordinary :class:`~flatsync.Publisher` diffs its own root at each tick. A
:class:`FedPublisher` is given each frame instead, as ``(frame number,
delta)``, by whoever receives the origin's frames (a relay gateway reading a
broker): its root is a read-only replica of the origin's state, the frames
keep the origin's numbers, and its packets carry the origin's session. Past
that it *is* a publisher, with the same client machinery: shared deltas for
the clients that keep up, merged catch-ups for laggards, snapshots for
joiners, per-client views. So a client cannot tell it from the origin's own
publisher (the relay's transparency test proves the packets byte for byte),
and a client may move from one fed publisher of an origin to another and
resume from the frame it holds (:meth:`~flatsync.Publisher.adopt`).

The delta of a frame as the origin's broker client received it can be given
with its encoded bytes (``payload``): clients with the whole view then get
those very bytes, never re-encoded.
"""

from __future__ import annotations

from typing import Any

from .._codecs._codec import Codec
from .._handlers._data import DataHandler
from .._tree._errors import FrameError
from ._frames import Kind, delta_header
from ._publisher import Publisher
from ._records import has_records, record_ids
from ._replica import _refresh_delta
from ._state import NEW
from ._views import project_state

__all__ = ["FedPublisher"]


class FedPublisher(Publisher):
    """A :class:`~flatsync.Publisher` fed with an origin's frames instead of diffing its own root.

    >>> import flatsync
    >>> from flatsync.relay import FedPublisher
    >>> fed = FedPublisher({"hp": 8}, frame=5, session=bytes(range(8)))
    >>> fed.add_client("ann")
    >>> fed.feed(6, {"hp": 7})
    6
    >>> [p.hex(" ") for p in fed.packets_for("ann")]
    ['11 06 00 01 02 03 04 05 06 07 a1 62 68 70 07']
    >>> fed.feed(7, {"hp": 6}, payload=bytes.fromhex("a1 62 68 70 06"))
    7
    >>> [p.hex(" ") for p in fed.packets_for("ann")]
    ['10 07 01 a1 62 68 70 06']

    Args:
        snapshot: The origin's state at frame ``frame`` (a mapping snapshot, as
            the origin's snapshot packet carries it).
        frame: That frame's number: the next frame fed is ``frame + 1``.
        session: The origin's :attr:`~flatsync.Publisher.session` (8 bytes).
            Its packets carry it, so a client's replica follows the origin,
            whichever fed publisher serves it.
        codec: The origin's codec.
        history: How many frames the ring keeps.

    Raises:
        PatchError: ``snapshot`` is not a valid mapping snapshot.
        ValueError: ``history`` is below 1, ``frame`` is negative, or
            ``session`` is not 8 bytes.
    """

    def __init__(
        self,
        snapshot: dict[Any, Any],
        *,
        frame: int,
        session: bytes,
        codec: Codec | None = None,
        history: int = 64,
    ) -> None:
        if frame < 0:
            raise ValueError(f"a frame number is not negative: {frame}")
        replica = DataHandler.from_snapshot(snapshot)
        # The base class takes a writable root; the fed one is a read-only replica
        # that only feed() and reseed() change, and it never diffs it.
        super().__init__(DataHandler(), codec=codec, history=history, session=session)
        replica._owner = self
        self._root = replica
        self._frame = frame
        self._whole = self._compiler.root(None)

    def tick(self) -> int:
        """A fed publisher does not tick: it is fed (:meth:`feed`).

        Raises:
            TypeError: always.
        """
        raise TypeError("a FedPublisher commits the frames it is fed: call feed(), not tick()")

    def feed(self, frame: int, delta: dict[Any, Any], *, payload: bytes | None = None) -> int:
        """Commit the origin's frame ``frame`` (its delta), as :meth:`Publisher.tick` commits one.

        Args:
            frame: The frame's number: the one after :attr:`~flatsync.Publisher.frame`.
            delta: The frame's delta (the origin's diff of that tick, decoded).
            payload: ``delta`` as the origin's codec encoded it (the bytes after
                the frame header of the origin's packet), sent as they are to the
                clients that see everything and kept up; ``None``: encoded here.

        Returns:
            ``frame``.

        Raises:
            FrameError: ``frame`` is not the one after :attr:`~flatsync.Publisher.frame` (a gap:
                :meth:`reseed`). Nothing changes.
            PatchError: ``delta`` does not fit the state (the two sides
                disagree: :meth:`reseed`). Nothing changes.
            Exception: whatever a view's predicate raises (as :meth:`Publisher.tick`).
        """
        if frame != self._frame + 1:
            raise FrameError(
                f"frame {frame} does not follow frame {self._frame}: reseed from a snapshot"
            )
        self._root.patch(delta, events=False)
        n = self._commit_frame(delta)
        if payload is not None:
            header = delta_header(n, n - 1)
            ids = frozenset(record_ids(delta)) if has_records() else frozenset()
            self._cache["d", self._whole, n - 1, n] = (
                header + payload,
                len(header),
                ids,
                Kind.DELTA,
            )
        return n

    def reseed(self, frame: int, snapshot: dict[Any, Any]) -> None:
        """Start again from the origin's state at ``frame`` (after a gap, or a delta that did not fit).

        The ring is emptied and every client gets a snapshot of ``frame`` at
        its next drain (its replica holds an older frame of the same session,
        so it takes the snapshot as a refresh).

        Raises:
            ValueError: ``frame`` is not after :attr:`~flatsync.Publisher.frame` (a client may hold
                a frame up to that one: a snapshot must be newer). Nothing changes.
            PatchError: ``snapshot`` is not a valid mapping snapshot. Nothing changes.
        """
        if frame <= self._frame:
            raise ValueError(f"a reseed goes forward: frame {frame} is not after {self._frame}")
        root = self._root
        root.patch(_refresh_delta(root, snapshot), events=False)
        self._ring.clear()
        self._cache.clear()
        self._measured.clear()
        self._snap_sizes.clear()
        self._frame = frame
        out = self._out
        for c in self._clients.values():
            if c.mode is not NEW:
                out.want_snapshot(c)
        trees: dict[Any, dict[Any, Any]] = {}
        for c in list(out.want):
            tree = trees.get(c.node)
            if tree is None:
                tree = trees[c.node] = project_state(root, c.node)
            out.snapshot_taken(c, tree, frame)

    def __repr__(self) -> str:
        return (
            f"<FedPublisher frame={self._frame} clients={len(self._clients)} "
            f"history={self._history} codec={self._codec.name}>"
        )
