"""flatsync: change-tracked containers that ship minimal, exact deltas.

Everything public is importable from ``flatsync`` itself; the ``_modules``
behind it are private.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from ._base import Handler
from ._cbor import CborCodec
from ._codec import Codec
from ._data import DataHandler
from ._errors import (
    DecodeError,
    EncodeError,
    FlatsyncError,
    LimitError,
    PatchError,
    ReadOnlyError,
)
from ._events import Added, Changed, Event, Removed
from ._limits import Limits
from ._list import ListHandler
from ._markers import DELETED, Deleted, ListDelta, Marker, Replace, TypedDelta, register_marker
from ._protocol import apply_delta, merge

try:
    __version__ = version("flatsync")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "DELETED",
    "Added",
    "CborCodec",
    "Changed",
    "Codec",
    "DataHandler",
    "DecodeError",
    "Deleted",
    "EncodeError",
    "Event",
    "FlatsyncError",
    "Handler",
    "LimitError",
    "Limits",
    "ListDelta",
    "ListHandler",
    "Marker",
    "PatchError",
    "ReadOnlyError",
    "Removed",
    "Replace",
    "TypedDelta",
    "__version__",
    "apply_delta",
    "merge",
    "register_marker",
]
