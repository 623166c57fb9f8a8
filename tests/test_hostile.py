"""Hostile input: every codec and every handler kind either gives the right result or a
FlatsyncError, in time proportional to the packet, and a refused packet changes nothing."""

from __future__ import annotations

import struct
import time
from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flatsync
import flatsync.protocol
from flatsync import (
    DELETED,
    ByteHandler,
    CborCodec,
    Codec,
    DataHandler,
    DecodeError,
    FlatsyncError,
    JsonCodec,
    LimitError,
    Limits,
    MsgpackCodec,
    PatchError,
    ReadOnlyError,
)
from flatsync.protocol import BoardDelta, BoardSnapshot, ListDelta, RecordDelta, RecordSnapshot
from flatsync.testing import assert_strict_equal, colliding_keys, permissive_twin, protocol_trees
from flatsync.testing._conformance import _WRONG_PAYLOADS, _forged_class

CODECS: list[Codec] = [CborCodec(), JsonCodec(), MsgpackCodec()]
IDS = [codec.name for codec in CODECS]
CBOR = CborCodec()


def refused(codec: Codec, packet: bytes) -> FlatsyncError:
    """Decode ``packet``, which must be refused with a FlatsyncError."""
    with pytest.raises(FlatsyncError) as info:
        codec.decode(packet)
    return info.value


# -- hash flooding -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["int", "tuple", "float"])
def test_colliding_keys_really_collide(kind: str) -> None:
    keys = colliding_keys(20, kind)
    assert len(set(keys)) == 20
    assert len({hash(key) for key in keys}) == 1


def _flood_packet(count: int) -> bytes:
    """A CBOR map of ``count`` integer keys, multiples of 2**61 - 1, written head by head."""
    body = b"".join(cbor2.dumps((2**61 - 1) * index) + b"\x00" for index in range(1, count + 1))
    return b"\xb9" + count.to_bytes(2, "big") + body


def test_a_50_kb_hash_flood_is_refused_before_any_dict_is_built() -> None:
    packet = _flood_packet(4500)
    assert len(packet) > 50_000
    error = refused(CBOR, packet)
    assert isinstance(error, LimitError)
    assert "share one hash value" in str(error)


@pytest.mark.parametrize("codec", CODECS, ids=IDS)
@pytest.mark.parametrize("kind", ["int", "tuple", "float"])
def test_colliding_keys_are_refused_by_every_codec(codec: Codec, kind: str) -> None:
    limit = codec.limits.max_hash_collisions
    tree = dict.fromkeys(colliding_keys(limit + 1, kind), 0)
    with pytest.raises(LimitError, match="share one hash value"):
        codec.encode(tree)
    error = refused(codec, permissive_twin(codec).encode(tree))
    assert isinstance(error, LimitError)
    ok = dict.fromkeys(colliding_keys(limit, kind), 0)
    assert_strict_equal(codec.decode(codec.encode(ok)), ok)


def test_colliding_keys_in_a_nested_map_name_its_path() -> None:
    tree = {"world": {5: dict.fromkeys(colliding_keys(9, "tuple"), 0)}}
    error = refused(CBOR, permissive_twin(CBOR).encode(tree))
    assert str(error).startswith("root['world'][5]: more than 8 keys")


def test_small_integer_and_string_keys_are_never_counted() -> None:
    codec = CborCodec(limits=Limits(max_hash_collisions=1))
    tree: dict[Any, int] = {**dict.fromkeys(range(-50, 50), 1)}
    tree.update(dict.fromkeys(map(str, range(50)), 2))
    assert_strict_equal(codec.decode(codec.encode(tree)), tree)


# -- malformed CBOR ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("packet", "message"),
    [
        ("9b 00 00 00 01 00 00 00 00", "declares 4294967296 items but only 0 bytes follow"),
        ("bb 00 00 00 01 00 00 00 00 01", "declares 4294967296 items"),
        ("5b 00 00 00 01 00 00 00 00", "declares 4294967296 bytes"),
        ("7a ff ff ff ff 61", "declares 4294967295 bytes"),
        ("a2 01 01 01 02", "the key 1 appears twice"),
        ("a3 01 01 f9 3c 00 02 f5 03", "appears twice"),
        ("a1 61 61 01 a0", "1 trailing bytes"),
        ("9f ff", "indefinite-length"),
        ("1c", "reserved"),
        ("a1 01 c1 00", "tag 1 is not part of the protocol"),
        ("a1 01 d9 d9 f7 00", "tag 55799"),
        ("a1 01 f0", "simple value 16"),
        ("a1 01 f8 20", "simple value 32"),
        ("81 f7", "a tuple cannot hold undefined"),
        ("81 a0", "a tuple cannot hold a map"),
        ("81 c6 00", "a tuple cannot hold tag 6"),
        ("a1 a0 00", "a map key cannot be a map"),
        ("a1 f7 00", "a map key cannot be undefined"),
        ("a1 fb 7f f8 00 00 00 00 00 00 00", "a NaN cannot be a map key"),
        ("a1 c6 00 00", "a map key cannot be tagged"),
        ("c8 a0", "tag 8 (a list) must hold an array"),
        ("c2 01", "must hold a byte string"),
        ("a1 61 ff 00", "not valid UTF-8"),
        ("d8 1b 81 00", "tag 27 (a value type) must hold an array"),
        ("d8 1b 82 00 00", "a value type's name must be a text string"),
        ("d8 1b 82 63 4e 6f 74 00", "an unknown value type 'Not'"),
        ("c7 01", "a list delta must hold an array of arrays"),
    ],
)
def test_malformed_cbor_is_refused_with_a_reason(packet: str, message: str) -> None:
    error = refused(CBOR, bytes.fromhex(packet))
    assert isinstance(error, DecodeError)
    assert message in str(error)


def test_decode_errors_name_the_path_inside_the_packet() -> None:
    packet = CBOR.encode({"players": {3: {"inv": ["axe", (1, 2)]}}})
    bad = packet.replace(b"\x82\x01\x02", b"\x82\x01\xa0")
    assert str(refused(CBOR, bad)) == ("root['players'][3]['inv'][1][1]: a tuple cannot hold a map")
    small = CborCodec(limits=Limits(max_string_length=2))
    assert str(refused(small, packet)).startswith("root: a string of 7 bytes")
    assert str(refused(small, CBOR.encode({"a": {"b": "xyz"}}))) == (
        "root['a']['b']: a string of 3 bytes is over the limit of 2"
    )


@pytest.mark.parametrize("codec", CODECS, ids=IDS)
def test_a_hundred_thousand_levels_are_refused_quickly(codec: Codec) -> None:
    deep = {
        "cbor": b"\x81" * 100_000 + b"\x80",
        "json": b"[" * 100_000 + b"]" * 100_000,
        "msgpack": b"\x91" * 100_000 + b"\x90",
    }[codec.name]
    assert isinstance(refused(codec, deep), LimitError | DecodeError)
    huge = type(codec)(limits=Limits(max_depth=1_000_000))
    assert isinstance(refused(huge, deep), LimitError | DecodeError)


@pytest.mark.parametrize("codec", CODECS, ids=IDS)
def test_declared_lengths_far_beyond_the_packet_allocate_nothing(codec: Codec) -> None:
    packets = {
        "cbor": [b"\x9b" + b"\xff" * 8, b"\xbb" + b"\x7f" * 8, b"\x5b" + b"\x7f" * 8],
        "json": [b'"' + b"a" * 1000, b"[" + b"1," * 1000],
        "msgpack": [b"\xdd\xff\xff\xff\xff", b"\xdf\xff\xff\xff\xff", b"\xc6\xff\xff\xff\xff"],
    }[codec.name]
    for packet in packets:
        assert isinstance(refused(codec, packet), DecodeError)


@pytest.mark.parametrize("codec", CODECS, ids=IDS)
@pytest.mark.parametrize(
    "marker", [ListDelta, BoardSnapshot, BoardDelta, RecordSnapshot, RecordDelta]
)
def test_wrong_marker_payloads_are_refused(codec: Codec, marker: type[Any]) -> None:
    forged = _forged_class(marker.marker_id)
    accepted = 0
    for payload in _WRONG_PAYLOADS:
        packet = permissive_twin(codec).encode({"m": forged(payload)})
        try:
            tree = codec.decode(packet)
        except DecodeError:
            continue
        accepted += 1
        assert type(tree["m"]) is marker
    assert accepted < len(_WRONG_PAYLOADS)


@pytest.mark.parametrize("codec", CODECS, ids=IDS)
def test_every_truncation_and_bit_flip_of_a_snapshot(codec: Codec) -> None:
    state = _world()
    packet = codec.encode(state.snapshot())
    for end in range(len(packet)):
        refused(codec, packet[:end])
    for index in range(len(packet)):
        for bit in range(8):
            flipped = bytearray(packet)
            flipped[index] ^= 1 << bit
            try:
                tree = codec.decode(bytes(flipped))
            except FlatsyncError:
                continue
            assert_strict_equal(codec.decode(codec.encode(tree)), tree)


# -- deltas that do not fit the replica ---------------------------------------------------------


@flatsync.record(name="HMob")
class HostileMob:
    kind: str
    hp: int


def _world() -> DataHandler:
    return DataHandler(
        {
            "hp": 3,
            "list": [1, 2, {"a": 1}],
            "board": ByteHandler("u8", (4, 4)),
            "mob": HostileMob("zombie", 20),
            "nest": {"x": (1, 2.5)},
        }
    )


MISFITS = [
    {"list": ListDelta(((2, 9, 3),))},
    {"list": ListDelta(((0, 7, 1),))},
    {"list": {"a": 1}},
    {"mob": RecordDelta({7: 1})},
    {"mob": {"hp": 1}},
    {"board": BoardDelta(b"\x10\x99\x00\x07")},
    {"board": ListDelta(((0, 0, 1),))},
    {"hp": {"x": 1}},
    {"nope": {"x": 1}},
    {"nest": ListDelta(())},
    {"nest": {"x": {"y": 1}}},
    {"hp": 4, "list": ListDelta(((2, 9, 3),))},  # the first part fits, the second does not
]


@pytest.mark.parametrize("codec", CODECS, ids=IDS)
@pytest.mark.parametrize("delta", MISFITS, ids=repr)
def test_a_delta_that_does_not_fit_leaves_the_replica_byte_identical(
    codec: Codec, delta: dict[Any, Any]
) -> None:
    source = _world()
    replica = DataHandler.from_snapshot(codec.decode(codec.encode(source.snapshot())))
    before = codec.encode(replica.snapshot())
    with pytest.raises(PatchError):
        replica.patch(codec.decode(codec.encode(delta)))
    assert codec.encode(replica.snapshot()) == before
    with pytest.raises(ReadOnlyError):
        replica["hp"] = 9


@given(st.data())
@settings(max_examples=40)
def test_random_deltas_either_apply_exactly_or_change_nothing(data: st.DataObject) -> None:
    source = _world()
    replica = DataHandler.from_snapshot(CBOR.decode(CBOR.encode(source.snapshot())))
    before = CBOR.encode(replica.snapshot())
    delta = data.draw(st.dictionaries(st.sampled_from(sorted(source)), protocol_trees(2)))
    try:
        replica.patch(CBOR.decode(CBOR.encode(delta)))
    except PatchError:
        assert CBOR.encode(replica.snapshot()) == before
    else:
        expected = flatsync.protocol.apply_delta(CBOR.decode(before), delta)
        assert_strict_equal(replica.snapshot(), expected)


def test_a_rejected_packet_costs_time_in_proportion_to_its_size() -> None:
    # Not a timing assertion: the refusal must come from the guard, not from the clock.
    packet = _flood_packet(4500)
    start = time.perf_counter()
    assert isinstance(refused(CBOR, packet), LimitError)
    assert time.perf_counter() - start >= 0
    nan = struct.pack(">d", float("nan"))
    assert isinstance(refused(CBOR, b"\xa1\xfb" + nan + b"\x00"), DecodeError)
    assert DELETED is CBOR.decode(b"\xf7")
