"""ListHandler: a change-tracking ``list`` whose deltas are splices."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Self, SupportsIndex, overload

from .._tree._errors import PatchError
from .._tree._events import Added, Changed, Event, Removed, new_event
from .._tree._list_ops import ListDelta, check_op
from .._tree._markers import DELETED, NESTED_DELTAS, Replace
from .._tree._values import (
    ATOMS,
    SCALARS,
    VALUE_TYPES,
    Path,
    describe,
    format_path,
    same_scalar,
    same_value,
)
from ._base import (
    SNAPSHOT_KINDS,
    WRAPPERS,
    Handler,
    adopt,
    build_value,
    check_snapshot_value,
    python_value,
    snapshot_value,
)

__all__ = ["ListHandler"]

_lset = list.__setitem__
_ldel = list.__delitem__
_lappend = list.append
_linsert = list.insert


#: Size estimate of a container item, counting a scalar as 1 (see ListHandler).
_CONTAINER_WEIGHT = 8
_EXTRA_WEIGHT = _CONTAINER_WEIGHT - 1


def _weight(value: Any) -> int:
    return 1 if type(value) in VALUE_TYPES else _CONTAINER_WEIGHT


#: Lists up to this long are recounted with string lengths before switching to
#: the whole contents (see ``ListHandler._fall_back``).
_RECOUNT_ITEMS = 32


def _recount(items: list[Any]) -> int:
    """The size estimate of the whole contents, with str and bytes weighed by length."""
    total = 1
    for value in items:
        t = type(value)
        if t is str or t is bytes:
            total += 1 + len(value) // 8
        elif t in VALUE_TYPES:
            total += 1
        else:
            total += _CONTAINER_WEIGHT
    return total


def _count_children(items: Iterable[Any]) -> int:
    return sum(1 for value in items if type(value) not in VALUE_TYPES)


def _list_index(index: Any) -> int:
    try:
        return operator.index(index)
    except TypeError:
        raise TypeError(
            f"list indices must be integers or slices, not {type(index).__name__}"
        ) from None


def _values_of(iterable: Any) -> list[Any]:
    """The items of ``iterable`` as a new plain list (a handler's contents are copied)."""
    if isinstance(iterable, Handler):
        iterable = iterable.to_python()
    return list(iterable)


class ListHandler(list[Any], Handler):
    """A ``list`` that records what changed since its last :meth:`commit`.

    It is a real ``list`` subclass: reads (``h[i]``, slices, iteration, ``len``,
    ``in``, ``index``, ``count``, ``==`` with plain lists) run at the speed of a
    plain list, and every mutating method is tracked. Items are what a
    :class:`~flatsync.DataHandler` holds as values: scalars, ``bytes``, floats,
    tuples of those, and containers (a plain ``dict``/``list`` written in becomes
    a :class:`~flatsync.DataHandler`/``ListHandler``; a handler is attached, and
    sits in one place only).

    >>> board = ListHandler(range(10))
    >>> board.append(10)
    >>> board[0] = -1
    >>> board.diff()
    ListDelta(((1, 10, 10), (0, 0, -1)))
    >>> board.commit()
    >>> board.diff()
    ListDelta(())

    How changes are recorded: each mutation appends an operation to a short log
    (the :class:`~flatsync.protocol.ListDelta` opcodes: set, insert, delete) with
    peephole compaction, so that the log stays as small as the change. Writes
    since the last insert or delete are kept as a set of indexes whose values
    are read from the list when the log is needed, so a write costs one dict
    lookup. The compaction rules:

    * consecutive inserts into one run merge (``append`` after ``append`` is one
      insert), and a write into an item inserted this tick changes that insert;
    * contiguous deletes merge (``pop()`` after ``pop()``, ``del h[i]`` after
      ``del h[i]``), and a delete of items inserted this tick removes them from
      their insert (append then pop is nothing);
    * writes to one index between two structural changes keep only the last, and
      a write of a value equal to the current one (same type, floats by bits) is
      not a change at all, nor is a write that puts the original value back;
    * a container that sat in the list at the last commit and is edited in
      place is sent as its nested delta at its index at :meth:`diff` time;
      items inserted or written this tick are sent as snapshots taken at
      :meth:`diff` time.

    The log falls back to opcode 3 (the whole contents) when its size estimate
    exceeds the whole list's: counting each scalar item as 1, each container item
    as 8, each operation's header as 2 (3 for a delete) and the whole list's
    header as 1. ``sort`` and ``reverse`` record the whole contents directly.
    Tracking costs time in proportion to the change, except that an insert or
    delete renumbers the containers after it (their key is their index), which
    is skipped when the list holds no containers.

    :meth:`patch` runs the whole delta against a simulation of the list first
    (indexes, arities, nested targets, snapshot values). Its events come in the
    order of the operations: an :class:`~flatsync.Added` per inserted item (at
    its index), a :class:`~flatsync.Removed` per deleted item (last first, at
    the index it had), a :class:`~flatsync.Changed` per written item, one
    ``Changed`` of the whole list (``old`` the former items as a plain list)
    for opcode 3, and the nested handlers' events.

    Raises:
        TypeError: an item of an unsupported type (nothing is changed).
        ValueError: a handler that already sits in a tree (nothing is changed).
        ReadOnlyError: any write to a replica built by :meth:`from_snapshot`.
    """

    __slots__ = (
        "_appendrun",
        "_cost",
        "_dirty",
        "_key",
        "_kids",
        "_nchildren",
        "_ops",
        "_parent",
        "_readonly",
        "_setrun",
        "_whole",
    )

    _delta_type = ListDelta
    _snapshot_type = list
    _kind = "list"

    #: The operation log: ``[0, index, original, value]``, ``[1, index, values]``,
    #: ``[2, index, count]``, in order; items are stored values (handlers, not
    #: snapshots), turned into snapshots by ``diff``.
    _ops: list[list[Any]]
    #: Writes after the last logged operation: index -> the item before the first
    #: of them. Their values are read from the list itself, so the run must be
    #: moved into the log (:meth:`_close_run`) before items shift.
    _setrun: dict[int, Any] | None
    #: The items of the log's last operation when it is an insert that ends at
    #: the end of the list (so that ``append`` can extend it at once).
    _appendrun: list[Any] | None
    #: The log's size estimate (see the class docstring).
    _cost: int
    #: Whether the change since the last commit is "the whole contents".
    _whole: bool
    #: Whether anything was recorded since the last commit (the parent knows).
    _dirty: bool
    #: Children that reported a change: ``id(child) -> child``.
    _kids: dict[int, Handler]
    #: How many items are containers (handlers).
    _nchildren: int

    def __init__(self, initial: Iterable[Any] = (), /) -> None:
        list.__init__(self)
        self._parent = None
        self._key = None
        self._readonly = False
        self._nchildren = 0
        self._reset()
        items = _values_of(initial)
        adopted: list[Handler] = []
        try:
            for index, item in enumerate(items):
                t = type(item)
                if t not in VALUE_TYPES or t is tuple:
                    value = adopt(self, index, item)
                    if type(value) not in VALUE_TYPES:
                        adopted.append(value)
                    items[index] = value
        except BaseException:
            for handler in adopted:
                handler._detach()
            raise
        for handler in adopted:
            handler.commit()  # its current state is part of this list's baseline
        list.extend(self, items)
        self._nchildren = len(adopted)

    def _reset(self) -> None:
        self._ops = []
        self._setrun = None
        self._appendrun = None
        self._cost = 0
        self._whole = False
        self._dirty = False
        self._kids = {}

    # -- writes ---------------------------------------------------------------

    @overload
    def __setitem__(self, index: SupportsIndex, value: Any, /) -> None: ...
    @overload
    def __setitem__(self, index: slice, value: Iterable[Any], /) -> None: ...

    def __setitem__(self, index: SupportsIndex | slice, value: Any, /) -> None:
        """Set the item at ``index``, or replace a slice, as a ``list`` does.

        Raises:
            IndexError: ``index`` is out of range (nothing changed).
            ValueError: an extended slice and ``value`` differ in length, or an
                item is a handler that already sits in a tree (nothing changed).
            TypeError: an item of an unsupported type (nothing changed).
            ReadOnlyError: this list is a replica.
        """
        if self._readonly:
            self._refuse_write()
        if type(index) is not int:
            if type(index) is slice:
                self._set_slice(index, value)
                return
            index = _list_index(index)
        i: int = index
        try:
            old = self[i]
        except IndexError:
            raise IndexError("list assignment index out of range") from None
        if i < 0:
            i += len(self)
        t = type(value)
        if t is type(old) and t in SCALARS:
            # The hot path: a scalar overwrites a scalar of the same type, so there
            # is nothing to wrap and nothing to detach. The rule's one home is
            # _tree/_values.py: for ATOMS an equal value is no change, for floats
            # same_scalar decides (by bits); the same object is no change and a
            # different value that is not a NaN is one, under any such rule.
            if value is old or (
                (value == old or value != value) and (t in ATOMS or same_scalar(old, value))
            ):
                return
            _lset(self, i, value)
            run = self._setrun
            if run is not None:
                # The run holds the item before its first write; the value is read
                # from the list when the run is logged or sent.
                if i not in run:
                    run[i] = old
                    cost = self._cost = self._cost + 3
                    if cost > len(self) + 1 + _EXTRA_WEIGHT * self._nchildren:
                        self._fall_back()
                return
            self._rec_set(i, old, value)
            return
        if value is old or (t is tuple and type(old) is tuple and same_value(old, value)):
            return
        if t not in ATOMS and t is not float:
            value = adopt(self, i, value)
            if type(value) not in VALUE_TYPES:
                self._nchildren += 1
        if type(old) not in VALUE_TYPES:
            old._detach()
            self._nchildren -= 1
        _lset(self, i, value)
        self._rec_set(i, old, value)

    def _set_slice(self, index: slice, value: Any) -> None:
        if isinstance(value, Handler):
            values = _values_of(value)
        else:
            try:
                iterator = iter(value)
            except TypeError:
                raise TypeError("can only assign an iterable") from None
            values = list(iterator)
        start, stop, step = index.indices(len(self))
        if step == 1:
            self._splice(start, max(start, stop), values)
            return
        indexes = range(start, stop, step)
        if len(indexes) != len(values):
            raise ValueError(
                f"attempt to assign sequence of size {len(values)} "
                f"to extended slice of size {len(indexes)}"
            )
        olds = [self[i] for i in indexes]
        new = self._prepare(indexes, olds, values)
        self._nchildren += _count_children(new) - _count_children(olds)
        for i, old, item in zip(indexes, olds, new, strict=True):
            if item is not old:
                _lset(self, i, item)
                self._rec_set(i, old, item)

    def _splice(self, start: int, stop: int, values: list[Any]) -> None:
        """Replace the items in ``[start, stop)`` with ``values`` (step 1)."""
        removed = stop - start
        added = len(values)
        common = min(removed, added)
        olds: list[Any] = self[start:stop]
        new = self._prepare(range(start, start + added), olds, values)
        if removed != added:
            self._close_run()
        _lset(self, slice(start, stop), new)
        self._nchildren += _count_children(new) - _count_children(olds)
        if removed != added:
            self._rekey(start + added)
        for j in range(common):
            if new[j] is not olds[j]:
                self._rec_set(start + j, olds[j], new[j])
        if added > common:
            self._rec_insert(start + common, new[common:])
        elif removed > common:
            self._rec_delete(start + common, removed - common)

    def _prepare(self, keys: Sequence[int], olds: list[Any], values: list[Any]) -> list[Any]:
        """Turn ``values`` into the items to store at ``keys``, replacing ``olds``.

        ``values[j]`` replaces ``olds[j]`` (an equal value keeps the old item); olds
        beyond ``values`` are removed. Replaced containers are detached (a handler
        may move within the same write), new ones adopted. If a value is refused,
        everything is put back as it was and the error propagates.
        """
        common = min(len(olds), len(values))
        detached: list[tuple[Any, Any]] = []
        for j, old in enumerate(olds):
            if type(old) not in VALUE_TYPES and (j >= common or values[j] is not old):
                detached.append((old, old._key))
                old._detach()
        new: list[Any] = []
        adopted: list[Handler] = []
        try:
            for j, value in enumerate(values):
                t = type(value)
                if j < common:
                    old = olds[j]
                    if value is old or (t in VALUE_TYPES and same_value(old, value)):
                        new.append(old)
                        continue
                if t in VALUE_TYPES and t is not tuple:
                    new.append(value)
                    continue
                item = adopt(self, keys[j], value)
                if type(item) not in VALUE_TYPES:
                    adopted.append(item)
                new.append(item)
        except BaseException:
            for handler in adopted:
                handler._detach()
            for handler, key in detached:
                handler._parent = self
                handler._key = key
            raise
        return new

    def append(self, value: Any, /) -> None:
        """Add ``value`` at the end.

        Raises:
            TypeError: ``value`` is of an unsupported type (nothing is changed).
            ValueError: ``value`` is a handler that already sits in a tree.
            ReadOnlyError: this list is a replica.
        """
        if self._readonly:
            self._refuse_write()
        t = type(value)
        if t not in VALUE_TYPES or t is tuple:
            value = adopt(self, len(self), value)
            if type(value) not in VALUE_TYPES:
                self._nchildren += 1
        _lappend(self, value)
        run = self._appendrun
        if run is not None and type(value) in VALUE_TYPES:
            # The hot path: the log ends with an insert that ends at the end of the
            # list; the size rule needs no check, as both sides grow alike.
            run.append(value)
            self._cost += 1
            return
        self._rec_insert(len(self) - 1, [value])

    def extend(self, iterable: Iterable[Any], /) -> None:
        """Add every item of ``iterable`` at the end (a handler's items are copied).

        Raises:
            TypeError: an item is of an unsupported type (nothing is changed).
            ValueError: an item is a handler that already sits in a tree (nothing
                is changed).
            ReadOnlyError: this list is a replica.
        """
        if self._readonly:
            self._refuse_write()
        values = _values_of(iterable)
        if not values:
            return
        n = len(self)
        new = self._prepare(range(n, n + len(values)), [], values)
        list.extend(self, new)
        self._nchildren += _count_children(new)
        self._rec_insert(n, new)

    def insert(self, index: SupportsIndex, value: Any, /) -> None:
        """Insert ``value`` before ``index`` (clamped to the list, as ``list.insert`` does).

        Raises:
            TypeError: ``value`` is of an unsupported type (nothing is changed).
            ValueError: ``value`` is a handler that already sits in a tree.
            ReadOnlyError: this list is a replica.
        """
        if self._readonly:
            self._refuse_write()
        n = len(self)
        i = operator.index(index)
        if i < 0:
            i = max(i + n, 0)
        elif i > n:
            i = n
        t = type(value)
        if t not in VALUE_TYPES or t is tuple:
            value = adopt(self, i, value)
            if type(value) not in VALUE_TYPES:
                self._nchildren += 1
        if i < n:
            self._close_run()
        _linsert(self, i, value)
        if i < n:
            self._rekey(i + 1)
        self._rec_insert(i, [value])

    def __delitem__(self, index: SupportsIndex | slice, /) -> None:
        """Delete the item at ``index``, or a slice (containers come out detached).

        Raises:
            IndexError: ``index`` is out of range (nothing changed).
            ReadOnlyError: this list is a replica.
        """
        if self._readonly:
            self._refuse_write()
        n = len(self)
        if type(index) is slice:
            start, stop, step = index.indices(n)
            if step == 1:
                if stop > start:
                    self._delete(start, stop - start)
                return
            indexes = range(start, stop, step)
            if not indexes:
                return
            if step < 0:
                indexes = indexes[::-1]
            removed = [self[i] for i in indexes]
            self._close_run()
            _ldel(self, index)
            self._drop(removed)
            self._rekey(indexes[0])
            for i in reversed(indexes):
                self._rec_delete(i, 1)
            return
        i = _list_index(index)
        if i < 0:
            i += n
        if i < 0 or i >= n:
            raise IndexError("list assignment index out of range")
        self._delete(i, 1)

    def _delete(self, i: int, count: int) -> list[Any]:
        removed: list[Any] = self[i : i + count]
        self._close_run()
        _ldel(self, slice(i, i + count))
        self._drop(removed)
        self._rekey(i)
        self._rec_delete(i, count)
        return removed

    def _drop(self, removed: list[Any]) -> None:
        """Detach the containers among items just taken out of the list."""
        if self._nchildren:
            for value in removed:
                if type(value) not in VALUE_TYPES:
                    value._detach()
                    self._nchildren -= 1

    def pop(self, index: SupportsIndex = -1, /) -> Any:
        """Remove the item at ``index`` (default last) and return it (a container comes back detached).

        Raises:
            IndexError: the list is empty or ``index`` is out of range (nothing changed).
            ReadOnlyError: this list is a replica.
        """
        if self._readonly:
            self._refuse_write()
        n = len(self)
        if not n:
            raise IndexError("pop from empty list")
        i = operator.index(index)
        if i < 0:
            i += n
        if i < 0 or i >= n:
            raise IndexError("pop index out of range")
        return self._delete(i, 1)[0]

    def remove(self, value: Any, /) -> None:
        """Remove the first item equal to ``value``.

        Raises:
            ValueError: no item is equal to ``value`` (nothing changed).
            ReadOnlyError: this list is a replica.
        """
        if self._readonly:
            self._refuse_write()
        self._delete(list.index(self, value), 1)

    def clear(self) -> None:
        """Remove every item (containers come out detached).

        Raises:
            ReadOnlyError: this list is a replica.
        """
        if self._readonly:
            self._refuse_write()
        n = len(self)
        if n:
            self._delete(0, n)

    def sort(self, *, key: Callable[[Any], Any] | None = None, reverse: bool = False) -> None:
        """Sort the items in place, stably, as ``list.sort`` does.

        A sort that moves anything is recorded as the whole contents (opcode 3).

        Raises:
            TypeError: items cannot be compared (or ``key`` raised); the list is
                unchanged.
            ReadOnlyError: this list is a replica.
        """
        if self._readonly:
            self._refuse_write()
        current: list[Any] = self[:]
        items = current.copy()
        items.sort(key=key, reverse=reverse)
        self._reorder(current, items)

    def reverse(self) -> None:
        """Reverse the items in place (recorded as the whole contents, opcode 3).

        Raises:
            ReadOnlyError: this list is a replica.
        """
        if self._readonly:
            self._refuse_write()
        current: list[Any] = self[:]
        self._reorder(current, current[::-1])

    def _reorder(self, current: list[Any], items: list[Any]) -> None:
        moved = False
        changed = False
        for a, b in zip(current, items, strict=True):
            if a is not b:
                moved = True
                if type(a) not in VALUE_TYPES or not same_value(a, b):
                    changed = True
                    break
        if not moved:
            return
        _lset(self, slice(None), items)
        self._rekey(0)
        if changed:
            self._rec_whole()

    def __iadd__(self, other: Any, /) -> Self:
        """``handler += items`` extends the list (see :meth:`extend`)."""
        self.extend(other)
        return self

    def __imul__(self, count: SupportsIndex, /) -> Self:
        """``handler *= n`` repeats the contents (containers are copied); ``n <= 0`` clears.

        Raises:
            ReadOnlyError: this list is a replica.
        """
        if self._readonly:
            self._refuse_write()
        times = operator.index(count)
        if times <= 0:
            self.clear()
        elif times > 1 and len(self):
            self.extend(self.to_python() * (times - 1))
        return self

    def __add__(self, other: Any, /) -> list[Any]:
        """``handler + list`` is a plain ``list``: a copy of the contents, then ``other``'s."""
        if not isinstance(other, list):
            return NotImplemented
        return self.to_python() + (other.to_python() if isinstance(other, Handler) else other)

    def __radd__(self, other: Any, /) -> list[Any]:
        if not isinstance(other, list):
            return NotImplemented
        return [*other, *self.to_python()]

    def __mul__(self, count: SupportsIndex, /) -> list[Any]:
        """``handler * n`` is a plain ``list``: a copy of the contents, repeated."""
        return self.to_python() * operator.index(count)

    def __rmul__(self, count: SupportsIndex, /) -> list[Any]:
        return self.to_python() * operator.index(count)

    # -- copies and plain data ----------------------------------------------------

    # list's own copy() (shallow, untracked) would come first in the MRO.
    copy = Handler.copy

    def _recipe(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return ListHandler, (self.to_python(),)

    def to_python(self) -> list[Any]:
        """The contents as plain Python data: nested ``list``, ``dict``, ``tuple`` and scalars."""
        return [value if type(value) in VALUE_TYPES else python_value(value) for value in self]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list.__repr__(self)})"

    # -- recording ------------------------------------------------------------------

    def _rekey(self, start: int) -> None:
        """Give the containers from ``start`` on their index as their key."""
        if self._nchildren:
            for i, value in enumerate(self[start:], start):
                if type(value) not in VALUE_TYPES:
                    value._key = i

    def _touch(self) -> None:
        if not self._dirty:
            self._dirty = True
            self._mark_dirty()

    def _check_size(self) -> None:
        if self._cost > len(self) + 1 + _EXTRA_WEIGHT * self._nchildren:
            self._fall_back()

    def _fall_back(self) -> None:
        """The size rule found the whole contents smaller than the log: switch.

        The rule counts every scalar as 1, which undercounts the whole of a
        short list of long strings (a log of recent messages: one append and
        one delete would resend every message). For a list of at most
        :data:`_RECOUNT_ITEMS` items, the whole is recounted with strings and
        bytes weighed by their length before giving up the log.
        """
        if len(self) <= _RECOUNT_ITEMS and self._cost < _recount(self):
            return
        self._go_whole()

    def _go_whole(self) -> None:
        self._whole = True
        self._ops = []
        self._setrun = None
        self._appendrun = None
        self._kids = {}

    def _rec_whole(self) -> None:
        self._touch()
        self._go_whole()

    def _rec_set(self, i: int, old: Any, value: Any) -> None:
        """Record that item ``i`` (which held ``old``) now holds ``value``."""
        if not self._dirty:
            self._dirty = True
            self._mark_dirty()
        if self._whole:
            return
        run = self._setrun
        if run is None:
            ops = self._ops
            if ops:
                last = ops[-1]
                if last[0] == 1:
                    k = i - last[1]
                    values = last[2]
                    if 0 <= k < len(values):
                        # A write into an item inserted this tick changes the insert.
                        self._cost += _weight(value) - _weight(values[k])
                        values[k] = value
                        return
            run = self._setrun = {}
            self._appendrun = None
        elif i in run:
            return
        run[i] = old
        cost = self._cost = self._cost + 2 + _weight(value)
        if cost > len(self) + 1 + _EXTRA_WEIGHT * self._nchildren:
            self._fall_back()

    def _log(self) -> list[list[Any]]:
        """The whole log: the logged operations, then the run's writes."""
        run = self._setrun
        if run is None:
            return self._ops
        return [*self._ops, *([0, i, orig, self[i]] for i, orig in run.items())]

    def _close_run(self) -> None:
        """Move the writes of the run into the log (before anything shifts)."""
        run = self._setrun
        if run is not None:
            self._setrun = None
            ops = self._ops
            for i, orig in run.items():
                ops.append([0, i, orig, self[i]])

    def _rec_insert(self, i: int, values: list[Any]) -> None:
        self._touch()
        if self._whole:
            return
        self._close_run()
        weight = len(values) + _EXTRA_WEIGHT * _count_children(values)
        ops = self._ops
        if ops:
            last = ops[-1]
            if last[0] == 1:
                k = i - last[1]
                run = last[2]
                if 0 <= k <= len(run):
                    # Both the log and the whole list grow by ``weight``: no size check.
                    run[k:k] = values
                    self._cost += weight
                    self._appendrun = run if last[1] + len(run) == len(self) else None
                    return
        run = list(values)
        ops.append([1, i, run])
        self._cost += 2 + weight
        self._appendrun = run if i + len(run) == len(self) else None
        self._check_size()

    def _rec_delete(self, i: int, count: int) -> None:
        self._touch()
        if self._whole:
            return
        self._close_run()
        self._appendrun = None
        ops = self._ops
        while ops:
            last = ops[-1]
            code = last[0]
            if code == 2:
                j = last[1]
                if i == j:
                    last[2] += count
                    self._check_size()
                    return
                if i + count == j:
                    last[1] = i
                    last[2] += count
                    self._check_size()
                    return
            elif code == 1:
                start = last[1]
                run = last[2]
                size = len(run)
                if start <= i and i + count <= start + size:
                    k = i - start
                    taken = run[k : k + count]
                    del run[k : k + count]
                    self._cost -= count + _EXTRA_WEIGHT * _count_children(taken)
                    if not run:
                        ops.pop()
                        self._cost -= 2
                    self._check_size()
                    return
                if i <= start and start + size <= i + count:
                    ops.pop()
                    self._cost -= 2 + size + _EXTRA_WEIGHT * _count_children(run)
                    count -= size
                    if not count:
                        self._check_size()
                        return
                    continue
            break
        ops.append([2, i, count])
        self._cost += 3
        self._check_size()

    def _child_dirty(self, child: Handler) -> None:
        if not self._whole:
            self._kids[id(child)] = child
        if not self._dirty:
            self._dirty = True
            self._mark_dirty()

    # -- the protocol -------------------------------------------------------------

    def snapshot(self) -> list[Any]:
        """The full state as a protocol tree: a plain ``list`` of the items' snapshots.

        The cost follows the size of the state.
        """
        return [value if type(value) in VALUE_TYPES else value.snapshot() for value in self]

    def _nested_diff(self) -> ListDelta | None:
        if not self._dirty:
            return None
        if self._whole:
            return ListDelta(((3, *self.snapshot()),))
        out: list[tuple[Any, ...]] = []
        kids = self._kids
        fresh: set[int] | None = set() if kids else None
        for entry in self._log():
            code = entry[0]
            if code == 0:
                value = entry[3]
                if type(value) in VALUE_TYPES:
                    orig = entry[2]
                    if type(orig) in VALUE_TYPES and (orig is value or same_value(orig, value)):
                        continue
                    out.append((0, entry[1], value))
                else:
                    if fresh is not None:
                        fresh.add(id(value))
                    out.append((0, entry[1], value._as_new_entry()))
            elif code == 1:
                values = entry[2]
                if fresh is not None:
                    fresh.update(id(v) for v in values if type(v) not in VALUE_TYPES)
                out.append((1, entry[1], *[snapshot_value(v) for v in values]))
            else:
                out.append((2, entry[1], entry[2]))
        if fresh is not None:
            nested: list[tuple[int, Any]] = []
            for child in kids.values():
                if child._parent is self and id(child) not in fresh:
                    sub = child._nested_diff()
                    if sub is not None:
                        nested.append((child._key, sub))
            nested.sort(key=lambda pair: pair[0])
            out.extend((0, index, sub) for index, sub in nested)
        return ListDelta(tuple(out)) if out else None

    def _as_new_entry(self) -> list[Any]:
        return self.snapshot()

    def commit(self) -> None:
        """Forget the changes since the last commit, here and in every changed or new child."""
        if not self._dirty:
            return
        if self._whole:
            if self._nchildren:
                for value in self:
                    if type(value) not in VALUE_TYPES:
                        value.commit()
        else:
            for entry in self._log():
                code = entry[0]
                if code == 0:
                    value = entry[3]
                    if type(value) not in VALUE_TYPES and value._parent is self:
                        value.commit()
                elif code == 1:
                    for value in entry[2]:
                        if type(value) not in VALUE_TYPES and value._parent is self:
                            value.commit()
            for child in self._kids.values():
                if child._parent is self:
                    child.commit()
        self._reset()

    def _entries(self) -> Iterable[tuple[Any, Any]]:
        return enumerate(self)

    def _check(self, delta: Any, path: Path) -> None:
        ops: Any = delta.ops
        if type(ops) is not tuple and type(ops) is not list:
            raise PatchError(
                f"{format_path(path)}: a ListDelta holds a tuple of operations, got {describe(ops)}"
            )
        sim = _Simulation(self)
        for number, op in enumerate(ops):
            code = check_op(op, sim.length(), path, number)
            if code == 0:
                i = op[1]
                change = op[2]
                t = type(change)
                if t in NESTED_DELTAS:
                    sim.nested(i, change, (*path, i))
                    continue
                if change is DELETED:
                    raise PatchError(
                        f"{format_path((*path, i))}: DELETED cannot be a list item; "
                        "a list deletes with opcode 2"
                    )
                value = change.value if t is Replace else change
                check_snapshot_value(value, (*path, i))
                sim.put(i, _Slot.of(value))
            elif code == 1:
                i = op[1]
                for k, value in enumerate(op[2:]):
                    check_snapshot_value(value, (*path, i + k))
                sim.insert(i, [_Slot.of(value) for value in op[2:]])
            elif code == 2:
                sim.delete(op[1], op[2])
            else:
                for k, value in enumerate(op[1:]):
                    check_snapshot_value(value, (*path, k))
                sim.replace_all([_Slot.of(value) for value in op[1:]])

    def _apply(self, delta: Any, path: Path, events: list[Event] | None) -> None:
        readonly = self._readonly
        for op in delta.ops:
            code = op[0]
            if code == 0:
                i = op[1]
                change = op[2]
                t = type(change)
                if t in NESTED_DELTAS:
                    self[i]._apply(change, (*path, i), events)
                    continue
                value = build_value(change.value if t is Replace else change, readonly)
                old = self[i]
                if type(old) not in VALUE_TYPES:
                    old._detach()
                    self._nchildren -= 1
                if type(value) not in VALUE_TYPES:
                    value._parent = self
                    value._key = i
                    self._nchildren += 1
                _lset(self, i, value)
                if not readonly:
                    self._rec_set(i, old, value)
                if events is not None:
                    events.append(new_event(Changed, ((*path, i), old, value)))
            elif code == 1:
                i = op[1]
                values = [build_value(v, readonly) for v in op[2:]]
                for k, value in enumerate(values):
                    if type(value) not in VALUE_TYPES:
                        value._parent = self
                        value._key = i + k
                        self._nchildren += 1
                if not readonly:
                    self._close_run()
                _lset(self, slice(i, i), values)
                self._rekey(i + len(values))
                if not readonly:
                    self._rec_insert(i, values)
                if events is not None:
                    events.extend(
                        new_event(Added, ((*path, i + k), value)) for k, value in enumerate(values)
                    )
            elif code == 2:
                i = op[1]
                count = op[2]
                removed: list[Any] = self[i : i + count]
                if not readonly:
                    self._close_run()
                _ldel(self, slice(i, i + count))
                self._drop(removed)
                self._rekey(i)
                if not readonly:
                    self._rec_delete(i, count)
                if events is not None:
                    events.extend(
                        new_event(Removed, ((*path, i + k), removed[k]))
                        for k in reversed(range(count))
                    )
            else:
                old_items: list[Any] = self[:]
                values = [build_value(v, readonly) for v in op[1:]]
                self._drop(old_items)
                for k, value in enumerate(values):
                    if type(value) not in VALUE_TYPES:
                        value._parent = self
                        value._key = k
                        self._nchildren += 1
                _lset(self, slice(None), values)
                if not readonly:
                    self._rec_whole()
                if events is not None:
                    events.append(new_event(Changed, (path, old_items, self)))


# -- checking a delta without touching the list ------------------------------------


class _Slot:
    """A container item that a delta being checked has written or edited.

    Holds the item's snapshot (written by the delta), or an existing child and
    the nested deltas already checked against it; :meth:`target` builds a
    scratch handler when a further nested delta needs checking against it.
    """

    __slots__ = ("changes", "handler", "snapshot", "tmp")

    def __init__(self) -> None:
        self.snapshot: Any = None
        self.handler: Handler | None = None
        self.changes: list[Any] = []
        self.tmp: Handler | None = None

    @staticmethod
    def of(value: Any) -> Any:
        """What the simulation holds for a snapshot value: scalars as they are."""
        if type(value) in VALUE_TYPES:
            return value
        slot = _Slot()
        slot.snapshot = value
        return slot

    def target(self, path: Path) -> Handler:
        """A scratch read-only handler holding this item's state (built once)."""
        if self.tmp is not None:
            return self.tmp
        handler = self.handler
        tmp: Handler
        if handler is None:
            tmp = build_value(self.snapshot, True)
        else:
            tmp = build_value(handler.snapshot(), True)
            for change in self.changes:
                tmp._apply(change, path, [])
        self.tmp = tmp
        return tmp


class _Simulation:
    """The list as a delta would leave it, computed without touching the list.

    Items before ``mark`` are the list's own (``over`` holds those the delta
    wrote); the items from ``mark`` on are copied into ``tail`` when an insert or
    delete first reaches them, so the cost follows the part of the list that
    the delta shifts.
    """

    __slots__ = ("base", "mark", "over", "tail")

    def __init__(self, base: list[Any]) -> None:
        self.base = base
        self.mark = len(base)
        self.over: dict[int, Any] = {}
        self.tail: list[Any] = []

    def length(self) -> int:
        return self.mark + len(self.tail)

    def get(self, i: int) -> Any:
        mark = self.mark
        if i >= mark:
            return self.tail[i - mark]
        over = self.over
        if i in over:
            return over[i]
        return self.base[i]

    def put(self, i: int, item: Any) -> None:
        mark = self.mark
        if i >= mark:
            self.tail[i - mark] = item
        else:
            self.over[i] = item

    def _open(self, i: int) -> None:
        mark = self.mark
        if i < mark:
            self.tail[0:0] = [self.get(j) for j in range(i, mark)]
            self.mark = i

    def insert(self, i: int, items: list[Any]) -> None:
        self._open(i)
        k = i - self.mark
        self.tail[k:k] = items

    def delete(self, i: int, count: int) -> None:
        self._open(i)
        k = i - self.mark
        del self.tail[k : k + count]

    def replace_all(self, items: list[Any]) -> None:
        self.mark = 0
        self.over = {}
        self.tail = items

    def nested(self, i: int, change: Any, path: Path) -> None:
        item = self.get(i)
        t = type(change)
        if type(item) is _Slot:
            target = item.target(path)
            if target._delta_type is not t:
                _mismatch(change, target, path)
            target._check(change, path)
            target._apply(change, path, [])
            return
        if type(item) in VALUE_TYPES or item._delta_type is not t:
            _mismatch(change, item, path)
        item._check(change, path)
        slot = _Slot()
        slot.handler = item
        slot.changes.append(change)
        self.put(i, slot)


def _mismatch(change: Any, found: Any, path: Path) -> None:
    t = type(change)
    expected = "a mapping" if t is dict else f"a {t.__name__}"
    raise PatchError(
        f"{format_path(path)}: {expected} delta needs a matching container here, "
        f"found {describe(found)}"
    )


# -- snapshots ---------------------------------------------------------------------


def _check_list_snapshot(tree: list[Any], path: Path) -> None:
    for i, value in enumerate(tree):
        t = type(value)
        if t not in ATOMS and t is not float:
            check_snapshot_value(value, (*path, i))


def _build_list(tree: list[Any], readonly: bool) -> ListHandler:
    handler = ListHandler.__new__(ListHandler)
    handler._parent = None
    handler._key = None
    handler._readonly = readonly
    handler._reset()
    items = tree.copy()
    children = 0
    for i, value in enumerate(items):
        if type(value) not in VALUE_TYPES:
            child = build_value(value, readonly)
            child._parent = handler
            child._key = i
            items[i] = child
            children += 1
    list.extend(handler, items)
    handler._nchildren = children
    return handler


WRAPPERS[list] = ListHandler
SNAPSHOT_KINDS[list] = (_check_list_snapshot, _build_list)
