"""The few markers a protocol tree may hold besides plain data.

A snapshot or a delta is a tree of ``dict``, ``list``, ``tuple``, scalars and
``bytes``. Three markers cover what plain data cannot say:

* :data:`DELETED`: in a delta, the key is gone.
* :class:`Replace`: in a delta, the entry is replaced as a whole by a new value
  given as a snapshot (a plain ``dict`` in a delta would mean a *nested delta*).
* :class:`TypedDelta` subclasses such as :class:`ListDelta`: the delta of a
  handler that is not a mapping.
"""

from __future__ import annotations

import abc
import enum
from typing import Any

__all__ = ["DELETED", "Deleted", "ListDelta", "Replace", "TypedDelta"]


class Deleted(enum.Enum):
    """The type of :data:`DELETED` (an enum, so that mypy narrows it with ``is``)."""

    DELETED = "DELETED"

    def __repr__(self) -> str:
        return "flatsync.DELETED"


DELETED = Deleted.DELETED
"""In a delta: the key was deleted (CBOR ``undefined``, one byte, on the wire)."""


class Replace:
    """In a delta: replace the entry (its key and its value) with ``value``.

    ``value`` is a snapshot: a ``dict`` inside it is a mapping's full contents,
    not a nested delta. It is used for a new mapping (a bare ``dict`` in a
    delta is a nested delta), and for a key that was deleted and inserted again
    within one tick (the replica then drops its key object and takes the
    delta's, so that ``1`` and ``1.0`` never get confused).
    """

    __slots__ = ("value",)

    value: Any

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        if type(other) is not Replace:
            return NotImplemented
        return bool(self.value == other.value)

    def __hash__(self) -> int:
        return hash((Replace, _hashable(self.value)))

    def __repr__(self) -> str:
        return f"Replace({self.value!r})"


class TypedDelta(abc.ABC):
    """Base of the deltas of handlers that are not mappings.

    A subclass knows how to compose itself with a later delta of the same kind
    and how to apply itself to a snapshot of its kind; :func:`flatsync.merge`
    relies on both.
    """

    __slots__ = ()

    @abc.abstractmethod
    def merged(self, later: TypedDelta, path: tuple[Any, ...]) -> TypedDelta:
        """Return one delta equal to applying ``self`` then ``later``.

        Raises:
            PatchError: ``later`` cannot follow ``self`` (it is of another kind).
        """

    @abc.abstractmethod
    def applied_to(self, snapshot: Any, path: tuple[Any, ...]) -> Any:
        """Return a new snapshot: ``snapshot`` (left unmodified) with this delta applied.

        Raises:
            PatchError: the delta does not fit ``snapshot``.
        """

    @abc.abstractmethod
    def is_empty(self) -> bool:
        """Whether applying this delta changes nothing at all."""


class ListDelta(TypedDelta):
    """The delta of a :class:`~flatsync.ListHandler`: a tuple of operations applied in order.

    Each operation is a tuple whose first item is an opcode; the wire-format page
    of the docs lists them.
    """

    __slots__ = ("ops",)

    ops: tuple[tuple[Any, ...], ...]

    def __init__(self, ops: tuple[tuple[Any, ...], ...] = ()) -> None:
        self.ops = ops

    def __eq__(self, other: object) -> bool:
        if type(other) is not ListDelta:
            return NotImplemented
        return self.ops == other.ops

    def __hash__(self) -> int:
        return hash((ListDelta, _hashable(self.ops)))

    def __repr__(self) -> str:
        return f"ListDelta({self.ops!r})"

    def merged(self, later: TypedDelta, path: tuple[Any, ...]) -> TypedDelta:
        from ._list import merge_list_deltas

        merged: TypedDelta = merge_list_deltas(self, later, path)
        return merged

    def applied_to(self, snapshot: Any, path: tuple[Any, ...]) -> Any:
        from ._list import apply_list_delta_to_snapshot

        return apply_list_delta_to_snapshot(snapshot, self, path)

    def is_empty(self) -> bool:
        return not self.ops


def _hashable(value: Any) -> Any:
    """A hashable stand-in for a protocol tree (markers are values, so they hash)."""
    t = type(value)
    if t is dict:
        return ("d", tuple((k, _hashable(v)) for k, v in value.items()))
    if t is list or t is tuple:
        return ("l" if t is list else "t", tuple(_hashable(v) for v in value))
    return value
