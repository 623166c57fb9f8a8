"""The debugging tools: overview, dig, byte accounting and the recording format."""

from __future__ import annotations

import re
import zlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import flatsync
import flatsync.debug
from flatsync import CborCodec, DataHandler, ListHandler
from flatsync._debug import _accounting
from flatsync._debug._cli import codecs
from flatsync.protocol import ListDelta, Replace
from flatsync.testing import protocol_trees, snapshots


def game(n: int = 1000) -> DataHandler:
    """A game-like state: ``n`` players, three of them odd from 1,000 on (as on the docs page)."""
    players: dict[int, Any] = {}
    for i in range(1, n + 1):
        players[i] = {
            "name": f"bot{i}",
            "pos": (i * 7 % 64, i * 13 % 64),
            "hp": 1 + i % 10,
            "inventory": ["sword", "shield"][: i % 3],
        }
    if n >= 1000:
        players[17]["hp"] = 2.5
        del players[204]["inventory"]
        players[981]["pos"] = (3, 4, 0)
    return DataHandler({"tick": 4812, "players": players})


# -- exact outputs -----------------------------------------------------------------------------


def test_overview_of_the_game() -> None:
    assert flatsync.debug.overview(game()) == (
        "<root>: DataHandler{tick, players} × 1\n"
        "tick: int × 1\n"
        "players: DataHandler[int] × 1 (1,000 items)\n"
        "players[*]: DataHandler{name, pos, hp, inventory} × 999 | DataHandler{name, pos, hp} × 1\n"
        "  odd DataHandler{name, pos, hp}: players[204]\n"
        "players[*].name: str × 1,000\n"
        "players[*].pos: tuple[int, int] × 999 | tuple[int, int, int] × 1\n"
        "  odd tuple[int, int, int]: players[981].pos\n"
        "players[*].hp: int × 999 | float × 1\n"
        "  odd float: players[17].hp\n"
        "players[*].inventory: ListHandler × 999 (0..2 items)\n"
        "players[*].inventory[*]: str × 1,000"
    )


def test_dig_of_the_game() -> None:
    assert flatsync.debug.dig(game()) == (
        "tick: 4812\n"
        "players: DataHandler (1,000 items)\n"
        "  [1..16, 18..203, 205..980, 982..1000] × 997:\n"
        "    name: 'bot1' … (997 distinct)\n"
        "    pos: (0..63, 0..63)\n"
        "    hp: 1..10\n"
        "    inventory: ListHandler[str] len 0..2\n"
        "  17: {'name': 'bot17', 'pos': (55, 29), 'hp': 2.5, 'inventory': ['sword', 'shield']}\n"
        "  204: {'name': 'bot204', 'pos': (20, 28), 'hp': 5}\n"
        "  981: {'name': 'bot981', 'pos': (3, 4, 0), 'hp': 2, 'inventory': []}"
    )


def test_cost_report_of_the_game() -> None:
    assert flatsync.debug.cost_report(game(), CborCodec(), top=4) == (
        "46,208 bytes (cbor)\n"
        "  total  share     own   items  path\n"
        " 46,199    99%      11       1  players\n"
        " 46,188    99%   3,722   1,000  players[*]\n"
        " 18,321    39%  11,988     999  players[*].inventory\n"
        " 11,893    25%  11,893   1,000  players[*].name"
    )


def test_dig_of_a_delta_shows_markers_by_class() -> None:
    state = game(20)
    state["players"][3]["hp"] = 9
    del state["players"][4]
    state["players"][21] = {"name": "new", "pos": (0, 0), "hp": 10, "inventory": []}
    state["players"][5]["inventory"].append("bow")
    assert flatsync.debug.dig(state.diff(), width=60, fold=2).splitlines() == [
        "players: dict (4 items)",
        "  3: {'hp': 9}",
        "  4: flatsync.DELETED",
        "  21: Replace dict (4 items)",
        "    name: 'new'",
        "    pos: (0, 0)",
        "    hp: 10",
        "    inventory: []",
        "  5: {'inventory': ListDelta(((1, 2, 'bow'),))}",
    ]


def test_record_deltas_fold_only_with_those_that_change_the_same_fields() -> None:
    state = DataHandler({"mobs": {i: Goblin(hp=i, name=f"m{i}") for i in range(10)}})
    state.commit()
    for i in range(10):
        state["mobs"][i].hp += 1
    state["mobs"][7].name = "boss"  # the odd one: two fields changed
    assert flatsync.debug.dig(state.diff()).splitlines() == [
        "mobs: dict (10 items)",
        "  [0..6, 8..9] × 9: RecordDelta{0: 1..10}",
        "  7: RecordDelta({0: 8, 1: 'boss'})",
    ]


def test_overview_of_markers_and_other_handlers() -> None:
    tree = {1: Replace({"hp": 1}), 2: ListDelta(((0, "x"),)), "b": flatsync.ByteHandler("u8", 2)}
    text = flatsync.debug.overview(tree)
    assert "[*]: Replace × 1 | ListDelta × 1 | BoardSnapshot × 1" in text
    assert "[*](): dict{hp} × 1 | tuple[tuple[int, str]] × 1" in text


@flatsync.record
class Goblin:
    """A record class for the tests below."""

    hp: int = 1
    name: str = "x"


def test_records_show_their_fields() -> None:
    state = DataHandler({"mobs": {i: Goblin(name=f"m{i}") for i in range(10)}})
    state["mobs"][3].hp = 2.5
    assert flatsync.debug.dig(state) == (
        "mobs: DataHandler (10 items)\n"
        "  [0..2, 4..9] × 9: {hp: 1, name: 'm0' … (9 distinct)}\n"
        "  3: {'hp': 2.5, 'name': 'm3'}"
    )
    assert flatsync.debug.overview(state).splitlines()[2:] == [
        "mobs[*]: Goblin{hp, name} × 10",
        "mobs[*].hp: int × 9 | float × 1",
        "  odd float: mobs[3].hp",
        "mobs[*].name: str × 10",
    ]


def test_dig_folds_plain_values_and_lists() -> None:
    text = flatsync.debug.dig({"xs": list(range(100)), "names": {f"n{i}": "a" for i in range(30)}})
    assert text.splitlines() == [
        "xs: list (100 items)",
        "  [0..99] × 100: 0..99",
        "names: dict (30 items)",
        "  ['n0', 'n1', 'n2', 'n3', 'n4', 'n5', …] × 30: 'a'",
    ]


@pytest.mark.parametrize(
    ("kwargs", "call"),
    [
        ({"width": 19}, flatsync.debug.dig),
        ({"lines": 0}, flatsync.debug.dig),
        ({"width": 9}, flatsync.debug.overview),
        ({"samples": -1}, flatsync.debug.overview),
    ],
)
def test_bad_budgets_are_refused(kwargs: dict[str, int], call: Any) -> None:
    with pytest.raises(ValueError, match="at least"):
        call({}, **kwargs)


def test_cost_report_refuses_a_bad_grouping() -> None:
    with pytest.raises(ValueError, match="pattern"):
        flatsync.debug.cost_report({}, CborCodec(), by="key")


# -- properties on generated states ------------------------------------------------------------


_FIELD_VALUES = {
    "hp": st.integers(0, 100),
    "name": st.text(max_size=5),
    "pos": st.tuples(st.integers(-50, 50), st.integers(-50, 50)),
}
_ODD_VALUES = {"hp": st.floats(0, 100), "name": st.integers(), "pos": st.tuples(st.integers())}


@st.composite
def crowds(draw: st.DrawFn) -> tuple[dict[int, Any], int, str]:
    """Entities of one shape, and one odd one out: (entities, its key, the odd field)."""
    n = draw(st.integers(12, 300))
    entities = {
        key: {field: draw(strategy) for field, strategy in _FIELD_VALUES.items()}
        for key in draw(st.lists(st.integers(0, 10_000), min_size=n, max_size=n, unique=True))
    }
    odd = draw(st.sampled_from(sorted(entities)))
    field = draw(st.sampled_from(sorted(_ODD_VALUES)))
    entities[odd][field] = draw(_ODD_VALUES[field])
    return entities, odd, field


_CHILD = re.compile(r"^  (?:\[.*\] × ([\d,]+):|(\d+): )")


@given(crowds(), st.integers(40, 140))
def test_dig_keeps_counts_and_the_odd_one(
    crowd: tuple[dict[int, Any], int, str], width: int
) -> None:
    entities, odd, _ = crowd
    text = flatsync.debug.dig({"mobs": entities}, width=width)
    lines = text.splitlines()
    assert all(len(line) <= width for line in lines)
    assert len(lines) <= 40
    counts = [_CHILD.match(line) for line in lines]
    shown = sum(int(m[1].replace(",", "")) if m[1] else 1 for m in counts if m)
    assert shown == len(entities)
    assert any(line.startswith(f"  {odd}: ") for line in lines)


@given(crowds())
def test_overview_counts_and_flags_the_odd_one(crowd: tuple[dict[int, Any], int, str]) -> None:
    entities, odd, field = crowd
    text = flatsync.debug.overview(DataHandler({"mobs": entities}))
    line = next(line for line in text.splitlines() if line.startswith(f"mobs[*].{field}: "))
    counts = [int(c.replace(",", "")) for c in re.findall(r" × ([\d,]+)", line)]
    assert sum(counts) == len(entities)
    assert len(counts) == 2
    assert f"mobs[{odd}].{field}" in text


@given(snapshots(max_depth=4, max_size=6), st.integers(20, 120), st.integers(1, 60))
def test_dig_fits_its_budget(tree: dict[Any, Any], width: int, lines: int) -> None:
    text = flatsync.debug.dig(tree, width=width, lines=lines)
    assert all(len(line) <= width for line in text.splitlines())
    assert len(text.splitlines()) <= lines
    flatsync.debug.overview(tree)


def _head(n: int) -> int:
    return 1 if n < 24 else 2 if n < 256 else 3 if n < 65536 else 5


def _preorder(value: Any, key_size: int, out: list[tuple[Any, int]]) -> None:
    out.append((value, key_size))
    if isinstance(value, dict):
        for key, child in value.items():
            _preorder(child, len(CborCodec().encode(key)), out)
    elif isinstance(value, list):
        for child in value:
            _preorder(child, 0, out)


@given(snapshots(max_depth=4, max_size=6))
def test_cbor_costs_add_up_to_the_packet_exactly(tree: dict[Any, Any]) -> None:
    codec = CborCodec()
    rows = flatsync.debug.byte_costs(tree, codec)
    assert rows[0].total == len(codec.encode(tree))
    assert sum(row.own for row in rows) == rows[0].total
    expected: list[tuple[Any, int]] = []
    _preorder(tree, 0, expected)
    assert len(rows) == len(expected)
    for row, (value, key_size) in zip(rows, expected, strict=True):
        if isinstance(value, dict):
            assert row.own == key_size + _head(len(value))
        elif isinstance(value, list):
            assert row.own == key_size + 1 + _head(len(value))  # tag 8, then the array head
        else:
            assert row.own == row.total == key_size + len(codec.encode(value))


def test_costs_of_a_handler_are_those_of_its_snapshot() -> None:
    state = game(30)
    assert flatsync.debug.byte_costs(state, CborCodec()) == flatsync.debug.byte_costs(
        state.snapshot(), CborCodec()
    )


def test_a_marker_is_accounted_through_its_content() -> None:
    rows = flatsync.debug.byte_costs(
        {1: Replace({"hp": 1}), 2: ListDelta(((2, 0, 1),))}, CborCodec()
    )
    assert [(row.path, row.total, row.own) for row in rows] == [
        ("", 15, 1),
        ("[1]", 7, 3),  # the key, tag 6, the map head
        ("[1].hp", 4, 4),
        ("[2]", 7, 7),  # a marker whose content holds tuples is one leaf
    ]


def test_costs_by_path() -> None:
    report = flatsync.debug.cost_report({"a": [1, 2], "b": "xyz"}, CborCodec(), by="path", top=2)
    assert report.splitlines()[2:] == [
        "      6    46%       4       1  a",  # 'a', tag 8, the array head, 1, 2
        "      6    46%       6       1  b",
    ]


# -- recordings --------------------------------------------------------------------------------


@given(st.lists(st.binary(max_size=300)), st.text(max_size=10), st.booleans())
def test_recordings_round_trip(packets: list[bytes], codec: str, framed: bool) -> None:
    data = flatsync.debug.write_recording(packets, codec=codec, framed=framed)
    assert flatsync.debug.read_recording(data) == flatsync.debug.Recording(
        codec=codec, framed=framed, packets=tuple(packets)
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not a flatsync recording"),
        (b"FSREC1\n", "not a flatsync recording"),
        (b"XSREC1\n\x00\x00", "not a flatsync recording"),
        (b"FSREC1\n\x02\x00", "unknown recording flag 2"),
        (b"FSREC1\n\x00\x05cb", "cut short inside the codec name"),
        (b"FSREC1\n\x00\x01\xff", "codec name is not UTF-8"),
        (b"FSREC1\n\x00\x00\x05ab", "cut short inside a packet"),
        (b"FSREC1\n\x00\x00\x80", "cut short inside a length"),
        (b"FSREC1\n\x00\x00" + b"\xff" * 10 + b"\x01", "a length longer than 64 bits"),
        (b"FSREC1\n\x00\x00" + b"\xff" * 10, "cut short inside a length"),
        (b"FSREC1\n\x00" + b"\xff" * 11, "a length longer than 64 bits"),
    ],
)
def test_bad_recordings_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(flatsync.DecodeError, match=message):
        flatsync.debug.read_recording(data)


def test_a_recording_reads_lengths_in_any_form() -> None:
    # Unlike a frame header, a recording does not insist on the shortest form.
    data = b"FSREC1\n\x01\x84\x80\x00cbor\x82\x00ab"
    assert flatsync.debug.read_recording(data) == flatsync.debug.Recording(
        codec="cbor", framed=True, packets=(b"ab",)
    )


def test_a_recording_refuses_what_is_not_bytes() -> None:
    with pytest.raises(TypeError, match="str"):
        flatsync.debug.write_recording(["ab"], codec="cbor", framed=False)  # type: ignore[list-item]


def test_lists_inside_records_print_inline() -> None:
    state = DataHandler({"bag": ListHandler(["a", "b"]), "n": 1})
    assert flatsync.debug.dig(state) == "bag: ['a', 'b']\nn: 1"


class ReprCodec(flatsync.Codec):
    """A text codec unlike CBOR (Python literals), to account with a codec that has separators."""

    name = "repr"

    def encode(self, tree: Any) -> bytes:
        return repr(tree).encode()

    def decode(self, data: bytes | bytearray | memoryview) -> Any:
        raise NotImplementedError


def test_costs_with_a_text_codec_add_up() -> None:
    tree = {"players": {1: {"hp": 8, "name": "a"}, 2: {"hp": 10, "name": "bb"}}, "tick": 3}
    rows = flatsync.debug.byte_costs(tree, ReprCodec())
    assert rows[0].total == len(repr(tree))
    assert sum(row.own for row in rows) == rows[0].total
    by_path = {row.path: (row.total, row.own) for row in rows}
    # The key 'players' (9 bytes) and the value's repr; own: the key, '{', '}', two ': ', one ', '.
    assert by_path["players"] == (9 + len(repr(tree["players"])), 9 + 1 + 1 + 2 * 2 + 2)
    assert by_path["players[2].name"] == (len("'name'") + len("'bb'"), 10)


def _builtin_codecs() -> list[flatsync.Codec]:
    found = []
    for cls in codecs().values():
        try:
            found.append(cls())
        except ImportError:  # an optional dependency (msgpack) that is not installed
            continue
    return found


@pytest.mark.parametrize("codec", _builtin_codecs(), ids=lambda codec: codec.name)
def test_costs_add_up_with_every_built_in_codec(codec: flatsync.Codec) -> None:
    state = game(50)
    state["players"][3]["inventory"].append("bow")
    state["players"][4] = {"name": "new", "pos": (1, 1), "hp": 9, "inventory": []}
    for tree in (state.snapshot(), state.diff()):
        rows = flatsync.debug.byte_costs(tree, codec)
        assert rows[0].total == len(codec.encode(tree))
        assert sum(row.own for row in rows) == rows[0].total
        assert all(row.total >= 0 for row in rows)


class ZlibCodec(flatsync.Codec):
    """CBOR, compressed: a codec whose containers are not their children's bytes plus a head."""

    name = "zlib"

    def encode(self, tree: Any) -> bytes:
        return zlib.compress(CborCodec().encode(tree))

    def decode(self, data: bytes | bytearray | memoryview) -> Any:
        raise NotImplementedError


def _every_codec() -> list[flatsync.Codec]:
    return [*_builtin_codecs(), ReprCodec(), ZlibCodec()]


def assert_one_walk_is_the_definition(tree: Any) -> None:
    """For every codec: the fast path's rows are those of encoding every subtree on its own."""
    for codec in _every_codec():
        try:
            whole = len(codec.encode(tree))
        except flatsync.FlatsyncError:  # a tree this codec refuses (a too long integer, ...)
            continue
        slow = _accounting._encoded_costs(tree, codec, whole)
        fast = _accounting._measured_costs(tree, codec, whole)
        if codec.name in ("cbor", "msgpack", "json"):
            assert fast == slow, codec.name  # computed from the tree, or measured once a node
        else:
            assert fast is None  # any other codec: subtree by subtree, by the definition
        assert flatsync.debug.byte_costs(tree, codec) == slow
        assert sum(row.own for row in slow) == whole


@given(st.one_of(protocol_trees(max_depth=4), snapshots(max_depth=3, max_size=30)))
def test_one_walk_gives_the_costs_of_encoding_every_subtree(tree: Any) -> None:
    assert_one_walk_is_the_definition(tree)


#: Sizes around every boundary where a CBOR or MessagePack head grows.
EDGES = (0, 1, 15, 16, 23, 24, 31, 32, 127, 128, 255, 256, 65535, 65536)


def test_one_walk_at_every_head_boundary() -> None:
    numbers: list[Any] = []
    for edge in (*EDGES, 2**31, 2**32, 2**63, 2**64, 2**70):
        numbers += [edge - 1, edge, -edge, -edge - 1]
    strings = [("é" if n % 2 else "x") * n for n in EDGES] + [b"\x01" * n for n in EDGES]
    containers: list[Any] = []
    for n in EDGES[:-3]:
        containers += [
            {i: i for i in range(n)},
            [None] * n,
            tuple(range(n)),
            Replace(list(range(n))),
            ListDelta(((0, "x" * n),)),
        ]
    nested = [Replace(Replace({"a": [1, 2]})), Replace(ListDelta(((0, {"a": 1}),)))]
    assert_one_walk_is_the_definition(
        {
            "numbers": numbers,
            "strings": strings,
            "containers": containers,
            "markers in markers": nested,
            0.1: (1.5, 1e300),
        }
    )


def test_dig_of_roots_that_are_not_records() -> None:
    roots: list[Any] = [{}, 5, [1, 2], flatsync.DELETED]
    assert [flatsync.debug.dig(tree) for tree in roots] == [
        "{}",
        "5",
        "[1, 2]",
        "flatsync.DELETED",
    ]


def test_dig_cuts_what_does_not_fit_and_says_so() -> None:
    tree = {
        "a": {i: {"x": {"y": {"z": i}}} for i in range(3)},
        "b": list(range(50)),
        "c": "x" * 200,
    }
    assert flatsync.debug.dig(tree, width=30).splitlines()[-3:] == [
        "b: list (50 items)",
        "  [0..49] × 50: 0..49",
        "c: 'xxxxxxxxxxxxxxxxxxxxxxxxx…",
    ]
    assert flatsync.debug.dig(tree, width=30, lines=4).splitlines() == [
        "a: dict (3 items)",
        "  0: {'x': {'y': {'z': 0}}}",
        "  1: {'x': {'y': {'z': 1}}}",
        "… 4 more lines",
    ]


def test_dig_shows_only_signatures_below_its_depth() -> None:
    tree = {"a": {"b": {"c": {"d": "x" * 50, "e": 1}}}}
    assert flatsync.debug.dig(tree, width=40, depth=2).splitlines() == [
        "a: dict (1 item)",
        "  b: dict (1 item)",
        "    c: dict{d: str, e: int} (2 items)",
    ]
