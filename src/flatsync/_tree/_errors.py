"""The exception hierarchy.

Every error that a bad packet or a bad delta can cause is a subclass of
:class:`FlatsyncError`, and also of the builtin exception a Python user would
expect to catch (``ValueError`` for bad data, ``TypeError`` for a write to a
read-only replica), as cbor2 and attrs do.

Local misuse (an unsupported value type, a key that is missing) raises
Python's own ``TypeError``/``KeyError``/``ValueError`` like a ``dict`` would.
"""

from __future__ import annotations

__all__ = [
    "CommitError",
    "DecodeError",
    "EncodeError",
    "FlatsyncError",
    "FrameError",
    "LimitError",
    "PatchError",
    "ReadOnlyError",
]


class FlatsyncError(Exception):
    """Root of every error flatsync raises about data it was given."""


class DecodeError(FlatsyncError, ValueError):
    """A packet is malformed: not valid for the codec, or not a valid protocol tree.

    Raised by :meth:`Codec.decode <flatsync.Codec.decode>`. Nothing was changed.
    """


class EncodeError(FlatsyncError, TypeError):
    """A tree cannot be encoded: it holds a type that is not part of the protocol.

    Raised by :meth:`Codec.encode <flatsync.Codec.encode>`. The message names the
    type and the path inside the tree.
    """


class FrameError(FlatsyncError, ValueError):
    """A session packet's frame header is malformed, of another format version, or out of place.

    Raised by :meth:`Replica.receive <flatsync.Replica.receive>` and
    :meth:`Publisher.receive <flatsync.Publisher.receive>`: a header that is cut
    short or has an unknown kind, a format version this library does not speak,
    a packet kind the receiver never gets (an acknowledgement sent to a replica),
    or an acknowledgement of a frame the publisher has not committed yet. Frames
    that merely arrive late, twice or after a gap are not errors: the replica
    reports them as :class:`~flatsync.FrameDropped` and asks to catch up. The
    receiver's state is unchanged.
    """


class LimitError(FlatsyncError, ValueError):
    """A packet or a tree exceeds one of the configured :class:`~flatsync.Limits`.

    Raised while decoding (a hostile or oversized packet) and while encoding
    (a pathological local state, for example nesting deeper than allowed).
    """


class PatchError(FlatsyncError, ValueError):
    """A delta or snapshot does not fit the structure it is applied to.

    Raised by :meth:`DataHandler.patch <flatsync.DataHandler.patch>`,
    :meth:`~flatsync.DataHandler.from_snapshot` and :func:`~flatsync.merge`.
    The message names the path inside the state. ``patch`` validates before it
    mutates, so the replica is exactly as it was before the call.
    """


class ReadOnlyError(FlatsyncError, TypeError):
    """A local write to a replica: replicas change only through ``patch``."""


class CommitError(FlatsyncError, RuntimeError):
    """``commit()`` on a root that a :class:`~flatsync.Publisher` owns.

    The publisher commits its root at every :meth:`~flatsync.Publisher.tick`,
    after it took the changes as a frame; a commit from anyone else would throw
    changes away before any client got them. Nothing changed: call
    :meth:`Publisher.tick() <flatsync.Publisher.tick>` instead.
    """
