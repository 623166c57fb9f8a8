"""What :meth:`~flatsync.Replica.receive` reports about a packet itself.

The :class:`~flatsync.Added`/:class:`~flatsync.Removed`/:class:`~flatsync.Changed`
events of a packet come from the handlers; a :class:`FrameApplied` or a
:class:`FrameDropped` comes last and says what became of the packet.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import attrs

__all__ = ["DropReason", "FrameApplied", "FrameDropped", "Reply", "SessionEvent"]

DropReason: TypeAlias = Literal["duplicate", "stale", "gap", "session"]


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
            ``"session"``: the packet is of another publisher's session than
            the state (a resync answer of another session, or any delta after
            :meth:`Replica.expect_session` named another session, or a snapshot
            of a session other than the one expected); the replica asks for a
            snapshot.
    """

    frame: int
    base: int | None
    reason: Literal["duplicate", "stale", "gap", "session"]


SessionEvent: TypeAlias = FrameApplied | FrameDropped
"""What :meth:`Replica.receive` reports about the packet itself."""


@attrs.frozen(kw_only=True)
class Reply:
    """What a replica's packet said, as :meth:`Publisher.receive <flatsync.Publisher.receive>` reports it.

    A transport reads this instead of the packet's bytes: after a request,
    whatever it has in flight to that client is of no use to it.

    Attributes:
        kind: ``"ack"``: the replica holds ``frame``. ``"resync"``: it could not
            use a packet and holds ``frame``; it wants the frames since.
            ``"refresh"``: it wants a snapshot.
        frame: The frame the replica says it holds (``None`` for a refresh).
    """

    kind: Literal["ack", "resync", "refresh"]
    frame: int | None
