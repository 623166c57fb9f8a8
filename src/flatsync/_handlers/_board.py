"""ByteHandler: a uniform packed array (a game board) whose deltas are packed bytes.

The wire layout, the markers and their algebra are in ``flatsync._tree._boards``.
"""

from __future__ import annotations

import itertools
import math
import operator
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, ClassVar

from .._tree._boards import (
    _FEW_PAIRS,
    _INDEX_TYPECODES,
    _RUN_HEADERS,
    _SHORT_RUN,
    _WIDTHS,
    BLOB,
    ITEM_TYPES,
    PAIRS,
    RUNS,
    BoardDelta,
    BoardSnapshot,
    _check_board_snapshot,
    _check_f32,
    _check_fits,
    _check_shape,
    _differing,
    _Found,
    _from_le,
    _gather,
    _header,
    _interleave,
    _Item,
    _item_type,
    _le_bytes,
    _nest,
    _pair_indexes,
    _pair_struct,
    _pair_words,
    _run_items,
    _width_code,
    _words_of,
)
from .._tree._events import CellsChanged, Event
from .._tree._values import Path
from ._base import SNAPSHOT_KINDS, WRAPPERS, Handler

__all__ = ["ByteHandler"]

# -- the handler ------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    t = type(value)
    return t is int or t is float or t is bool or not hasattr(value, "__iter__")


def _flatten(values: Any, out: list[Any]) -> None:
    """Append the numbers of ``values`` to ``out``, flattening nested iterables row by row."""
    for value in values:
        if _is_number(value):
            out.append(value)
        elif isinstance(value, str | bytes | bytearray):
            if type(value) is str:
                raise TypeError("a board holds numbers, not str")
            out.extend(value)
        elif isinstance(value, ByteHandler):
            out.extend(value._a)
        else:
            _flatten(value, out)


class ByteHandler(Handler):
    """A fixed-size board of numbers of one type, tracked, with compact deltas.

    A board holds ``size`` items of one *item type*: unsigned or signed
    integers of 8, 16, 32 or 64 bits (``"u8"``, ``"i8"``, ``"u16"``, ``"i16"``,
    ``"u32"``, ``"i32"``, ``"u64"``, ``"i64"``) or IEEE 754 floats of 32 or 64
    bits (``"f32"``, ``"f64"``; the numpy names such as ``"uint8"`` work too),
    arranged in a ``shape`` of one or more dimensions. Its item type, shape and
    size never change; put a new board in place of the old one to resize.

    Indexing follows numpy's basic indexing: ``board[i]`` on a 1-D board,
    ``board[row, col]`` on a 2-D one, negative indexes count from the end, and
    any axis may be a slice (``board[2:5, ::2]``); missing trailing axes mean the
    whole axis (``board[row]`` is a row). Reading one item gives an ``int`` or a
    ``float``; reading a region gives nested lists. Writing a region takes one
    number (which fills it) or an iterable or buffer of exactly as many numbers
    (nested rows are flattened in row-major order).

    >>> import flatsync
    >>> board = flatsync.ByteHandler("u8", (3, 4))
    >>> board[1, 2] = 7
    >>> board[2] = [1, 2, 3, 4]
    >>> board.tolist()
    [[0, 0, 0, 0], [0, 0, 7, 0], [1, 2, 3, 4]]
    >>> board.diff().form, len(flatsync.CborCodec().encode(board.diff()))
    ('runs', 11)

    ``len(board)`` is the size of the first axis and iterating yields its items
    (rows as lists on an n-D board), as numpy does; ``board.size`` counts every
    item. ``==`` compares with another board: same shape and equal values.
    :meth:`view` gives a read-only, zero-copy ``memoryview`` with the board's
    native format and shape, which numpy wraps without copying
    (``numpy.asarray(board.view())``); on Python 3.12 and later,
    ``memoryview(board)`` is the same view.

    What changed since the last :meth:`commit` is kept per index (the item
    before the first write), or, once a bulk write touches many items, as a
    copy of the whole board taken at that moment; either way a write of the
    value a cell already holds (the same bits, for floats) is not a change, and
    neither is a write that puts the original value back. :meth:`diff` picks,
    per tick, the smallest of three forms (see :class:`~flatsync.protocol.BoardDelta`):
    index/value pairs, runs of contiguous changed items (a run may bridge a
    gap of unchanged items when that is shorter than starting a new run), or
    the whole blob. The cost of :meth:`diff` follows the number of changed
    items, except after a bulk write of many items (copy mode), when it follows
    the size of the board.

    :meth:`patch` checks the delta's item type, and its indexes or length
    against this board, before it writes anything. It returns one
    :class:`~flatsync.CellsChanged` at the path of the board, which lists the
    items whose bits changed with their old and new values, whatever the
    delta's form; none when no item changed.

    Args:
        item: The item type (default ``"u8"``).
        shape: An ``int`` (1-D) or a sequence of sizes; by default the number
            of ``initial`` values.
        initial: Numbers, in row-major order (nested rows are flattened), or a
            buffer; all zeros when omitted.

    Raises:
        ValueError: an unknown item type or a bad shape; ``initial`` holds another
            number of items than the shape; a region is written with another
            number of values than it holds (nothing changed).
        TypeError: an index that is neither an int nor a slice, or a value that
            is not a number of the item type's kind (nothing changed).
        OverflowError: a value out of the item type's range (nothing changed).
        IndexError: an index out of range, or more indexes than axes (reads and
            writes; nothing changed).
        ReadOnlyError: any write to a replica built by :meth:`from_snapshot`.
    """

    __slots__ = (
        "_a",
        "_base",
        "_cols",
        "_dirty",
        "_f32",
        "_item",
        "_key",
        "_n",
        "_ndim",
        "_orig",
        "_parent",
        "_raw",
        "_readonly",
        "_rows",
        "_shape",
        "_strides",
        "_wv",
    )

    _delta_type = BoardDelta
    _snapshot_type = BoardSnapshot
    _kind = "board"

    #: The items (native byte order).
    _a: array[Any]
    #: The items as bytes, and as words (the items themselves for integers, their
    #: bits for floats): views of ``_a``, which therefore never resizes.
    _raw: memoryview
    _wv: Any
    _item: _Item
    #: Whether items are float32 (whose range the array does not check).
    _f32: bool
    _shape: tuple[int, ...]
    _strides: tuple[int, ...]
    _ndim: int
    _n: int
    _rows: int
    _cols: int
    #: Index mode: index -> the word before its first write since the commit.
    _orig: dict[int, int] | None
    #: Copy mode: the whole board's native bytes at the last commit (``_orig`` is None).
    _base: bytes | None
    _dirty: bool

    #: Bulk writes of more items than this (and than size / 64) switch to copy mode.
    BULK_THRESHOLD: ClassVar[int] = 32

    def __init__(
        self,
        item: str = "u8",
        shape: int | Sequence[int] | None = None,
        initial: Any = None,
    ) -> None:
        kind = _item_type(item)
        values: array[Any] | None = None
        if initial is not None:
            values = _as_array(kind, initial)
        if shape is None:
            shape = (0,) if values is None else (len(values),)
        self._setup(kind, _check_shape(shape), False)
        if values is not None:
            if len(values) != self._n:
                raise ValueError(
                    f"{len(values)} initial values do not fill a board of shape {self._shape} "
                    f"({self._n} items)"
                )
            self._raw[:] = memoryview(values).cast("B")

    def _setup(self, item: _Item, shape: tuple[int, ...], readonly: bool) -> None:
        self._parent = None
        self._key = None
        self._readonly = readonly
        self._item = item
        self._f32 = item.is_float and item.size == 4
        self._shape = shape
        self._ndim = len(shape)
        n = math.prod(shape)
        self._n = n
        strides = []
        stride = 1
        for dim in reversed(shape):
            strides.append(stride)
            stride *= dim
        self._strides = tuple(reversed(strides))
        self._rows = shape[0]
        self._cols = shape[1] if len(shape) > 1 else 1
        self._orig = {}
        self._base = None
        self._dirty = False
        self._bind(array(item.typecode, bytes(n * item.size)))

    def _bind(self, values: array[Any]) -> None:
        self._a = values
        raw = memoryview(values).cast("B")
        self._raw = raw
        item = self._item
        self._wv = raw.cast(item.wordcode) if item.is_float else values

    @classmethod
    def frombytes(
        cls, data: bytes | bytearray | memoryview, item: str = "u8", shape: Any = None
    ) -> ByteHandler:
        """A board from packed little-endian items (what :meth:`tobytes` returns).

        Raises:
            ValueError: an unknown item type, or ``data`` does not hold a whole
                number of items, or not as many as ``shape`` needs.
        """
        kind = _item_type(item)
        data = bytes(data)
        if len(data) % kind.size:
            raise ValueError(f"{len(data)} bytes are not a whole number of {kind.name} items")
        count = len(data) // kind.size
        board = cls.__new__(cls)
        board._setup(kind, _check_shape((count,) if shape is None else shape), False)
        if board._n != count:
            raise ValueError(f"{count} items do not fill a board of shape {board._shape}")
        board._raw[:] = memoryview(_from_le(kind.typecode, data)).cast("B")
        return board

    # -- reading ------------------------------------------------------------------------

    @property
    def item(self) -> str:
        """The item type's short name (``"u8"``, ``"f64"``, ...)."""
        return self._item.name

    @property
    def shape(self) -> tuple[int, ...]:
        """The size of each dimension."""
        return self._shape

    @property
    def ndim(self) -> int:
        """The number of dimensions."""
        return self._ndim

    @property
    def size(self) -> int:
        """The number of items."""
        return self._n

    @property
    def itemsize(self) -> int:
        """The size of one item in bytes."""
        return self._item.size

    @property
    def nbytes(self) -> int:
        """The size of all items in bytes (the snapshot's ``data``)."""
        return self._n * self._item.size

    def __len__(self) -> int:
        return self._rows

    def __iter__(self) -> Iterator[Any]:
        if self._ndim == 1:
            return iter(self._a)
        rows = _nest(self._a.tolist(), self._shape)
        return iter(rows)

    def __getitem__(self, key: Any) -> Any:
        if type(key) is tuple and len(key) == 2 and self._ndim == 2:
            row, col = key
            if (
                type(row) is int
                and type(col) is int
                and 0 <= row < self._rows
                and 0 <= col < self._cols
            ):
                return self._a[row * self._cols + col]
        elif type(key) is int and self._ndim == 1 and 0 <= key < self._n:
            return self._a[key]
        where = self._locate(key)
        if type(where) is int:
            return self._a[where]
        indexes, shape = where
        a = self._a
        return _nest([a[i] for i in indexes], shape)

    def tolist(self) -> list[Any]:
        """The items as nested lists of the board's shape (a flat list for a 1-D board)."""
        return _nest(self._a.tolist(), self._shape)

    def tobytes(self) -> bytes:
        """Every item packed little-endian, in row-major order (the snapshot's ``data``)."""
        return _le_bytes(self._a)

    def view(self) -> memoryview:
        """A read-only, zero-copy ``memoryview`` of the items, with the board's shape.

        Its format is the native ``array`` typecode of the item type (for example
        ``"B"`` for ``u8``, ``"d"`` for ``f64``), so that numpy and other
        buffer users read the board without copying. The view follows later
        writes. Its items are in the machine's byte order (the wire's order is
        always little-endian).
        """
        view = memoryview(self._a).toreadonly()
        if self._ndim == 1:
            return view
        if self._n == 0:
            return view  # memoryview cannot cast to a shape with a zero
        return view.cast("B").cast(self._item.typecode, self._shape)

    def __buffer__(self, flags: int) -> memoryview:
        """The buffer protocol (Python 3.12+): :meth:`view`, read-only."""
        return self.view()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ByteHandler):
            return NotImplemented
        return self._shape == other._shape and self._a == other._a

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        values = repr(self._a.tolist()) if self._n <= 64 else f"<{self._n} items>"
        return f"{type(self).__name__}({self.item!r}, {self._shape!r}, {values})"

    # -- writing ------------------------------------------------------------------------

    def __setitem__(self, key: Any, value: Any) -> None:
        if self._readonly:
            self._refuse_write()
        if type(key) is tuple and len(key) == 2 and self._ndim == 2:
            row, col = key
            if (
                type(row) is int
                and type(col) is int
                and 0 <= row < self._rows
                and 0 <= col < self._cols
            ):
                i = row * self._cols + col
            else:
                where = self._locate(key)
                if type(where) is not int:
                    self._write_region(where, value)
                    return
                i = where
        elif type(key) is int and self._ndim == 1 and 0 <= key < self._n:
            i = key
        else:
            where = self._locate(key)
            if type(where) is not int:
                self._write_region(where, value)
                return
            i = where
        # The hot path: one item. The array checks the value's type and range.
        wv = self._wv
        old = wv[i]
        if self._f32:
            _check_f32(value)
        self._a[i] = value
        if wv[i] == old:
            return
        orig = self._orig
        if orig is not None and i not in orig:
            orig[i] = old
            if not self._dirty:
                self._dirty = True
                self._mark_dirty()

    def fill(self, value: Any) -> None:
        """Set every item to ``value``.

        Raises:
            TypeError, OverflowError: ``value`` does not fit the item type
                (nothing changed).
            ReadOnlyError: this board is a replica.
        """
        if self._readonly:
            self._refuse_write()
        one = _as_array(self._item, (value,))
        self._write_all(one * self._n)

    def _write_region(self, where: tuple[list[int], tuple[int, ...]], value: Any) -> None:
        indexes, shape = where
        if _is_number(value):
            values = _as_array(self._item, (value,)) * len(indexes)
        else:
            values = _as_array(self._item, value)
            if len(values) != len(indexes):
                raise ValueError(
                    f"cannot write {len(values)} values into a region of shape {shape} "
                    f"({len(indexes)} items)"
                )
        if len(indexes) == self._n and indexes == list(range(self._n)):
            self._write_all(values)
            return
        words = (
            memoryview(values).cast("B").cast(self._item.wordcode)
            if self._item.is_float
            else values
        )
        if len(indexes) > self._bulk_limit():
            self._copy_mode()
        wv = self._wv
        orig = self._orig
        for i, word in zip(indexes, words, strict=True):
            old = wv[i]
            if old != word:
                wv[i] = word
                if orig is not None and i not in orig:
                    orig[i] = old
                    if not self._dirty:
                        self._dirty = True
                        self._mark_dirty()

    def _write_all(self, values: array[Any]) -> None:
        """Replace every item with ``values`` (an array of the item type, of the board's size)."""
        if self._a.tobytes() == values.tobytes():
            return
        new = memoryview(values).cast("B")
        if self._n > self._bulk_limit():
            self._copy_mode()
            self._raw[:] = new
            return
        wv = self._wv
        words = new.cast(self._item.wordcode) if self._item.is_float else values
        for i, word in enumerate(words):
            old = wv[i]
            if old != word:
                wv[i] = word
                self._note(i, old)

    def _bulk_limit(self) -> int:
        return max(self.BULK_THRESHOLD, self._n >> 6)

    def _note(self, i: int, old: int) -> None:
        """Record that item ``i`` held the word ``old`` before this write."""
        orig = self._orig
        if orig is not None and i not in orig:
            orig[i] = old
            if not self._dirty:
                self._dirty = True
                self._mark_dirty()

    def _copy_mode(self) -> None:
        """Keep the board as it was at the last commit as a copy, instead of per index."""
        orig = self._orig
        if orig is None:
            return
        if orig:
            base = array(self._a.typecode, self._a)
            words = (
                memoryview(base).cast("B").cast(self._item.wordcode)
                if self._item.is_float
                else base
            )
            for i, old in orig.items():
                words[i] = old
            self._base = base.tobytes()
        else:
            self._base = self._a.tobytes()
        self._orig = None
        if not self._dirty:
            self._dirty = True
            self._mark_dirty()

    def _locate(self, key: Any) -> Any:
        """A flat index for one item, or ``(flat indexes, region shape)`` for a region.

        Raises:
            IndexError: an index out of range, or more indexes than dimensions.
            TypeError: an index that is neither an integer nor a slice.
        """
        shape = self._shape
        keys = key if type(key) is tuple else (key,)
        if len(keys) > self._ndim:
            raise IndexError(
                f"too many indices for a board of {self._ndim} dimension"
                f"{'s' if self._ndim > 1 else ''}: {len(keys)} were given"
            )
        axes: list[Any] = []
        single = True
        for axis, k in enumerate(keys):
            dim = shape[axis]
            if type(k) is slice:
                axes.append(range(*k.indices(dim)))
                single = False
                continue
            try:
                i = operator.index(k)
            except TypeError:
                raise TypeError(
                    f"board indices must be integers or slices, not {type(k).__name__}"
                ) from None
            if i < 0:
                i += dim
            if not 0 <= i < dim:
                raise IndexError(
                    f"index {operator.index(k)} is out of range for axis {axis} of size {dim}"
                )
            axes.append(i)
        for axis in range(len(keys), self._ndim):
            axes.append(range(shape[axis]))
            single = False
        strides = self._strides
        if single:
            return sum(i * s for i, s in zip(axes, strides, strict=True))
        region = tuple(len(r) for r in axes if type(r) is range)
        spans = [
            [i * s for i in r] if type(r) is range else [r * s]
            for r, s in zip(axes, strides, strict=True)
        ]
        indexes = [sum(combo) for combo in itertools.product(*spans)]
        return indexes, region

    # -- copies -------------------------------------------------------------------------

    def _recipe(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return _restore, (self.tobytes(), self.item, self._shape)

    def to_python(self) -> ByteHandler:
        """A writable, unattached copy of the board.

        There is no plainer Python value that keeps a board's item type and shape,
        so ``to_python`` (and so ``DataHandler.copy()`` of a tree holding a board)
        gives a copy of the board itself.
        """
        return self.copy()

    # -- the protocol -------------------------------------------------------------------

    def snapshot(self) -> BoardSnapshot:
        """The full state: a :class:`~flatsync.protocol.BoardSnapshot` (item type, shape, packed items)."""
        return BoardSnapshot(self._item.name, self._shape, self.tobytes())

    def _as_new_entry(self) -> BoardSnapshot:
        return self.snapshot()

    def _child_dirty(self, child: Handler) -> None:  # pragma: no cover - boards hold no handlers
        raise AssertionError("a board holds no handlers")

    def _changed(self) -> list[int]:
        """The sorted indexes whose bits differ from the last commit."""
        orig = self._orig
        if orig is not None:
            wv = self._wv
            return sorted(i for i, old in orig.items() if wv[i] != old)
        assert self._base is not None
        # Native order, as the copy is: item boundaries agree.
        return _differing(self._base, self._a.tobytes(), self._item.size)

    def _nested_diff(self) -> BoardDelta | None:
        if not self._dirty:
            return None
        changed = self._changed()
        if not changed:
            return None
        item = self._item
        size = item.size
        n = self._n
        wcode = _width_code(n)
        width = _WIDTHS[wcode]
        runs: list[list[int]] = []
        bridge = 2 * width  # bytes a new run's header costs
        for i in changed:
            if runs and (i - runs[-1][1] - 1) * size < bridge:
                runs[-1][1] = i
            else:
                runs.append([i, i])
        pairs_size = len(changed) * (width + size)
        runs_size = sum(bridge + (last - first + 1) * size for first, last in runs)
        blob_size = n * size
        code = item.code
        if blob_size < pairs_size and blob_size < runs_size:
            return BoardDelta(bytes((_header(BLOB, 0, code),)) + self.tobytes())
        if pairs_size <= runs_size:
            wv = self._wv
            words = array(item.wordcode, [wv[i] for i in changed])
            indexes = array(_INDEX_TYPECODES[wcode], changed)
            return BoardDelta(bytes((_header(PAIRS, wcode, code),)) + _interleave(indexes, words))
        run_header = _RUN_HEADERS[wcode].pack
        a = self._a
        parts = [bytes((_header(RUNS, wcode, code),))]
        for first, last in runs:
            parts.append(run_header(first, last))
            parts.append(_le_bytes(a[first : last + 1]))
        return BoardDelta(b"".join(parts))

    def commit(self) -> None:
        """Forget the changes since the last commit (they were sent)."""
        if self._dirty:
            self._orig = {}
            self._base = None
            self._dirty = False

    def _initial_events(self, path: Path) -> list[Event]:
        # One CellsChanged, as if from a board of zeros (see Handler.initial_events).
        changed = _differing(bytes(self.nbytes), self._a.tobytes(), self._item.size)
        if not changed:
            return []
        zero = 0.0 if self._item.is_float else 0
        return [
            CellsChanged(
                path=path,
                shape=self._shape,
                indices=tuple(changed),
                old=(zero,) * len(changed),
                new=_gather(self._a, changed),
            )
        ]

    def _check(self, delta: Any, path: Path) -> None:
        _check_fits(delta, self._item, self._n, path)

    def _apply(self, delta: Any, path: Path, events: list[Event] | None) -> None:
        payload: bytes = delta.payload
        if not payload:
            return
        head = payload[0]
        form = head >> 6
        wcode = (head >> 4) & 3
        if form == BLOB:
            found = self._write_blob(payload)
        else:
            found = self._write_items(payload, form, wcode)
        if found is not None and events is not None:
            changed, olds, news = found
            events.append(
                CellsChanged(path=path, shape=self._shape, indices=changed, old=olds, new=news)
            )

    def _write_blob(self, payload: bytes) -> _Found | None:
        """Write a blob; return what changed (``None``: nothing).

        The write is a copy, and what changed comes from comparing the bytes
        before and after: the work per item is done in C.
        """
        item = self._item
        a = self._a
        before = array(a.typecode, a)
        if not self._readonly:
            self._copy_mode()  # before the write: it keeps the board as it was
        self._raw[:] = memoryview(_from_le(item.typecode, payload[1:])).cast("B")
        changed = _differing(before.tobytes(), a.tobytes(), item.size)
        if not changed:
            return None
        return tuple(changed), _gather(before, changed), _gather(a, changed)

    def _write_items(self, payload: bytes, form: int, wcode: int) -> _Found | None:
        """Write pairs or runs; return what changed (``None``: nothing).

        Pairs and short runs go item by item, long runs slice by slice (each
        compared with what it replaces in C). An item whose word (its bits, for
        floats) differs is a change.
        """
        item = self._item
        changed: list[int] = []
        olds: list[Any] = []
        news: list[Any] = []
        if form == PAIRS:
            count = (len(payload) - 1) // (_WIDTHS[wcode] + item.size)
            if not self._readonly and count > self._bulk_limit():
                self._copy_mode()  # before the writes: it keeps the board as it was
            if count <= _FEW_PAIRS:
                pairs: Iterable[tuple[int, int]] = _pair_struct(wcode, item).iter_unpack(
                    payload[1:]
                )
            else:
                pairs = zip(
                    _pair_indexes(payload, wcode, item.size),
                    _pair_words(payload, wcode, item),
                    strict=True,
                )
            self._write_pairs(pairs, changed, olds, news)
        else:
            runs, indexes, words = _run_items(payload, wcode, item)
            if not self._readonly and len(indexes) > self._bulk_limit():
                self._copy_mode()
            a = self._a
            wv = self._wv
            ne = operator.ne
            compress = itertools.compress
            is_float = item.is_float
            done = 0  # the items before this offset are written
            offset = 0
            for first, last in runs:
                stop = last + 1
                end = offset + stop - first
                if end - offset > _SHORT_RUN:
                    if done < offset:
                        batch = zip(indexes[done:offset], words[done:offset], strict=True)
                        self._write_pairs(batch, changed, olds, news)
                    new = words[offset:end]
                    old = wv[first:stop]
                    if old != new:
                        before = a[first:stop] if is_float else old
                        wv[first:stop] = new
                        after = a[first:stop] if is_float else new
                        flags = list(map(ne, old, new))
                        if all(flags):
                            changed.extend(range(first, stop))
                            olds.extend(before)
                            news.extend(after)
                        else:
                            changed.extend(compress(range(first, stop), flags))
                            olds.extend(compress(before, flags))
                            news.extend(compress(after, flags))
                    done = end
                offset = end
            if done < offset:
                batch = zip(indexes[done:], words[done:], strict=True)
                self._write_pairs(batch, changed, olds, news)
        if not changed:
            return None
        if not all(map(operator.lt, changed, itertools.islice(changed, 1, None))):
            # Not from diff or merge: indexes out of order, or written twice.
            return self._settle(changed, olds)
        if not self._readonly and self._orig is not None:
            self._track(changed, olds)
        return tuple(changed), tuple(olds), tuple(news)

    def _write_pairs(
        self,
        pairs: Iterable[tuple[int, int]],
        changed: list[int],
        olds: list[Any],
        news: list[Any],
    ) -> None:
        """Write ``(index, word)`` pairs; append each change's index, old and new value."""
        a = self._a
        wv = self._wv
        add, add_old, add_new = changed.append, olds.append, news.append
        # The hottest loop of a patch, one per item kind.
        if self._item.is_float:
            for i, word in pairs:
                if wv[i] != word:
                    add(i)
                    add_old(a[i])
                    wv[i] = word
                    add_new(a[i])
        else:
            for i, word in pairs:
                old = wv[i]
                if old != word:
                    wv[i] = word
                    add(i)
                    add_old(old)
                    add_new(word)

    def _settle(self, changed: list[int], olds: list[Any]) -> _Found | None:
        """What a delta that wrote indexes out of order or twice changed, ascending, once each."""
        first: dict[int, Any] = {}
        for i, old in zip(changed, olds, strict=True):
            first.setdefault(i, old)
        wv = self._wv
        word_of = dict(zip(first, _words_of(self._item, list(first.values())), strict=True))
        indexes = sorted(i for i in first if wv[i] != word_of[i])
        if not indexes:
            return None
        before = tuple(first[i] for i in indexes)
        if not self._readonly and self._orig is not None:
            self._track(indexes, list(before))
        return tuple(indexes), before, _gather(self._a, indexes)

    def _track(self, changed: Sequence[int], olds: Sequence[Any]) -> None:
        """Record what the items that a patch changed held before (a writable board)."""
        orig = self._orig
        assert orig is not None
        for i, old in zip(changed, _words_of(self._item, olds), strict=True):
            if i not in orig:
                orig[i] = old
        if not self._dirty:
            self._dirty = True
            self._mark_dirty()

    def _strict_form(self) -> Any:
        return ("board", self._item.name, self._shape, self.tobytes())


def _restore(data: bytes, item: str, shape: tuple[int, ...]) -> ByteHandler:
    """Unpickle a board."""
    return ByteHandler.frombytes(data, item, shape)


def _as_array(item: _Item, values: Any) -> array[Any]:
    """``values`` (numbers, nested rows, or a buffer) as a new array of ``item``'s type.

    Raises:
        TypeError: a value that is not a number of the right kind.
        OverflowError: a value out of range.
    """
    typecode = item.typecode
    if isinstance(values, ByteHandler):
        if values._item is item:
            return array(typecode, values._a)
        values = values._a
    if isinstance(values, array) and values.typecode == typecode:
        return array(typecode, values)
    if isinstance(values, memoryview):
        if values.format == typecode and values.c_contiguous:
            return array(typecode, values.cast("B").cast(typecode))
        values = values.tolist()
    if type(values) is bytes or type(values) is bytearray:
        flat: Any = values
    else:
        try:
            iterator = iter(values)
        except TypeError:
            raise TypeError(
                f"a board takes numbers, an iterable or a buffer, not {type(values).__name__}"
            ) from None
        flat = []
        _flatten(iterator, flat)
    if item.is_float and item.size == 4:
        for value in flat:
            _check_f32(value)
    return array(typecode, flat)


# -- snapshots in trees -------------------------------------------------------------------


def _build_board(tree: BoardSnapshot, readonly: bool) -> ByteHandler:
    board = ByteHandler.__new__(ByteHandler)
    item = ITEM_TYPES[tree.item]
    board._setup(item, tree.shape, readonly)
    board._raw[:] = memoryview(_from_le(item.typecode, tree.data)).cast("B")
    return board


def _wrap_bytearray(value: bytearray) -> ByteHandler:
    return ByteHandler("u8", len(value), value)


def _wrap_array(value: array[Any]) -> ByteHandler:
    code = value.typecode
    if code not in "bBhHiIlLqQfd":
        raise TypeError(f"an array of typecode {code!r} holds no numbers; a board needs numbers")
    kind = "f" if code in "fd" else ("u" if code.isupper() else "i")
    return ByteHandler(f"{kind}{8 * value.itemsize}", len(value), value)


WRAPPERS[bytearray] = _wrap_bytearray
WRAPPERS[array] = _wrap_array
SNAPSHOT_KINDS[BoardSnapshot] = (_check_board_snapshot, _build_board)
