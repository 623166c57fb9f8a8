"""flatsync: change-tracked containers that ship minimal, exact deltas.

The root holds what a program uses every day: the handlers, the codecs, the
sessions, their events and errors. Secondary API lives in namespaces:
:mod:`flatsync.protocol` (for a new handler kind or codec: markers, typed
deltas, record schemas), :mod:`flatsync.debug` (printing, weighing and
recording packets) and :mod:`flatsync.testing` (strategies and harnesses).
The ``_packages`` behind them are private, one per layer.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from ._codecs._cbor import CborCodec
from ._codecs._codec import Codec
from ._codecs._json import JsonCodec
from ._codecs._limits import Limits
from ._codecs._msgpack import MsgpackCodec
from ._handlers._base import Handler
from ._handlers._board import ByteHandler
from ._handlers._data import DataHandler
from ._handlers._list import ListHandler
from ._handlers._record import Record, record
from ._handlers._record_view import RecordView
from ._handlers._world import TiledWorld
from ._public import publish
from ._session._events import FrameApplied, FrameDropped, SessionEvent
from ._session._publisher import Publisher
from ._session._replica import Replica
from ._session._views import ANY, AnyKey, View
from ._tree._errors import (
    CommitError,
    DecodeError,
    EncodeError,
    FlatsyncError,
    FrameError,
    LimitError,
    PatchError,
    ReadOnlyError,
)
from ._tree._events import Added, CellsChanged, Changed, Event, Removed
from ._tree._markers import DELETED
from ._tree._merge import merge
from ._tree._types import register_type
from ._tree._values import Delta, Snapshot

try:
    __version__ = version("flatsync")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "ANY",
    "DELETED",
    "Added",
    "AnyKey",
    "ByteHandler",
    "CborCodec",
    "CellsChanged",
    "Changed",
    "Codec",
    "CommitError",
    "DataHandler",
    "DecodeError",
    "Delta",
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
    "ListHandler",
    "MsgpackCodec",
    "PatchError",
    "Publisher",
    "ReadOnlyError",
    "Record",
    "RecordView",
    "Removed",
    "Replica",
    "SessionEvent",
    "Snapshot",
    "TiledWorld",
    "View",
    "__version__",
    "merge",
    "record",
    "register_type",
]

publish("flatsync", globals(), __all__)

# Imported here, after the root has named its objects, as attrs imports
# attrs.validators: `import flatsync` then gives every namespace, and each
# re-exported object has one public module whatever is imported first.
from . import debug as debug  # noqa: E402
from . import protocol as protocol  # noqa: E402
