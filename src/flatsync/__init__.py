"""flatsync: change-tracked containers that ship minimal, exact deltas.

Everything public is importable from ``flatsync`` itself; the ``_modules``
behind it are private.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from ._accounting import PathCost, byte_costs, cost_report
from ._base import Handler
from ._board import BoardDelta, BoardSnapshot, ByteHandler
from ._cbor import CborCodec
from ._codec import Codec
from ._data import DataHandler
from ._debug import Recording, dig, overview, read_recording, write_recording
from ._errors import (
    DecodeError,
    EncodeError,
    FlatsyncError,
    FrameError,
    LimitError,
    PatchError,
    ReadOnlyError,
)
from ._events import Added, CellsChanged, Changed, Event, Removed
from ._json import JsonCodec
from ._limits import Limits
from ._list import ListHandler
from ._markers import DELETED, Deleted, ListDelta, Marker, Replace, TypedDelta, register_marker
from ._msgpack import MsgpackCodec
from ._protocol import apply_delta, merge
from ._record import (
    Record,
    RecordDelta,
    RecordSnapshot,
    RecordView,
    add_record_schemas,
    record,
    record_schemas,
)
from ._session import FrameApplied, FrameDropped, Publisher, Replica, SessionEvent
from ._types import ValueType, register_type
from ._views import ANY, AnyKey, View
from ._world import TiledWorld

try:
    __version__ = version("flatsync")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "ANY",
    "DELETED",
    "Added",
    "AnyKey",
    "BoardDelta",
    "BoardSnapshot",
    "ByteHandler",
    "CborCodec",
    "CellsChanged",
    "Changed",
    "Codec",
    "DataHandler",
    "DecodeError",
    "Deleted",
    "EncodeError",
    "Event",
    "FlatsyncError",
    "FrameApplied",
    "FrameDropped",
    "FrameError",
    "Handler",
    "JsonCodec",
    "LimitError",
    "Limits",
    "ListDelta",
    "ListHandler",
    "Marker",
    "MsgpackCodec",
    "PatchError",
    "PathCost",
    "Publisher",
    "ReadOnlyError",
    "Record",
    "RecordDelta",
    "RecordSnapshot",
    "RecordView",
    "Recording",
    "Removed",
    "Replace",
    "Replica",
    "SessionEvent",
    "TiledWorld",
    "TypedDelta",
    "ValueType",
    "View",
    "__version__",
    "add_record_schemas",
    "apply_delta",
    "byte_costs",
    "cost_report",
    "dig",
    "merge",
    "overview",
    "read_recording",
    "record",
    "record_schemas",
    "register_marker",
    "register_type",
    "write_recording",
]
