"""The wire-format page's exact rules: marker shapes, key equality, accepted encodings, replies.

Each test pins one sentence of docs/wire-format.md, on whichever decoder path
runs (the C accelerator, or the pure-Python parser under FLATSYNC_PURE=1).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flatsync
from flatsync import CborCodec, DecodeError, JsonCodec, LimitError, Limits, PatchError
from flatsync.protocol import ListDelta, Replace
from flatsync.testing import assert_strict_equal, hostile_packets

CBOR = CborCodec()
JSON = JsonCodec()

# -- malformed markers are refused at decode --------------------------------------------------

#: Marker contents that do not have their marker's shape, in CBOR (hex) and JSON.
MALFORMED = {
    "unknown opcode": ("c7 81 81 04", '{"~7":[[4]]}'),
    "empty operation": ("c7 81 80", '{"~7":[[]]}'),
    "operation not an array": ("c7 81 01", '{"~7":[1]}'),
    "list delta not an array": ("c7 01", '{"~7":1}'),
    "set without change": ("c7 81 82 00 00", '{"~7":[[0,0]]}'),
    "set with two changes": ("c7 81 84 00 00 01 02", '{"~7":[[0,0,1,2]]}'),
    "set of DELETED": ("c7 81 83 00 00 f7", '{"~7":[[0,0,{"~d":0}]]}'),
    "set of a tuple holding a map": ("c7 81 83 00 00 81 a0", '{"~7":[[0,0,[{}]]]}'),
    "insert without values": ("c7 81 82 01 00", '{"~7":[[1,0]]}'),
    "insert of DELETED": ("c7 81 83 01 00 f7", '{"~7":[[1,0,{"~d":0}]]}'),
    "insert of a Replace": ("c7 81 83 01 00 c6 01", '{"~7":[[1,0,{"~6":1}]]}'),
    "insert of a tuple holding a map": ("c7 81 83 01 00 81 a0", '{"~7":[[1,0,[{}]]]}'),
    "delete with extra": ("c7 81 84 02 00 01 09", '{"~7":[[2,0,1,9]]}'),
    "delete of none": ("c7 81 83 02 00 00", '{"~7":[[2,0,0]]}'),
    "negative index": ("c7 81 83 00 20 01", '{"~7":[[0,-1,1]]}'),
    "bool index": ("c7 81 83 01 f5 01", '{"~7":[[1,true,1]]}'),
    "float index": ("c7 81 83 01 f9 00 00 01", '{"~7":[[1,0.0,1]]}'),
    "whole of a list delta": ("c7 81 82 03 c7 80", '{"~7":[[3,{"~7":[]}]]}'),
    "Replace of DELETED": ("c6 f7", '{"~6":{"~d":0}}'),
    "Replace of a Replace": ("c6 c6 01", '{"~6":{"~6":1}}'),
    "Replace of a list delta": ("c6 c7 80", '{"~6":{"~7":[]}}'),
    "Replace of a board delta": ("c6 ca 40", '{"~6":{"~10":{"~b":""}}}'),
    "Replace of a record delta": ("c6 cc a0", '{"~6":{"~12":{}}}'),
    "Replace of a tuple holding a map": ("c6 82 01 a0", '{"~6":[1,{}]}'),
    "board delta of form 3": ("ca 41 c0", '{"~10":{"~b":"wA=="}}'),
    "board snapshot of the wrong size": ("c9 83 00 81 02 41 00", '{"~9":[0,[2],{"~b":"AA=="}]}'),
    "record snapshot holding DELETED": ("cb 82 00 f7", '{"~11":[0,{"~d":0}]}'),
    "record snapshot of a negative id": ("cb 81 20", '{"~11":[-1]}'),
    "record delta deleting": ("cc a1 00 f7", '{"~12":{"0":{"~d":0}}}'),
    "record delta of a text index": ("cc a1 61 61 01", '{"~12":{"a":1}}'),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_marker_contents_are_refused_at_decode(case: str) -> None:
    cbor, json = MALFORMED[case]
    with pytest.raises(DecodeError):
        CBOR.decode(bytes.fromhex(cbor))
    with pytest.raises(DecodeError):
        JSON.decode(json.encode())
    # Nested in a mapping, the message names the path.
    with pytest.raises(DecodeError, match=r"^root\[1\]"):
        CBOR.decode(bytes.fromhex("a1 01 " + cbor))


@pytest.mark.parametrize(
    "marker",
    [
        ListDelta(((4,),)),
        ListDelta(((0, 0),)),
        ListDelta(((0, 0, flatsync.DELETED),)),
        ListDelta(((1, 0),)),
        ListDelta(((1, -1, 1),)),
        ListDelta(((2, 0, 0),)),
        ListDelta(((1, 0, ({},)),)),
        Replace(flatsync.DELETED),
        Replace(Replace(1)),
        Replace(ListDelta()),
    ],
    ids=repr,
)
def test_the_encoder_refuses_what_the_decoder_refuses(marker: Any) -> None:
    for codec in (CBOR, JSON):
        with pytest.raises(flatsync.EncodeError, match=r"^root\['k'\]"):
            codec.encode({"k": marker})


def test_well_formed_edge_shapes_are_accepted() -> None:
    board = flatsync.ByteHandler("u8", 2).snapshot()
    for tree in (
        ListDelta(((3,),)),  # empty the list
        ListDelta(((0, 0, ListDelta(((3,),))),)),  # a nested list delta
        ListDelta(((0, 0, Replace({"a": 1})),)),
        ListDelta(((1, 0, board, [1], {"a": (1, 2)}),)),
        ListDelta(((0, 10**30, 1),)),  # an index too large is decided at patch
        Replace(board),
        Replace(((1, (2, b"x")),)),
        {"k": board},
    ):
        for codec in (CBOR, JSON):
            assert_strict_equal(codec.decode(codec.encode(tree)), tree)


def test_a_malformed_marker_makes_a_replica_resync_not_refresh() -> None:
    pub = flatsync.Publisher(flatsync.DataHandler({"l": flatsync.ListHandler([1])}))
    pub.add_client("ann")
    replica = flatsync.Replica()
    pub.tick()
    for packet in pub.packets_for("ann"):
        replica.receive(packet)
    assert replica.packet_to_send() == bytes.fromhex("12 01")
    before = replica.state.snapshot()
    # Frame 2 on base 1: {"l": ListDelta(((1, 0),))}, an insert without values.
    with pytest.raises(DecodeError):
        replica.receive(bytes.fromhex("10 02 01 a1 61 6c c7 81 82 01 00"))
    assert_strict_equal(replica.state.snapshot(), before)
    assert replica.frame == 1
    assert replica.packet_to_send() == bytes.fromhex("13 01 01")  # resync from 1
    # One that decodes but does not fit (index 5 of a list of 1) asks for a snapshot.
    with pytest.raises(PatchError):
        replica.receive(bytes.fromhex("10 02 01 a1 61 6c c7 81 83 01 05 07"))
    assert_strict_equal(replica.state.snapshot(), before)
    assert replica.packet_to_send() == bytes.fromhex("14 00")


# -- what a decoder accepts that the encoder never writes -------------------------------------


@pytest.mark.parametrize(
    ("packet", "tree"),
    [
        ("18 01", 1),
        ("19 00 01", 1),
        ("1b 00 00 00 00 00 00 00 01", 1),
        ("38 00", -1),
        ("78 01 61", "a"),
        ("98 01 01", (1,)),
        ("b8 01 01 02", {1: 2}),
        ("d8 06 01", Replace(1)),
        ("fb 3f f0 00 00 00 00 00 00", 1.0),
        ("fa 3f 80 00 00", 1.0),
        ("fb 80 00 00 00 00 00 00 00", -0.0),
        ("c2 41 01", 1),
        ("c2 40", 0),
        ("c3 40", -1),
        ("c2 4a 00 01 00 00 00 00 00 00 00 00", 2**64),
        ("a1 c2 41 01 02", {1: 2}),
    ],
)
def test_non_preferred_cbor_encodings_are_accepted(packet: str, tree: Any) -> None:
    decoded = CBOR.decode(bytes.fromhex(packet))
    assert_strict_equal(decoded, tree)
    assert CBOR.encode(decoded) != bytes.fromhex(packet)  # the encoder writes the preferred form


@pytest.mark.parametrize(
    "packet",
    ["a2 01 00 18 01 00", "a2 01 00 c2 41 01 00", "a2 f9 3c 00 00 fb 3f f0 00 00 00 00 00 00 00"],
)
def test_keys_that_differ_only_in_encoding_are_duplicates(packet: str) -> None:
    with pytest.raises(DecodeError, match="twice"):
        CBOR.decode(bytes.fromhex(packet))


# -- key equality -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (1, 1.0),
        (1, True),
        (0, -0.0),
        (False, 0.0),
        (2**64, float(2**64)),
        (-(2**70), -float(2**70)),
        ((1, "a"), (1.0, "a")),
        ((1, "a"), (True, "a")),
        (((0,), 1), ((False,), 1.0)),
    ],
)
def test_equal_keys_are_one_key(a: Any, b: Any) -> None:
    for codec in (CBOR, JSON):
        packet = CBOR.encode({a: 1}) if codec is CBOR else JSON.encode({a: 1})
        other = codec.encode({b: 2})
        if codec is CBOR:  # splice two one-entry maps into one map of two entries
            joined = b"\xa2" + packet[1:] + other[1:]
        else:
            joined = packet[:-1] + b"," + other[1:]
        with pytest.raises(DecodeError):
            codec.decode(joined)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (2**53 + 1, float(2**53)),
        ((1, 2), (1, (2,))),
        ("1", 1),
        ("a", b"a"),
        (None, 0),
        (float("inf"), 2**1024 - 1),
    ],
)
def test_unequal_keys_are_two_keys(a: Any, b: Any) -> None:
    for codec in (CBOR, JSON):
        tree = {a: 1, b: 2}
        assert_strict_equal(codec.decode(codec.encode(tree)), tree)


@pytest.mark.parametrize(
    ("cbor", "json"),
    [
        ("a1 fb 7f f8 00 00 00 00 00 00 01", '{"~{\\"~f\\":\\"nan\\"}":1}'),
        ("a1 82 01 fb 7f f8 00 00 00 00 00 00 01", '{"~[1,{\\"~f\\":\\"nan\\"}]":1}'),
        ("a1 81 81 f9 7e 00 01", '{"~[[{\\"~f\\":\\"nan\\"}]]":1}'),
    ],
)
def test_nan_is_never_a_key_even_inside_a_tuple(cbor: str, json: str) -> None:
    with pytest.raises(DecodeError, match="NaN"):
        CBOR.decode(bytes.fromhex(cbor))
    with pytest.raises(DecodeError, match="NaN"):
        JSON.decode(json.encode())


# -- JSON names -------------------------------------------------------------------------------


def test_minus_zero_is_a_text_name() -> None:
    assert JSON.encode({"-0": 1, 0: 2}) == b'{"-0":1,"0":2}'
    assert_strict_equal(JSON.decode(b'{"-0":1,"0":2}'), {"-0": 1, 0: 2})
    for text in ("00", "+1", "1.0", "-01"):
        assert_strict_equal(JSON.decode(f'{{"{text}":1}}'.encode()), {text: 1})
        assert JSON.encode({text: 1}) == f'{{"{text}":1}}'.encode()


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("~[1, 2]", (1, 2)),
        ("~1.50", 1.5),
        ("~15e-1", 1.5),
        ("~ true", True),
        ('~[\\"a\\" ]', ("a",)),
    ],
)
def test_tilde_names_read_any_json_spelling(name: str, key: Any) -> None:
    assert_strict_equal(JSON.decode(f'{{"{name}":0}}'.encode()), {key: 0})


@pytest.mark.parametrize(
    "name",
    [
        "~5",
        "~-0",
        '~\\"hp\\"',
        '~{\\"~i\\":\\"9007199254740993\\"}',
        "~{}",
        '~{\\"~d\\":0}',
        "~[",
        "~",
    ],
)
def test_tilde_names_with_a_plainer_form_or_malformed_are_refused(name: str) -> None:
    with pytest.raises(DecodeError):
        JSON.decode(f'{{"{name}":0,"x":1}}'.encode())


# -- entry order ------------------------------------------------------------------------------


def test_entry_order_is_not_synchronised() -> None:
    pub = flatsync.Publisher(flatsync.DataHandler({"a": 1, "b": 2}))
    pub.add_client("ann")
    replica = flatsync.Replica()
    pub.tick()
    for packet in pub.packets_for("ann"):
        replica.receive(packet)
    del pub.root["a"]
    pub.tick()
    pub.root["a"] = 1
    pub.tick()
    pub.packets_for("ann")  # lost
    replica.request_refresh()
    pub.receive("ann", replica.packet_to_send() or b"")
    pub.tick()
    for packet in pub.packets_for("ann"):
        replica.receive(packet)
    assert replica.state == pub.root
    assert list(pub.root) == ["b", "a"]
    assert list(replica.state) == ["a", "b"]


# -- replies ----------------------------------------------------------------------------------


def test_a_delta_before_any_snapshot_asks_for_one_with_its_base() -> None:
    replica = flatsync.Replica()
    dropped = replica.receive(bytes.fromhex("10 05 02 a0"))  # frame 5 on base 3
    assert dropped == [flatsync.FrameDropped(frame=5, base=3, reason="gap")]
    assert replica.packet_to_send() == bytes.fromhex("14 04")  # base 3 + 1
    assert replica.packet_to_send() is None


def test_requests_coalesce() -> None:
    replica = flatsync.Replica()
    replica.receive(bytes.fromhex("11 01 00 01 02 03 04 05 06 07 a0"))
    replica.receive(bytes.fromhex("10 04 01 a0"))  # on base 3: a gap
    replica.receive(bytes.fromhex("10 06 01 a0"))  # on base 5: a gap
    assert replica.packet_to_send() == bytes.fromhex("13 01 05")  # one resync, larger base
    replica.request_refresh()
    replica.receive(bytes.fromhex("10 09 01 a0"))
    assert replica.packet_to_send() == bytes.fromhex("14 00")  # the explicit refresh stays
    assert replica.packet_to_send() is None


# -- limits -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tree", "levels"),
    [
        ({}, 1),
        ([1], 1),
        ((1,), 1),
        (Replace(1), 1),
        (2**70, 1),
        ({"a": {}}, 2),
        ({(1, 2): 0}, 2),
        (Replace({}), 2),
        (ListDelta(((1, 0, "x"),)), 3),
        (flatsync.ByteHandler("u8", 2).snapshot(), 3),
    ],
)
def test_depth_counts_as_documented(tree: Any, levels: int) -> None:
    packet = CBOR.encode(tree)
    for codec_class in (CborCodec, JsonCodec):
        fits = codec_class(limits=Limits(max_depth=levels))
        data = packet if codec_class is CborCodec else JSON.encode(tree)
        assert_strict_equal(fits.decode(data), tree)
        fits.encode(tree)
        if levels > 1:
            tight = codec_class(limits=Limits(max_depth=levels - 1))
            with pytest.raises(LimitError):
                tight.decode(data)
            with pytest.raises(LimitError):
                tight.encode(tree)


# -- hostile_packets under small limits -------------------------------------------------------


@pytest.mark.parametrize("codec_class", [CborCodec, JsonCodec])
def test_hostile_packets_draw_under_small_limits(codec_class: type[flatsync.Codec]) -> None:
    codec = codec_class(limits=Limits(max_depth=1, max_container_items=2, max_total_items=4))

    @settings(max_examples=150, deadline=None, database=None)
    @given(st.data())
    def draw(data: st.DataObject) -> None:
        packet = data.draw(hostile_packets(codec))
        assert type(packet) is bytes

    draw()
