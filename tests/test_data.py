"""Example tests for DataHandler: every dict method, the change rules, the wire sizes."""

from __future__ import annotations

import copy
import enum
import math
import pickle
import struct
from typing import Any

import pytest

import flatsync
from flatsync import (
    DELETED,
    Added,
    CborCodec,
    Changed,
    DataHandler,
    ListHandler,
    ReadOnlyError,
    Removed,
)
from flatsync.protocol import ListDelta, Replace
from flatsync.testing import SyncPair, assert_strict_equal, strict_equal

CODEC = CborCodec()


def nan_with_bits(bits: int) -> float:
    value: float = struct.unpack("<d", struct.pack("<Q", bits))[0]
    return value


NAN_A = nan_with_bits(0x7FF8_0000_0000_0001)
NAN_B = nan_with_bits(0xFFF8_0000_0000_0002)


def committed(tree: dict[Any, Any] | None = None, /, **kwargs: Any) -> DataHandler:
    """A handler with ``tree`` as its committed state."""
    handler = DataHandler(tree or {}, **kwargs)
    handler.commit()
    return handler


def seed() -> dict[Any, Any]:
    return {
        1: {"name": "notch", "pos": (2, 2), "hp": 8},
        2: {"name": "jeb", "pos": (2, 3), "hp": 1},
        3: {"name": "c418", "pos": (2, 4), "hp": 7},
    }


def synced_after(source: DataHandler) -> SyncPair:
    """Commit ``source``, pair it with a replica, and return the pair."""
    source.commit()
    return SyncPair(source)


# -- construction and wrapping ---------------------------------------------------------


def test_constructor_forms() -> None:
    assert_strict_equal(DataHandler({1: "a"}, b=2), {1: "a", "b": 2})
    assert_strict_equal(DataHandler([(1, "a"), ("b", 2)]), {1: "a", "b": 2})
    assert_strict_equal(DataHandler(), {})
    source = DataHandler({"a": {"b": 1}})
    clone = DataHandler(source)
    assert_strict_equal(clone, source)
    assert clone["a"] is not source["a"]
    assert source["a"].parent is source


def test_a_new_handlers_contents_are_its_baseline() -> None:
    handler = DataHandler({"a": 1, "b": {"c": 2}, "l": [{"d": 3}]})
    assert handler.diff() == {}
    handler["b"]["c"] = 3
    handler["l"][0]["d"] = 4
    assert_strict_equal(handler.diff(), {"b": {"c": 3}, "l": ListDelta(((0, 0, {"d": 4}),))})


def test_plain_containers_are_wrapped_at_any_depth() -> None:
    handler = committed()
    handler["a"] = {"b": [{"c": [1, {"d": 2}]}], "t": (1, (2, 3))}
    a = handler["a"]
    assert type(a) is DataHandler
    assert type(a["b"]) is ListHandler
    assert type(a["b"][0]) is DataHandler
    assert type(a["b"][0]["c"]) is ListHandler
    assert type(a["b"][0]["c"][1]) is DataHandler
    assert type(a["t"]) is tuple
    assert a.parent is handler
    assert a["b"][0]["c"][1].path == ("a", "b", 0, "c", 1)
    assert_strict_equal(handler.diff(), {"a": Replace(handler["a"].snapshot())})


def test_wrapping_copies_the_plain_value() -> None:
    plain: dict[str, Any] = {"x": {"y": 1}}
    handler = DataHandler({"p": plain})
    plain["x"]["y"] = 2
    assert handler["p"]["x"]["y"] == 1


def test_deep_writes_are_tracked() -> None:
    source = DataHandler({"a": {"b": {"c": {"d": 1}}, "l": [{"e": 1}]}})
    pair = SyncPair(source)
    source["a"]["b"]["c"]["d"] = 2
    assert source.diff() == {"a": {"b": {"c": {"d": 2}}}}
    pair.tick()
    source["a"]["l"][0]["e"] = 5
    source["a"]["l"][0]["f"] = (1.5, None)
    pair.tick()
    pair.assert_synced()


# -- every mutator, tracked ------------------------------------------------------------


def test_setitem_and_delitem() -> None:
    handler = committed({"a": 1, "b": 2})
    handler["a"] = 10
    handler["c"] = 3
    del handler["b"]
    assert_strict_equal(handler.diff(), {"a": 10, "c": 3, "b": DELETED})
    handler.commit()
    with pytest.raises(KeyError):
        del handler["missing"]
    assert handler.diff() == {}


def test_pop_with_and_without_default() -> None:
    handler = committed({"a": 1, "b": {"x": 1}})
    assert handler.pop("a") == 1
    assert handler.pop("missing", "dflt") == "dflt"
    with pytest.raises(KeyError):
        handler.pop("missing")
    child = handler.pop("b", None)
    assert type(child) is DataHandler
    assert child.parent is None
    assert child.path == ()
    assert_strict_equal(handler.diff(), {"a": DELETED, "b": DELETED})
    assert handler.pop("a", 7) == 7


def test_popitem() -> None:
    handler = committed({"a": 1, "b": 2})
    assert handler.popitem() == ("b", 2)
    assert_strict_equal(handler.diff(), {"b": DELETED})
    assert handler.popitem() == ("a", 1)
    with pytest.raises(KeyError):
        handler.popitem()
    assert_strict_equal(handler.diff(), {"b": DELETED, "a": DELETED})


def test_clear() -> None:
    handler = committed({"a": 1, "b": {"c": 2}})
    child = handler["b"]
    handler.clear()
    assert handler == {}
    assert child.parent is None
    assert_strict_equal(handler.diff(), {"a": DELETED, "b": DELETED})
    handler.commit()
    handler.clear()
    assert handler.diff() == {}


def test_setdefault() -> None:
    handler = committed({"a": 1})
    assert handler.setdefault("a", 5) == 1
    assert handler.diff() == {}
    assert handler.setdefault("n") is None
    child = handler.setdefault("d", {"x": 1})
    assert type(child) is DataHandler
    child["x"] = 2
    assert_strict_equal(handler.diff(), {"n": None, "d": Replace({"x": 2})})


@pytest.mark.parametrize(
    "call",
    [
        lambda h: h.update({"a": 2, "z": 1}),
        lambda h: h.update([("a", 2), ("z", 1)]),
        lambda h: h.update(a=2, z=1),
        lambda h: h.update({"a": 2}, z=1),
        lambda h: h.update(DataHandler({"a": 2, "z": 1})),
        lambda h: h.__ior__({"a": 2, "z": 1}),
    ],
    ids=["mapping", "pairs", "kwargs", "mapping+kwargs", "handler", "ior"],
)
def test_update_forms(call: Any) -> None:
    handler = committed({"a": 1, "b": 1})
    call(handler)
    assert_strict_equal(handler, {"a": 2, "b": 1, "z": 1})
    assert_strict_equal(handler.diff(), {"a": 2, "z": 1})


def test_update_from_a_tracked_handler_copies_its_children() -> None:
    other = DataHandler({"c": {"d": 1}})
    handler = committed()
    handler.update(other)
    assert handler["c"] is not other["c"]
    assert other["c"].parent is other


def test_inplace_or_operator() -> None:
    handler = committed({"a": {"x": 1}})
    same = handler
    handler |= {"b": 2}
    assert handler is same
    handler["a"] |= {"y": 2}
    assert_strict_equal(handler.diff(), {"b": 2, "a": {"y": 2}})


def test_or_operators_give_plain_dicts() -> None:
    handler = committed({"a": {"x": 1}})
    merged = handler | {"b": 2}
    assert type(merged) is dict
    assert type(merged["a"]) is dict
    assert_strict_equal(merged, {"a": {"x": 1}, "b": 2})
    rmerged = {"b": 2, "a": 0} | handler
    assert type(rmerged) is dict
    assert_strict_equal(rmerged, {"b": 2, "a": {"x": 1}})
    assert handler.diff() == {}
    with pytest.raises(TypeError):
        handler | [("b", 2)]


def test_copy_is_deep_writable_and_detached() -> None:
    handler = committed({"a": {"b": [1, 2]}})
    for clone in (handler.copy(), copy.copy(handler), copy.deepcopy(handler)):
        assert type(clone) is DataHandler
        assert_strict_equal(clone, handler)
        assert clone["a"] is not handler["a"]
        assert clone.parent is None
        clone["a"]["b"].append(3)
        assert handler["a"]["b"] == [1, 2]
    replica = DataHandler.from_snapshot(handler.snapshot())
    writable = replica.copy()
    assert not writable.readonly
    writable["a"] = 1
    assert handler.diff() == {}


def test_fromkeys() -> None:
    handler = DataHandler.fromkeys([1, "b"], {"x": 1})
    assert type(handler) is DataHandler
    assert handler[1] is not handler["b"]
    assert type(handler[1]) is DataHandler
    assert_strict_equal(handler, {1: {"x": 1}, "b": {"x": 1}})
    assert_strict_equal(DataHandler.fromkeys((1, 2)), {1: None, 2: None})


def test_pickle_round_trip() -> None:
    handler = committed({1: {"pos": (1, 2), "l": [1.5, b"x"]}, "n": None})
    clone = pickle.loads(pickle.dumps(handler))
    assert type(clone) is DataHandler
    assert type(clone[1]) is DataHandler
    assert_strict_equal(clone, handler)
    replica = pickle.loads(pickle.dumps(DataHandler.from_snapshot(handler.snapshot())))
    assert_strict_equal(replica, handler)


def test_equality_with_plain_dicts_and_repr() -> None:
    handler = DataHandler({1: {"a": [1]}})
    assert handler == {1: {"a": [1]}}
    assert {1: {"a": [1]}} == handler  # noqa: SIM300 (the reflected comparison)
    assert handler != {1: {"a": [2]}}
    assert repr(handler) == "DataHandler({1: DataHandler({'a': ListHandler([1])})})"


def test_to_python_is_plain_all_the_way_down() -> None:
    handler = DataHandler({1: {"a": [{"b": (1, 2)}]}})
    plain = handler.to_python()
    assert type(plain) is dict
    assert type(plain[1]) is dict
    assert type(plain[1]["a"]) is list
    assert type(plain[1]["a"][0]) is dict
    assert_strict_equal(plain, {1: {"a": [{"b": (1, 2)}]}})
    plain[1]["a"].append(5)
    assert handler[1]["a"] == [{"b": (1, 2)}]


def test_reads_behave_like_a_dict() -> None:
    handler = DataHandler({"a": 1, 2: "b"})
    assert handler.get("a") == 1
    assert handler.get("z", 5) == 5
    assert "a" in handler
    assert list(handler) == ["a", 2]
    assert list(handler.items()) == [("a", 1), (2, "b")]
    assert len(handler) == 2
    assert isinstance(handler, dict)


# -- what counts as a change -----------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "changed"),
    [
        (1, 1, False),
        (1, 1.0, True),
        (1, True, True),
        (True, 1, True),
        (0, False, True),
        (1.0, 1.0, False),
        (0.0, -0.0, True),
        (-0.0, 0.0, True),
        (-0.0, -0.0, False),
        (math.inf, math.inf, False),
        (NAN_A, nan_with_bits(0x7FF8_0000_0000_0001), False),
        (NAN_A, NAN_B, True),
        (math.nan, math.nan, False),
        (2**70, 2**70, False),
        (2**70, 2**70 + 1, True),
        ("a", "a", False),
        ("a", b"a", True),
        (b"x", b"x", False),
        (None, None, False),
        (None, 0, True),
        ((1, 2), (1, 2), False),
        ((1, 2), [1, 2], True),
        ((1, (2.0,)), (1, (2.0,)), False),
        ((1, (2.0,)), (1, (2,)), True),
        ((0.0,), (-0.0,), True),
        ((NAN_A,), (nan_with_bits(0x7FF8_0000_0000_0001),), False),
    ],
)
def test_a_write_is_a_change_unless_type_and_bits_match(old: Any, new: Any, changed: bool) -> None:
    source = committed({"k": old})
    pair = SyncPair(source)
    source["k"] = new
    if changed:
        assert len(source.diff()) == 1
    else:
        assert source.diff() == {}
        assert pair.tick() == b"\xa0"
    pair.tick()
    pair.assert_synced()
    assert strict_equal(pair.replica["k"], new)


def test_many_writes_leave_the_last_and_writing_back_is_nothing() -> None:
    handler = committed({"a": 1})
    for value in (2, 3.5, "x", (1,), 4):
        handler["a"] = value
    assert_strict_equal(handler.diff(), {"a": 4})
    handler["a"] = 1
    assert handler.diff() == {}


def test_set_then_delete_of_a_new_key_is_nothing() -> None:
    handler = committed({"a": 1})
    handler["new"] = {"deep": [1]}
    handler["new"]["deep"].append(2)
    del handler["new"]
    handler["n2"] = 1
    handler.pop("n2")
    assert handler.diff() == {}


def test_delete_then_set_again_is_a_replace_with_the_new_key_object() -> None:
    source = committed({1: "a"})
    pair = SyncPair(source)
    del source[1]
    source[1.0] = "a"
    assert_strict_equal(source.diff(), {1.0: Replace("a")})
    pair.tick()
    pair.assert_synced()
    assert type(next(iter(pair.replica))) is float


def test_replacing_a_child_container_ships_its_snapshot() -> None:
    source = committed({"a": {"x": 1}, "b": 1})
    pair = SyncPair(source)
    old_child = source["a"]
    source["a"] = {"y": 2}
    assert old_child.parent is None
    source["b"] = {"z": [3]}
    assert_strict_equal(source.diff(), {"a": Replace({"y": 2}), "b": Replace({"z": [3]})})
    pair.tick()
    pair.assert_synced()
    old_child["x"] = 5  # a detached handler's writes go nowhere
    assert source.diff() == {}


@pytest.mark.parametrize(
    "writes",
    [
        [("set", 1.0, "v")],
        [("set", True, "v")],
        [("del", 1.0), ("set", True, "w")],
        [("del", 1), ("set", 1.0, "v"), ("set", True, "w")],
        [("del", True), ("set", 1.0, {"c": 1}), ("del", 1), ("set", 1, "x")],
        [("set", 1.0, {"c": 1})],
        [("set", True, [1])],
        [("set", 1.0, {"c": 1}), ("set", True, "s")],
        [("del", 1), ("set", 2, "n"), ("set", 1.0, "v"), ("del", 2)],
    ],
)
def test_confusable_keys_keep_their_type_on_the_replica(writes: list[tuple[Any, ...]]) -> None:
    source = committed({1: "v", 0: {"x": 1}})
    pair = SyncPair(source)
    model = {1: "v", 0: {"x": 1}}
    for op, key, *value in writes:
        if op == "set":
            source[key] = value[0]
            model[key] = copy.deepcopy(value[0])
        else:
            del source[key]
            del model[key]
    assert_strict_equal(source, model)
    pair.tick()
    pair.assert_synced()


def test_diff_is_repeatable_until_commit() -> None:
    handler = committed({"a": {"b": 1}})
    handler["a"]["b"] = 2
    assert handler.diff() == handler.diff() == {"a": {"b": 2}}
    handler.commit()
    assert handler.diff() == {}
    assert handler["a"].diff() == {}


# -- the one-parent rule ---------------------------------------------------------------


def test_a_handler_has_one_parent() -> None:
    handler = committed({"a": {"x": 1}, "b": {}})
    with pytest.raises(ValueError, match="already sits at root\\['a'\\]"):
        handler["c"] = handler["a"]
    with pytest.raises(ValueError, match="already sits"):
        handler["b"]["c"] = handler["a"]
    assert "c" not in handler
    assert handler.diff() == {}


def test_a_handler_cannot_go_inside_itself() -> None:
    handler = committed({"a": {"b": {}}})
    with pytest.raises(ValueError, match="inside itself"):
        handler["me"] = handler
    inner = handler["a"]["b"]
    detached = handler.pop("a")
    handler.commit()
    with pytest.raises(ValueError, match="inside itself"):
        inner["up"] = detached
    assert detached.diff() == {}


def test_a_replica_cannot_be_attached() -> None:
    replica = DataHandler.from_snapshot({"x": {"y": 1}})
    handler = committed()
    with pytest.raises(ValueError, match="read-only replica"):
        handler["r"] = replica
    with pytest.raises(ValueError, match="read-only replica"):
        handler["r"] = {"inner": replica}
    assert handler == {}
    assert handler.diff() == {}
    handler["r"] = replica.copy()
    assert handler == {"r": {"x": {"y": 1}}}


def test_a_failed_constructor_releases_the_handlers_it_took() -> None:
    free = DataHandler({"y": 1})
    owner = DataHandler({"taken": {}})
    with pytest.raises(ValueError, match="already sits"):
        DataHandler({"free": free, "taken": owner["taken"]})
    assert free.parent is None
    DataHandler({"free": free})


def test_a_detached_handler_can_move() -> None:
    source = committed({"a": {"x": {"y": 1}}, "b": {}})
    pair = SyncPair(source)
    moved = source["a"].pop("x")
    moved["y"] = 2
    source["b"]["x"] = moved
    assert moved.path == ("b", "x")
    pair.tick()
    pair.assert_synced()
    moved["y"] = 3
    pair.tick()
    pair.assert_synced()


def test_a_dirty_detached_handler_inside_a_new_container_stays_tracked() -> None:
    source = committed({"a": {"v": 1}})
    pair = SyncPair(source)
    moved = source["a"]
    moved["v"] = 2
    del source["a"]
    source["b"] = {"inner": moved}
    pair.tick()
    pair.assert_synced()
    moved["v"] = 3
    assert source.diff() == {"b": {"inner": {"v": 3}}}
    pair.tick()
    pair.assert_synced()


# -- unsupported keys and values ------------------------------------------------------


class Color(enum.IntEnum):
    RED = 1


class Text(str):
    pass


@pytest.mark.parametrize(
    "key",
    [object(), frozenset({1}), (1, object()), ((1, frozenset()),), Color.RED, Text("zz"), 1j],
    ids=repr,
)
def test_unsupported_keys_raise_type_error_and_change_nothing(key: Any) -> None:
    handler = committed({"a": 1})
    with pytest.raises(TypeError, match="unsupported key type"):
        handler[key] = 1
    with pytest.raises(TypeError, match="unsupported key type"):
        handler.update({key: 1})
    with pytest.raises(TypeError, match="unsupported key type"):
        DataHandler({key: 1})
    with pytest.raises(TypeError, match="unsupported key type"):
        handler["a"] = {"ok": 1, key: 1}
    assert_strict_equal(handler, {"a": 1})
    assert handler.diff() == {}


@pytest.mark.parametrize("key", [[1], {1: 2}, (1, [2])], ids=repr)
def test_unhashable_keys_raise_type_error(key: Any) -> None:
    handler = committed()
    with pytest.raises(TypeError):
        handler[key] = 1
    assert handler.diff() == {}


@pytest.mark.parametrize("key", [math.nan, NAN_B, (1, math.nan), ((math.nan,),)], ids=repr)
def test_nan_keys_raise_value_error(key: Any) -> None:
    handler = committed({"a": 1})
    with pytest.raises(ValueError, match="NaN"):
        handler[key] = 1
    with pytest.raises(ValueError, match="NaN"):
        handler["a"] = {key: 1}
    assert_strict_equal(handler, {"a": 1})
    assert handler.diff() == {}


@pytest.mark.parametrize(
    "value",
    [
        {1, 2},
        object(),
        memoryview(b"x"),
        1j,
        (1, {2}),
        (1, [2]),
        ((1, {"a": 1}),),
        Color.RED,
        Text("a"),
        {"ok": 1, "bad": {3}},
        [1, {"deep": [object()]}],
        range(3),
    ],
    ids=repr,
)
def test_unsupported_values_raise_type_error_and_change_nothing(value: Any) -> None:
    handler = committed({"a": 1, "b": {"c": 1}})
    with pytest.raises(TypeError, match="unsupported value type"):
        handler["a"] = value
    with pytest.raises(TypeError, match="unsupported value type"):
        handler["b"]["new"] = value
    with pytest.raises(TypeError, match="unsupported value type"):
        handler.setdefault("z", value)
    assert_strict_equal(handler, {"a": 1, "b": {"c": 1}})
    assert handler.diff() == {}


def test_tuples_nest_at_most_32_deep() -> None:
    """32 levels of tuples (``deep`` below) are fine, 33 are refused."""
    handler = committed()
    deep: Any = ()
    for _ in range(31):
        deep = (deep,)
    handler["ok"] = deep
    with pytest.raises(TypeError, match="nest deeper"):
        handler["bad"] = (deep,)
    assert "bad" not in handler


# -- read-only replicas -----------------------------------------------------------------


MUTATORS = [
    lambda r: r.__setitem__("a", 2),
    lambda r: r.__setitem__("new", 1),
    lambda r: r.__delitem__("a"),
    lambda r: r.pop("a"),
    lambda r: r.pop("missing", None),
    lambda r: r.popitem(),
    lambda r: r.clear(),
    lambda r: r.setdefault("new", 1),
    lambda r: r.update({"a": 5}),
    lambda r: r.update(a=5),
    lambda r: r.__ior__({"a": 5}),
    lambda r: r["b"].__setitem__("c", 2),
    lambda r: r["b"].clear(),
    lambda r: r["l"].append(1),
    lambda r: r["l"][0].__setitem__("x", 1),
]


@pytest.mark.parametrize("mutate", MUTATORS)
def test_a_replica_refuses_every_mutator(mutate: Any) -> None:
    source = committed({"a": 1, "b": {"c": 1}, "l": [{"x": 0}]})
    replica = DataHandler.from_snapshot(source.snapshot())
    assert replica.readonly
    assert replica["b"].readonly
    before = CODEC.encode(replica.snapshot())
    with pytest.raises(ReadOnlyError, match="read-only replica") as info:
        mutate(replica)
    assert isinstance(info.value, TypeError)
    assert CODEC.encode(replica.snapshot()) == before
    assert_strict_equal(replica, source)


def test_a_replica_error_names_the_path() -> None:
    replica = DataHandler.from_snapshot({3: {"pos": {"x": 1}}})
    with pytest.raises(ReadOnlyError, match=r"root\[3\]\['pos'\]"):
        replica[3]["pos"]["x"] = 2


# -- events ---------------------------------------------------------------------------------


def test_initial_events() -> None:
    replica = DataHandler.from_snapshot({"a": 1, "b": {"c": 2}})
    assert replica.initial_events() == [
        Added(path=("a",), new=1),
        Added(path=("b",), new={"c": 2}),
    ]
    assert replica["b"].initial_events() == [Added(path=("b", "c"), new=2)]
    assert DataHandler().initial_events() == []


def test_patch_returns_events_with_paths() -> None:
    source = committed({1: {"hp": 8, "pos": (2, 2)}, 2: {"hp": 1}, "gone": 0, "swap": {"a": 1}})
    pair = SyncPair(source)
    old_swap = pair.replica["swap"]
    source[1]["hp"] = 7
    source[1]["new"] = "x"
    del source[2]
    del source["gone"]
    source["swap"] = {"b": 2}
    source[4] = {"hp": 10}
    pair.tick()
    events = pair.events
    assert events[:4] == [
        Changed(path=(1, "hp"), old=8, new=7),
        Added(path=(1, "new"), new="x"),
        Removed(path=(2,), old={"hp": 1}),
        Removed(path=("gone",), old=0),
    ]
    swap = events[4]
    assert type(swap) is Changed
    assert swap.path == ("swap",)
    assert swap.old is old_swap
    assert old_swap.parent is None
    assert swap.new is pair.replica["swap"]
    assert events[5] == Added(path=(4,), new={"hp": 10})
    assert type(events[5].new) is DataHandler
    assert len(events) == 6
    pair.assert_synced()


def test_an_empty_tick_has_no_events() -> None:
    pair = SyncPair(DataHandler({"a": 1}))
    assert pair.tick() == b"\xa0"
    assert pair.events == []


# -- exact wire sizes through CborCodec ------------------------------------------------------


SNAPSHOT_HEX = (
    "a3"
    "01a3646e616d65656e6f74636863706f7382020262687008"
    "02a3646e616d65636a656263706f7382020362687001"
    "03a3646e616d65646334313863706f7382020462687007"
)
ADD_PLAYER_HEX = "a104c6a3646e616d656a64696e6e6572626f6e6563706f738205056268700a"


def test_seed_snapshot_is_70_bytes() -> None:
    packet = CODEC.encode(DataHandler(seed()).snapshot())
    assert packet.hex() == SNAPSHOT_HEX
    assert len(packet) == 70


def test_seed_wire_sizes() -> None:
    players = DataHandler(seed())
    pair = SyncPair(players)
    assert pair.snapshot_packet().hex() == SNAPSHOT_HEX

    players[3]["hp"] -= 1
    assert players.diff() == {3: {"hp": 6}}
    assert pair.tick().hex(" ") == "a1 03 a1 62 68 70 06"

    del players[2]
    assert pair.tick().hex(" ") == "a1 02 f7"

    players[4] = {"name": "dinnerbone", "pos": (5, 5), "hp": 10}
    packet = pair.tick()
    assert packet.hex() == ADD_PLAYER_HEX
    assert len(packet) == 31

    assert pair.tick() == b"\xa0"
    pair.assert_synced()
    assert flatsync.DataHandler.from_snapshot(CODEC.decode(pair.snapshot_packet())) == players


def test_clean_handlers_share_one_change_set_that_no_write_touches() -> None:
    players = DataHandler({1: {"hp": 8}, 2: {"hp": 1}, "meta": {"tick": 0}})
    players.commit()
    shared = players[1]._changes
    assert players[2]._changes is shared
    assert players._changes is shared
    players[1]["hp"] = 7  # the first change of a clean handler (and of its parent)
    players[2]["new"] = 1
    del players["meta"]["tick"]
    players[3] = {}
    assert not shared
    assert players.diff() == {
        1: {"hp": 7},
        2: {"new": 1},
        "meta": {"tick": DELETED},
        3: Replace({}),
    }
    players.commit()
    assert players[1]._changes is shared
    assert players.diff() == {}
    replica = DataHandler.from_snapshot({1: {"hp": 8}})
    replica.copy().patch({1: {"hp": 7}, 2: 5})
    assert not shared
