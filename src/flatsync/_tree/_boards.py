"""Boards on the wire: item types, the snapshot and delta markers, and their algebra.

The wire layouts (the docs' wire-format page is the specification):

* :class:`~flatsync.protocol.BoardSnapshot`, tag 9: an array ``[item code, [dim, ...], data]``
  where ``data`` is one byte string holding every item, little-endian, in
  row-major order.
* :class:`~flatsync.protocol.BoardDelta`, tag 10: one byte string. Empty, it changes nothing.
  Otherwise its first byte is a header, ``form << 6 | width << 4 | item code``,
  and the rest is the payload of the form: index/value *pairs*, *runs* of
  contiguous items (``first, last, item...``), or the whole *blob*. Indexes are
  flat (row-major) and ``1 << width`` bytes wide, little-endian.

Everything here works on bytes and markers, without a handler: what
:func:`flatsync.merge` needs, and the layout that
:class:`~flatsync.ByteHandler` (``flatsync._handlers._board``) writes and reads.
"""

from __future__ import annotations

import itertools
import math
import operator
import re
import struct
import sys
from array import array
from collections.abc import Iterator, Sequence
from typing import Any, TypeAlias

from ._errors import DecodeError, PatchError
from ._markers import Marker, TypedDelta, register_marker
from ._values import Path, Snapshot, describe, format_path

__all__ = ["ITEM_TYPES", "MAX_NDIM", "BoardDelta", "BoardSnapshot"]

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
    raise RuntimeError(
        f"no {size}-byte integer array type on this platform"
    )  # pragma: no cover - every CPython has one


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
    swapped.byteswap()  # pragma: no cover - big-endian hosts
    return swapped.tobytes()  # pragma: no cover - big-endian hosts


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

    def applied_to(self, snapshot: Snapshot, path: tuple[Any, ...]) -> Snapshot:
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
    """Raise PatchError unless board delta ``delta`` fits ``length`` items of ``item``."""
    where = format_path(path)
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


#: Whole-board scans go chunk by chunk; a run of changed bytes in the XOR of two blobs.
_NONZERO = re.compile(b"[^\x00]+")
#: A byte translation that maps every non-zero byte to 1.
_FLAGS = bytes((0, *([1] * 255)))
#: About what one match of ``_NONZERO`` costs, in bytes of mask that ``compress`` reads.
_SCAN_COST = 44


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


def _check_board_snapshot(tree: BoardSnapshot, path: Path) -> None:
    problem = tree._problem()
    if problem is not None:
        raise PatchError(f"{format_path(path)}: the board snapshot {problem}")


register_marker(BoardSnapshot)
register_marker(BoardDelta)
