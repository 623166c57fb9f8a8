"""Events that :meth:`~flatsync.DataHandler.patch` returns.

Events are frozen, slotted, keyword-constructed records (as h11's events are):
values that compare, print, and (when what they hold is hashable) hash.
``path`` is the tuple of keys (and list indices) from the root to the entry.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeAlias

import attrs

__all__ = ["Added", "CellsChanged", "Changed", "Event", "Removed"]


@attrs.frozen(kw_only=True)
class Added:
    """An entry appeared at ``path`` with value ``new``."""

    path: tuple[Any, ...]
    new: Any


@attrs.frozen(kw_only=True)
class Removed:
    """The entry at ``path`` was removed; it held ``old``."""

    path: tuple[Any, ...]
    old: Any


@attrs.frozen(kw_only=True)
class Changed:
    """The entry at ``path`` went from ``old`` to ``new``.

    When a whole container is replaced, ``old`` is the detached handler and
    ``new`` the new one.
    """

    path: tuple[Any, ...]
    old: Any
    new: Any


#: Longest tuple that an event's repr shows in full.
_REPR_ITEMS = 8


def _brief(items: tuple[Any, ...]) -> str:
    """A tuple's repr, or ``<N items>`` for a long one (a board's whole rewrite)."""
    if len(items) <= _REPR_ITEMS:
        return repr(items)
    return f"<{len(items):,} items>"


@attrs.frozen(kw_only=True)
class CellsChanged:
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

    Attributes:
        path: The board's path (not an item's).
        shape: The board's shape, which :meth:`positions` needs.
        indices: The flat indexes of the changed items.
        old: Their values before the patch.
        new: Their values after it.
    """

    path: tuple[Any, ...]
    shape: tuple[int, ...]
    indices: tuple[int, ...] = attrs.field(repr=_brief)
    old: tuple[Any, ...] = attrs.field(repr=_brief)
    new: tuple[Any, ...] = attrs.field(repr=_brief)

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
            yield Changed(path=(*path, key), old=old, new=new)


Event: TypeAlias = Added | Removed | Changed | CellsChanged
"""Any of the event records."""
