"""Deltas that do not fit: PatchError naming the path, and the replica exactly as it was."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest

from flatsync import DELETED, CborCodec, DataHandler, PatchError, merge
from flatsync.protocol import ListDelta, Replace, apply_delta
from flatsync.testing import assert_strict_equal

CODEC = CborCodec()

STATE: dict[Any, Any] = {
    1: {"name": "notch", "pos": (2, 2), "hp": 8},
    2: {"name": "jeb", "pos": (2, 3), "hp": 1},
    3: {"name": "c418", "pos": (2, 4), "hp": 7, "inv": [{"item": "disc"}, 5]},
    "meta": {"round": 1},
}


class Thing:
    pass


def replicas() -> list[DataHandler]:
    """A read-only replica and a writable handler with the same state."""
    writable = DataHandler(copy.deepcopy(STATE))
    writable.commit()
    return [DataHandler.from_snapshot(copy.deepcopy(STATE)), writable]


def assert_rejected(handler: DataHandler, delta: Any, path: str) -> None:
    """``patch(delta)`` raises PatchError naming ``path`` and changes nothing at all."""
    before = CODEC.encode(handler.snapshot())
    children = {key: handler[key] for key in handler}
    inventory = handler[3]["inv"]
    with pytest.raises(PatchError) as info:
        handler.patch(delta)
    message = str(info.value)
    assert message.startswith((path + ":", path + "[")), message
    assert path in message
    assert CODEC.encode(handler.snapshot()) == before
    assert_strict_equal(handler, STATE)
    assert all(handler[key] is child for key, child in children.items())
    assert handler[3]["inv"] is inventory
    assert all(child.parent is handler for child in children.values() if child is not None)
    assert handler.diff() == {}


BAD_DELTAS: list[tuple[Any, str]] = [
    # a nested delta where there is no container
    ({3: {"pos": {"x": 1}}}, "root[3]['pos']"),
    ({3: {"hp": {"x": 1}}}, "root[3]['hp']"),
    ({9: {"hp": 1}}, "root[9]"),
    ({3: {"missing": {"a": 1}}}, "root[3]['missing']"),
    ({3: {"inv": {"a": 1}}}, "root[3]['inv']"),
    # a list delta on a mapping or a scalar
    ({3: ListDelta(((0, 1),))}, "root[3]"),
    ({3: {"hp": ListDelta(())}}, "root[3]['hp']"),
    ({"nothing": ListDelta(())}, "root['nothing']"),
    # keys that cannot be keys
    ({frozenset(): 1}, "root"),
    ({3: {math.nan: 1}}, "root[3]"),
    ({3: {(1, math.nan): 1}}, "root[3]"),
    ({3: {Thing(): 1}}, "root[3]"),
    # values that are not snapshot values
    ({3: {"hp": {1, 2}}}, "root[3]['hp']"),
    ({3: {"hp": Thing()}}, "root[3]['hp']"),
    ({3: {"hp": (1, [2])}}, "root[3]['hp']"),
    ({3: {"hp": bytearray(b"x")}}, "root[3]['hp']"),
    ({3: Replace({"a": {1, 2}})}, "root[3]['a']"),
    ({3: Replace({"a": [1, Thing()]})}, "root[3]['a'][1]"),
    ({3: Replace({"a": {"b": DELETED}})}, "root[3]['a']['b']"),
    ({3: Replace({"a": Replace(1)})}, "root[3]['a']"),
    ({3: Replace({"a": ListDelta(())})}, "root[3]['a']"),
    ({3: Replace({math.nan: 1})}, "root[3]"),
    ({3: Replace(DELETED)}, "root[3]"),
    ({3: Replace(Thing())}, "root[3]"),
    ({3: Replace(DataHandler({"a": 1}))}, "root[3]"),
    ({3: DataHandler({"a": 1})}, "root[3]"),
    ({3: {"inv": ListDelta(((0, {1, 2}),))}}, "root[3]['inv']"),
]


@pytest.mark.parametrize(("delta", "path"), BAD_DELTAS, ids=repr)
@pytest.mark.parametrize("which", ["replica", "writable"])
def test_a_misfit_names_its_path_and_changes_nothing(delta: Any, path: str, which: str) -> None:
    handler = replicas()[which == "writable"]
    assert_rejected(handler, delta, path)


@pytest.mark.parametrize(("delta", "path"), BAD_DELTAS, ids=repr)
def test_a_misfit_after_valid_entries_changes_nothing(delta: Any, path: str) -> None:
    """Atomicity: the valid entries before the bad one are not applied either."""
    valid: dict[Any, Any] = {
        1: {"hp": 0, "name": DELETED, "new": Replace({"x": [1]})},
        2: DELETED,
        4: Replace({"name": "dinnerbone"}),
        "meta": Replace({"round": 2}),
        "added": Replace([1, 2]),
    }
    for handler in replicas():
        assert_rejected(handler, {**valid, **delta}, path)
        nested = {3: {"hp": 0, "pos": (0, 0), **delta[3]}} if type(delta.get(3)) is dict else None
        if nested is not None:
            assert_rejected(handler, {**valid, **nested}, path)


@pytest.mark.parametrize("delta", [None, 1, "x", [1], (1,), DELETED, Replace({}), ListDelta(())])
def test_a_delta_that_is_not_a_mapping_delta(delta: Any) -> None:
    for handler in replicas():
        assert_rejected(handler, delta, "root")


def test_a_childs_patch_names_the_full_path() -> None:
    replica = DataHandler.from_snapshot(copy.deepcopy(STATE))
    with pytest.raises(PatchError, match=r"^root\[3\]\['pos'\]: "):
        replica[3].patch({"pos": {"x": 1}})
    assert_strict_equal(replica, STATE)


def test_the_same_delta_applies_once_it_fits() -> None:
    replica = DataHandler.from_snapshot(copy.deepcopy(STATE))
    events = replica.patch({3: {"pos": Replace({"x": 1})}})
    assert len(events) == 1
    replica.patch({3: {"pos": {"x": 2}}})
    assert replica[3]["pos"] == {"x": 2}


# -- from_snapshot ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tree", "path"),
    [
        ([1], "root"),
        (None, "root"),
        (Replace({}), "root"),
        ({"a": {1, 2}}, "root['a']"),
        ({"a": {"b": [Thing()]}}, "root['a']['b'][0]"),
        ({"a": DELETED}, "root['a']"),
        ({"a": Replace(1)}, "root['a']"),
        ({"a": ListDelta(())}, "root['a']"),
        ({"a": {math.nan: 1}}, "root['a']"),
        ({"a": {frozenset(): 1}}, "root['a']"),
        ({"a": DataHandler()}, "root['a']"),
    ],
    ids=repr,
)
def test_from_snapshot_rejects_what_is_not_a_snapshot(tree: Any, path: str) -> None:
    with pytest.raises(PatchError, match="^" + path.replace("[", r"\[").replace("]", r"\]")):
        DataHandler.from_snapshot(tree)


# -- merge and apply_delta ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "path"),
    [
        ({"a": 1}, {"a": {"b": 2}}, "root['a']"),
        ({"a": (1, 2)}, {"a": {"b": 2}}, "root['a']"),
        ({"a": [1, 2]}, {"a": {"b": 2}}, "root['a']"),
        ({"a": DELETED}, {"a": {"b": 1}}, "root['a']"),
        ({"a": DELETED}, {"a": ListDelta(((0, 1),))}, "root['a']"),
        ({"a": ListDelta(())}, {"a": {"b": 1}}, "root['a']"),
        ({"a": {"b": 1}}, {"a": ListDelta(())}, "root['a']"),
        ({"a": Replace(1)}, {"a": {"b": 1}}, "root['a']"),
        ({"a": Replace({"x": 1})}, {"a": {"x": {"y": 1}}}, "root['a']['x']"),
        ({"a": Replace({"x": 1})}, {"a": {"z": {"y": 1}}}, "root['a']['z']"),
        ({"a": {"b": {"c": 1}}}, {"a": {"b": ListDelta(())}}, "root['a']['b']"),
        ({"a": Replace({"l": 1})}, {"a": {"l": ListDelta(((0, 1),))}}, "root['a']['l']"),
        (ListDelta(()), {"a": 1}, "root"),
        ({"a": 1}, ListDelta(()), "root"),
        (1, 2, "root"),
        (None, {}, "root"),
    ],
    ids=repr,
)
def test_merge_misfits_raise_patch_error_naming_the_path(
    first: Any, second: Any, path: str
) -> None:
    first_copy, second_copy = copy.deepcopy(first), copy.deepcopy(second)
    with pytest.raises(PatchError) as info:
        merge(first, second)
    assert str(info.value).startswith(path + ":"), str(info.value)
    assert_strict_equal(first, first_copy)
    assert_strict_equal(second, second_copy)


@pytest.mark.parametrize(
    ("snapshot", "delta", "path"),
    [
        ({"a": 1}, {"a": {"b": 1}}, "root['a']"),
        ({}, {"a": {"b": 1}}, "root['a']"),
        ({"a": {"b": 1}}, {"a": ListDelta(())}, "root['a']"),
        ({"a": [1]}, {"a": {"b": 1}}, "root['a']"),
        (1, {}, "root"),
        ({}, 5, "root"),
        ({}, [1], "root"),
    ],
    ids=repr,
)
def test_apply_delta_misfits(snapshot: Any, delta: Any, path: str) -> None:
    before = copy.deepcopy(snapshot)
    with pytest.raises(PatchError) as info:
        apply_delta(snapshot, delta)
    assert str(info.value).startswith(path + ":"), str(info.value)
    assert_strict_equal(snapshot, before)


def test_merge_and_apply_delta_leave_their_arguments_alone() -> None:
    first = {"a": {"b": 1}, "c": Replace({"d": [1]}), "e": DELETED}
    second = {"a": {"b": 2}, "c": {"d": ListDelta(((1, 0, 5),))}, "e": 5}
    first_copy, second_copy = copy.deepcopy(first), copy.deepcopy(second)
    snapshot = {"a": {"b": 0}, "c": 1, "e": 2}
    snapshot_copy = copy.deepcopy(snapshot)
    merged = merge(first, second)
    assert_strict_equal(
        apply_delta(snapshot, merged), apply_delta(apply_delta(snapshot, first), second)
    )
    assert_strict_equal(first, first_copy)
    assert_strict_equal(second, second_copy)
    assert_strict_equal(snapshot, snapshot_copy)
