"""CborCodec: exact round trips, exact bytes, strict decoding, limits."""

from __future__ import annotations

import contextlib
import functools
import struct
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flatsync import (
    DELETED,
    CborCodec,
    DataHandler,
    DecodeError,
    EncodeError,
    LimitError,
    Limits,
    ListHandler,
)
from flatsync.protocol import ListDelta, Replace
from flatsync.testing import assert_strict_equal, keys, snapshots, values
from flatsync.testing._conformance import nested

CODEC = CborCodec()


def nan_with_bits(bits: int) -> float:
    value: float = struct.unpack("<d", struct.pack("<Q", bits))[0]
    return value


def round_trip(tree: Any, codec: CborCodec = CODEC) -> Any:
    return codec.decode(codec.encode(tree))


# -- strategies for arbitrary protocol trees (deltas included) -------------------------


@functools.cache
def _delta_node(depth: int) -> st.SearchStrategy[Any]:
    leaf = st.one_of(values(), st.just(DELETED))
    if depth <= 0:
        return leaf
    inner = _delta_node(depth - 1)
    snapshot = snapshots(max_depth=min(depth, 2), max_size=3)
    return st.one_of(
        leaf,
        st.dictionaries(keys(), inner, max_size=3),
        st.lists(inner, max_size=3),
        st.builds(Replace, st.one_of(values(), snapshot, st.lists(values(), max_size=3))),
        st.lists(
            st.tuples(st.just(0), st.integers(0, 9), inner.filter(lambda v: v is not DELETED))
            | st.builds(
                lambda i, vs: (1, i, *vs), st.integers(0, 9), st.lists(values(), min_size=1)
            )
            | st.tuples(st.just(2), st.integers(0, 9), st.integers(1, 10))
            | st.lists(values(), max_size=3).map(lambda vs: (3, *vs)),
            max_size=3,
        ).map(lambda ops: ListDelta(tuple(ops))),
    )


@st.composite
def protocol_trees(draw: st.DrawFn, max_depth: int = 3) -> Any:
    """Snapshots and deltas: nested dicts, lists, tuples, scalars and every marker."""
    # A composite, so that hypothesis describes the strategy in one line, not in 50 kB.
    return draw(
        st.one_of(
            snapshots(max_depth=max_depth),
            st.dictionaries(keys(), _delta_node(max_depth), max_size=4),
            _delta_node(max_depth),
        )
    )


# -- round trips ------------------------------------------------------------------------------


@given(snapshots(max_depth=4))
def test_every_snapshot_round_trips_exactly(tree: dict[Any, Any]) -> None:
    assert_strict_equal(round_trip(tree), tree)


@given(protocol_trees())
def test_every_protocol_tree_round_trips_exactly(tree: Any) -> None:
    assert_strict_equal(round_trip(tree), tree)


@given(values())
def test_every_value_round_trips_exactly(value: Any) -> None:
    assert_strict_equal(round_trip({"v": value}), {"v": value})
    assert_strict_equal(round_trip(value), value)


@given(keys())
def test_every_key_round_trips_with_its_type(key: Any) -> None:
    assert_strict_equal(round_trip({key: key}), {key: key})


def test_round_trip_keeps_types() -> None:
    tree = {
        1: (1, 2),
        1.5: [1, (2,)],
        False: {b"k": None},
        (1, "a"): Replace({"x": [DELETED]}),
        None: ListDelta(((0, 1, [2]), (1, 0, {"z": (3,)}))),
        "f": (-0.0, float("inf"), float("-inf"), nan_with_bits(0xFFF0_0000_0000_0123)),
        "big": (2**64, -(2**64) - 1, 2**64 - 1, -(2**64), 10**40),
    }
    decoded = round_trip(tree)
    assert_strict_equal(decoded, tree)
    assert [type(key) for key in decoded] == [int, float, bool, tuple, type(None), str, str]


def test_a_tracked_handlers_snapshot_and_diff_round_trip() -> None:
    handler = DataHandler({"a": {"b": [1, (2.5, b"x")]}, 2: -0.0})
    handler.commit()
    handler["a"]["b"].append({"c": 3})
    handler["a"]["new"] = {"n": 1}
    del handler[2]
    assert_strict_equal(round_trip(handler.snapshot()), handler.snapshot())
    assert_strict_equal(round_trip(handler.diff()), handler.diff())


# -- exact bytes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0, "f9 00 00"),
        (-0.0, "f9 80 00"),
        (1.0, "f9 3c 00"),
        (1.5, "f9 3e 00"),
        (-2.0, "f9 c0 00"),
        (65504.0, "f9 7b ff"),
        (5.960464477539063e-08, "f9 00 01"),
        (float("inf"), "f9 7c 00"),
        (float("-inf"), "f9 fc 00"),
        (65505.0, "fa 47 7f e1 00"),
        (100000.0, "fa 47 c3 50 00"),
        (3.4028234663852886e38, "fa 7f 7f ff ff"),
        (1.1, "fb 3f f1 99 99 99 99 99 9a"),
        (1e300, "fb 7e 37 e4 3c 88 00 75 9c"),
        (float("nan"), "fb 7f f8 00 00 00 00 00 00"),
        (nan_with_bits(0x7FF8_0000_0000_0001), "fb 7f f8 00 00 00 00 00 01"),
        (nan_with_bits(0xFFF0_0000_0000_0001), "fb ff f0 00 00 00 00 00 01"),
    ],
)
def test_floats_take_the_shortest_exact_form(value: float, expected: str) -> None:
    packet = CODEC.encode(value)
    assert packet.hex(" ") == expected
    assert_strict_equal(CODEC.decode(packet), value)
    keyed = CODEC.encode({value: 1} if value == value else {1: value})
    assert expected.replace(" ", "") in keyed.hex()


@pytest.mark.parametrize(
    ("tree", "expected"),
    [
        (0, "00"),
        (23, "17"),
        (24, "18 18"),
        (-1, "20"),
        (2**64 - 1, "1b ff ff ff ff ff ff ff ff"),
        (-(2**64), "3b ff ff ff ff ff ff ff ff"),
        (2**64, "c2 49 01 00 00 00 00 00 00 00 00"),
        (-(2**64) - 1, "c3 49 01 00 00 00 00 00 00 00 00"),
        (True, "f5"),
        (False, "f4"),
        (None, "f6"),
        (DELETED, "f7"),
        ("hp", "62 68 70"),
        (b"\x01", "41 01"),
        ((), "80"),
        ((1, (2,)), "82 01 81 02"),
        ([], "c8 80"),
        ([1, (2,)], "c8 82 01 81 02"),
        ({}, "a0"),
        (Replace({}), "c6 a0"),
        (Replace(1), "c6 01"),
        (ListDelta(), "c7 80"),
        (ListDelta(((2, 1, 1),)), "c7 81 83 02 01 01"),
        ({3: {"hp": 6}}, "a1 03 a1 62 68 70 06"),
        ({2: DELETED}, "a1 02 f7"),
    ],
    ids=repr,
)
def test_exact_encodings(tree: Any, expected: str) -> None:
    packet = CODEC.encode(tree)
    assert packet.hex(" ") == expected
    assert_strict_equal(CODEC.decode(packet), tree)


# -- strict decoding ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "packet",
    [
        "a0 00",  # trailing bytes
        "01 01",
        "a2 01 01 01 02",  # duplicate keys
        "a2 01 01 f9 3c 00 02",  # 1 and 1.0 are one key
        "a2 01 01 f5 02",  # 1 and True are one key
        "a2 f9 00 00 01 f9 80 00 02",  # 0.0 and -0.0 are one key
        "c9 01",  # unknown tags
        "cf 01",
        "d8 18 41 a0",
        "d9 9c 40 01",
        "c1 1a 51 4b 67 b0",  # a datetime (tag 1)
        "c0 74 32 30 31 33 2d 30 33 2d 32 31 54 32 30 3a 30 34 3a 30 30 5a",  # tag 0
        "d9 01 02 83 01 02 03",  # a set (tag 258)
        "d8 1c 80",  # shared reference
        "d8 1d 00",
        "d9 d9 f7 a0",  # self-described CBOR
        "c4 82 21 19 6a b3",  # decimal fraction
        "9f 01 ff",  # indefinite-length items
        "bf 01 01 ff",
        "7f 61 61 ff",
        "5f 41 61 ff",
        "a1 a0 01",  # a map key that is a map
        "a1 c6 01 01",  # a map key that is a marker
        "a1 c8 80 01",
        "a1 f7 01",
        "a1 f9 7e 00 01",  # a NaN key
        "a1 81 f9 7e 00 01",  # a NaN inside a tuple key
        "",  # an empty packet
        "ff",  # a lone break
        "f0",  # unassigned simple values
        "f8 ff",
        "1c",  # reserved additional information
        "62 c3 28",  # invalid UTF-8
        "c8 01",  # a list tag around something else
        "c7 01",  # a list delta around something else
        "c7 81 01",
        "81 c6 01",  # markers and containers inside a tuple
        "81 c8 80",
        "81 a0",
        "81 f7",
        "c2 01",  # a bignum tag around something else
        "5b ff ff ff ff ff ff ff ff",  # lengths beyond the packet
        "9b ff ff ff ff ff ff ff ff",
        "bb ff ff ff ff ff ff ff ff",
    ],
)
def test_malformed_packets_raise_decode_error(packet: str) -> None:
    with pytest.raises(DecodeError):
        CODEC.decode(bytes.fromhex(packet.replace(" ", "")))


def test_decode_wants_bytes() -> None:
    with pytest.raises(TypeError):
        CODEC.decode("a0")  # type: ignore[arg-type]
    assert CODEC.decode(bytearray(b"\xa0")) == {}
    assert CODEC.decode(memoryview(b"\xa1\x01\x02")) == {1: 2}


def _valid_packets() -> list[bytes]:
    handler = DataHandler(
        {1: {"name": "notch", "pos": (2, 2), "hp": 8.5}, "l": [1, {"x": [b"y"]}], 2**70: None}
    )
    handler.commit()
    snapshot = CODEC.encode(handler.snapshot())
    handler["l"].insert(0, (1, 2))
    handler[1]["new"] = {"k": [1.1]}
    del handler[2**70]
    delta = CODEC.encode(handler.diff())
    markers = CODEC.encode({1: Replace({"a": [1]}), 2: ListDelta(((0, 1, [2]),)), 3: DELETED})
    return [snapshot, delta, markers]


@pytest.mark.parametrize("packet", _valid_packets(), ids=["snapshot", "delta", "markers"])
def test_every_truncation_raises_decode_or_limit_error(packet: bytes) -> None:
    CODEC.decode(packet)
    for end in range(len(packet)):
        with pytest.raises((DecodeError, LimitError)):
            CODEC.decode(packet[:end])


@given(protocol_trees(), st.data())
def test_truncated_and_corrupted_packets_fail_cleanly(tree: Any, data: st.DataObject) -> None:
    packet = CODEC.encode(tree)
    end = data.draw(st.integers(0, len(packet) - 1), label="end")
    with pytest.raises((DecodeError, LimitError)):
        CODEC.decode(packet[:end])
    index = data.draw(st.integers(0, len(packet) - 1), label="index")
    byte = data.draw(st.integers(0, 255), label="byte")
    corrupted = packet[:index] + bytes([byte]) + packet[index + 1 :]
    with contextlib.suppress(DecodeError, LimitError):
        CODEC.decode(corrupted)


@given(st.binary(max_size=64))
def test_arbitrary_bytes_decode_or_fail_cleanly(packet: bytes) -> None:
    try:
        tree = CODEC.decode(packet)
    except (DecodeError, LimitError):
        return
    assert_strict_equal(CODEC.decode(CODEC.encode(tree)), tree)


# -- limits ----------------------------------------------------------------------------------------


def test_packet_size_limit() -> None:
    codec = CborCodec(limits=Limits(max_packet_size=10))
    ok = codec.encode({"a": b"12345"})
    assert len(ok) == 9
    assert codec.decode(ok) == {"a": b"12345"}
    with pytest.raises(LimitError):
        codec.encode({"a": b"123456789"})
    with pytest.raises(LimitError):
        codec.decode(CODEC.encode({"a": b"123456789"}))
    with pytest.raises(LimitError):
        codec.decode(b"\xa0" * 11)


@pytest.mark.parametrize("kind", ["dict", "list", "tuple", "replace"])
def test_depth_limit_on_encode_and_decode(kind: str) -> None:
    codec = CborCodec(limits=Limits(max_depth=8))
    ok = nested(kind, 8)
    assert_strict_equal(codec.decode(codec.encode(ok)), ok)
    too_deep = nested(kind, 9)
    with pytest.raises(LimitError):
        codec.encode(too_deep)
    with pytest.raises(LimitError):
        codec.decode(CODEC.encode(too_deep))


@given(protocol_trees(max_depth=4))
@settings(max_examples=50)
def test_what_encodes_under_a_depth_limit_also_decodes(tree: Any) -> None:
    for depth in range(1, 12):
        codec = CborCodec(limits=Limits(max_depth=depth))
        try:
            packet = codec.encode(tree)
        except LimitError:
            with pytest.raises(LimitError):
                codec.decode(CODEC.encode(tree))
            continue
        assert_strict_equal(codec.decode(packet), tree)


@pytest.mark.parametrize("kind", ["dict", "list", "tuple", "replace"])
def test_ten_thousand_levels_raise_limit_error_and_do_not_crash(kind: str) -> None:
    tree = nested(kind, 10_000)
    with pytest.raises(LimitError):
        CODEC.encode(tree)
    with pytest.raises(LimitError):
        CODEC.encode({"a": tree})
    huge = CborCodec(limits=Limits(max_depth=1_000_000))
    with pytest.raises(LimitError):
        huge.encode(tree)


@pytest.mark.parametrize(("head", "tail"), [(b"\x81", b"\x80"), (b"\xa1\x00", b"\xa0")])
def test_deep_packets_raise_limit_error(head: bytes, tail: bytes) -> None:
    packet = head * 100_000 + tail
    with pytest.raises(LimitError):
        CODEC.decode(packet)
    huge = CborCodec(limits=Limits(max_depth=1_000_000))
    with pytest.raises(LimitError):
        huge.decode(packet)


def test_container_item_limits() -> None:
    limits = Limits(max_container_items=3)
    codec = CborCodec(limits=limits)
    for ok in ({1: 1, 2: 2, 3: 3}, (1, 2, 3), [1, 2, 3], ListDelta(((1, 2, 3),))):
        assert_strict_equal(codec.decode(CODEC.encode(ok)), ok)
    for bad in ({1: 1, 2: 2, 3: 3, 4: 4}, (1, 2, 3, 4), [1, 2, 3, 4], ListDelta(((1, 2, 3, 4),))):
        with pytest.raises(LimitError):
            codec.decode(CODEC.encode(bad))


def test_total_item_limit() -> None:
    codec = CborCodec(limits=Limits(max_total_items=6))
    ok = {1: (1, 2), 2: [3]}  # 2 + 2 + 1 items
    assert_strict_equal(codec.decode(CODEC.encode(ok)), ok)
    with pytest.raises(LimitError):
        codec.decode(CODEC.encode({1: (1, 2), 2: [3, 4, 5]}))


def test_string_length_limit() -> None:
    codec = CborCodec(limits=attrs.evolve(Limits(), max_string_length=4))
    assert codec.decode(CODEC.encode({"abcd": b"1234"})) == {"abcd": b"1234"}
    for bad in ({"abcde": 1}, {1: b"12345"}, {1: ("abcde",)}):
        with pytest.raises(LimitError):
            codec.decode(CODEC.encode(bad))


# -- what cannot be encoded -----------------------------------------------------------------------


class Thing:
    pass


@pytest.mark.parametrize(
    "tree",
    [
        {1, 2},
        {"a": {1, 2}},
        {"a": [Thing()]},
        Thing(),
        {"a": (1, {"b": 1})},
        {"a": (1, [2])},
        {"a": (1, Replace(1))},
        {"a": bytearray(b"x")},
        {"a": 1j},
        {Thing(): 1},
        {float("nan"): 1},
        {(1, float("nan")): 1},
        {frozenset(): 1},
        ListDelta(([1],)),  # type: ignore[arg-type]
        DataHandler({"a": 1}),
        {"a": DataHandler({"b": 1})},
        ListHandler([1]),
        {"a": ListHandler([1])},
    ],
    ids=repr,
)
def test_outside_the_protocol_raises_encode_error(tree: Any) -> None:
    with pytest.raises(EncodeError):
        CODEC.encode(tree)


def test_encoding_a_handler_hints_at_snapshot_and_diff() -> None:
    with pytest.raises(EncodeError, match=r"\.snapshot\(\) or \.diff\(\)"):
        CODEC.encode(DataHandler({"a": 1}))
    with pytest.raises(EncodeError, match=r"root\['a'\]\[1\]"):
        CODEC.encode({"a": [1, {2}]})


def test_the_float_cache_keeps_zeros_nans_and_widths_apart() -> None:
    codec = CborCodec()
    nan = struct.unpack(">d", bytes.fromhex("7ff8000000000123"))[0]
    values = [0.0, -0.0, 0.0, 1.5, 1.5, 0.1, 0.1, nan, nan, 1e300, -1e300, 65504.0, 65520.0]
    first = [codec.encode(value) for value in values]
    again = [codec.encode(value) for value in values]  # now from the cache where cached
    assert first == again
    assert first[:3] == [b"\xf9\x00\x00", b"\xf9\x80\x00", b"\xf9\x00\x00"]
    assert first[3] == b"\xf9\x3e\x00"
    assert first[5] == b"\xfb" + struct.pack(">d", 0.1)
    assert first[7] == b"\xfb" + bytes.fromhex("7ff8000000000123")
    assert first[11:] == [b"\xf9\x7b\xff", b"\xfa" + struct.pack(">f", 65520.0)]
    assert codec.encode((0.0, -0.0, -0.0, 0.0)) == bytes.fromhex(
        "84 f9 0000 f9 8000 f9 8000 f9 0000"
    )
