"""The few markers a protocol tree may hold besides plain data.

A snapshot or a delta is a tree of ``dict``, ``list``, ``tuple``, scalars and
``bytes``. Three markers cover what plain data cannot say:

* :data:`~flatsync.DELETED`: in a delta, the key is gone.
* :class:`~flatsync.protocol.Replace`: in a delta, the entry is replaced as a whole by a new value
  given as a snapshot (a plain ``dict`` in a delta would mean a *nested delta*).
* :class:`~flatsync.protocol.TypedDelta` subclasses such as :class:`~flatsync.protocol.ListDelta`
  (in ``_list_ops``, beside its algebra): the delta of a handler that is not a mapping.
"""

from __future__ import annotations

import abc
import enum
from typing import Any, ClassVar, Self

from ._errors import DecodeError
from ._values import SCALARS, Snapshot, check_value, describe

__all__ = [
    "DELETED",
    "MARKERS",
    "NESTED_DELTAS",
    "Deleted",
    "Marker",
    "Replace",
    "TypedDelta",
    "hashable",
    "is_nested",
    "register_marker",
    "snapshot_item",
]


class Deleted(enum.Enum):
    """The type of :data:`~flatsync.DELETED` (an enum, so that mypy narrows it with ``is``)."""

    DELETED = "DELETED"

    def __repr__(self) -> str:
        return "flatsync.DELETED"


DELETED = Deleted.DELETED
"""In a delta: the key was deleted (CBOR ``undefined``, one byte, on the wire)."""


class Marker(abc.ABC):
    """Base of the protocol-tree items that are not plain data (except :data:`~flatsync.DELETED`).

    Each marker class has a number, ``marker_id``, which every codec uses to
    tag it (the CBOR codec as the CBOR tag of that number), and it can turn
    itself into a *content* tree and back, so that a codec encodes any marker
    without knowing what it means. A new kind of handler adds its markers by
    subclassing and calling :func:`~flatsync.protocol.register_marker`.
    """

    __slots__ = ()

    #: The marker's number on the wire (one of the tags 6 to 15).
    marker_id: ClassVar[int]

    @abc.abstractmethod
    def content(self) -> Any:
        """The marker's payload: a tree, where a ``tuple`` may hold any trees."""

    @classmethod
    @abc.abstractmethod
    def from_content(cls, content: Any) -> Self:
        """Rebuild the marker from its decoded content.

        Args:
            content: The payload as the codec decoded it: arrays as tuples, every
                other item already a checked protocol tree.

        Raises:
            DecodeError: the content does not have the marker's shape.
        """


#: Every marker class by its ``marker_id``; codecs look markers up here.
MARKERS: dict[int, type[Marker]] = {}


def register_marker(cls: type[Marker]) -> type[Marker]:
    """Register a marker class under its ``marker_id`` (usable as a decorator)."""
    known = MARKERS.get(cls.marker_id)
    if known is not None and known is not cls:
        raise ValueError(f"marker id {cls.marker_id} is taken by {known.__name__}")
    MARKERS[cls.marker_id] = cls
    return cls


class Replace(Marker):
    """In a delta: replace the entry (its key and its value) with ``value``.

    ``value`` is a snapshot: a ``dict`` inside it is a mapping's full contents,
    not a nested delta. It is used for a new mapping (a bare ``dict`` in a
    delta is a nested delta), and for a key that was deleted and inserted again
    within one tick (the replica then drops its key object and takes the
    delta's, so that ``1`` and ``1.0`` never get confused).
    """

    __slots__ = ("value",)

    marker_id = 6

    value: Any

    def __init__(self, value: Snapshot) -> None:
        self.value = value

    def content(self) -> Any:
        return self.value

    @classmethod
    def from_content(cls, content: Any) -> Replace:
        if type(content) is dict or type(content) in SCALARS:  # the common contents
            return cls(content)
        return cls(snapshot_item(content, "a Replace"))

    def __eq__(self, other: object) -> bool:
        if type(other) is not Replace:
            return NotImplemented
        return bool(self.value == other.value)

    def __hash__(self) -> int:
        return hash((Replace, hashable(self.value)))

    def __repr__(self) -> str:
        return f"Replace({self.value!r})"


#: The types of a nested delta: ``dict`` (a mapping's) and every TypedDelta
#: subclass. A set, so that the per-change test is one lookup, not an isinstance.
NESTED_DELTAS: set[type] = {dict}


class TypedDelta(abc.ABC):
    """Base of the deltas of handlers that are not mappings.

    A subclass knows how to compose itself with a later delta of the same kind
    and how to apply itself to a snapshot of its kind; :func:`flatsync.merge`
    relies on both.
    """

    __slots__ = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        NESTED_DELTAS.add(cls)

    @abc.abstractmethod
    def merged(self, later: TypedDelta, path: tuple[Any, ...]) -> TypedDelta:
        """Return one delta equal to applying ``self`` then ``later``.

        Raises:
            PatchError: ``later`` cannot follow ``self`` (it is of another kind).
        """

    @abc.abstractmethod
    def applied_to(self, snapshot: Snapshot, path: tuple[Any, ...]) -> Snapshot:
        """Return a new snapshot: ``snapshot`` (left unmodified) with this delta applied.

        Raises:
            PatchError: the delta does not fit ``snapshot``.
        """

    @abc.abstractmethod
    def is_empty(self) -> bool:
        """Whether applying this delta changes nothing at all."""


def is_nested(change: Any) -> bool:
    """Whether a change in a delta is a nested delta (a ``dict`` or a typed delta)."""
    return type(change) in NESTED_DELTAS


def hashable(value: Any) -> Any:
    """A hashable stand-in for a protocol tree (markers are values, so they hash)."""
    t = type(value)
    if t is dict:
        return ("d", tuple((k, hashable(v)) for k, v in value.items()))
    if t is list or t is tuple:
        return ("l" if t is list else "t", tuple(hashable(v) for v in value))
    return value


register_marker(Replace)


def snapshot_item(item: Any, where: str) -> Any:
    """Check an item that stands where a marker's content holds a snapshot value; return it.

    The shape rule of a position in a marker's content that holds a snapshot
    (a :class:`Replace`'s value, a list operation's inserted values, a
    record's field values): not :data:`DELETED`, not a delta (a
    :class:`Replace` or a typed delta), and a tuple holds only values (inside
    a marker's content the decoder cannot tell a tuple from the content's own
    arrays, so the rule is checked here). What a mapping or a list inside the
    snapshot holds is checked when the snapshot is applied.

    Raises:
        DecodeError: the item breaks the rule; the message starts with ``where``.
    """
    t = type(item)
    if t is tuple:
        try:
            check_value(item, (), DecodeError)
        except DecodeError as exc:
            raise DecodeError(f"{where} holds a malformed tuple ({exc})") from None
    elif item is DELETED:
        raise DecodeError(f"{where} holds undefined (DELETED), which is not a snapshot value")
    elif t is Replace or (t in NESTED_DELTAS and t is not dict):
        raise DecodeError(f"{where} holds a {describe(item)}, which is not a snapshot value")
    return item
