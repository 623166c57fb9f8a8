"""The protocol tree, for those who write a handler kind, a codec or a decoder.

A snapshot or a delta is a tree of ``dict``, ``list``, ``tuple``, scalars and
``bytes``, plus the few markers here: :data:`~flatsync.DELETED`, :class:`~flatsync.protocol.Replace`, and
the typed deltas and snapshots of the handlers that are not mappings. A new
handler kind subclasses :class:`~flatsync.protocol.Marker` (and :class:`~flatsync.protocol.TypedDelta` for its
delta) and calls :func:`~flatsync.protocol.register_marker`; every codec then carries it.

A transport over the sessions reads :class:`~flatsync.protocol.Reply`, what
:meth:`Publisher.receive <flatsync.Publisher.receive>` says a replica's packet was.
"""

from __future__ import annotations

from ._handlers._base import Handler
from ._public import publish
from ._session._events import Reply
from ._tree._boards import BoardDelta, BoardSnapshot
from ._tree._list_ops import ListDelta
from ._tree._markers import (
    DELETED,
    Deleted,
    Marker,
    Replace,
    TypedDelta,
    register_marker,
)
from ._tree._merge import apply_delta, merge
from ._tree._records import RecordDelta, RecordSnapshot, add_record_schemas, record_schemas
from ._tree._types import ValueType
from ._tree._values import Delta, Snapshot

__all__ = [
    "DELETED",
    "BoardDelta",
    "BoardSnapshot",
    "Deleted",
    "Delta",
    "Handler",
    "ListDelta",
    "Marker",
    "RecordDelta",
    "RecordSnapshot",
    "Replace",
    "Reply",
    "Snapshot",
    "TypedDelta",
    "ValueType",
    "add_record_schemas",
    "apply_delta",
    "merge",
    "record_schemas",
    "register_marker",
]

publish("flatsync.protocol", globals(), __all__)
