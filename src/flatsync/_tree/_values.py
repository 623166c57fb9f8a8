"""Values: what a handler stores as is, how two values compare, how keys and paths read.

The bottom of the package: every layer above (markers, handlers, codecs,
sessions) uses these rules, and they import nothing of flatsync but the errors.
"""

from __future__ import annotations

import enum
import struct
from typing import Any, TypeAlias

from ._errors import PatchError

__all__ = [
    "ABSENT",
    "ATOMS",
    "MAX_TUPLE_DEPTH",
    "SCALARS",
    "VALUE_TYPES",
    "Delta",
    "Path",
    "Snapshot",
    "cbor_head_size",
    "check_key",
    "check_value",
    "describe",
    "format_path",
    "key_ok",
    "same_scalar",
    "same_value",
]
Path = tuple[Any, ...]

Snapshot: TypeAlias = Any
"""A handler's full state as a protocol tree (what ``snapshot()`` gives and ``from_snapshot`` takes).

A ``dict`` for a :class:`~flatsync.DataHandler`, a ``list`` for a
:class:`~flatsync.ListHandler`, a :class:`~flatsync.protocol.BoardSnapshot`
or a :class:`~flatsync.protocol.RecordSnapshot`; nested handlers appear as
their own snapshots. An alias of ``Any``: the kinds' snapshot types share no base.
"""

Delta: TypeAlias = Any
"""What changed since the last commit, as a protocol tree (what ``diff()`` gives and ``patch`` takes).

A ``dict`` for a :class:`~flatsync.DataHandler` (with
:data:`~flatsync.DELETED`, :class:`~flatsync.protocol.Replace` and nested
deltas as values), or a :class:`~flatsync.protocol.TypedDelta`:
:class:`~flatsync.protocol.ListDelta`, :class:`~flatsync.protocol.BoardDelta`,
:class:`~flatsync.protocol.RecordDelta`. An alias of ``Any``.
"""

NoneType = type(None)

#: Immutable scalar types compared with ``==`` once their types match.
ATOMS: frozenset[type] = frozenset({int, str, bool, NoneType, bytes})
#: The scalars of the write hot path: a write of one over one of the same type
#: needs no wrapping, no detaching, and :func:`same_scalar` to tell a change.
SCALARS: frozenset[type] = ATOMS | {float}
#: Every immutable value type a handler stores as is. A set, not a frozenset:
#: :func:`flatsync.register_type` adds the user's value types to it.
VALUE_TYPES: set[type] = set(ATOMS | {float, tuple})

#: How deep tuples may nest inside one value.
MAX_TUPLE_DEPTH = 32


class _Absent(enum.Enum):
    ABSENT = "ABSENT"


ABSENT = _Absent.ABSENT
"""Private sentinel: no value (a key that did not exist)."""

_pack_double = struct.Struct("<d").pack


def format_path(path: Path) -> str:
    """Render a path the way Python would index it: ``root[3]['pos']``."""
    return "root" + "".join(f"[{key!r}]" for key in path)


def describe(value: Any) -> str:
    """A short description of a value's type for error messages."""
    if value is ABSENT:
        return "nothing"
    return type(value).__name__


def same_scalar(old: Any, new: Any) -> bool:
    """The unchanged-value rule of a write, for two scalars of the same type (:data:`SCALARS`).

    The one home of the rule that every handler kind's write path applies:
    an equal value of the same type is no change, except that floats compare
    by bits (``0.0`` and ``-0.0`` differ, a NaN equals only a NaN of the same
    payload). Callers test ``type(old) is type(new)`` first (``1``, ``1.0``
    and ``True`` are changes of one another). A hot path may decide without
    the call what this rule says in one comparison: ``new is old`` is no
    change, ``new != old and new == new`` (a different value that is not a
    NaN) is one, and for :data:`ATOMS` ``==`` is the whole rule. Only floats
    need the call.
    """
    if new == old:
        return type(new) is not float or new != 0.0 or _pack_double(old) == _pack_double(new)
    return new != new and old != old and _pack_double(old) == _pack_double(new)


def same_value(a: Any, b: Any) -> bool:
    """Strict equality of two immutable values: same types all the way down, floats by bits.

    Scalars follow :func:`same_scalar`; tuples compare item by item; values of
    registered types (:func:`flatsync.register_type`) compare with ``==``.
    """
    t = type(a)
    if t is not type(b):
        return False
    if t is tuple:
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if t in SCALARS:
        return same_scalar(a, b)
    return bool(a == b)


def cbor_head_size(argument: int) -> int:
    """Bytes of a CBOR head whose argument is ``argument`` (>= 0).

    The head of an unsigned integer, or of an array, map or string of
    ``argument`` items or bytes: 1 byte below 24, then 2, 3, 5 or 9.
    """
    if argument < 24:
        return 1
    if argument < 0x100:
        return 2
    if argument < 0x1_0000:
        return 3
    return 5 if argument < 0x1_0000_0000 else 9


def key_ok(key: Any) -> bool:
    """Whether ``key`` may be a mapping key (cheap; no message)."""
    t = type(key)
    if t in ATOMS:
        return True
    if t is float:
        return bool(key == key)
    if t is tuple:
        return all(key_ok(item) for item in key)
    return False


def check_key(key: Any, path: Path, error: type[Exception] = TypeError) -> None:
    """Check that ``key`` may be a mapping key: a scalar, bytes, or a tuple of those.

    Raises ``error`` (``TypeError`` for a local write, :class:`PatchError` for a
    delta) naming the path, or ``ValueError``/``PatchError`` for a NaN key (a NaN
    is never equal to itself, so it could never be found again).
    """
    t = type(key)
    if t in ATOMS:
        return
    if t is float:
        if key != key:
            raise (PatchError if error is PatchError else ValueError)(
                f"{format_path(path)}: a NaN cannot be a key (it is never equal to itself)"
            )
        return
    if t is tuple:
        for item in key:
            if type(item) not in ATOMS:  # floats too: a NaN inside a tuple is refused
                check_key(item, path, error)
        return
    raise error(
        f"{format_path(path)}: unsupported key type {t.__name__}; keys are int, str, bytes, "
        "bool, float, None, or tuples of those"
    )


def _check_tuple_item(
    item: Any, tup: tuple[Any, ...], path: Path, error: type[Exception], depth: int
) -> None:
    """Check an item of the tuple ``tup`` at ``path``; an error names the tuple and the index."""
    t = type(item)
    if t is float:
        return
    index = next(i for i, other in enumerate(tup) if other is item)
    if t is tuple:
        check_value(item, (*path, index), error, depth)
        return
    if t in VALUE_TYPES:
        return
    raise error(
        f"{format_path(path)}: unsupported value type {t.__name__} at index {index} of a "
        "tuple; a tuple holds only int, str, bytes, bool, float, None, tuples of those and "
        f"registered value types (use a list for a sequence that holds a {t.__name__})"
    )


def check_value(value: Any, path: Path, error: type[Exception] = TypeError, depth: int = 0) -> None:
    """Check an immutable value (scalar, bytes, float, tuple of values)."""
    t = type(value)
    if t in ATOMS or t is float:
        return
    if t is tuple:
        if depth >= MAX_TUPLE_DEPTH:
            raise error(f"{format_path(path)}: tuples nest deeper than {MAX_TUPLE_DEPTH}")
        for item in value:
            if type(item) not in ATOMS:
                _check_tuple_item(item, value, path, error, depth + 1)
        return
    if t in VALUE_TYPES:  # a type registered with flatsync.register_type
        return
    raise error(
        f"{format_path(path)}: unsupported value type {t.__name__}; values are int, str, bytes, "
        "bool, float, None, tuples of those, dict, list, flatsync handlers, or classes "
        "registered with flatsync.register_type"
    )
