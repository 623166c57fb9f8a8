"""The handler contract: one protocol on ``Handler``, and one unchanged-value rule for every kind.

Every kind (mapping, list, board, record, record view) has every public
protocol method, and the shared ones are :class:`flatsync.Handler`'s own. Code
typed against ``flatsync.Handler`` passes ``mypy --strict`` (:func:`ship`).

The unchanged-value rule: a write of an equal value of the same type is no
change, except that floats compare by bits; ``1``, ``1.0`` and ``True`` are
changes of one another, and so are ``0.0``/``-0.0`` and NaNs of different
payloads, also inside tuples. One parametrised test holds it for every kind,
through the write path and through ``diff`` (a write that puts back a value
equal to the original is no change only when it is the same value).
"""

from __future__ import annotations

import copy
import math
import pickle
import struct
from collections.abc import Callable
from typing import Any

import pytest

import flatsync
from flatsync import protocol
from flatsync.testing import assert_strict_equal

CODEC = flatsync.CborCodec()


def _nan(payload_hex: str) -> float:
    value: float = struct.unpack("<d", bytes.fromhex(payload_hex))[0]
    return value


NAN_A = _nan("010000000000f87f")
NAN_B = _nan("020000000000f87f")
BIG = 2**53


def _fresh(value: Any) -> Any:
    """An equal value of the same type that is not the same object (where Python allows)."""
    t = type(value)
    if t is float:
        copied: float = struct.unpack("<d", struct.pack("<d", value))[0]
        return copied
    if t is int:
        return int(str(value))
    if t is str:
        return "".join(list(value))
    if t is tuple:
        return tuple(_fresh(item) for item in value)
    return value


#: (name, old, new): ``new`` is a change of ``old``.
CHANGES = [
    ("int->float", 1, 1.0),
    ("float->int", 1.0, 1),
    ("int->bool", 1, True),
    ("bool->int", True, 1),
    ("float->bool", 1.0, True),
    ("0.0->-0.0", 0.0, -0.0),
    ("-0.0->0.0", -0.0, 0.0),
    ("nan-payloads", NAN_A, NAN_B),
    ("float->nan", 1.5, NAN_A),
    ("nan->float", NAN_A, 1.5),
    ("2**53->float", BIG, float(BIG)),
    ("float->2**53", float(BIG), BIG),
    ("tuple-int->float", (1,), (1.0,)),
    ("tuple-bool->int", (1, True), (1, 1)),
    ("tuple-0.0->-0.0", (0.0,), (-0.0,)),
    ("tuple-nan-payloads", ((NAN_A,),), ((NAN_B,),)),
]

#: (name, value): an equal twin of ``value`` (same type, same bits) is no change.
SAME = [
    ("int", 1000),
    ("bool", True),
    ("float", 2.5),
    ("0.0", 0.0),
    ("-0.0", -0.0),
    ("nan", NAN_A),
    ("2**53", BIG),
    ("float(2**53)", float(BIG)),
    ("str", "abc"),
    ("tuple", (1, 2.0, (NAN_A, -0.0))),
]


@flatsync.record(name="contract.Slot")
class Slot(flatsync.Record):
    """A record whose first field holds the value under test."""

    value: Any
    other: int = 0


class Kind:
    """One handler kind: how to build a source holding ``old`` and write a value into it.

    ``root`` is what syncs (the handler itself, or the mapping that holds a
    world's chunks); ``read`` reads the slot back from a root's replica.
    """

    def __init__(
        self,
        name: str,
        build: Callable[[Any], tuple[flatsync.Handler, Callable[[Any], None]]],
        read: Callable[[Any], Any],
        applies: Callable[[Any, Any], bool] = lambda old, new: True,
    ) -> None:
        self.name = name
        self.build = build
        self.read = read
        self.applies = applies

    def __repr__(self) -> str:
        return self.name


def _mapping(old: Any) -> tuple[flatsync.Handler, Callable[[Any], None]]:
    h = flatsync.DataHandler({"k": old, "n": {"k": old}})

    def write(new: Any) -> None:
        h["k"] = new
        h["n"]["k"] = new

    return h, write


def _list(old: Any) -> tuple[flatsync.Handler, Callable[[Any], None]]:
    # Long enough that one write and its undoing stay a write (no whole-contents fallback).
    h = flatsync.ListHandler([old, [old, 0, 0, 0], 0, 0])

    def write(new: Any) -> None:
        h[0] = new
        h[1][0] = new

    return h, write


def _record(old: Any) -> tuple[flatsync.Handler, Callable[[Any], None]]:
    r = Slot(old)

    def write(new: Any) -> None:
        r.value = new

    return r, write


def _floats(old: Any, new: Any) -> bool:
    return type(old) is float and type(new) is float


def _board(old: Any) -> tuple[flatsync.Handler, Callable[[Any], None]]:
    b = flatsync.ByteHandler("f64", 3, [old, 1.0, old])

    def write(new: Any) -> None:
        b[0] = new
        b[2] = new

    return b, write


def _world(old: Any) -> tuple[flatsync.Handler, Callable[[Any], None]]:
    world = flatsync.TiledWorld((2, 2), "f64")
    state = flatsync.DataHandler({"world": world})
    world.chunk((0, 0), create=True)
    world[1, 1] = old

    def write(new: Any) -> None:
        world[1, 1] = new

    return state, write


def _read_world(replica: Any, cell: tuple[int, int] = (1, 1)) -> Any:
    return flatsync.TiledWorld((2, 2), "f64", chunks=replica["world"])[cell]


KINDS = [
    Kind("mapping", _mapping, lambda r: r["k"]),
    Kind("list", _list, lambda r: r[0]),
    Kind("record", _record, lambda r: r.value),
    Kind("board", _board, lambda r: r[0], _floats),
    Kind("tiled world", _world, _read_world, _floats),
]

#: Every kind with every pair it can hold (a board holds numbers of one type: floats here).
CHANGE_CASES = [
    pytest.param(kind, old, new, id=f"{kind.name}-{name}")
    for kind in KINDS
    for name, old, new in CHANGES
    if kind.applies(old, new)
]
SAME_CASES = [
    pytest.param(kind, value, id=f"{kind.name}-{name}")
    for kind in KINDS
    for name, value in SAME
    if kind.applies(value, value)
]


def _is_empty(delta: flatsync.Delta) -> bool:
    if type(delta) is dict:
        return not delta
    empty: bool = delta.is_empty()
    return empty


def _pair(kind: Kind, old: Any) -> tuple[flatsync.Handler, Callable[[Any], None], Any]:
    """A committed source holding ``old``, its writer, and a replica built through the codec."""
    source, write = kind.build(old)
    replica = type(source).from_snapshot(CODEC.decode(CODEC.encode(source.snapshot())))
    source.commit()
    assert_strict_equal(kind.read(replica), old)
    return source, write, replica


def _ship(source: flatsync.Handler, replica: Any) -> None:
    replica.patch(CODEC.decode(CODEC.encode(source.diff())))
    source.commit()
    assert_strict_equal(replica.snapshot(), source.snapshot())


@pytest.mark.parametrize(("kind", "old", "new"), CHANGE_CASES)
def test_an_equal_value_of_another_type_or_other_bits_is_a_change(
    kind: Kind, old: Any, new: Any
) -> None:
    source, write, replica = _pair(kind, old)
    write(new)
    assert not _is_empty(source.diff())
    _ship(source, replica)
    assert_strict_equal(kind.read(replica), new)


@pytest.mark.parametrize(("kind", "old", "new"), CHANGE_CASES)
def test_putting_back_an_equal_value_of_another_type_is_a_change(
    kind: Kind, old: Any, new: Any
) -> None:
    # Through diff: the write of an intermediate value is recorded, and diff
    # compares what the slot holds at the end with the original.
    source, write, replica = _pair(kind, old)
    write(12345.0 if kind.applies(1.0, 1.0) else "elsewhere")
    write(new)
    assert not _is_empty(source.diff())
    _ship(source, replica)
    assert_strict_equal(kind.read(replica), new)


@pytest.mark.parametrize(("kind", "value"), SAME_CASES)
def test_the_same_value_is_no_change(kind: Kind, value: Any) -> None:
    for twin in (value, _fresh(value)):
        source, write, replica = _pair(kind, value)
        write(twin)
        assert _is_empty(source.diff())
        # Away and back within one tick: still nothing to send.
        write(12345.0 if kind.applies(1.0, 1.0) else "elsewhere")
        write(_fresh(twin))
        assert _is_empty(source.diff())
        _ship(source, replica)


@pytest.mark.parametrize(("value", "creates"), [(0.0, False), (-0.0, True), (NAN_A, True)])
def test_a_world_creates_a_chunk_for_a_cell_whose_bits_are_not_zero(
    value: float, *, creates: bool
) -> None:
    # The world's own use of the rule: a cell of a missing chunk reads 0.0, and
    # writing a value with the same bits creates nothing.
    world = flatsync.TiledWorld((2, 2), "f64")
    state = flatsync.DataHandler({"world": world})
    replica = flatsync.DataHandler.from_snapshot(state.snapshot())
    state.commit()
    world[-1, 5] = value
    assert (world.chunk((-1, 2)) is not None) is creates
    assert _is_empty(state.diff()) is not creates
    _ship(state, replica)
    assert_strict_equal(_read_world(replica, (-1, 5)), value)


def test_the_tests_values_are_what_they_claim() -> None:
    assert math.isnan(NAN_A)
    assert math.isnan(NAN_B)
    assert struct.pack("<d", NAN_A) != struct.pack("<d", NAN_B)
    assert float(BIG) == BIG
    assert type(float(BIG)) is float
    for _, value in SAME:
        twin = _fresh(value)
        assert_strict_equal(twin, value)
        if type(value) in (int, float, str, tuple) and value is not True:
            assert twin is not value, "an equal twin that is another object"


# -- one protocol, written once on Handler --------------------------------------------------

#: The protocol methods that Handler writes once and no kind overrides.
SHARED = ("diff", "patch", "from_snapshot", "initial_events", "copy", "__copy__", "__deepcopy__")
#: Every public protocol name.
PROTOCOL = (*SHARED, "snapshot", "commit", "to_python", "parent", "path", "readonly")

CLASSES = [
    flatsync.DataHandler,
    flatsync.ListHandler,
    flatsync.ByteHandler,
    flatsync.Record,
    Slot,
    flatsync.RecordView,
]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_every_kind_has_every_protocol_method_from_the_base(cls: type) -> None:
    assert issubclass(cls, flatsync.Handler)
    for name in PROTOCOL:
        assert hasattr(cls, name), name
    for name in (*SHARED, "__reduce__"):
        # The first definition in the MRO is Handler's own (dict and list have a
        # copy() of their own, which the two kinds point back to Handler's).
        found = next(vars(klass)[name] for klass in cls.__mro__ if name in vars(klass))
        assert found is vars(flatsync.Handler)[name], name


def _examples() -> list[flatsync.Handler]:
    protocol.add_record_schemas({4299: ("contract.Unknown", ("a", "b"))})
    view = flatsync.Record.from_snapshot(protocol.RecordSnapshot(4299, (1, [2.0])))
    return [
        flatsync.DataHandler({"a": 1, "b": [2.0, {"c": b"x"}]}),
        flatsync.ListHandler([1, (2, 3.0), {"a": [4]}]),
        flatsync.ByteHandler("i16", (2, 2), [1, -2, 3, 0]),
        Slot((1, -0.0), 7),
        view,
    ]


EXAMPLES = _examples()


def ship(h: flatsync.Handler, codec: flatsync.Codec) -> bytes:
    """Code written against the base class, for every kind (mypy --strict checks it)."""
    delta: flatsync.Delta = h.diff()
    packet: bytes = codec.encode(delta)
    h.commit()
    snapshot: flatsync.Snapshot = h.snapshot()
    replica = h.from_snapshot(codec.decode(codec.encode(snapshot)))
    events: list[flatsync.Event] = replica.patch(codec.decode(packet))
    events += replica.initial_events()
    twin: flatsync.Handler = copy.deepcopy(h.copy())
    assert twin.parent is None
    assert not twin.readonly
    assert replica.readonly
    assert replica.path == ()
    return packet


@pytest.mark.parametrize("handler", EXAMPLES, ids=lambda h: type(h).__name__)
def test_code_typed_against_handler_works_with_every_kind(handler: flatsync.Handler) -> None:
    source = handler.copy()
    assert len(ship(source, CODEC)) >= 1


@pytest.mark.parametrize("handler", EXAMPLES, ids=lambda h: type(h).__name__)
def test_copies_and_pickles_are_writable_and_strictly_equal(handler: flatsync.Handler) -> None:
    for twin in (handler.copy(), copy.copy(handler), copy.deepcopy(handler), _pickled(handler)):
        assert type(twin) is type(handler)
        assert twin is not handler
        assert twin.parent is None
        assert not twin.readonly
        assert_strict_equal(twin.snapshot(), handler.snapshot())
        assert _is_empty(twin.diff())


def _pickled(handler: flatsync.Handler) -> flatsync.Handler:
    twin: flatsync.Handler = pickle.loads(pickle.dumps(handler))
    return twin


@pytest.mark.parametrize("handler", EXAMPLES, ids=lambda h: type(h).__name__)
def test_patch_checks_the_delta_type_first_and_changes_nothing(handler: flatsync.Handler) -> None:
    replica = type(handler).from_snapshot(handler.snapshot())
    before = replica.snapshot()
    wrongs: list[Any] = [{}, protocol.ListDelta(()), protocol.BoardDelta(b""), 3, None]
    for wrong in wrongs:
        if type(wrong) is type(handler.diff()):
            continue
        with pytest.raises(flatsync.PatchError, match=r"^root: expected a \w+ delta \(\w+\), got"):
            replica.patch(wrong)
        assert_strict_equal(replica.snapshot(), before)


@pytest.mark.parametrize("handler", EXAMPLES, ids=lambda h: type(h).__name__)
def test_from_snapshot_refuses_another_kinds_snapshot(handler: flatsync.Handler) -> None:
    wrongs: list[Any] = [{}, [], protocol.BoardSnapshot("u8", (1,), b"\x00"), 3]
    for wrong in wrongs:
        if type(wrong) is type(handler.snapshot()):
            continue
        with pytest.raises(flatsync.PatchError, match=r"^root: expected a \w+ snapshot \(\w+\)"):
            type(handler).from_snapshot(wrong)


@pytest.mark.parametrize("handler", EXAMPLES, ids=lambda h: type(h).__name__)
def test_initial_events_tell_the_contents_as_a_patch_from_empty_would(
    handler: flatsync.Handler,
) -> None:
    replica = type(handler).from_snapshot(handler.snapshot())
    events = replica.initial_events()
    assert events
    if isinstance(replica, flatsync.ByteHandler):
        (event,) = events
        assert type(event) is flatsync.CellsChanged
        assert event.indices == (0, 1, 2)
        return
    assert all(type(event) is flatsync.Added for event in events)
    keys = [event.path[-1] for event in events]
    if isinstance(replica, Slot):
        assert keys == ["value", "other"]
    elif isinstance(replica, flatsync.RecordView):
        assert keys == ["a", "b"]
    elif isinstance(replica, flatsync.ListHandler):
        assert keys == list(range(len(replica)))
    else:
        assert isinstance(replica, flatsync.DataHandler)
        assert keys == list(replica)
