"""Write flatsync's language-neutral test vectors (``vectors/*.json``) from the Python library.

Run ``python vectors/generate.py`` after a change to the wire format: it rewrites
the files, and ``tests/test_vectors.py`` fails while the checked-in files differ
from what the library generates now, so they cannot go stale.

Every protocol tree in the files is written in a type-tagged JSON form that any
language can read without knowing Python:

=======================  ==========================================
tree item                tagged form
=======================  ==========================================
``None``                 ``["none"]``
``bool``                 ``["bool", true]``
``int`` (any size)       ``["int", "<decimal digits>"]``
``float``                ``["float", "<16 hex digits of the IEEE 754 double>"]``
``str``                  ``["str", "<text>"]``
``bytes``                ``["bytes", "<hex>"]``
``tuple``                ``["tuple", [item, ...]]``
``list``                 ``["list", [item, ...]]``
``dict``                 ``["dict", [[key, value], ...]]`` (in order)
``DELETED``              ``["deleted"]``
a marker                 ``["marker", <marker id>, content]``
a value type             ``["value", "<name>", tree]``
=======================  ==========================================

The files:

* ``codec-cbor.json`` and ``codec-json.json``: packets (hex) with the tree they
  decode to (``tree``) or the error class they raise (``error``), and whether
  encoding that tree gives the same bytes back (``canonical``). Besides the
  hand-written cases, every canonical packet is cut short at every byte and has
  bits flipped, with the library's verdict recorded.
* ``patches.json``: a snapshot, a delta, and the snapshot after the patch, or
  the error class (then the state is unchanged).
* ``sessions.json``: a publisher's packets to a replica through random
  mutations, losses, duplicates and restarts: per packet, what the replica
  did, what it sends back, and its state afterwards (as its snapshot).

The value types used are ``vectors.Team`` (an enum; its tree is the text
value) and ``vectors.Vec`` (a pair of floats; its tree is a tuple of two
floats); the records, ``vectors.Player(name, pos, hp)`` and
``vectors.Health(hp)``.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import random
import struct
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flatsync
from flatsync.protocol import DELETED, ListDelta, Marker, Replace

HERE = Path(__file__).resolve().parent

__all__ = ["FILES", "generate", "main", "tagged"]


class Team(enum.Enum):
    """A value type: an enum, carried as its text value."""

    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass(frozen=True)
class Vec:
    """A value type: a pair of floats, carried as a tuple."""

    x: float
    y: float


def _vec_from_tree(tree: Any) -> Vec:
    if type(tree) is not tuple or len(tree) != 2 or not all(type(v) is float for v in tree):
        raise ValueError("a Vec is a pair of floats")
    return Vec(*tree)


_VALUE_TYPES: dict[type, tuple[str, Callable[[Any], Any]]] = {
    Team: ("vectors.Team", lambda t: t.value),
    Vec: ("vectors.Vec", lambda v: (v.x, v.y)),
}
flatsync.register_type(Team, name="vectors.Team", to_tree=lambda t: t.value, from_tree=Team)
flatsync.register_type(
    Vec, name="vectors.Vec", to_tree=lambda v: (v.x, v.y), from_tree=_vec_from_tree
)


@flatsync.record(name="vectors.Player")
class Player:
    """A record of three fields."""

    name: str
    pos: tuple[int, int]
    hp: int


@flatsync.record(name="vectors.Health")
class Health:
    """A record of one short field (a one-byte id)."""

    hp: int


def tagged(tree: Any) -> Any:
    """The type-tagged JSON form of a protocol tree (see the module docstring)."""
    if tree is None:
        return ["none"]
    if tree is DELETED:
        return ["deleted"]
    t = type(tree)
    if t is bool:
        return ["bool", tree]
    if t is int:
        return ["int", str(tree)]
    if t is float:
        return ["float", struct.pack(">d", tree).hex()]
    if t is str:
        return ["str", tree]
    if t is bytes:
        return ["bytes", tree.hex()]
    if t is tuple:
        return ["tuple", [tagged(item) for item in tree]]
    if t is list:
        return ["list", [tagged(item) for item in tree]]
    if t is dict:
        return ["dict", [[tagged(k), tagged(v)] for k, v in tree.items()]]
    if isinstance(tree, Marker):
        return ["marker", tree.marker_id, tagged(tree.content())]
    if t in _VALUE_TYPES:
        name, to_tree = _VALUE_TYPES[t]
        return ["value", name, tagged(to_tree(tree))]
    raise TypeError(f"no tagged form for {t.__name__}")


CODECS: dict[str, flatsync.Codec] = {
    "cbor": flatsync.CborCodec(),
    # The standard library's json writes the bytes the JavaScript encoder writes
    # (orjson differs only in the exponent of some floats: 1e16 against 1e+16).
    "json": flatsync.JsonCodec(use_orjson=False),
}


def _board(item: str, shape: tuple[int, ...], seed: int) -> flatsync.ByteHandler:
    board = flatsync.ByteHandler(item, shape)
    rng = random.Random(seed)
    for index in range(board.size):
        if rng.random() < 0.5:
            _set_flat(board, index, _board_item(item, rng))
    return board


def _set_flat(board: flatsync.ByteHandler, index: int, value: Any) -> None:
    """Write the item at a flat (row-major) index of ``board``."""
    where = []
    for size in reversed(board.shape):
        index, rest = divmod(index, size)
        where.append(rest)
    board[tuple(reversed(where)) if len(where) > 1 else where[0]] = value


def _board_item(item: str, rng: random.Random) -> Any:
    if item.startswith("f"):
        return rng.choice([0.5, -0.0, 1.25, float("inf"), 3.0])
    bits = int(item[1:])
    if item.startswith("u"):
        return rng.randrange(2**bits)
    return rng.randrange(-(2 ** (bits - 1)), 2 ** (bits - 1))


def _trees() -> list[tuple[str, Any]]:
    """Hand-picked protocol trees: every kind of item, key and marker."""
    nan_payload = struct.unpack(">d", bytes.fromhex("7ff8000000000001"))[0]
    neg_nan = struct.unpack(">d", bytes.fromhex("fff8000000000000"))[0]
    cases: list[tuple[str, Any]] = [
        ("empty delta", {}),
        ("seed delta", {3: {"hp": 6}}),
        ("deleted", {2: DELETED}),
        ("ints", {"a": 0, "b": 23, "c": 24, "d": 255, "e": 256, "f": 65535, "g": 65536}),
        ("negative ints", {"a": -1, "b": -24, "c": -25, "d": -256, "e": -257, "f": -(2**32)}),
        ("big ints", {"a": 2**53 - 1, "b": 2**53, "c": 2**63, "d": 2**64 - 1, "e": -(2**64)}),
        ("bignums", {"a": 2**64, "b": -(2**64) - 1, "c": 2**200, "d": -(2**100)}),
        ("floats", {"a": 0.5, "b": -0.0, "c": 0.0, "d": 100000.0, "e": 0.1, "f": 1.0}),
        ("more floats", {"a": 1e16, "b": 1e-5, "c": 1.5e300, "d": 5e-324, "e": 123456.789}),
        ("float edges", {"a": 1e21, "b": 1e-7, "c": 65504.0, "d": 3.4028234663852886e38}),
        ("float small", {"a": 5.960464477539063e-08, "b": 1e15, "c": 0.0001, "d": 2.5e-05}),
        ("non-finite", {"a": float("inf"), "b": float("-inf"), "c": float("nan")}),
        ("nan payloads", {"a": nan_payload, "b": neg_nan}),
        ("scalars", {"n": None, "t": True, "f": False, "s": "héllo ✓", "e": "", "b": b"\x00\xff"}),
        ("empty bytes", {"b": b"", "long": bytes(range(256))}),
        ("tuples", {"pos": (2, 3), "nested": ((1, 2.5), ("a", b"x"), ()), "none": (None,)}),
        ("int keys", {0: 1, 1: 2, -1: 3, 2**40: 4, 2**70: 5}),
        ("scalar keys", {None: 1, True: 2, 1.5: 3, -0.0: 4, b"k": 5, "s": 6}),
        ("False key", {False: "f", 2.0: "two"}),
        ("tuple keys", {(1, 2): "a", (): "b", ("x", (1, b"y")): "c", (2.5, None, True): "d"}),
        ("text keys that look special", {"3": "text", "~x": 1, "-0": 2, "-5": 3, "07": 4}),
        ("unicode keys", {"ключ": 1, "鍵": 2, "🙂": 3}),
        ("list", {"bag": ["axe", 1, (2, 3), {"k": "v"}, [1, [2]]]}),
        ("empty list", {"bag": []}),
        ("list delta", {"bag": ListDelta(((1, 1, "rope"),))}),
        (
            "list ops",
            {
                "bag": ListDelta(
                    (
                        (0, 0, 5),
                        (0, 1, {"k": 2}),
                        (2, 1, 3),
                        (3, "a", "b"),
                        (1, 0, "c"),
                        (0, 2, Replace(1)),
                    )
                )
            },
        ),
        ("replace", {4: Replace({"pos": (5, 5), "bag": ["x"]})}),
        ("replace scalar", {"k": Replace(7)}),
        ("value types", {"team": Team.RED, "v": Vec(0.5, 2.0), "t": (Team.BLUE, Vec(1.0, -0.0))}),
        ("value type in list", {"l": [Team.RED]}),
    ]
    for item, shape in [("u8", (4,)), ("i8", (2, 2)), ("u16", (2, 3)), ("i16", (3,))]:
        cases.append((f"board {item}", {"b": _board(item, shape, 1).snapshot()}))
    for item, shape in [("u32", (2,)), ("i32", (2, 2)), ("u64", (2,)), ("i64", (3,))]:
        cases.append((f"board {item}", {"b": _board(item, shape, 2).snapshot()}))
    for item, shape in [("f32", (2, 2)), ("f64", (3,)), ("u8", (2, 2, 2))]:
        cases.append((f"board {item} {shape}", {"b": _board(item, shape, 3).snapshot()}))
    board = _board("u16", (2, 3), 4)
    board.commit()
    board[1, 2] = 0x1234
    cases.append(("board pairs", {"b": board.diff()}))
    board.commit()
    board[0] = [1, 2, 3]
    cases.append(("board runs", {"b": board.diff()}))
    board.commit()
    board.fill(7)
    cases.append(("board blob", {"b": board.diff()}))
    cases.append(("board empty delta", {"b": flatsync.protocol.BoardDelta(b"")}))
    player = Player("notch", (2, 2), 8)
    cases.append(("record", {"p": player.snapshot(), "h": Health(3).snapshot()}))
    player.hp -= 1
    player.pos = (3, 2)
    cases.append(("record delta", {"p": player.diff()}))
    world = flatsync.TiledWorld((4, 4))
    world[5, -3] = 7
    world[-1, 0] = 2
    cases.append(("tiled world", {"world": world.chunks.snapshot()}))
    world.chunks.commit()
    world[6, -3] = 9
    cases.append(("tiled world delta", {"world": world.chunks.diff()}))
    cases.append(("nested 60", _nested(60)))
    return cases


def _nested(depth: int) -> Any:
    tree: Any = 1
    for level in range(depth):
        tree = (tree,) if level < 10 else {"k": tree} if level % 2 else [tree]
    return {"root": tree}


def _hostile(codec: str) -> list[tuple[str, bytes]]:
    """Hand-written hostile packets (their verdict comes from the library)."""
    if codec == "cbor":
        hexes = {
            "empty packet": "",
            "trailing byte": "a0 00",
            "duplicate key": "a2 01 01 01 02",
            "duplicate 1 and 1.0": "a2 01 01 f9 3c 00 02",
            "duplicate 1 and true": "a2 01 01 f5 02",
            "duplicate tuple keys": "a2 82 01 02 01 82 01 02 02",
            "indefinite map": "bf ff",
            "reserved ai": "1c",
            "unknown tag": "a1 01 d8 64 01",
            "tag 13": "a1 01 cd 01",
            "simple value 16": "a1 01 f0",
            "bad utf-8": "a1 01 62 c3 28",
            "map in tuple": "a1 01 81 a0",
            "undefined in tuple": "a1 01 81 f7",
            "list in tuple": "a1 01 81 c8 80",
            "map key": "a1 a0 01",
            "undefined key": "a1 f7 01",
            "tagged key": "a1 c8 80 01",
            "nan key": "a1 f9 7e 00 01",
            "huge map": "a1 01 bb 00 00 00 01 00 00 00 00",
            "huge string": "a1 01 7b 00 00 00 01 00 00 00 00",
            "huge array": "a1 01 9b 00 ff ff ff ff ff ff ff",
            "cut head": "a1 01 19 01",
            "long head": "a1 18 01 19 00 05",
            "double that is a half": "a1 01 fb 3f e0 00 00 00 00 00 00",
            "small bignum": "a1 01 c2 41 05",
            "bignum of text": "a1 01 c2 61 05",
            "list tag on map": "a1 01 c8 a0",
            "replace empty": "a1 01 c6",
            "list delta not arrays": "a1 01 c7 81 01",
            "board bad code": "a1 01 c9 83 0a 81 01 41 00",
            "board bad size": "a1 01 c9 83 00 81 02 41 00",
            "board delta form 3": "a1 01 ca 41 c0",
            "board delta half pair": "a1 01 ca 43 00 01 02",
            "board delta run backwards": "a1 01 ca 43 40 02 01",
            "board delta run cut short": "a1 01 ca 45 40 00 03 aa bb",
            "board delta run header cut short": "a1 01 ca 42 40 00",
            "board delta blob with width bits": "a1 01 ca 42 90 00",
            "record bad id": "a1 01 cb 82 1a 00 01 00 00 01",
            "record delta deletes": "a1 01 cc a1 00 f7",
            "record delta text key": "a1 01 cc a1 61 61 01",
            "value type unknown": "a1 01 d8 1b 82 63 46 6f 6f 01",
            "value type not pair": "a1 01 d8 1b 81 64 54 65 61 6d",
            "value type bad tree": "a1 01 d8 1b 82 6c" + b"vectors.Team".hex() + "63 72 65 78",
            "list delta opcode 4": "a1 01 c7 81 81 04",
            "list delta empty op": "a1 01 c7 81 80",
            "list delta set without change": "a1 01 c7 81 82 00 00",
            "list delta set of undefined": "a1 01 c7 81 83 00 00 f7",
            "list delta insert without values": "a1 01 c7 81 82 01 00",
            "list delta insert of undefined": "a1 01 c7 81 83 01 00 f7",
            "list delta insert of replace": "a1 01 c7 81 83 01 00 c6 01",
            "list delta insert of tuple holding map": "a1 01 c7 81 83 01 00 81 a0",
            "list delta delete with extra": "a1 01 c7 81 84 02 00 01 09",
            "list delta delete of none": "a1 01 c7 81 83 02 00 00",
            "list delta negative index": "a1 01 c7 81 83 00 20 01",
            "list delta bool index": "a1 01 c7 81 83 01 f5 01",
            "list delta whole of list delta": "a1 01 c7 81 82 03 c7 80",
            "list delta whole empty": "a1 01 c7 81 81 03",
            "replace of undefined": "a1 01 c6 f7",
            "replace of replace": "a1 01 c6 c6 01",
            "replace of list delta": "a1 01 c6 c7 80",
            "replace of board delta": "a1 01 c6 ca 40",
            "replace of record delta": "a1 01 c6 cc a0",
            "replace of tuple holding map": "a1 01 c6 82 01 a0",
            "replace of board snapshot": "a1 01 c6 c9 83 00 81 02 42 01 02",
            "record snapshot holding undefined": "a1 01 cb 82 00 f7",
            "long heads everywhere": "b8 01 19 00 01 98 02 78 01 61 fa 3f 80 00 00",
            "long head duplicate key": "a2 01 00 18 01 00",
            "bignum with leading zeros": "a1 01 c2 4a 00 01 00 00 00 00 00 00 00 00",
            "small bignum key duplicate": "a2 01 00 c2 41 01 00",
            "long tag head": "a1 01 d8 06 01",
            "proto key": "a1 69 5f 5f 70 72 6f 74 6f 5f 5f a1 61 61 01",
            "constructor key": "a1 6b 63 6f 6e 73 74 72 75 63 74 6f 72 01",
            "a scalar root": "01",
            "nesting 100": "81" * 100 + "01",
        }
        return [(name, bytes.fromhex(h)) for name, h in hexes.items()]
    texts = {
        "empty packet": "",
        "trailing text": "{} 1",
        "duplicate names": '{"1":1,"1":2}',
        "duplicate 1 and ~1.0": '{"1":1,"~1.0":2}',
        "duplicate 1 and ~true": '{"1":1,"~true":2}',
        "NaN literal": '{"a":NaN}',
        "Infinity literal": '{"a":Infinity}',
        "overflow": '{"a":1e400}',
        "plain int too big": '{"a":9007199254740992}',
        "~i with a plain form": '{"a":{"~i":"5"}}',
        "~i not digits": '{"a":{"~i":"x"}}',
        "~i minus zero": '{"a":{"~i":"-0"}}',
        "non-canonical base64": '{"a":{"~b":"AB=="}}',
        "bad base64": '{"a":{"~b":"A"}}',
        "~f bad": '{"a":{"~f":"NaN"}}',
        "~f canonical nan as hex": '{"a":{"~f":"7ff8000000000000"}}',
        "~f a number as hex": '{"a":{"~f":"3ff0000000000000"}}',
        "unknown tag letter": '{"a":{"~q":1}}',
        "padded marker number": '{"a":{"~06":1}}',
        "unknown marker": '{"a":{"~13":1}}',
        "mapping in tuple": '{"a":[{"x":1}]}',
        "list in tuple": '{"a":[{"~l":[]}]}',
        "deleted in tuple": '{"a":[{"~d":0}]}',
        "~d not 0": '{"a":{"~d":1}}',
        "~d false": '{"a":{"~d":false}}',
        "~5 for 5": '{"~5":1}',
        "escaped text key with a plain form": '{"~\\"hp\\"":1}',
        "malformed ~ key": '{"~[1,":1}',
        "mapping key": '{"~{\\"a\\":1}":1}',
        "nan key": '{"~{\\"~f\\":\\"nan\\"}":1}',
        "minus zero key": '{"-0":1}',
        "minus zero text key escaped": '{"~\\"-0\\"":1}',
        "int key beyond 2**53": '{"9007199254740993":1}',
        "bad utf-8": '{"a":"\\xc3("}',
        "list delta opcode 4": '{"a":{"~7":[[4]]}}',
        "list delta set without change": '{"a":{"~7":[[0,0]]}}',
        "list delta set of deleted": '{"a":{"~7":[[0,0,{"~d":0}]]}}',
        "list delta insert without values": '{"a":{"~7":[[1,0]]}}',
        "list delta insert of tuple holding mapping": '{"a":{"~7":[[1,0,[{}]]]}}',
        "list delta insert of mapping": '{"a":{"~7":[[1,0,{}]]}}',
        "list delta delete with extra": '{"a":{"~7":[[2,0,1,9]]}}',
        "list delta float index": '{"a":{"~7":[[1,0.0,1]]}}',
        "replace of deleted": '{"a":{"~6":{"~d":0}}}',
        "replace of replace": '{"a":{"~6":{"~6":1}}}',
        "replace of tuple holding mapping": '{"a":{"~6":[1,{}]}}',
        "record snapshot holding deleted": '{"a":{"~11":[0,{"~d":0}]}}',
        "~ key with whitespace": '{"~[1, 2]":1}',
        "~ key float spellings": '{"~1.50":1,"~15e-2":2}',
        "~ key float spellings duplicate": '{"~1.50":1,"~15e-1":2}',
        "~ key true and 1 in tuples": '{"~[1]":1,"~[true]":2}',
        "~ key top-level int": '{"~0":1,"x":2}',
        "~ key big int in tuple": '{"~[{\\"~i\\":\\"9007199254740993\\"}]":1}',
        "~ key nan in tuple": '{"~[1,{\\"~f\\":\\"nan\\"}]":1}',
        "text keys like numbers": '{"-0":1,"00":2,"+1":3,"1.0":4,"-01":5}',
        "proto key": '{"__proto__":{"a":1}}',
        "constructor key": '{"constructor":1,"toString":2}',
        "a scalar root": "1",
        "nesting 100": "[" * 100 + "1" + "]" * 100,
        "value type unknown": '{"a":{"~v":["Foo",1]}}',
        "value type bad tree": '{"a":{"~v":["vectors.Team","rex"]}}',
        "board delta form 3": '{"a":{"~10":"wA=="}}',
        "record delta deletes": '{"a":{"~12":{"0":{"~d":0}}}}',
        "whitespace": '{ "a" : [ 1 , 2 ] }',
        "escapes": '{"a\\u0062":"\\u00e9\\n\\/"}',
        "surrogate pair": '{"a":"\\ud83d\\ude42"}',
        "lone surrogate": '{"a":"\\ud83d"}',
        "exponent forms": '{"a":1E2,"b":1e-2,"c":-0.0,"d":1.0e+2}',
        "leading zero": '{"a":01}',
        "minus zero int": '{"a":-0}',
    }
    out = []
    for name, text in texts.items():
        data = text.encode("utf-8", "surrogatepass")
        if name == "bad utf-8":
            data = b'{"a":"\xc3("}'
        out.append((name, data))
    return out


def _verdict(codec: flatsync.Codec, data: bytes) -> dict[str, Any]:
    try:
        tree = codec.decode(data)
    except flatsync.FlatsyncError as exc:
        return {"error": type(exc).__name__}
    try:
        canonical = codec.encode(tree) == data
    except flatsync.FlatsyncError:  # pragma: no cover - a decoded tree encodes
        canonical = False
    return {"tree": tagged(tree), "canonical": canonical}


def _codec_vectors(name: str) -> list[dict[str, Any]]:
    codec = CODECS[name]
    out: list[dict[str, Any]] = []
    rng = random.Random(f"flatsync vectors {name}")
    for title, tree in _trees():
        data = codec.encode(tree)
        out.append({"name": title, "hex": data.hex(), **_verdict(codec, data)})
        if len(data) <= 160 and title != "nested 60":
            for cut in range(len(data)):
                out.append(
                    {"name": f"{title}, cut at {cut}", "hex": data[:cut].hex()}
                    | _verdict(codec, data[:cut])
                )
            for _flip in range(4):
                bit = rng.randrange(len(data) * 8)
                flipped = bytearray(data)
                flipped[bit // 8] ^= 1 << (bit % 8)
                out.append(
                    {"name": f"{title}, bit {bit} flipped", "hex": flipped.hex()}
                    | _verdict(codec, bytes(flipped))
                )
    for title, data in _hostile(name):
        out.append({"name": title, "hex": data.hex()} | _verdict(codec, data))
    limited = flatsync.CborCodec(limits=flatsync.Limits(max_depth=3, max_container_items=2))
    if name == "json":
        limited = flatsync.JsonCodec(
            limits=flatsync.Limits(max_depth=3, max_container_items=2), use_orjson=False
        )
    for title, tree in [
        ("depth 3", {"a": {"b": (1,)}}),
        ("depth 4", {"a": {"b": ((1,),)}}),
        ("3 items", {"a": 1, "b": 2, "c": 3}),
    ]:
        data = codec.encode(tree)
        out.append(
            {
                "name": f"limits: {title}",
                "hex": data.hex(),
                "limits": {"max_depth": 3, "max_container_items": 2},
            }
            | _verdict(limited, data)
        )
    return out


def _seed_state() -> flatsync.DataHandler:
    return flatsync.DataHandler(
        {
            1: {"name": "notch", "pos": (2, 2), "hp": 8},
            "board": flatsync.ByteHandler("u8", (4, 4)),
            "bag": ["axe"],
        }
    )


def _patches() -> list[dict[str, Any]]:
    """Snapshots, deltas, and the state each delta leads to (or the error)."""
    cases: list[tuple[str, Any, Any]] = [
        ("set", {"a": 1}, {"a": 2, "b": 1.5}),
        ("delete", {"a": 1, "b": 2}, {"a": DELETED, "c": DELETED}),
        ("1.0 keeps key 1", {1: "x"}, {1.0: "y"}),
        ("True keeps key 1", {1: "x"}, {True: "y"}),
        ("replace takes the key", {1: "x"}, {True: Replace("y")}),
        ("nested", {"p": {"hp": 3}}, {"p": {"hp": 2, "mp": 1}}),
        ("new mapping", {}, {"p": Replace({"hp": 3, "inner": {"x": 1}})}),
        ("new list", {}, {"l": [1, (2, 3), {"k": "v"}]}),
        ("list ops", {"l": [1, 2, 3, 4]}, {"l": ListDelta(((2, 1, 2), (1, 0, "a", "b")))}),
        ("list change", {"l": [{"a": 1}, 2]}, {"l": ListDelta(((0, 0, {"a": 2}), (0, 1, 5)))}),
        ("list reset", {"l": [1, 2]}, {"l": ListDelta(((3, "x"),))}),
        ("tuple key", {(1, 2): "a"}, {(1.0, 2): "b", (3,): "c"}),
        ("value types", {}, {"t": Team.RED, "v": Vec(1.0, 2.0)}),
        ("nested delta on a scalar", {"a": 1}, {"a": {"b": 2}}),
        ("nested delta on a missing key", {}, {"a": {"b": 2}}),
        ("list delta on a mapping", {"a": {}}, {"a": ListDelta(((1, 0, 1),))}),
        ("list op out of range", {"l": [1]}, {"l": ListDelta(((2, 0, 5),))}),
        ("list insert beyond end", {"l": [1]}, {"l": ListDelta(((1, 3, 5),))}),
        ("change a missing item", {"l": [1]}, {"l": ListDelta(((0, 4, 5),))}),
        ("second change fails", {"a": 1, "l": [1]}, {"a": 2, "l": ListDelta(((0, 9, 1),))}),
        ("unknown opcode", {"l": [1]}, {"l": ListDelta(((9, 0),))}),
    ]
    board = _board("u16", (2, 3), 5)
    snap = {"b": board.snapshot()}
    board.commit()
    board[1, 2] = 0x1234
    cases.append(("board pairs", snap, {"b": board.diff()}))
    board.commit()
    board[0] = [1, 2, 3]
    runs = board.diff()
    cases.append(("board runs", {"b": board.snapshot()}, {"b": runs}))
    board.commit()
    board.fill(9)
    cases.append(("board blob", {"b": board.snapshot()}, {"b": board.diff()}))
    small = flatsync.ByteHandler("u16", (2,)).snapshot()
    cases.append(("board delta too big", {"b": small}, {"b": board.diff()}))
    other = flatsync.ByteHandler("u8", (6,))
    other[0] = 1
    cases.append(("board delta of another type", {"b": board.snapshot()}, {"b": other.diff()}))
    player = Player("notch", (2, 2), 8)
    snap = {"p": player.snapshot()}
    player.commit()
    player.hp = 7
    cases.append(("record delta", snap, {"p": player.diff()}))
    cases.append(("record delta on a mapping", {"p": {}}, {"p": player.diff()}))
    world = flatsync.TiledWorld((2, 2))
    world[0, 0] = 1
    snap = {"w": world.chunks.snapshot()}
    world.chunks.commit()
    world[3, 0] = 4
    world[1, 1] = 2
    cases.append(("world", snap, {"w": world.chunks.diff()}))
    out = []
    for title, snapshot, delta in cases:
        replica = flatsync.DataHandler.from_snapshot(snapshot)
        entry: dict[str, Any] = {
            "name": title,
            "schemas": _schemas(),
            "snapshot": tagged(snapshot),
            "delta": tagged(delta),
        }
        try:
            replica.patch(delta)
        except flatsync.FlatsyncError as exc:
            entry["error"] = type(exc).__name__
            assert tagged(replica.snapshot()) == tagged(snapshot), title
        else:
            entry["result"] = tagged(replica.snapshot())
        out.append(entry)
    return out


def _schemas() -> list[Any]:
    """The record schemas the vectors use: ``[id, name, field names]``."""
    known = flatsync.protocol.record_schemas()
    return sorted(
        [rid, name, list(fields)]
        for rid, (name, fields) in known.items()
        if name.startswith("vectors.")
    )


class _Game:
    """Random mutations of a state holding every kind of handler."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.root = flatsync.DataHandler(
            {
                "players": {1: {"name": "notch", "pos": (2, 2), "hp": 8}},
                "board": flatsync.ByteHandler("i16", (3, 3)),
                "bag": ["axe"],
                "rec": Player("jeb", (0, 1), 3),
                "world": flatsync.TiledWorld((2, 2)).chunks,
            }
        )

    def value(self) -> Any:
        rng = self.rng
        return rng.choice(
            [
                lambda: rng.randrange(-300, 300),
                lambda: rng.choice([0.5, -0.0, 1.0, 2.0**60, float("inf"), 1e-7]),
                lambda: rng.choice(["a", "héllo", "", "~x"]),
                lambda: rng.choice([None, True, False]),
                lambda: bytes(rng.randrange(256) for _ in range(rng.randrange(3))),
                lambda: (rng.randrange(5), rng.choice(["x", 1.5, (None,)])),
                lambda: rng.choice([2**64 + 1, -(2**70), 2**53 + 1]),
                lambda: rng.choice([Team.RED, Team.BLUE, Vec(0.5, 1.0)]),
            ]
        )()

    def key(self) -> Any:
        return self.rng.choice([1, 1.0, True, 2, 2.5, None, "k", b"b", (1, 2), (1.0, 2), "1"])

    def step(self) -> None:
        rng = self.rng
        root = self.root
        players = root["players"]
        action = rng.randrange(10)
        if action == 0:
            players[rng.randrange(4)] = {"name": "p", "pos": (1, 1), "hp": rng.randrange(9)}
        elif action == 1 and players:
            del players[rng.choice(list(players))]
        elif action == 2 and players:
            player = players[rng.choice(list(players))]
            player[rng.choice(["hp", "pos", "name", "x"])] = self.value()
        elif action == 3:
            key = self.key()
            if key in root and rng.random() < 0.4 and key not in ("k",):
                del root[key]
            else:
                root[key] = self.value()
        elif action == 4:
            bag = root["bag"]
            choice = rng.randrange(4)
            if choice == 0 or not bag:
                bag.insert(rng.randrange(len(bag) + 1), self.value())
            elif choice == 1:
                del bag[rng.randrange(len(bag))]
            elif choice == 2:
                bag[rng.randrange(len(bag))] = self.value()
            else:
                bag.append({"in": rng.randrange(3)})
        elif action == 5:
            board = root["board"]
            for _ in range(rng.choice([1, 2, 9])):
                _set_flat(board, rng.randrange(9), rng.randrange(-(2**15), 2**15))
        elif action == 6:
            rec = root["rec"]
            if rng.random() < 0.5:
                rec.hp = rng.randrange(10)
            else:
                rec.pos = (rng.randrange(3), rng.randrange(3))
        elif action == 7:
            world = flatsync.TiledWorld((2, 2), chunks=root["world"])
            world[rng.randrange(-3, 3), rng.randrange(-3, 3)] = rng.randrange(256)
        elif action == 8:
            root["nested"] = {"a": {"b": [1, {"c": self.value()}]}}
        elif action == 9 and "nested" in root:
            root["nested"]["a"]["b"][1]["c"] = self.value()


def _session(codec_name: str, seed: int) -> dict[str, Any]:
    """A publisher and a replica over a lossy, duplicating link, with one restart."""
    rng = random.Random(f"flatsync session {codec_name} {seed}")
    codec = CODECS[codec_name]
    game = _Game(rng)
    pub = flatsync.Publisher(game.root, codec=codec, session=bytes([seed] * 8))
    pub.add_client("c")
    replica = flatsync.Replica(codec=codec)
    steps: list[dict[str, Any]] = []
    previous: list[bytes] = []
    for tick in range(40):
        if tick == 30:  # the server restarts: a new session from a fresh publisher
            game = _Game(rng)
            pub = flatsync.Publisher(game.root, codec=codec, session=bytes([seed + 1] * 8))
            pub.add_client("c")
        for _ in range(rng.randrange(4)):
            game.step()
        pub.tick()
        packets = pub.packets_for("c")
        deliver = list(packets)
        roll = rng.random()
        if roll < 0.12 and deliver:
            deliver.pop(rng.randrange(len(deliver)))  # lost
        elif roll < 0.2 and previous:
            deliver.insert(0, rng.choice(previous))  # a duplicate or a stale packet
        previous = packets or previous
        for packet in deliver:
            step: dict[str, Any] = {"packet": packet.hex()}
            try:
                results = replica.receive(packet)
            except flatsync.FlatsyncError as exc:  # pragma: no cover - no such packets here
                step["error"] = type(exc).__name__
            else:
                last = results[-1]
                if isinstance(last, flatsync.FrameDropped):
                    step["dropped"] = last.reason
                else:
                    step["applied"] = last.frame
            reply = replica.packet_to_send()
            step["reply"] = None if reply is None else reply.hex()
            step["frame"] = replica.frame
            step["state"] = tagged(replica.state.snapshot())
            steps.append(step)
            if reply is not None:
                pub.receive("c", reply)
    return {"name": f"{codec_name} session {seed}", "codec": codec_name, "steps": steps}


def generate() -> dict[str, Any]:
    """Every vector file's content, by file name."""
    return {
        "codec-cbor.json": _codec_vectors("cbor"),
        "codec-json.json": _codec_vectors("json"),
        "patches.json": _patches(),
        "sessions.json": [_session(name, seed) for name in CODECS for seed in (1, 2, 3)],
    }


FILES = ("codec-cbor.json", "codec-json.json", "patches.json", "sessions.json")


def dump(content: Any) -> str:
    """The text of a vector file: one entry a line, so that a diff shows what changed."""
    lines = ",\n".join(json.dumps(entry, sort_keys=True) for entry in content)
    return "[\n" + lines + "\n]\n"


def main() -> None:
    """Write the vector files next to this script."""
    for name, content in generate().items():
        (HERE / name).write_text(dump(content), encoding="utf-8")
        print(f"{name}: {len(content)} vectors", file=sys.stderr)


if __name__ == "__main__":
    main()
