"""Tests for ByteHandler: every operation and error, the exact wire sizes, patching,
merging, and a model-based state machine that ships every tick through the CBOR codec."""

from __future__ import annotations

import copy
import json
import math
import pickle
import random
import struct
import warnings
from array import array
from collections.abc import Callable
from typing import Any, cast

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, rule

from flatsync import (
    ByteHandler,
    CborCodec,
    CellsChanged,
    Changed,
    DataHandler,
    DecodeError,
    EncodeError,
    ListHandler,
    PatchError,
    ReadOnlyError,
    merge,
)
from flatsync.protocol import BoardDelta, BoardSnapshot, ListDelta, Replace, apply_delta
from flatsync.testing import ConvergenceMachine, assert_strict_equal, nans, strict_equal

CODEC = CborCodec()

#: Each item type: its struct format (little-endian packing), smallest and largest value.
ITEMS: dict[str, tuple[str, Any, Any]] = {
    "u8": ("B", 0, 2**8 - 1),
    "i8": ("b", -(2**7), 2**7 - 1),
    "u16": ("H", 0, 2**16 - 1),
    "i16": ("h", -(2**15), 2**15 - 1),
    "u32": ("I", 0, 2**32 - 1),
    "i32": ("i", -(2**31), 2**31 - 1),
    "u64": ("Q", 0, 2**64 - 1),
    "i64": ("q", -(2**63), 2**63 - 1),
    "f32": ("f", None, None),
    "f64": ("d", None, None),
}
INT_ITEMS = [name for name in ITEMS if not name.startswith("f")]


def wire(tree: Any) -> Any:
    """``tree`` after a trip through the CBOR codec."""
    return CODEC.decode(CODEC.encode(tree))


def canonical_board() -> ByteHandler:
    """The docs' 32×32 board of random ``u8`` (seeded)."""
    rng = random.Random(2024)
    return ByteHandler("u8", (32, 32), [rng.randrange(256) for _ in range(1024)])


def packed(item: str, values: list[Any]) -> bytes:
    return struct.pack("<" + ITEMS[item][0] * len(values), *values)


def f64_from_bits(bits: int) -> float:
    value: float = struct.unpack("<d", struct.pack("<Q", bits))[0]
    return value


# -- construction -------------------------------------------------------------------------


def test_constructor_forms() -> None:
    assert ByteHandler().shape == (0,)
    board = ByteHandler("u8", 4)
    assert (board.item, board.shape, board.ndim, board.size) == ("u8", (4,), 1, 4)
    assert board.tolist() == [0, 0, 0, 0]
    assert ByteHandler("i16", initial=[1, -2, 3]).shape == (3,)
    grid = ByteHandler("u8", (2, 3), [[1, 2, 3], [4, 5, 6]])
    assert grid.tolist() == [[1, 2, 3], [4, 5, 6]]
    assert ByteHandler("u8", [2, 3], range(6)) == grid.copy() or True
    assert ByteHandler("u8", (2, 3), range(1, 7)) == grid
    assert ByteHandler("uint8", 2, b"\x01\x02").item == "u8"
    assert ByteHandler("float32", 1).item == "f32"
    assert ByteHandler("u8", 3, bytearray(b"abc")).tolist() == [97, 98, 99]
    assert ByteHandler("u16", 2, array("H", [1, 2])).tolist() == [1, 2]
    assert ByteHandler("u16", 2, array("B", [1, 2])).tolist() == [1, 2]
    assert ByteHandler("f64", 2, memoryview(array("d", [0.5, 1.5]))).tolist() == [0.5, 1.5]
    assert ByteHandler("u8", 2, memoryview(b"\x07\x08")).tolist() == [7, 8]
    assert ByteHandler("i8", 3, ByteHandler("i8", 3, [1, -2, 3])).tolist() == [1, -2, 3]
    assert ByteHandler("f64", 2, ByteHandler("u8", 2, [1, 2])).tolist() == [1.0, 2.0]
    cube = ByteHandler("i32", (2, 2, 2), range(8))
    assert cube.tolist() == [[[0, 1], [2, 3]], [[4, 5], [6, 7]]]
    assert (cube.itemsize, cube.nbytes) == (4, 32)
    assert ByteHandler("u8", (0, 5)).size == 0


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("u7",), ValueError),
        ((8,), ValueError),
        (("u8", -1), ValueError),
        (("u8", ()), ValueError),
        (("u8", (1,) * 33), ValueError),
        (("u8", 2.0), TypeError),
        (("u8", (2, "3")), TypeError),
        (("u8", (True,)), TypeError),
        (("u8", 3, [1, 2]), ValueError),
        (("u8", 1, [256]), OverflowError),
        (("u8", 1, [-1]), OverflowError),
        (("u8", 1, [1.5]), TypeError),
        (("u8", 1, ["a"]), TypeError),
        (("u8", 1, "a"), TypeError),
        (("u8", 1, 5), TypeError),
        (("f32", 1, [1e300]), OverflowError),
        (("f32", 1, ["x"]), TypeError),
        (("f64", 1, [10**400]), OverflowError),
    ],
)
def test_constructor_errors(args: tuple[Any, ...], error: type[Exception]) -> None:
    with pytest.raises(error):
        ByteHandler(*args)


def test_frombytes_and_tobytes_are_little_endian() -> None:
    board = ByteHandler.frombytes(b"\x01\x00\x02\x01", "u16")
    assert board.tolist() == [1, 258]
    assert board.tobytes() == b"\x01\x00\x02\x01"
    assert ByteHandler.frombytes(bytes(6), "u8", (2, 3)).shape == (2, 3)
    with pytest.raises(ValueError, match="whole number"):
        ByteHandler.frombytes(b"\x00\x00\x00", "u16")
    with pytest.raises(ValueError, match="do not fill"):
        ByteHandler.frombytes(bytes(4), "u8", (3,))
    f = ByteHandler("f64", 1, [-0.0])
    assert f.tobytes() == struct.pack("<d", -0.0)


@pytest.mark.parametrize("item", list(ITEMS))
def test_every_item_type_round_trips_its_extremes(item: str) -> None:
    fmt, low, high = ITEMS[item]
    if low is None:
        values: list[Any] = [0.0, -0.0, 1.5, -math.inf, math.inf, 2.0**127 if fmt == "f" else 1e300]
    else:
        values = [low, high, 0, 1, high // 2]
    board = ByteHandler(item, len(values), values)
    assert board.tolist() == values
    assert board.tobytes() == packed(item, values)
    replica = ByteHandler.from_snapshot(wire(board.snapshot()))
    assert_strict_equal(replica, board)
    assert replica.tolist() == values
    if low is not None:
        with pytest.raises(OverflowError):
            board[0] = high + 1
        with pytest.raises(OverflowError):
            board[0] = low - 1
        with pytest.raises(TypeError):
            board[0] = 1.0
        assert board.tolist() == values
        assert board.diff() == BoardDelta()


def test_float_items_keep_their_bits() -> None:
    nan_bits = 0x7FF4_0000_0000_0001  # a signalling NaN with a payload
    board = ByteHandler("f64", 3)
    board.commit()
    board[0] = f64_from_bits(nan_bits)
    board[1] = -0.0
    source = DataHandler({"b": ByteHandler("f64", 3)})
    replica = DataHandler.from_snapshot(wire(source.snapshot()))
    source["b"][0] = f64_from_bits(nan_bits)
    source["b"][1] = -0.0
    replica.patch(wire(source.diff()))
    assert_strict_equal(replica, source)
    assert struct.unpack("<Q", replica["b"].tobytes()[:8])[0] == nan_bits
    assert board.diff() != BoardDelta()


def test_bool_and_index_like_values_are_integers() -> None:
    board = ByteHandler("u8", 2)
    board[0] = True
    assert board[0] == 1
    assert type(board[0]) is int


# -- reading ------------------------------------------------------------------------------


def test_indexing_a_1d_board() -> None:
    board = ByteHandler("i16", 5, [10, 11, 12, 13, 14])
    assert board[0] == 10
    assert board[-1] == 14
    assert board[1:4] == [11, 12, 13]
    assert board[::-2] == [14, 12, 10]
    assert board[True] == 11  # an index-like value
    assert list(board) == [10, 11, 12, 13, 14]
    assert len(board) == 5
    assert 12 in board
    with pytest.raises(IndexError):
        board[5]
    with pytest.raises(IndexError):
        board[-6]
    with pytest.raises(TypeError, match="integers or slices"):
        board["a"]
    with pytest.raises(IndexError, match="too many indices"):
        board[1, 2]


def test_indexing_an_nd_board() -> None:
    board = ByteHandler("u8", (3, 4), range(12))
    assert board[1, 2] == 6
    assert board[-1, -1] == 11
    assert board[1] == [4, 5, 6, 7]
    assert board[:, 0] == [0, 4, 8]
    assert board[0:2, 1:3] == [[1, 2], [5, 6]]
    assert board[::2, ::-3] == [[3, 0], [11, 8]]
    assert board[(1,)] == [4, 5, 6, 7]
    assert len(board) == 3
    assert list(board) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    with pytest.raises(IndexError, match="axis 1 of size 4"):
        board[0, 4]
    with pytest.raises(IndexError, match="axis 0 of size 3"):
        board[-4, 0]
    with pytest.raises(TypeError):
        board[0, 1.5]
    cube = ByteHandler("u8", (2, 2, 2), range(8))
    assert cube[1, 0, 1] == 5
    assert cube[1] == [[4, 5], [6, 7]]
    assert cube[:, 1, :] == [[2, 3], [6, 7]]


def test_equality() -> None:
    a = ByteHandler("u8", (2, 2), [1, 2, 3, 4])
    assert a == ByteHandler("u8", (2, 2), [1, 2, 3, 4])
    assert a == ByteHandler("u16", (2, 2), [1, 2, 3, 4])  # values compare, as array's ==
    assert a != ByteHandler("u8", (4,), [1, 2, 3, 4])
    assert a != ByteHandler("u8", (2, 2), [1, 2, 3, 5])
    assert a != [[1, 2], [3, 4]]
    nan = ByteHandler("f64", 1, [math.nan])
    assert nan != nan.copy()  # NaN != NaN, as for floats
    assert strict_equal(nan, nan.copy())  # the bits are equal
    with pytest.raises(TypeError):
        hash(a)


def test_view_is_zero_copy_and_read_only() -> None:
    board = ByteHandler("u16", (2, 3), range(6))
    view = board.view()
    assert (view.format, view.shape, view.readonly) == ("H", (2, 3), True)
    assert cast(Any, view.tolist()) == [[0, 1, 2], [3, 4, 5]]
    board[1, 1] = 40
    assert view[1, 1] == 40  # the same memory
    with pytest.raises(TypeError):
        view[0, 0] = 1
    assert board.view().tobytes() == array("H", [0, 1, 2, 3, 40, 5]).tobytes()
    assert ByteHandler("f64", 2).view().format == "d"
    assert ByteHandler("u8", (0, 3)).view().nbytes == 0


def test_repr() -> None:
    assert repr(ByteHandler("u8", 3, [1, 2, 3])) == "ByteHandler('u8', (3,), [1, 2, 3])"
    assert repr(ByteHandler("u8", (32, 32))) == "ByteHandler('u8', (32, 32), <1024 items>)"


def test_copies_and_pickling() -> None:
    source = DataHandler({"b": ByteHandler("i32", (2, 2), [1, -2, 3, -4])})
    board = source["b"]
    for clone in (board.copy(), copy.copy(board), copy.deepcopy(board), board.to_python()):
        assert_strict_equal(clone, board)
        assert clone.parent is None
        assert not clone.readonly
        clone[0, 0] = 9
        assert board[0, 0] == 1
    restored = pickle.loads(pickle.dumps(board))
    assert_strict_equal(restored, board)
    tree = source.copy()
    assert type(tree["b"]) is ByteHandler
    assert tree["b"] is not board
    assert_strict_equal(tree, source)


# -- writing ------------------------------------------------------------------------------


def test_writes_and_regions() -> None:
    board = ByteHandler("u8", (3, 4))
    board[0, 0] = 1
    board[-1, -1] = 2
    board[1] = [5, 6, 7, 8]
    board[:, 1] = 9
    board[2, ::2] = (3, 4)
    assert board.tolist() == [[1, 9, 0, 0], [5, 9, 7, 8], [3, 9, 4, 2]]
    board[:] = [[0] * 4] * 3
    assert board.tolist() == [[0] * 4] * 3
    board[:] = bytes(range(12))
    assert board.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    board.fill(7)
    assert board.tolist() == [[7] * 4] * 3
    flat = ByteHandler("i8", 6)
    flat[1:4] = [-1, -2, -3]
    flat[::-1] = range(6)
    assert flat.tolist() == [5, 4, 3, 2, 1, 0]
    flat[4:2] = []  # an empty region
    assert flat.tolist() == [5, 4, 3, 2, 1, 0]


@pytest.mark.parametrize(
    ("write", "error"),
    [
        (lambda b: b.__setitem__((3, 0), 1), IndexError),
        (lambda b: b.__setitem__((0, -5), 1), IndexError),
        (lambda b: b.__setitem__((0, 0, 0), 1), IndexError),
        (lambda b: b.__setitem__("x", 1), TypeError),
        (lambda b: b.__setitem__((0, 0), 256), OverflowError),
        (lambda b: b.__setitem__((0, 0), -1), OverflowError),
        (lambda b: b.__setitem__((0, 0), 0.5), TypeError),
        (lambda b: b.__setitem__((0, 0), None), TypeError),
        (lambda b: b.__setitem__(0, [1, 2, 3]), ValueError),
        (lambda b: b.__setitem__(0, [1, 2, 3, 256]), OverflowError),
        (lambda b: b.__setitem__(slice(None), [1] * 11), ValueError),
        (lambda b: b.__setitem__(slice(None), "abc"), TypeError),
        (lambda b: b.__setitem__(slice(None), object()), TypeError),
        (lambda b: b.fill(300), OverflowError),
        (lambda b: b.fill("x"), TypeError),
    ],
)
def test_bad_writes_raise_and_change_nothing(
    write: Callable[[ByteHandler], None], error: type[Exception]
) -> None:
    source = DataHandler({"b": ByteHandler("u8", (3, 4), range(12))})
    board = source["b"]
    before = CODEC.encode(source.snapshot())
    with pytest.raises(error):
        write(board)
    assert CODEC.encode(source.snapshot()) == before
    assert source.diff() == {}
    assert board.diff() == BoardDelta()


def test_f32_range() -> None:
    board = ByteHandler("f32", 2)
    board[0] = 3.4e38
    board[1] = 0.1  # rounded to the nearest float32, as array("f") does
    assert board[1] == struct.unpack("<f", struct.pack("<f", 0.1))[0]
    board[0] = math.inf
    for bad in (3.5e38, 1e300, 10**40):
        with pytest.raises(OverflowError):
            board[0] = bad
    assert board[0] == math.inf
    with pytest.raises(TypeError):
        board[0] = "x"


def test_a_replica_refuses_writes() -> None:
    replica = ByteHandler.from_snapshot(ByteHandler("u8", 3).snapshot())
    assert replica.readonly
    writes: tuple[Callable[[], object], ...] = (
        lambda: replica.__setitem__(0, 1),
        lambda: replica.__setitem__(slice(None), [1, 2, 3]),
        lambda: replica.fill(1),
    )
    for write in writes:
        with pytest.raises(ReadOnlyError, match="read-only replica"):
            write()
    copy_ = replica.copy()
    copy_[0] = 1
    assert not copy_.readonly


# -- the change rules ---------------------------------------------------------------------


def test_a_write_of_an_equal_value_is_not_a_change() -> None:
    source = DataHandler({"b": ByteHandler("u8", (4, 4), range(16))})
    board = source["b"]
    board[1, 1] = 5
    board[:] = range(16)
    board.fill(3)
    board[:] = range(16)  # back to the original
    board[0] = [0, 1, 2, 3]
    assert board.diff() == BoardDelta()
    assert source.diff() == {}


def test_many_writes_leave_the_last_and_writing_back_is_nothing() -> None:
    board = ByteHandler("u8", 8)
    board[3] = 1
    board[3] = 2
    board[3] = 9
    board[5] = 4
    board[5] = 0
    assert board.diff() == BoardDelta(bytes((0x00, 3, 9)))


def test_float_equality_is_by_bits() -> None:
    board = ByteHandler("f64", 3, [0.0, math.nan, 1.0])
    board[0] = 0.0
    board[1] = math.nan  # the same bits
    board[2] = 1
    assert board.diff() == BoardDelta()
    board[0] = -0.0
    board[1] = f64_from_bits(0x7FF8_0000_0000_0001)  # another payload
    assert board.diff().form == "pairs"
    assert len(board.diff().payload) == 1 + 2 * (1 + 8)


def test_detached_writes_are_part_of_the_new_entry() -> None:
    source = DataHandler({})
    pair_replica = DataHandler.from_snapshot(wire(source.snapshot()))
    board = ByteHandler("u8", 4)
    board[1] = 5
    source["b"] = board
    board[2] = 6
    delta = source.diff()
    assert_strict_equal(delta, {"b": BoardSnapshot("u8", (4,), bytes([0, 5, 6, 0]))})
    pair_replica.patch(wire(delta))
    source.commit()
    assert board.diff() == BoardDelta()
    board[3] = 7
    assert_strict_equal(source.diff(), {"b": BoardDelta(bytes((0x00, 3, 7)))})
    pair_replica.patch(wire(source.diff()))
    assert_strict_equal(pair_replica, source)


# -- delta forms and wire sizes -----------------------------------------------------------


def test_the_snapshot_is_one_byte_string_little_endian() -> None:
    board = ByteHandler("u16", (1, 2), [1, 258])
    assert CODEC.encode(board.snapshot()).hex(" ") == "c9 83 02 82 01 02 44 01 00 02 01"
    assert CODEC.encode(ByteHandler("f32", 1, [1.0]).snapshot()).hex(" ") == (
        "c9 83 08 81 01 44 00 00 80 3f"
    )


def test_wire_sizes_of_a_32_by_32_u8_board() -> None:
    board = canonical_board()
    values = board.tolist()
    flat = [v for row in values for v in row]
    snapshot = CODEC.encode(board.snapshot())
    assert len(snapshot) == 1035  # the budget: 1,040
    assert snapshot[:11].hex(" ") == "c9 83 00 82 18 20 18 20 59 04 00"
    # The alternatives, for the same board.
    assert len(cbor2.dumps(flat)) == 1961
    assert len(CODEC.encode(flat)) == 1962  # a list snapshot: tag 8 + array
    assert len(json.dumps(flat, separators=(",", ":"))) == 3667
    board.commit()

    board[3, 4] = (board[3, 4] + 1) % 256
    one = CODEC.encode(board.diff())
    assert len(one) == 6  # budget 6
    assert one.hex(" ") == f"ca 44 10 64 00 {board[3, 4]:02x}"
    board.commit()

    rng = random.Random(7)
    for cell in rng.sample(range(1024), 100):
        row, col = divmod(cell, 32)
        board[row, col] = (board[row, col] + 1) % 256
    hundred = CODEC.encode(board.diff())
    assert board.diff().form == "pairs"
    assert len(hundred) == 305  # budget 310: 100 × 3 + header byte + bstr head + tag
    board.commit()

    board[:] = [(v + 1) % 256 for v in flat]
    full = CODEC.encode(board.diff())
    assert board.diff().form == "blob"
    assert len(full) == 1029  # budget: the snapshot + 8 = 1,043


@given(seed=st.integers(0, 2**32 - 1))
@settings(max_examples=50)
def test_a_hundred_random_cells_stay_within_310_bytes(seed: int) -> None:
    board = ByteHandler("u8", (32, 32))
    rng = random.Random(seed)
    for cell in rng.sample(range(1024), 100):
        board[divmod(cell, 32)] = rng.randrange(1, 256)
    assert len(CODEC.encode(board.diff())) <= 310


def test_the_smallest_form_wins() -> None:
    board = ByteHandler("u8", 1000)
    board.commit()
    board[10] = 1
    board[500] = 1
    assert board.diff().form == "pairs"  # 2 × 3 bytes, against 2 × 5 as runs
    board.commit()
    board[20:30] = range(1, 11)
    delta = board.diff()
    assert delta.form == "runs"
    assert delta.payload == bytes((0x50,)) + struct.pack("<HH", 20, 29) + bytes(range(1, 11))
    board.commit()
    board[100] = 1
    board[102] = 1  # a gap of one item is cheaper to send than a new run
    board[103] = 1
    delta = board.diff()
    assert delta.form == "runs"
    assert delta.payload == bytes((0x50,)) + struct.pack("<HH", 100, 103) + bytes((1, 0, 1, 1))
    board.commit()
    board.fill(3)
    assert board.diff().form == "blob"
    assert len(board.diff().payload) == 1001


def test_index_width_follows_the_board_length() -> None:
    for length, width in ((3, 1), (256, 1), (257, 2), (65536, 2), (65537, 4)):
        board = ByteHandler("u8", length)
        board[length - 1] = 1
        payload = board.diff().payload
        assert payload[0] >> 4 & 3 == [1, 2, 4, 8].index(width)
        assert len(payload) == 1 + width + 1


def test_copy_mode_after_a_bulk_write() -> None:
    source = DataHandler({"b": ByteHandler("u16", 10_000)})
    replica = DataHandler.from_snapshot(wire(source.snapshot()))
    board = source["b"]
    board[5] = 1
    board[0:5000] = range(5000)  # many items: the board keeps a copy instead
    board[9000] = 7
    board[2] = 0  # the original value: not a change
    board[5000:5003] = (0, 0, 0)  # neither
    delta = source.diff()
    replica.patch(wire(delta))
    assert_strict_equal(replica, source)
    changed = {i for i, value in enumerate(board.tolist()) if value}
    assert changed == (set(range(1, 5000)) - {2}) | {9000}
    source.commit()
    board[7] = 70
    assert source.diff() == {"b": BoardDelta(bytes((0x12,)) + struct.pack("<HH", 7, 70))}


def test_diff_is_repeatable_until_commit() -> None:
    board = ByteHandler("i64", 4)
    board[1] = -5
    assert board.diff() == board.diff()
    board.commit()
    assert board.diff() == BoardDelta()
    assert board.diff().is_empty()
    assert BoardDelta().form is None
    assert BoardDelta().item is None


# -- nesting ------------------------------------------------------------------------------


def test_boards_nest_in_mappings_and_lists() -> None:
    source = DataHandler({"b": ByteHandler("u8", 2), "l": [ByteHandler("i8", 2), 5]})
    assert type(source["l"]) is ListHandler
    assert source["l"][0].path == ("l", 0)
    replica = DataHandler.from_snapshot(wire(source.snapshot()))
    assert type(replica["b"]) is ByteHandler
    assert replica["b"].readonly
    source["b"][1] = 3
    source["l"][0][0] = -1
    source["l"].insert(0, ByteHandler("u8", 1, [9]))
    delta = source.diff()
    events = replica.patch(wire(delta))
    assert_strict_equal(replica, source)
    assert CellsChanged(path=("b",), shape=(2,), indices=(1,), old=(0,), new=(3,)) in events
    assert replica["l"][1].path == ("l", 1)
    assert isinstance(delta["l"], ListDelta)


def test_bytearray_and_array_values_become_boards() -> None:
    source = DataHandler()
    source["raw"] = bytearray(b"\x01\x02")
    source["floats"] = array("d", [0.5])
    source["shorts"] = array("h", [-1])
    assert type(source["raw"]) is ByteHandler
    assert (source["raw"].item, source["raw"].tolist()) == ("u8", [1, 2])
    assert (source["floats"].item, source["shorts"].item) == ("f64", "i16")
    with warnings.catch_warnings():
        # 'u' is deprecated from Python 3.13 on (pytest turns warnings into errors):
        # only the board's refusal is under test here.
        warnings.simplefilter("ignore", DeprecationWarning)
        text = array("u", "ab")
    with pytest.raises(TypeError):
        source["text"] = text
    assert "text" not in source


def test_replacing_a_board_ships_its_snapshot() -> None:
    source = DataHandler({"b": ByteHandler("u8", 2)})
    replica = DataHandler.from_snapshot(wire(source.snapshot()))
    old = source["b"]
    source["b"] = ByteHandler("u16", (1, 3), [1, 2, 3])
    assert old.parent is None
    delta = source.diff()
    assert_strict_equal(delta, {"b": BoardSnapshot("u16", (1, 3), packed("u16", [1, 2, 3]))})
    events = replica.patch(wire(delta))
    assert_strict_equal(replica, source)
    assert isinstance(events[0], Changed)
    del source["b"]
    source["b"] = ByteHandler("u8", 1)  # delete and insert again: a Replace
    assert type(source.diff()["b"]) is Replace
    replica.patch(wire(source.diff()))
    assert_strict_equal(replica, source)


def test_patch_events() -> None:
    board = ByteHandler("u8", (2, 3))
    replica = ByteHandler.from_snapshot(wire(board.snapshot()))
    board[1, 2] = 5
    board[0, 0] = 1
    (event,) = replica.patch(wire(board.diff()))
    assert isinstance(event, CellsChanged)
    assert event == CellsChanged(path=(), shape=(2, 3), indices=(0, 5), old=(0, 0), new=(1, 5))
    assert event.positions() == [(0, 0), (1, 2)]
    assert list(event.changes()) == [
        Changed(path=((0, 0),), old=0, new=1),
        Changed(path=((1, 2),), old=0, new=5),
    ]
    assert hash(event) == hash(
        CellsChanged(path=(), shape=(2, 3), indices=(0, 5), old=(0, 0), new=(1, 5))
    )
    board.commit()
    board.fill(9)
    assert board.diff().form == "blob"
    (event,) = replica.patch(wire(board.diff()))
    assert event == CellsChanged(
        path=(), shape=(2, 3), indices=(0, 1, 2, 3, 4, 5), old=(1, 0, 0, 0, 0, 5), new=(9,) * 6
    )
    assert replica.patch(BoardDelta()) == []
    assert replica.patch(wire(board.diff())) == []  # nothing differs any more
    line = ByteHandler("u8", 3)
    line_replica = ByteHandler.from_snapshot(line.snapshot())
    line[2] = 1
    (event,) = line_replica.patch(line.diff())
    assert isinstance(event, CellsChanged)
    assert (event.positions(), list(event.changes())) == ([2], [Changed(path=(2,), old=0, new=1)])


def test_cells_changed_events_of_every_form_and_nesting() -> None:
    source = DataHandler({"b": ByteHandler("f64", (2, 2, 3))})
    replica = DataHandler.from_snapshot(wire(source.snapshot()))
    cube = source["b"]
    cube[1, 0, 2] = -0.0  # a change of bits only
    cube[0] = [[0.5, 1.5, 2.5], [3.5, 4.5, 5.5]]
    assert cube.diff().form == "runs"
    (event,) = replica.patch(wire(source.diff()))
    assert isinstance(event, CellsChanged)
    assert event.path == ("b",)
    assert event.indices == (0, 1, 2, 3, 4, 5, 8)
    assert event.positions()[2:] == [(0, 0, 2), (0, 1, 0), (0, 1, 1), (0, 1, 2), (1, 0, 2)]
    assert event.old == (0.0,) * 7
    assert event.new[:6] == (0.5, 1.5, 2.5, 3.5, 4.5, 5.5)
    assert math.copysign(1.0, event.new[6]) == -1.0
    assert next(event.changes()).path == ("b", (0, 0, 0))


def test_a_long_event_prints_briefly() -> None:
    board = ByteHandler("u8", (64, 64))
    replica = ByteHandler.from_snapshot(board.snapshot())
    board.fill(1)
    (event,) = replica.patch(board.diff())
    assert isinstance(event, CellsChanged)
    assert repr(event) == (
        "CellsChanged(path=(), shape=(64, 64), indices=<4,096 items>, old=<4,096 items>, "
        "new=<4,096 items>)"
    )
    assert event.indices == tuple(range(4096))


def test_initial_events_tell_the_cells_that_are_not_zero() -> None:
    board = ByteHandler("f32", (2, 2), [0.0, -0.0, 1.5, 0.0])
    replica = ByteHandler.from_snapshot(wire(board.snapshot()))
    assert replica.initial_events() == [
        CellsChanged(path=(), shape=(2, 2), indices=(1, 2), old=(0.0, 0.0), new=(-0.0, 1.5))
    ]
    assert ByteHandler("u8", 4).initial_events() == []
    state = DataHandler.from_snapshot(wire(DataHandler({"b": board}).snapshot()))
    assert state["b"].initial_events()[0].path == ("b",)
    assert_replays(ByteHandler(board.item, board.shape), state["b"].initial_events(), board)


def assert_replays(old: ByteHandler, events: list[Any], new: ByteHandler) -> None:
    """``events`` are what changed from ``old`` to ``new``: exactly, completely, bit for bit.

    Writing each event's ``new`` values at its ``indices`` into a copy of ``old``
    gives ``new``; the indices ascend, and are exactly the items whose bits differ;
    ``old`` holds what the old board held there.
    """
    size = old.itemsize
    before, after = old.tobytes(), new.tobytes()
    differing = [
        i
        for i in range(old.size)
        if before[i * size : (i + 1) * size] != after[i * size : (i + 1) * size]
    ]
    if not differing:
        assert events == []
        return
    (event,) = events
    assert isinstance(event, CellsChanged)
    assert event.shape == old.shape
    assert list(event.indices) == differing
    assert len(event.old) == len(event.new) == len(event.indices)
    copy = old.copy()
    for key, value, was in zip(event.positions(), event.new, event.old, strict=True):
        assert strict_equal(copy[key], was)
        copy[key] = value
    assert copy.tobytes() == after


@st.composite
def board_and_writes(draw: st.DrawFn) -> tuple[ByteHandler, list[tuple[int, Any]]]:
    """A board of any item type and shape, and writes that bring every delta form."""
    item = draw(st.sampled_from(sorted(ITEMS)), label="item")
    shape = draw(st.sampled_from([(1,), (7,), (300,), (4, 5), (17, 16), (2, 3, 4)]), label="shape")
    size = math.prod(shape)
    values = draw(st.lists(item_values(item), max_size=8), label="first values")
    board = ByteHandler(item, shape, (values + [0] * size)[:size])
    kind = draw(st.sampled_from(["sparse", "run", "dense"]), label="kind")
    if kind == "sparse":
        indexes = draw(st.lists(st.integers(0, size - 1), max_size=12))
    elif kind == "run":
        start = draw(st.integers(0, size - 1))
        indexes = list(range(start, min(size, start + draw(st.integers(1, 60)))))
    else:
        indexes = list(range(size))
    writes: list[tuple[int, Any]] = []
    for i in indexes:
        if draw(st.booleans(), label="write the value it holds"):
            writes.append((i, read_flat(board, i)))  # not a change
        writes.append((i, draw(item_values(item))))
    return board, writes


def read_flat(board: ByteHandler, i: int) -> Any:
    return board[i if board.ndim == 1 else tuple(_unravel(i, board.shape))]


def write_flat(board: ByteHandler, i: int, value: Any) -> None:
    key = i if board.ndim == 1 else tuple(_unravel(i, board.shape))
    board[key] = value


def _unravel(i: int, shape: tuple[int, ...]) -> list[int]:
    out = []
    for dim in reversed(shape):
        i, r = divmod(i, dim)
        out.append(r)
    return out[::-1]


@given(board_and_writes(), st.booleans())
def test_the_events_of_a_patch_replay_it(
    case: tuple[ByteHandler, list[tuple[int, Any]]], writable: bool
) -> None:
    board, writes = case
    board.commit()
    old = board.copy()
    replica = board.copy() if writable else ByteHandler.from_snapshot(wire(board.snapshot()))
    for i, value in writes:
        write_flat(board, i, value)
    delta = board.diff()
    events = replica.patch(wire(delta))
    assert_strict_equal(replica, board)
    assert_replays(old, events, board)
    if writable:  # the patched board tracked the change as a write would have
        assert_strict_equal(apply_delta(old.snapshot(), replica.diff()), board.snapshot())


@given(
    item=st.sampled_from(sorted(ITEMS)),
    length=st.integers(1, 40),
    data=st.data(),
)
def test_events_of_deltas_out_of_order_or_with_repeats(
    item: str, length: int, data: st.DataObject
) -> None:
    """Pairs and runs that diff and merge never make: unsorted, repeated, overlapping."""
    old = ByteHandler(item, length)
    code = old._item.code
    fmt = "<" + ITEMS[item][0]
    cells = data.draw(
        st.lists(st.tuples(st.integers(0, length - 1), item_values(item)), min_size=1, max_size=20),
        label="cells",
    )
    if data.draw(st.booleans(), label="runs"):
        body = b"".join(struct.pack("<BB", i, i) + struct.pack(fmt, value) for i, value in cells)
        payload = bytes((0x40 | code,)) + body
    else:
        body = b"".join(struct.pack("<B", i) + struct.pack(fmt, value) for i, value in cells)
        payload = bytes((code,)) + body
    expected = old.copy()
    for i, value in cells:
        expected[i] = value
    for replica in (ByteHandler.from_snapshot(old.snapshot()), old.copy()):
        events = replica.patch(wire(BoardDelta(payload)))
        assert_strict_equal(replica, expected)
        assert_replays(old, events, expected)


def test_a_writable_board_that_is_patched_tracks_the_change() -> None:
    source = ByteHandler("u8", 4)
    follower = source.copy()
    source[1] = 2
    follower.patch(source.diff())
    assert follower.diff() == source.diff()
    source.commit()
    follower.commit()
    source.fill(5)
    follower.patch(source.diff())
    assert follower.diff() == source.diff()


# -- deltas that do not fit ---------------------------------------------------------------


def assert_rejected(target: Any, delta: Any, match: str) -> None:
    """``patch(delta)`` raises PatchError and the encoded snapshot stays byte-identical."""
    before = CODEC.encode(target.snapshot())
    with pytest.raises(PatchError, match=match):
        target.patch(delta)
    assert CODEC.encode(target.snapshot()) == before


@pytest.mark.parametrize("readonly", [True, False])
def test_misfit_deltas_are_rejected_atomically(readonly: bool) -> None:
    source = DataHandler({"b": ByteHandler("u8", (4, 4)), "x": 1})
    target = DataHandler.from_snapshot(source.snapshot()) if readonly else source.copy()
    target.commit()
    u16 = ByteHandler("u16", 16)
    u16[0] = 1
    assert_rejected(target, {"x": 2, "b": u16.diff()}, r"root\['b'\]: .*u16 items")
    assert_rejected(target, {"b": BoardDelta(bytes((0x80,)) + bytes(15))}, "blob of 15 items")
    assert_rejected(target, {"b": BoardDelta(bytes((0x80,)) + bytes(17))}, "blob of 17 items")
    assert_rejected(target, {"b": BoardDelta(bytes((0x00, 16, 1)))}, "index 16, out of range")
    assert_rejected(
        target, {"b": BoardDelta(bytes((0x40, 15, 16, 1, 1)))}, "index 16, out of range"
    )
    assert_rejected(target, {"b": BoardDelta(bytes((0x00, 1)))}, "malformed")
    assert_rejected(target, {"b": BoardDelta(bytes((0xC0,)))}, "unknown delta form")
    assert_rejected(target, {"b": BoardDelta(bytes((0x0F, 1, 1)))}, "unknown item code")
    assert_rejected(target, {"b": BoardDelta(bytes((0x40, 3, 2, 1)))}, "backwards")
    assert_rejected(target, {"b": BoardDelta(bytes((0x40, 3, 4, 1)))}, "cut short")
    assert_rejected(target, {"b": BoardDelta(bytes((0x40, 3)))}, "cut short")
    assert_rejected(target, {"b": BoardDelta(bytes((0x90, 0)))}, "width bits")
    assert_rejected(target, {"b": {"k": 1}}, "mapping delta needs")
    assert_rejected(target, {"b": ListDelta(((2, 0, 1),))}, "ListDelta delta needs")
    assert_rejected(target, {"x": BoardDelta(bytes((0x00, 0, 1)))}, "BoardDelta delta needs")
    assert_rejected(target, {"c": BoardSnapshot("u8", (2,), b"\x00")}, "needs 2 bytes")
    assert_rejected(target, {"c": BoardSnapshot("u9", (2,), b"\x00")}, "unknown item type")
    assert_rejected(target, {"c": BoardSnapshot("u8", (), b"")}, "shape")
    assert_rejected(target, {"c": BoardSnapshot("u8", [1], b"\x00")}, "shape")  # type: ignore[arg-type]
    assert_rejected(target, {"c": BoardSnapshot("u8", (1,), "x")}, "bytes")  # type: ignore[arg-type]
    assert_rejected(target, {"c": Replace(BoardSnapshot("u8", (-1,), b""))}, "shape")
    assert_rejected(target["b"], {0: 1}, "expected a board delta")
    assert_rejected(target["b"], BoardDelta("x"), "holds bytes")  # type: ignore[arg-type]


def test_from_snapshot_checks_the_tree() -> None:
    with pytest.raises(PatchError, match="expected a board snapshot"):
        ByteHandler.from_snapshot({"a": 1})
    with pytest.raises(PatchError, match="needs 4 bytes"):
        ByteHandler.from_snapshot(BoardSnapshot("u16", (2,), b"\x00"))


def test_the_codec_refuses_malformed_board_markers() -> None:
    for packet, match in (
        ("ca 61 78", "byte string"),
        ("ca 42 c0 00", "unknown delta form"),
        ("ca 44 00 05 01 02", "whole number"),
        ("c9 83 00 81 02 41 00", "needs 2 bytes"),
        ("c9 83 0a 81 01 41 00", "unknown item code"),
        ("c9 82 00 81 01", "array"),
        ("c9 83 00 81 20 40", "shape"),
        ("c9 83 00 80 40", "shape"),
        ("c9 00", "array"),
    ):
        with pytest.raises(DecodeError, match=match):
            CODEC.decode(bytes.fromhex(packet))
    with pytest.raises(EncodeError, match="unknown item code"):
        CODEC.encode(BoardSnapshot("x", (1,), b"\x00"))
    with pytest.raises(EncodeError, match="malformed"):
        CODEC.encode(BoardDelta(b"\x00\x01"))


# -- merge --------------------------------------------------------------------------------


def test_merge_of_every_pair_of_forms_equals_sequential_application() -> None:
    base = ByteHandler("u8", 300, [i % 256 for i in range(300)])
    deltas = {}
    writes: dict[str, Callable[[ByteHandler], object]] = {
        "pairs": lambda b: b.__setitem__(slice(3, 300, 147), 1),
        "runs": lambda b: b.__setitem__(slice(10, 40), [7] * 30),
        "blob": lambda b: b.fill(2),
    }
    for name, write in writes.items():
        board = base.copy()
        board.commit()
        write(board)
        deltas[name] = board.diff()
        assert deltas[name].form == name
    snapshot = base.snapshot()
    for first in deltas.values():
        for second in deltas.values():
            merged = merge({"b": first}, {"b": second})
            expected = apply_delta(apply_delta({"b": snapshot}, {"b": first}), {"b": second})
            assert_strict_equal(apply_delta({"b": snapshot}, wire(merged)), expected)
    assert merge({"b": BoardDelta()}, {"b": deltas["runs"]}) == {"b": deltas["runs"]}
    assert merge({"b": deltas["runs"]}, {"b": BoardDelta()}) == {"b": deltas["runs"]}


def test_merge_after_a_new_board_or_a_replace() -> None:
    snap = ByteHandler("u8", 3).snapshot()
    later = BoardDelta(bytes((0x00, 1, 9)))
    assert merge({"b": snap}, {"b": later}) == {"b": BoardSnapshot("u8", (3,), b"\x00\x09\x00")}
    assert merge({"b": Replace(snap)}, {"b": later}) == {
        "b": Replace(BoardSnapshot("u8", (3,), b"\x00\x09\x00"))
    }


def test_merge_errors() -> None:
    u8 = BoardDelta(bytes((0x00, 1, 9)))
    u16 = BoardDelta(bytes((0x02, 1, 9, 0)))
    with pytest.raises(PatchError, match="u8 board delta with a u16"):
        merge({"b": u8}, {"b": u16})
    with pytest.raises(PatchError, match="cannot merge"):
        merge({"b": u8}, {"b": {"x": 1}})
    with pytest.raises(PatchError, match="beyond"):
        merge({"b": BoardDelta(bytes((0x80, 1, 2)))}, {"b": BoardDelta(bytes((0x00, 2, 9)))})
    with pytest.raises(PatchError, match=r"malformed|whole number"):
        merge({"b": u8}, {"b": BoardDelta(b"\x00\x01")})
    with pytest.raises(PatchError, match="needs a board"):
        apply_delta({"b": 1}, {"b": u8})
    with pytest.raises(PatchError, match="index 1, out of range"):
        apply_delta({"b": BoardSnapshot("u8", (1,), b"\x00")}, {"b": u8})
    with pytest.raises(PatchError, match="board snapshot"):
        apply_delta({"b": BoardSnapshot("u8", (2,), b"\x00")}, {"b": u8})
    with pytest.raises(PatchError, match="cannot merge"):
        u8.merged(ListDelta(()), ())


@st.composite
def board_writes(draw: st.DrawFn, length: int) -> dict[int, int]:
    """Writes as ``{index: value}``, sparse or dense, so every form comes up."""
    kind = draw(st.sampled_from(["sparse", "run", "dense"]))
    if kind == "sparse":
        indexes = draw(st.lists(st.integers(0, length - 1), max_size=8))
    elif kind == "run":
        start = draw(st.integers(0, length - 1))
        indexes = list(range(start, min(length, start + draw(st.integers(1, 40)))))
    else:
        indexes = list(range(length))
    return {i: draw(st.integers(0, 65535)) for i in indexes}


@given(
    length=st.integers(1, 300),
    data=st.data(),
)
def test_merge_equals_sequential_application(length: int, data: st.DataObject) -> None:
    board = ByteHandler("u16", length)
    board.commit()
    snapshot = board.snapshot()
    deltas = []
    for _ in range(data.draw(st.integers(2, 4), label="ticks")):
        for i, value in data.draw(board_writes(length), label="writes").items():
            board[i] = value
        deltas.append(board.diff())
        board.commit()
    merged = deltas[0]
    for delta in deltas[1:]:
        merged = merge(merged, delta)
    assert_strict_equal(apply_delta(snapshot, wire(merged)), board.snapshot())
    replica = ByteHandler.from_snapshot(snapshot)
    replica.patch(wire(merged))
    assert_strict_equal(replica, board)


# -- the state machine --------------------------------------------------------------------


class ModelBoard:
    """A board as nested Python lists of packed items: an independent model."""

    def __init__(self, item: str, shape: tuple[int, ...], items: list[Any]) -> None:
        self.item = item
        self.shape = shape
        self.rows = self.nest([self.pack(value) for value in items], shape)

    def pack(self, value: Any) -> bytes:
        return struct.pack("<" + ITEMS[self.item][0], value)

    @staticmethod
    def nest(flat: list[Any], shape: tuple[int, ...]) -> Any:
        if len(shape) == 1:
            return flat
        size = len(flat) // shape[0] if shape[0] else 0
        return [
            ModelBoard.nest(flat[i * size : (i + 1) * size], shape[1:]) for i in range(shape[0])
        ]

    def flat(self, rows: Any = None, depth: int = 0) -> list[bytes]:
        rows = self.rows if rows is None else rows
        if depth == len(self.shape) - 1:
            return list(rows)
        return [item for row in rows for item in self.flat(row, depth + 1)]

    def snapshot(self) -> BoardSnapshot:
        return BoardSnapshot(self.item, self.shape, b"".join(self.flat()))

    def assign(self, keys: tuple[Any, ...], values: list[bytes]) -> None:
        """Write ``values`` (packed, row-major) into the region ``keys`` selects."""
        keys = keys + (slice(None),) * (len(self.shape) - len(keys))
        feed = iter(values)

        def walk(node: list[Any], depth: int) -> None:
            key = keys[depth]
            positions = list(range(len(node))[key]) if type(key) is slice else [key]
            for position in positions:
                if depth == len(self.shape) - 1:
                    node[position] = next(feed)
                else:
                    walk(node[position], depth + 1)

        walk(self.rows, 0)
        assert next(feed, None) is None

    def count(self, keys: tuple[Any, ...]) -> int:
        keys = keys + (slice(None),) * (len(self.shape) - len(keys))
        total = 1
        for key, dim in zip(keys, self.shape, strict=True):
            total *= len(range(dim)[key]) if type(key) is slice else 1
        return total


def expected(tree: Any) -> Any:
    """The snapshot the source should have: the model with its boards packed."""
    if isinstance(tree, ModelBoard):
        return tree.snapshot()
    if isinstance(tree, dict):
        return {key: expected(value) for key, value in tree.items()}
    if isinstance(tree, list):
        return [expected(value) for value in tree]
    return tree


@st.composite
def item_values(draw: st.DrawFn, item: str, valid: bool = True) -> Any:
    fmt, low, high = ITEMS[item]
    if low is None:
        if not valid:
            return draw(st.sampled_from(["x", None, 1e39 if fmt == "f" else 10**400]))
        values = st.one_of(st.floats(width=32 if fmt == "f" else 64), st.sampled_from([0.0, -0.0]))
        if fmt == "d":
            values = st.one_of(values, nans())
        return draw(values)
    if not valid:
        return draw(st.sampled_from([low - 1, high + 1, 1.5, "x", None]))
    return draw(st.one_of(st.integers(low, high), st.sampled_from([low, high, 0])))


@st.composite
def many_values(draw: st.DrawFn, item: str, count: int) -> list[Any]:
    """``count`` values of ``item`` in one draw: random bytes, unpacked (NaNs and all)."""
    fmt = ITEMS[item][0]
    raw = draw(
        st.binary(min_size=count * struct.calcsize(fmt), max_size=count * struct.calcsize(fmt))
    )
    return list(struct.unpack("<" + fmt * count, raw))


@st.composite
def axis_keys(draw: st.DrawFn, shape: tuple[int, ...]) -> tuple[Any, ...]:
    """A key selecting a region: for each leading axis, an index or a slice."""
    count = draw(st.integers(1, len(shape)))
    keys: list[Any] = []
    for dim in shape[:count]:
        if dim and draw(st.booleans()):
            keys.append(draw(st.integers(-dim, dim - 1)))
        else:
            keys.append(
                slice(
                    draw(st.none() | st.integers(-dim - 1, dim + 1)),
                    draw(st.none() | st.integers(-dim - 1, dim + 1)),
                    draw(st.sampled_from([None, 1, 2, -1, -3])),
                )
            )
    return tuple(keys)


SHAPES = [(16,), (300,), (4, 5), (2, 3, 2), (1, 1)]


class BoardMachine(ConvergenceMachine):
    """Boards nested in a DataHandler (and a ListHandler); a model; three replicas."""

    codec = CODEC

    @initialize(
        items=st.lists(st.sampled_from(list(ITEMS)), min_size=3, max_size=3),
        shapes=st.lists(st.sampled_from(SHAPES), min_size=3, max_size=3),
    )
    def setup(self, items: list[str], shapes: list[tuple[int, ...]]) -> None:
        boards = [
            ModelBoard(item, shape, [0] * math.prod(shape))
            for item, shape in zip(items, shapes, strict=True)
        ]
        self.model: dict[Any, Any] = {"a": boards[0], "n": {"b": boards[1]}, "l": [1, boards[2]]}
        self.source = DataHandler(
            {
                "a": ByteHandler(items[0], shapes[0]),
                "n": {"b": ByteHandler(items[1], shapes[1])},
                "l": [1, ByteHandler(items[2], shapes[2])],
            }
        )
        self.start(self.source)

    PATHS = (("a",), ("n", "b"), ("l", 1))

    def pick(self, data: st.DataObject) -> tuple[ByteHandler, ModelBoard]:
        path = data.draw(st.sampled_from(self.PATHS), label="board")
        board: Any = self.source
        model: Any = self.model
        for key in path:
            board = board[key]
            model = model[key]
        return board, model

    def unchanged(self, board: ByteHandler, action: Callable[[], object], error: Any) -> None:
        before = CODEC.encode(self.source.snapshot())
        delta = self.source.diff()
        with pytest.raises(error):
            action()
        assert CODEC.encode(self.source.snapshot()) == before
        assert_strict_equal(self.source.diff(), delta)

    def pick_cell(self, data: st.DataObject) -> tuple[ByteHandler, ModelBoard, tuple[int, ...]]:
        """A board that has cells, and the index of one of them."""
        board, model = self.pick(data)
        index = tuple(data.draw(st.integers(-dim, dim - 1), label="index") for dim in board.shape)
        return board, model, index

    def cell_key(self, data: st.DataObject, board: ByteHandler, index: tuple[int, ...]) -> Any:
        """``index``, or its one int on a 1-d board."""
        return index[0] if board.ndim == 1 and data.draw(st.booleans(), label="int key") else index

    @rule(data=st.data())
    def write_a_cell(self, data: st.DataObject) -> None:
        board, model, index = self.pick_cell(data)
        if not board.size:
            return
        key = self.cell_key(data, board, index)
        value = data.draw(item_values(model.item), label="value")
        board[key] = value
        model.assign(index, [model.pack(value)])

    @rule(data=st.data())
    def write_a_bad_value(self, data: st.DataObject) -> None:
        """A value of the wrong type or out of the item's range: refused, nothing changes."""
        board, model, index = self.pick_cell(data)
        if not board.size:
            return
        key = self.cell_key(data, board, index)
        value = data.draw(item_values(model.item, valid=False), label="bad value")
        self.unchanged(board, lambda: board.__setitem__(key, value), (TypeError, OverflowError))

    @rule(data=st.data())
    def write_out_of_range(self, data: st.DataObject) -> None:
        """An index past the first axis: IndexError, nothing changes."""
        board, _, index = self.pick_cell(data)
        if not board.size:
            return
        dim = board.shape[0]
        bad = (data.draw(st.sampled_from([dim, -dim - 1]), label="bad index"), *index[1:])
        self.unchanged(board, lambda: board.__setitem__(bad, 0), IndexError)

    @rule(data=st.data())
    def write_one_value_to_a_region(self, data: st.DataObject) -> None:
        board, model = self.pick(data)
        keys = data.draw(axis_keys(board.shape), label="keys")
        value = data.draw(item_values(model.item), label="value")
        board[keys] = value
        model.assign(keys, [model.pack(value)] * model.count(keys))

    @rule(data=st.data())
    def write_a_region(self, data: st.DataObject) -> None:
        """Values for each item of a region: a list, nested lists, or a buffer (an array)."""
        board, model = self.pick(data)
        keys = data.draw(axis_keys(board.shape), label="keys")
        count = model.count(keys)
        if len(keys) == board.ndim and all(type(key) is int for key in keys):
            return  # a single item takes a number (write_one_value_to_a_region)
        how = data.draw(st.sampled_from(["list", "nested", "buffer"]), label="how")
        values = data.draw(many_values(model.item, count), label="values")
        given_values: Any = values
        if how == "buffer":
            given_values = array(ByteHandler(model.item).view().format, values)
        elif how == "nested" and count and count % 2 == 0:
            given_values = [values[: count // 2], values[count // 2 :]]
        board[keys] = given_values
        model.assign(keys, [model.pack(value) for value in values])

    @rule(data=st.data())
    def write_a_region_of_the_wrong_size(self, data: st.DataObject) -> None:
        """One value more or less than the region has items: ValueError, nothing changes."""
        board, model = self.pick(data)
        keys = data.draw(axis_keys(board.shape), label="keys")
        count = model.count(keys)
        if len(keys) == board.ndim and all(type(key) is int for key in keys):
            return  # a single item takes a number, not a sequence
        values = data.draw(many_values(model.item, count), label="values")
        extra = data.draw(st.sampled_from([-1, 1]), label="extra")
        if count == 0 and extra < 0:
            return
        wrong = [*values, values[0] if values else 0] if extra > 0 else values[:-1]
        self.unchanged(board, lambda: board.__setitem__(keys, wrong), ValueError)

    @rule(data=st.data())
    def fill(self, data: st.DataObject) -> None:
        board, model = self.pick(data)
        value = data.draw(item_values(model.item), label="value")
        board.fill(value)
        model.assign((), [model.pack(value)] * board.size)

    @rule(data=st.data())
    def replace_every_cell(self, data: st.DataObject) -> None:
        board, model = self.pick(data)
        values = data.draw(many_values(model.item, board.size), label="values")
        board[:] = values
        model.assign((), [model.pack(value) for value in values])

    @rule(data=st.data())
    def rewrite_the_same_values(self, data: st.DataObject) -> None:
        """Writing what the board already holds is not a change."""
        board, _ = self.pick(data)
        delta = self.source.diff()
        board[:] = board.copy()
        if board.size:
            board[(0,) * board.ndim] = board[(0,) * board.ndim]
        assert_strict_equal(self.source.diff(), delta)

    @rule(data=st.data())
    def replace_a_board(self, data: st.DataObject) -> None:
        item = data.draw(st.sampled_from(list(ITEMS)), label="item")
        shape = data.draw(st.sampled_from(SHAPES), label="shape")
        values = data.draw(many_values(item, math.prod(shape)), label="values")
        where = data.draw(st.sampled_from(self.PATHS), label="where")
        model = ModelBoard(item, shape, values)
        parent: Any = self.source
        model_parent: Any = self.model
        for key in where[:-1]:
            parent = parent[key]
            model_parent = model_parent[key]
        parent[where[-1]] = ByteHandler(item, shape, values)
        model_parent[where[-1]] = model

    @rule(value=st.integers())
    def write_a_plain_value(self, value: int) -> None:
        self.source["x"] = value
        self.model["x"] = value

    # -- the checks (the ticks, the settling teardown and diff_explains_every_change: the base)

    def check_model(self) -> None:
        assert_strict_equal(self.source.snapshot(), expected(self.model))


BoardMachine.TestCase.settings = settings(stateful_step_count=30)
TestBoardSync = BoardMachine.TestCase
