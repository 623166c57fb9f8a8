"""ByteHandler: a uniform packed array (a game board) whose deltas are packed bytes.

The wire layouts (the docs' wire-format page is the specification):

* :class:`~flatsync.protocol.BoardSnapshot`, tag 9: an array ``[item code, [dim, ...], data]``
  where ``data`` is one byte string holding every item, little-endian, in
  row-major order.
* :class:`~flatsync.protocol.BoardDelta`, tag 10: one byte string. Empty, it changes nothing.
  Otherwise its first byte is a header, ``form << 6 | width << 4 | item code``,
  and the rest is the payload of the form: index/value *pairs*, *runs* of
  contiguous items (``first, last, item...``), or the whole *blob*. Indexes are
  flat (row-major) and ``1 << width`` bytes wide, little-endian.
"""

from __future__ import annotations

import itertools
import math
import operator
import re
import struct
import sys
from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, ClassVar, TypeAlias

from .._tree._errors import DecodeError, PatchError
from .._tree._events import CellsChanged, Event
from .._tree._markers import Marker, TypedDelta, register_marker
from .._tree._values import Path, describe, format_path
from ._base import SNAPSHOT_KINDS, WRAPPERS, Handler

__all__ = ["ITEM_TYPES", "BoardDelta", "BoardSnapshot", "ByteHandler"]

_LITTLE = sys.byteorder == "little"

#: The delta forms (the two top bits of a delta's header byte).
PAIRS = 0
RUNS = 1
BLOB = 2
_FORM_NAMES = ("pairs", "runs", "blob")

#: Index widths in bytes, by width code (bits 4-5 of the header byte).
_WIDTHS = (1, 2, 4, 8)
_WIDTH_CHARS = "BHIQ"

#: Most dimensions a board may have.
MAX_NDIM = 32


def _array_typecode(signed: bool, size: int) -> str:
    """The ``array`` typecode of an integer of ``size`` bytes on this platform."""
    for code in "bhilq" if signed else "BHILQ":
        if array(code).itemsize == size:
            return code
    raise RuntimeError(f"no {size}-byte integer array type on this platform")  # pragma: no cover


class _Item:
    """One item type: its names, its wire code, and how Python stores and packs it."""

    __slots__ = ("code", "is_float", "name", "size", "typecode", "word", "wordcode")

    name: str
    code: int
    size: int
    is_float: bool
    #: ``array`` typecodes of the items and of their words (``Any``: typeshed wants literals).
    typecode: Any
    wordcode: Any
    #: The ``struct`` character of the words (floats travel as their bits).
    word: str

    def __init__(self, name: str, code: int, kind: str, size: int) -> None:
        self.name = name
        self.code = code
        self.size = size
        self.is_float = kind == "f"
        if self.is_float:
            self.typecode = "f" if size == 4 else "d"
            # Floats travel and compare as their bits: an unsigned integer view.
            self.word = "I" if size == 4 else "Q"
            self.wordcode = _array_typecode(False, size)
        else:
            signed = kind == "i"
            self.typecode = _array_typecode(signed, size)
            self.word = ("bhiq" if signed else "BHIQ")[_WIDTHS.index(size)]
            self.wordcode = self.typecode


#: Every item type by its short name, in wire-code order.
ITEM_TYPES: dict[str, _Item] = {
    name: _Item(name, code, name[0], int(name[1:]) // 8)
    for code, name in enumerate(
        ("u8", "i8", "u16", "i16", "u32", "i32", "u64", "i64", "f32", "f64")
    )
}
_BY_CODE: tuple[_Item, ...] = tuple(ITEM_TYPES.values())
_ALIASES = {
    **{f"uint{n}": f"u{n}" for n in (8, 16, 32, 64)},
    **{f"int{n}": f"i{n}" for n in (8, 16, 32, 64)},
    "float32": "f32",
    "float64": "f64",
}
_pack_f32 = struct.Struct("<f").pack


def _check_f32(value: Any) -> None:
    """Raise ``OverflowError`` for a number that a 32-bit float cannot hold.

    ``array("f")`` stores ``inf`` for a finite value beyond float32's range,
    where ``struct`` raises ``OverflowError``, as it should. A value that is not
    a number is left to the array, which raises ``TypeError``.
    """
    t = type(value)
    if t is not float:
        if not hasattr(t, "__float__"):
            return
        value = float(value)
    _pack_f32(value)


def _item_type(item: Any) -> _Item:
    if type(item) is str:
        found = ITEM_TYPES.get(_ALIASES.get(item, item))
        if found is not None:
            return found
    names = ", ".join(ITEM_TYPES)
    raise ValueError(f"unknown item type {item!r}; item types are {names}")


def _width_code(length: int) -> int:
    """The width code of the narrowest index that holds every index below ``length``."""
    if length <= 0x100:
        return 0
    if length <= 0x1_0000:
        return 1
    if length <= 0x1_0000_0000:
        return 2
    return 3


def _le_bytes(values: array[Any]) -> bytes:
    """``values`` packed little-endian."""
    if _LITTLE:
        return values.tobytes()
    swapped = array(values.typecode, values)  # pragma: no cover - big-endian hosts
    swapped.byteswap()  # pragma: no cover
    return swapped.tobytes()  # pragma: no cover


def _from_le(typecode: str, data: bytes | memoryview) -> array[Any]:
    """A new array of ``typecode`` from little-endian packed ``data``."""
    values = array(typecode)
    values.frombytes(data)
    if not _LITTLE:  # pragma: no cover - big-endian hosts
        values.byteswap()
    return values


def _nest(flat: list[Any], shape: Sequence[int]) -> list[Any]:
    """Split a flat row-major list into nested lists of ``shape``."""
    for size in reversed(shape[1:]):
        flat = [flat[i : i + size] for i in range(0, len(flat), size)]
    return flat


#: ``array`` typecodes of the index widths.
_INDEX_TYPECODES = tuple(_array_typecode(False, width) for width in _WIDTHS)


def _interleave(first: array[Any], second: array[Any]) -> bytes:
    """Pairs as bytes: item ``k`` of ``first``, then item ``k`` of ``second``, little-endian.

    Built with extended-slice assignments, so the work per pair is done in C.
    """
    a = _le_bytes(first)
    b = _le_bytes(second)
    wa = first.itemsize
    wb = second.itemsize
    step = wa + wb
    out = bytearray(len(a) + len(b))
    for j in range(wa):
        out[j::step] = a[j::wa]
    for j in range(wb):
        out[wa + j :: step] = b[j::wb]
    return bytes(out)


def _header(form: int, wcode: int, code: int) -> int:
    return form << 6 | wcode << 4 | code


# -- reading a delta's payload ------------------------------------------------------

_PAIR_STRUCTS: dict[tuple[int, str], struct.Struct] = {}
_RUN_HEADERS = tuple(struct.Struct("<" + char * 2) for char in _WIDTH_CHARS)


def _pair_struct(wcode: int, item: _Item) -> struct.Struct:
    key = (wcode, item.word)
    found = _PAIR_STRUCTS.get(key)
    if found is None:
        found = _PAIR_STRUCTS[key] = struct.Struct("<" + _WIDTH_CHARS[wcode] + item.word)
    return found


def _payload_problem(payload: bytes) -> str | None:
    """What is wrong with a delta payload's structure, or ``None`` (no board needed)."""
    if not payload:
        return None
    head = payload[0]
    form = head >> 6
    wcode = (head >> 4) & 3
    code = head & 15
    if form > BLOB:
        return f"unknown delta form {form} (header byte {head:#04x})"
    if code >= len(_BY_CODE):
        return f"unknown item code {code} (header byte {head:#04x})"
    size = _BY_CODE[code].size
    body = len(payload) - 1
    if form == BLOB:
        if wcode:
            return f"a blob delta's width bits must be 0 (header byte {head:#04x})"
        if body % size:
            return f"a blob of {body} bytes is not a whole number of {size}-byte items"
        return None
    if form == PAIRS:
        step = _WIDTHS[wcode] + size
        if body % step:
            return f"{body} bytes of pairs are not a whole number of {step}-byte pairs"
        return None
    for problem in _runs(payload, wcode, size):
        if type(problem) is str:
            return problem
    return None


def _runs(payload: bytes, wcode: int, size: int) -> Iterator[tuple[int, int, int] | str]:
    """The runs of a runs payload as ``(first, last, offset of the items)``, or a problem."""
    header = _RUN_HEADERS[wcode]
    step = header.size
    position = 1
    end = len(payload)
    while position < end:
        if position + step > end:
            yield f"a run header is cut short at byte {position}"
            return
        first, last = header.unpack_from(payload, position)
        position += step
        if last < first:
            yield f"a run from index {first} to index {last} runs backwards"
            return
        nbytes = (last - first + 1) * size
        if position + nbytes > end:
            yield f"the run from index {first} to {last} is cut short"
            return
        yield first, last, position
        position += nbytes


def _cells(payload: bytes) -> dict[int, bytes]:
    """A pairs or runs payload (well formed) as ``{index: little-endian item bytes}``."""
    head = payload[0]
    form = head >> 6
    wcode = (head >> 4) & 3
    item = _BY_CODE[head & 15]
    size = item.size
    cells: dict[int, bytes] = {}
    if form == PAIRS:
        width = _WIDTHS[wcode]
        step = width + size
        for position in range(1, len(payload), step):
            index = int.from_bytes(payload[position : position + width], "little")
            cells[index] = payload[position + width : position + step]
        return cells
    for run in _runs(payload, wcode, size):
        assert type(run) is tuple
        first, last, position = run
        for index in range(first, last + 1):
            cells[index] = payload[position : position + size]
            position += size
    return cells


def _max_index(payload: bytes) -> int:
    """The largest index that a pairs or runs payload (well formed) writes, or -1."""
    head = payload[0]
    form = head >> 6
    wcode = (head >> 4) & 3
    item = _BY_CODE[head & 15]
    if form == PAIRS:
        if len(payload) <= _FEW_PAIRS * (_WIDTHS[wcode] + item.size):
            body = payload[1:]
            return max(
                (pair[0] for pair in _pair_struct(wcode, item).iter_unpack(body)), default=-1
            )
        return max(_pair_indexes(payload, wcode, item.size), default=-1)
    top = -1
    for run in _runs(payload, wcode, item.size):
        assert type(run) is tuple
        top = max(top, run[1])
    return top


def _encode_cells(code: int, wcode: int, cells: dict[int, bytes]) -> bytes:
    """The smaller of pairs and runs for sparse ``cells`` (no gap is bridged)."""
    size = _BY_CODE[code].size
    width = _WIDTHS[wcode]
    order = sorted(cells)
    runs: list[tuple[int, int]] = []
    for index in order:
        if runs and runs[-1][1] == index - 1:
            runs[-1] = (runs[-1][0], index)
        else:
            runs.append((index, index))
    pairs_size = len(order) * (width + size)
    runs_size = sum(2 * width + (last - first + 1) * size for first, last in runs)
    char = _WIDTH_CHARS[wcode]
    if pairs_size <= runs_size:
        pack = struct.Struct("<" + char).pack
        body = b"".join(pack(index) + cells[index] for index in order)
        return bytes((_header(PAIRS, wcode, code),)) + body
    run_header = _RUN_HEADERS[wcode].pack
    parts = [bytes((_header(RUNS, wcode, code),))]
    for first, last in runs:
        parts.append(run_header(first, last))
        parts.extend(cells[index] for index in range(first, last + 1))
    return b"".join(parts)


def _apply_payload_to_bytes(data: bytearray, payload: bytes, size: int) -> None:
    """Write a pairs or runs payload (well formed, fitting) into packed ``data``."""
    for index, value in _cells(payload).items():
        data[index * size : (index + 1) * size] = value


# -- the markers ----------------------------------------------------------------------


class BoardSnapshot(Marker):
    """The snapshot of a :class:`~flatsync.ByteHandler`: item type, shape and packed items.

    ``data`` holds every item in row-major order, each packed little-endian in
    its item type's size (IEEE 754 for ``f32``/``f64``, bit for bit). On the
    wire it is CBOR tag 9 around ``[item code, [dim, ...], data]``.

    >>> import flatsync
    >>> snap = flatsync.ByteHandler("u16", 2, [1, 258]).snapshot()
    >>> snap
    BoardSnapshot('u16', (2,), b'\\x01\\x00\\x02\\x01')
    >>> flatsync.CborCodec().encode(snap).hex(" ")
    'c9 83 02 81 02 44 01 00 02 01'

    Attributes:
        item: The item type's short name (``"u8"``, ``"f32"``, ...).
        shape: The size of each dimension.
        data: The packed items.
    """

    __slots__ = ("data", "item", "shape")

    marker_id = 9

    item: str
    shape: tuple[int, ...]
    data: bytes

    def __init__(self, item: str, shape: tuple[int, ...], data: bytes) -> None:
        self.item = item
        self.shape = shape
        self.data = data

    def content(self) -> Any:
        found = ITEM_TYPES.get(self.item)
        return (-1 if found is None else found.code, self.shape, self.data)

    @classmethod
    def from_content(cls, content: Any) -> BoardSnapshot:
        if type(content) is not tuple or len(content) != 3:
            raise DecodeError("a board snapshot must be an array [item code, shape, data]")
        code, shape, data = content
        if type(code) is not int or not 0 <= code < len(_BY_CODE):
            raise DecodeError(f"a board snapshot has an unknown item code {code!r:.20}")
        snapshot = cls(_BY_CODE[code].name, shape, data)
        problem = snapshot._problem()
        if problem is not None:
            raise DecodeError(f"a board snapshot {problem}")
        return snapshot

    def _problem(self) -> str | None:
        """What is wrong with this snapshot, or ``None``."""
        item = ITEM_TYPES.get(self.item) if type(self.item) is str else None
        if item is None:
            return f"has an unknown item type {self.item!r:.20}"
        shape = self.shape
        if (
            type(shape) is not tuple
            or not 1 <= len(shape) <= MAX_NDIM
            or any(type(dim) is not int or dim < 0 for dim in shape)
        ):
            return (
                f"needs a shape of 1 to {MAX_NDIM} sizes (ints >= 0), "
                f"got {shape!r:.60} ({describe(shape)})"
            )
        if type(self.data) is not bytes:
            return f"holds its items in bytes, not {describe(self.data)}"
        expected = math.prod(shape) * item.size
        if len(self.data) != expected:
            return (
                f"of shape {shape} and item type {item.name} needs {expected} bytes, "
                f"got {len(self.data)}"
            )
        return None

    def __eq__(self, other: object) -> bool:
        if type(other) is not BoardSnapshot:
            return NotImplemented
        return (self.item, self.shape, self.data) == (other.item, other.shape, other.data)

    def __hash__(self) -> int:
        return hash((BoardSnapshot, self.item, self.shape, self.data))

    def __repr__(self) -> str:
        return f"BoardSnapshot({self.item!r}, {self.shape!r}, {self.data!r})"

    def _strict_form(self) -> Any:
        return ("board", self.item, self.shape, self.data)


class BoardDelta(Marker, TypedDelta):
    """The delta of a :class:`~flatsync.ByteHandler`: one byte string.

    Empty, it changes nothing. Otherwise its first byte is a header,
    ``form << 6 | width << 4 | item code``, and the rest is, by form:

    * ``0``, *pairs*: ``index, value`` repeated; each index is ``1 << width``
      bytes, each value one item;
    * ``1``, *runs*: ``first, last, item, item, ...`` repeated, the items from
      index ``first`` to index ``last`` inclusive;
    * ``2``, *blob*: every item of the board (``width`` is 0).

    Indexes are flat (row-major), and every number is little-endian.
    :meth:`ByteHandler.diff` picks the smallest form for each tick. On the wire
    it is CBOR tag 10 around the byte string.

    >>> import flatsync
    >>> board = flatsync.ByteHandler("u8", (32, 32))
    >>> board[3, 4] = 7
    >>> delta = board.diff()
    >>> delta, delta.form
    (BoardDelta(b'\\x10d\\x00\\x07'), 'pairs')
    >>> flatsync.CborCodec().encode(delta).hex(" ")
    'ca 44 10 64 00 07'

    Attributes:
        payload: The byte string.
    """

    __slots__ = ("payload",)

    marker_id = 10

    payload: bytes

    def __init__(self, payload: bytes = b"") -> None:
        self.payload = payload

    def content(self) -> Any:
        return self.payload

    @classmethod
    def from_content(cls, content: Any) -> BoardDelta:
        if type(content) is not bytes:
            raise DecodeError(f"a board delta must be a byte string, not {describe(content)}")
        problem = _payload_problem(content)
        if problem is not None:
            raise DecodeError(f"a board delta is malformed: {problem}")
        return cls(content)

    @property
    def form(self) -> str | None:
        """``"pairs"``, ``"runs"`` or ``"blob"``; ``None`` for the empty delta."""
        if not self.payload:
            return None
        form = self.payload[0] >> 6
        return _FORM_NAMES[form] if form <= BLOB else None

    @property
    def item(self) -> str | None:
        """The item type the delta was made for; ``None`` for the empty delta."""
        if not self.payload:
            return None
        code = self.payload[0] & 15
        return _BY_CODE[code].name if code < len(_BY_CODE) else None

    def __eq__(self, other: object) -> bool:
        if type(other) is not BoardDelta:
            return NotImplemented
        return self.payload == other.payload

    def __hash__(self) -> int:
        return hash((BoardDelta, self.payload))

    def __repr__(self) -> str:
        return f"BoardDelta({self.payload!r})"

    def _strict_form(self) -> Any:
        return ("board delta", self.payload)

    def _problem(self) -> str | None:
        if type(self.payload) is not bytes:
            return f"a BoardDelta holds bytes, not {describe(self.payload)}"
        return _payload_problem(self.payload)

    def is_empty(self) -> bool:
        return not self.payload

    def merged(self, later: TypedDelta, path: tuple[Any, ...]) -> TypedDelta:
        """One delta equal to applying this one, then ``later`` (see :func:`~flatsync.merge`).

        A later blob wins; a blob followed by pairs or runs stays a blob; two
        sparse deltas become the smaller of pairs and runs of their union.

        Raises:
            PatchError: ``later`` is not a board delta, either delta is
                malformed, the two are for different item types, or ``later``
                writes beyond the earlier blob.
        """
        if type(later) is not BoardDelta:
            raise PatchError(
                f"{format_path(path)}: cannot merge a board delta with a {describe(later)} delta"
            )
        for delta in (self, later):
            problem = delta._problem()
            if problem is not None:
                raise PatchError(f"{format_path(path)}: {problem}")
        first, second = self.payload, later.payload
        if not second:
            return self
        if not first:
            return later
        if first[0] & 15 != second[0] & 15:
            raise PatchError(
                f"{format_path(path)}: cannot merge a {self.item} board delta "
                f"with a {later.item} board delta"
            )
        if second[0] >> 6 == BLOB:
            return later
        code = first[0] & 15
        size = _BY_CODE[code].size
        if first[0] >> 6 == BLOB:
            data = bytearray(first[1:])
            top = _max_index(second)
            if top * size >= len(data):
                raise PatchError(
                    f"{format_path(path)}: the later board delta writes index {top} beyond "
                    f"the {len(data) // size} items of the earlier blob"
                )
            _apply_payload_to_bytes(data, second, size)
            return BoardDelta(first[:1] + bytes(data))
        cells = _cells(first)
        cells.update(_cells(second))
        wcode = max((first[0] >> 4) & 3, (second[0] >> 4) & 3)
        return BoardDelta(_encode_cells(code, wcode, cells))

    def applied_to(self, snapshot: Any, path: tuple[Any, ...]) -> Any:
        """A new :class:`~flatsync.protocol.BoardSnapshot`: ``snapshot`` with this delta applied.

        Raises:
            PatchError: ``snapshot`` is not a board snapshot, or the delta does
                not fit it (item type, length, an index out of range).
        """
        if type(snapshot) is not BoardSnapshot:
            raise PatchError(
                f"{format_path(path)}: a board delta needs a board, found {describe(snapshot)}"
            )
        problem = snapshot._problem()
        if problem is not None:
            raise PatchError(f"{format_path(path)}: the board snapshot {problem}")
        item = ITEM_TYPES[snapshot.item]
        _check_fits(self, item, len(snapshot.data) // item.size, path)
        payload = self.payload
        if not payload:
            return snapshot
        if payload[0] >> 6 == BLOB:
            return BoardSnapshot(snapshot.item, snapshot.shape, payload[1:])
        data = bytearray(snapshot.data)
        _apply_payload_to_bytes(data, payload, item.size)
        return BoardSnapshot(snapshot.item, snapshot.shape, bytes(data))


def _check_fits(delta: Any, item: _Item, length: int, path: Path) -> None:
    """Raise PatchError unless ``delta`` is a board delta that fits ``length`` items of ``item``."""
    where = format_path(path)
    if type(delta) is not BoardDelta:
        raise PatchError(f"{where}: expected a board delta (BoardDelta), got {describe(delta)}")
    problem = delta._problem()
    if problem is not None:
        raise PatchError(f"{where}: a malformed board delta: {problem}")
    payload = delta.payload
    if not payload:
        return
    code = payload[0] & 15
    if code != item.code:
        raise PatchError(
            f"{where}: a board delta for {_BY_CODE[code].name} items does not fit "
            f"a board of {item.name} items"
        )
    if payload[0] >> 6 == BLOB:
        count = (len(payload) - 1) // item.size
        if count != length:
            raise PatchError(
                f"{where}: a blob of {count} items does not fit a board of {length} items"
            )
        return
    top = _max_index(payload)
    if top >= length:
        raise PatchError(
            f"{where}: the board delta writes index {top}, out of range for a board "
            f"of {length} items"
        )


def _differing(before: bytes, after: bytes, size: int) -> list[int]:
    """The sorted indexes of the ``size``-byte items whose bytes differ (equal lengths).

    The XOR of the two as integers gives a mask whose non-zero bytes mark the
    changes; the work per item is done in C: a regular expression over the
    mask's non-zero runs when they are few (a region rewritten, a few cells),
    ``itertools.compress`` over its items otherwise (many scattered cells).
    """
    x = int.from_bytes(after, "little") ^ int.from_bytes(before, "little")
    if not x:
        return []
    mask = x.to_bytes(len(after), "little")
    if size == 1:
        flags = mask.translate(_FLAGS)
        runs = flags.count(b"\x00\x01") + flags[0]
        if runs * _SCAN_COST < len(mask):
            changed: list[int] = []
            for match in _NONZERO.finditer(mask):
                changed.extend(range(match.start(), match.end()))
            return changed
        return list(itertools.compress(range(len(mask)), mask))
    words: Any = memoryview(mask)
    words = words.cast(_INDEX_TYPECODES[_WIDTHS.index(size)])
    return list(itertools.compress(range(len(words)), words))


def _gather(values: Any, indexes: Sequence[int]) -> tuple[Any, ...]:
    """``values[i]`` for each of ``indexes``, as a tuple (the loop runs in C)."""
    if len(indexes) > 1:
        found: tuple[Any, ...] = operator.itemgetter(*indexes)(values)
        return found
    return tuple(values[i] for i in indexes)


def _pair_indexes(payload: bytes, wcode: int, size: int) -> array[Any]:
    """The indexes of a pairs payload (well formed), in order.

    Extended-slice copies (the inverse of :func:`_interleave`), so the work
    per pair is done in C.
    """
    body = payload[1:]
    width = _WIDTHS[wcode]
    step = width + size
    indexes = bytearray(len(body) // step * width)
    for j in range(width):
        indexes[j::width] = body[j::step]
    return _from_le(_INDEX_TYPECODES[wcode], bytes(indexes))


def _pair_words(payload: bytes, wcode: int, item: _Item) -> array[Any]:
    """The words of a pairs payload (well formed), in order (as :func:`_pair_indexes`)."""
    body = payload[1:]
    width = _WIDTHS[wcode]
    size = item.size
    step = width + size
    words = bytearray(len(body) // step * size)
    for j in range(size):
        words[j::size] = body[width + j :: step]
    return _from_le(item.wordcode, bytes(words))


#: Up to this many pairs, ``struct.iter_unpack`` reads a payload faster than slicing it.
_FEW_PAIRS = 16

#: Runs up to this long are patched item by item; longer ones slice by slice.
_SHORT_RUN = 16

#: What a patch found: the changed indexes, their old values and their new ones.
_Found: TypeAlias = tuple[tuple[int, ...], tuple[Any, ...], tuple[Any, ...]]


def _run_items(
    payload: bytes, wcode: int, item: _Item
) -> tuple[list[tuple[int, int]], list[int], array[Any]]:
    """A runs payload (well formed): its runs ``(first, last)``, and their indexes and words."""
    runs: list[tuple[int, int]] = []
    indexes: list[int] = []
    words = bytearray()
    unpack = _RUN_HEADERS[wcode].unpack_from
    step = _RUN_HEADERS[wcode].size
    size = item.size
    position = 1
    end = len(payload)
    while position < end:
        first, last = unpack(payload, position)
        position += step
        stop = position + (last - first + 1) * size
        runs.append((first, last))
        indexes.extend(range(first, last + 1))
        words += payload[position:stop]
        position = stop
    return runs, indexes, _from_le(item.wordcode, bytes(words))


def _words_of(item: _Item, values: Sequence[Any]) -> Sequence[int]:
    """The words (the bits, for floats) of ``values`` of ``item``'s type."""
    if not item.is_float:
        return values
    packed = array(item.typecode, values)
    words: list[int] = memoryview(packed).cast("B").cast(item.wordcode).tolist()
    return words


# -- the handler ------------------------------------------------------------------------

#: Whole-board scans go chunk by chunk; a run of changed bytes in the XOR of two blobs.
_NONZERO = re.compile(b"[^\x00]+")
#: A byte translation that maps every non-zero byte to 1.
_FLAGS = bytes((0, *([1] * 255)))
#: About what one match of ``_NONZERO`` costs, in bytes of mask that ``compress`` reads.
_SCAN_COST = 44


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
    the whole blob.

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

    def copy(self) -> ByteHandler:
        """A writable, unattached copy (also of a read-only replica)."""
        board = ByteHandler.__new__(ByteHandler)
        board._setup(self._item, self._shape, False)
        board._raw[:] = self._raw
        return board

    def __copy__(self) -> ByteHandler:
        return self.copy()

    def __deepcopy__(self, memo: dict[int, Any]) -> ByteHandler:
        return self.copy()

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (self.tobytes(), self.item, self._shape))

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

    def diff(self) -> BoardDelta:
        """The delta since the last :meth:`commit`; ``BoardDelta(b"")`` if nothing changed.

        The smallest of pairs, runs and blob (see :class:`~flatsync.protocol.BoardDelta`). The cost
        follows the number of changed items, except after a bulk write of many
        items (copy mode), when it follows the size of the board. ``diff``
        forgets nothing: call :meth:`commit` once the delta is sent.
        """
        delta = self._nested_diff()
        return BoardDelta() if delta is None else delta

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

    @classmethod
    def from_snapshot(cls, tree: Any) -> ByteHandler:
        """Build a read-only replica from a :class:`~flatsync.protocol.BoardSnapshot`.

        Raises:
            PatchError: ``tree`` is not a valid board snapshot.
        """
        _check_board_snapshot(tree, ())
        return _build_board(tree, True)

    def initial_events(self) -> list[Event]:
        """The contents told as one :class:`~flatsync.CellsChanged`, as if from a board of zeros.

        Its ``indices`` are the items whose bits are not zero, with ``old`` all
        zeros (``0``, or ``0.0`` for floats); no event for a board of zeros. A
        client that builds its replica with :meth:`from_snapshot` can feed it
        to the same code that handles what :meth:`patch` returns.
        """
        changed = _differing(bytes(self.nbytes), self._a.tobytes(), self._item.size)
        if not changed:
            return []
        zero = 0.0 if self._item.is_float else 0
        return [
            CellsChanged(
                path=self.path,
                shape=self._shape,
                indices=tuple(changed),
                old=(zero,) * len(changed),
                new=_gather(self._a, changed),
            )
        ]

    def patch(self, delta: Any) -> list[Event]:
        """Apply a :class:`~flatsync.protocol.BoardDelta` (from :meth:`diff` on the source); return what changed.

        ``patch`` is atomic: it checks the whole delta first (its item type, and
        its indexes or length against this board), and a delta that does not
        fit raises before anything changes. Events: one
        :class:`~flatsync.CellsChanged` at the path of the board, which lists
        the items whose bits changed with their old and new values, whatever
        the delta's form; none when no item changed.

        Raises:
            PatchError: the delta does not fit; the message names the path. The
                board is exactly as it was.
        """
        path = self.path
        self._check(delta, path)
        events: list[Event] = []
        self._apply(delta, path, events)
        return events

    def _check(self, delta: Any, path: Path) -> None:
        _check_fits(delta, self._item, self._n, path)

    def _apply(self, delta: Any, path: Path, events: list[Event]) -> None:
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
        if found is not None:
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


def _check_shape(shape: Any) -> tuple[int, ...]:
    if isinstance(shape, int) and not isinstance(shape, bool):
        dims: tuple[Any, ...] = (shape,)
    else:
        try:
            dims = tuple(shape)
        except TypeError:
            raise TypeError(
                f"a board's shape is an int or a sequence of ints, not {type(shape).__name__}"
            ) from None
    if not 1 <= len(dims) <= MAX_NDIM:
        raise ValueError(f"a board has 1 to {MAX_NDIM} dimensions, not {len(dims)}")
    out = []
    for dim in dims:
        if isinstance(dim, bool) or not isinstance(dim, int):
            raise TypeError(f"a board's sizes are ints, not {type(dim).__name__}")
        if dim < 0:
            raise ValueError(f"a board's sizes cannot be negative, got {shape!r}")
        out.append(int(dim))
    return tuple(out)


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


def _check_board_snapshot(tree: Any, path: Path) -> None:
    if type(tree) is not BoardSnapshot:
        raise PatchError(
            f"{format_path(path)}: expected a board snapshot (BoardSnapshot), got {describe(tree)}"
        )
    problem = tree._problem()
    if problem is not None:
        raise PatchError(f"{format_path(path)}: the board snapshot {problem}")


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


register_marker(BoardSnapshot)
register_marker(BoardDelta)
WRAPPERS[bytearray] = _wrap_bytearray
WRAPPERS[array] = _wrap_array
SNAPSHOT_KINDS[BoardSnapshot] = (_check_board_snapshot, _build_board)
