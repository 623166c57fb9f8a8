"""Events that :meth:`~flatsync.DataHandler.patch` returns.

Events are frozen, keyword-constructed records (as h11's events are): values
that compare, print, pickle and (when what they hold is hashable) hash. Each is
a small tuple subclass underneath, which a ``patch`` builds several times
faster than a frozen attrs instance.
``path`` is the tuple of keys (and list indices) from the root to the entry.
"""

from __future__ import annotations

from collections.abc import Iterator
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Self, TypeAlias, TypeVar

__all__ = ["Added", "CellsChanged", "Changed", "Event", "Removed", "new_event"]

#: Builds an event from the tuple of its fields in order, without the keyword
#: ``__new__``: ``new_event(Changed, (path, old, new))``. For the hot loops of
#: ``patch``; everything else uses the keyword constructors.
new_event = tuple.__new__


# What every event shares, set on each event class by @_event (a base class of
# their own would show as a private base in the API docs). An event is a tuple
# of its fields: a tuple subclass costs a fraction of what a frozen attrs
# instance costs to build (a ``patch`` builds one per changed entry), and it
# behaves as the attrs records it replaced: keyword construction, read-only
# attributes, equality only with an event of the same class (never with a plain
# tuple), a hash, no ordering, and a ``repr`` of the fields by name.


def _eq(self: tuple[Any, ...], other: object) -> Any:
    if other.__class__ is self.__class__:
        return tuple.__eq__(self, other)
    if isinstance(other, tuple):
        return False  # not the tuple's element-wise equality
    return NotImplemented


def _ne(self: tuple[Any, ...], other: object) -> Any:
    if other.__class__ is self.__class__:
        return tuple.__ne__(self, other)
    if isinstance(other, tuple):
        return True
    return NotImplemented


def _unordered(self: tuple[Any, ...], other: object) -> Any:
    return NotImplemented


def _repr(self: Any) -> str:
    fields = ", ".join(f"{name}={value!r}" for name, value in zip(self._fields, self, strict=True))
    return f"{type(self).__name__}({fields})"


def _getnewargs_ex(self: Any) -> tuple[tuple[()], dict[str, Any]]:
    # Pickling and copying rebuild through the keyword constructor.
    return (), dict(zip(self._fields, self, strict=True))


_EventT = TypeVar("_EventT", bound=type)


def _event(cls: _EventT) -> _EventT:
    # Type checkers do not see these methods, as they did not see the attrs
    # records' own: they narrow a union of events by ``==`` only then.
    methods: dict[str, Any] = {
        "__eq__": _eq,
        "__ne__": _ne,
        "__hash__": tuple.__hash__,
        "__lt__": _unordered,
        "__le__": _unordered,
        "__gt__": _unordered,
        "__ge__": _unordered,
        "__repr__": _repr,
        "__getnewargs_ex__": _getnewargs_ex,
    }
    for name, method in methods.items():
        if name not in cls.__dict__:
            setattr(cls, name, method)
    return cls


def _field(index: int, doc: str) -> Any:
    return property(itemgetter(index), doc=doc)


@_event
class Added(tuple[Any, ...]):
    """An entry appeared at ``path`` with value ``new``."""

    __slots__ = ()
    _fields = ("path", "new")
    __match_args__ = ("path", "new")

    def __new__(cls, *, path: tuple[Any, ...], new: Any) -> Self:
        return new_event(cls, (path, new))

    if TYPE_CHECKING:

        @property
        def path(self) -> tuple[Any, ...]: ...
        @property
        def new(self) -> Any: ...

    else:
        path = _field(0, "The entry's path.")
        new = _field(1, "Its value.")


@_event
class Removed(tuple[Any, ...]):
    """The entry at ``path`` was removed; it held ``old``."""

    __slots__ = ()
    _fields = ("path", "old")
    __match_args__ = ("path", "old")

    def __new__(cls, *, path: tuple[Any, ...], old: Any) -> Self:
        return new_event(cls, (path, old))

    if TYPE_CHECKING:

        @property
        def path(self) -> tuple[Any, ...]: ...
        @property
        def old(self) -> Any: ...

    else:
        path = _field(0, "The entry's path.")
        old = _field(1, "The value it held.")


@_event
class Changed(tuple[Any, ...]):
    """The entry at ``path`` went from ``old`` to ``new``.

    When a whole container is replaced, ``old`` is the detached handler and
    ``new`` the new one.
    """

    __slots__ = ()
    _fields = ("path", "old", "new")
    __match_args__ = ("path", "old", "new")

    def __new__(cls, *, path: tuple[Any, ...], old: Any, new: Any) -> Self:
        return new_event(cls, (path, old, new))

    if TYPE_CHECKING:

        @property
        def path(self) -> tuple[Any, ...]: ...
        @property
        def old(self) -> Any: ...
        @property
        def new(self) -> Any: ...

    else:
        path = _field(0, "The entry's path.")
        old = _field(1, "Its value before.")
        new = _field(2, "Its value after.")


#: Longest tuple that an event's repr shows in full.
_REPR_ITEMS = 8


def _brief(items: tuple[Any, ...]) -> str:
    """A tuple's repr, or ``<N items>`` for a long one (a board's whole rewrite)."""
    if len(items) <= _REPR_ITEMS:
        return repr(items)
    return f"<{len(items):,} items>"


@_event
class CellsChanged(tuple[Any, ...]):
    """Items of the board (:class:`~flatsync.ByteHandler`) at ``path`` changed.

    A board's :meth:`~flatsync.ByteHandler.patch` returns one such event (or
    none, when no item changed), however many items the delta writes and in
    whichever form it came (pairs, runs or the whole blob).

    ``indices`` are the flat, row-major indexes of the items whose bits
    changed, each once, in the order of the delta (ascending for every delta
    that :meth:`~flatsync.ByteHandler.diff` or :func:`~flatsync.merge`
    makes); ``old`` and ``new`` are their values before and after the patch,
    in the same order. Writing ``new[k]`` at ``indices[k]`` for every ``k`` into
    a copy of the board as it was gives the board as it is.

    >>> import flatsync
    >>> board = flatsync.ByteHandler("u8", (4, 4))
    >>> replica = flatsync.ByteHandler.from_snapshot(board.snapshot())
    >>> board[2, 1] = 5
    >>> board[3, 3] = 9
    >>> (event,) = replica.patch(board.diff())
    >>> event
    CellsChanged(path=(), shape=(4, 4), indices=(9, 15), old=(0, 0), new=(5, 9))
    >>> event.positions()
    [(2, 1), (3, 3)]
    """

    __slots__ = ()
    _fields = ("path", "shape", "indices", "old", "new")
    __match_args__ = ("path", "shape", "indices", "old", "new")

    def __new__(
        cls,
        *,
        path: tuple[Any, ...],
        shape: tuple[int, ...],
        indices: tuple[int, ...],
        old: tuple[Any, ...],
        new: tuple[Any, ...],
    ) -> Self:
        return new_event(cls, (path, shape, indices, old, new))

    if TYPE_CHECKING:

        @property
        def path(self) -> tuple[Any, ...]: ...
        @property
        def shape(self) -> tuple[int, ...]: ...
        @property
        def indices(self) -> tuple[int, ...]: ...
        @property
        def old(self) -> tuple[Any, ...]: ...
        @property
        def new(self) -> tuple[Any, ...]: ...

    else:
        path = _field(0, "The board's path (not an item's).")
        shape = _field(1, "The board's shape, which :meth:`positions` needs.")
        indices = _field(2, "The flat indexes of the changed items.")
        old = _field(3, "Their values before the patch.")
        new = _field(4, "Their values after it.")

    def __repr__(self) -> str:
        path, shape, indices, old, new = self
        return (
            f"CellsChanged(path={path!r}, shape={shape!r}, indices={_brief(indices)}, "
            f"old={_brief(old)}, new={_brief(new)})"
        )

    def positions(self) -> list[Any]:
        """The index of each changed item as the board takes it, in the order of ``indices``.

        An ``int`` on a 1-D board, a tuple of ints (``(row, col)``, ...) on an
        n-D one: ``board[key]`` reads the item.
        """
        shape = self.shape
        if len(shape) == 1:
            return list(self.indices)
        if len(shape) == 2:
            cols = shape[1]
            return [divmod(i, cols) for i in self.indices]
        strides = []
        stride = 1
        for dim in reversed(shape[1:]):
            stride *= dim
            strides.append(stride)
        strides.reverse()
        keys = []
        for index in self.indices:
            key = []
            rest = index
            for step in strides:
                q, rest = divmod(rest, step)
                key.append(q)
            key.append(rest)
            keys.append(tuple(key))
        return keys

    def changes(self) -> Iterator[Changed]:
        """One :class:`Changed` per item, made as it is read, at ``path`` plus the item's key.

        For code that handles every change one path at a time; a board's
        whole rewrite is many thousand of them.
        """
        path = self.path
        for key, old, new in zip(self.positions(), self.old, self.new, strict=True):
            yield new_event(Changed, ((*path, key), old, new))


Event: TypeAlias = Added | Removed | Changed | CellsChanged
"""Any of the event records."""
