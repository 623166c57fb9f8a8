"""Tests for ListHandler: every list method, the change rules, patching, merging, and a
model-based state machine that ships every tick's delta through the CBOR codec."""

from __future__ import annotations

import copy
import pickle
import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, rule

import flatsync
from flatsync import (
    DELETED,
    Added,
    CborCodec,
    Changed,
    DataHandler,
    ListHandler,
    PatchError,
    ReadOnlyError,
    Removed,
    merge,
)
from flatsync._tree._list_ops import apply_list_delta_to_snapshot, merge_list_deltas
from flatsync.protocol import ListDelta, Replace, apply_delta
from flatsync.testing import ConvergenceMachine, assert_strict_equal, keys
from strategies import containers, new_values, same_type_values

CODEC = CborCodec()


def wire(tree: Any) -> Any:
    """``tree`` after a trip through the CBOR codec."""
    return CODEC.decode(CODEC.encode(tree))


# -- strict equality ---------------------------------------------------------------


def same_classes(a: Any, b: Any, path: str = "root") -> str | None:
    """Where the containers of ``a`` and ``b`` differ in class, or None.

    :func:`~flatsync.testing.assert_strict_equal` counts a ListHandler as a list and
    a DataHandler as a dict (so that a replica compares with a snapshot); this tells
    them apart too (a replica's lists must be ListHandlers, like its source's).
    """
    if type(a) is not type(b):
        return f"{path}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, dict):
        b_keys = {key: key for key in b}
        items = ((a[key], b[b_keys[key]], f"{path}[{key!r}]") for key in a)
    elif isinstance(a, list | tuple):
        items = ((x, y, f"{path}[{i}]") for i, (x, y) in enumerate(zip(a, b, strict=True)))
    else:
        return None
    for x, y, where in items:
        problem = same_classes(x, y, where)
        if problem is not None:
            return problem
    return None


def assert_strict(a: Any, b: Any) -> None:
    """:func:`~flatsync.testing.assert_strict_equal`, and the same classes at every level."""
    assert_strict_equal(a, b)
    problem = same_classes(a, b)
    assert problem is None, problem


def check_structure(handler: Any) -> None:
    """Every child knows its parent and its key; a list counts its children right."""
    if isinstance(handler, ListHandler):
        children = 0
        for i, value in enumerate(handler):
            if isinstance(value, flatsync.Handler):
                children += 1
                assert value.parent is handler
                assert value._key == i, (value._key, i)
                check_structure(value)
        assert handler._nchildren == children
    elif isinstance(handler, DataHandler):
        for key, value in handler.items():
            if isinstance(value, flatsync.Handler):
                assert value.parent is handler
                assert value._key == key
                check_structure(value)


def plain(value: Any) -> Any:
    return value.to_python() if isinstance(value, flatsync.Handler) else value


def committed(items: Any = ()) -> ListHandler:
    handler = ListHandler(items)
    handler.commit()
    return handler


def replica_of(source: Any) -> Any:
    return type(source).from_snapshot(wire(source.snapshot()))


def ship(source: Any, replica: Any) -> Any:
    """Send ``source``'s delta to ``replica``, commit, and check that they agree."""
    delta = source.diff()
    replica.patch(wire(delta))
    source.commit()
    assert_strict(replica, source)
    return delta


# -- construction, reads and plain-list behaviour ------------------------------------


def test_construction_wraps_containers_and_is_the_baseline() -> None:
    handler = ListHandler([1, {"a": [2]}, [3, (4, 5)], (6.0,)])
    assert type(handler[1]) is DataHandler
    assert type(handler[1]["a"]) is ListHandler
    assert type(handler[2]) is ListHandler
    assert handler[2].parent is handler
    assert handler[1]["a"].path == (1, "a")
    assert handler.diff() == ListDelta(())
    assert handler._nested_diff() is None
    assert handler == [1, {"a": [2]}, [3, (4, 5)], (6.0,)]
    assert ListHandler(range(3)) == [0, 1, 2]
    clone = ListHandler(handler)
    assert clone == handler
    assert clone[1] is not handler[1]
    check_structure(handler)


def test_construction_refuses_bad_items_and_detaches_what_it_adopted() -> None:
    child = DataHandler({"x": 1})
    with pytest.raises(TypeError, match="unsupported value type set"):
        ListHandler([child, {1, 2}])
    assert child.parent is None


def test_a_dirty_handler_given_to_the_constructor_stays_tracked() -> None:
    root = DataHandler({"l": []})
    root.commit()
    replica = replica_of(root)
    child = DataHandler({"v": 1})
    child.commit()
    child["v"] = 2
    root["l"] = ListHandler([child])
    ship(root, replica)
    child["v"] = 3
    assert root.diff() == {"l": ListDelta(((0, 0, {"v": 3}),))}
    ship(root, replica)


def test_plain_list_behaviour() -> None:
    handler = ListHandler([3, 1, {"k": 2}])
    assert repr(handler) == "ListHandler([3, 1, DataHandler({'k': 2})])"
    assert [*handler, 9] == [3, 1, {"k": 2}, 9]
    assert type([*handler, 9]) is list
    assert type(handler + handler) is list
    assert type([0, *handler]) is list
    assert [0, *handler] == [0, 3, 1, {"k": 2}]
    assert handler * 2 == [3, 1, {"k": 2}, 3, 1, {"k": 2}]
    assert type(2 * handler) is list
    assert type((handler * 2)[2]) is dict
    assert handler.index(1) == 1
    assert handler.count(3) == 1
    assert {"k": 2} in handler
    assert handler[1:] == [1, {"k": 2}]
    assert type(handler[1:]) is list
    assert list(reversed(handler)) == [{"k": 2}, 1, 3]
    assert handler.to_python() == [3, 1, {"k": 2}]
    assert type(handler.to_python()[2]) is dict
    assert handler.diff() == ListDelta(())


@pytest.mark.parametrize("make", [copy.copy, copy.deepcopy, ListHandler.copy])
def test_copies_are_deep_writable_and_unattached(make: Callable[[Any], Any]) -> None:
    root = DataHandler({"l": [1, {"a": [2]}]})
    replica = replica_of(root)
    for original in (root["l"], replica["l"]):
        clone = make(original)
        assert type(clone) is ListHandler
        assert clone == original
        assert clone.parent is None
        assert not clone.readonly
        assert clone[1] is not original[1]
        clone[1]["a"].append(3)
        assert original[1]["a"] == [2]


def test_pickle_round_trip() -> None:
    handler = ListHandler([1, {"a": [2.5, (1, "x")]}, b"raw"])
    clone = pickle.loads(pickle.dumps(handler))
    assert type(clone) is ListHandler
    assert_strict(clone, handler)
    clone.append(4)
    assert clone.diff() == ListDelta(((1, 3, 4),))


# -- every mutator, tracked -------------------------------------------------------


def base() -> ListHandler:
    return committed(range(10))


MUTATIONS: list[tuple[str, Callable[[ListHandler], Any], tuple[tuple[Any, ...], ...]]] = [
    ("setitem", lambda h: h.__setitem__(2, "x"), ((0, 2, "x"),)),
    ("setitem-negative", lambda h: h.__setitem__(-1, 9.5), ((0, 9, 9.5),)),
    ("set-slice-same-size", lambda h: h.__setitem__(slice(1, 3), ["a", 2]), ((0, 1, "a"),)),
    (
        "set-slice-grow",
        lambda h: h.__setitem__(slice(1, 2), ["a", "b"]),
        ((0, 1, "a"), (1, 2, "b")),
    ),
    ("set-slice-shrink", lambda h: h.__setitem__(slice(1, 4), ["a"]), ((0, 1, "a"), (2, 2, 2))),
    ("set-slice-insert", lambda h: h.__setitem__(slice(3, 3), ["a"]), ((1, 3, "a"),)),
    (
        "set-extended-slice",
        lambda h: h.__setitem__(slice(0, 6, 3), ["a", "b"]),
        ((0, 0, "a"), (0, 3, "b")),
    ),
    ("delitem", lambda h: h.__delitem__(4), ((2, 4, 1),)),
    ("del-slice", lambda h: h.__delitem__(slice(2, 5)), ((2, 2, 3),)),
    ("del-slice-reversed", lambda h: h.__delitem__(slice(5, 2, -1)), ((2, 3, 3),)),
    ("del-extended-slice", lambda h: h.__delitem__(slice(1, 4, 2)), ((2, 3, 1), (2, 1, 1))),
    (
        "del-extended-slice-whole",
        lambda h: h.__delitem__(slice(1, 6, 2)),
        ((3, 0, 2, 4, 6, 7, 8, 9),),
    ),
    ("append", lambda h: h.append("z"), ((1, 10, "z"),)),
    ("extend", lambda h: h.extend(["y", "z"]), ((1, 10, "y", "z"),)),
    ("iadd", lambda h: h.__iadd__(("y", "z")), ((1, 10, "y", "z"),)),
    ("insert", lambda h: h.insert(3, "i"), ((1, 3, "i"),)),
    ("insert-clamped-high", lambda h: h.insert(99, "i"), ((1, 10, "i"),)),
    ("insert-clamped-low", lambda h: h.insert(-99, "i"), ((1, 0, "i"),)),
    ("pop", lambda h: h.pop(), ((2, 9, 1),)),
    ("pop-index", lambda h: h.pop(0), ((2, 0, 1),)),
    ("remove", lambda h: h.remove(5), ((2, 5, 1),)),
    ("clear", lambda h: h.clear(), ((3,),)),
    ("sort", lambda h: h.sort(key=lambda v: v % 3), ((3, 0, 3, 6, 9, 1, 4, 7, 2, 5, 8),)),
    ("sort-reverse", lambda h: h.sort(reverse=True), ((3, *range(9, -1, -1)),)),
    ("reverse", lambda h: h.reverse(), ((3, *range(9, -1, -1)),)),
    ("imul", lambda h: h.__imul__(2), ((1, 10, *range(10)),)),
    ("imul-three", lambda h: h.__imul__(3), ((1, 10, *range(10), *range(10)),)),
    ("imul-zero", lambda h: h.__imul__(0), ((3,),)),
]


@pytest.mark.parametrize(
    ("mutate", "ops"), [(m, o) for _, m, o in MUTATIONS], ids=[n for n, _, _ in MUTATIONS]
)
def test_every_mutator_is_tracked(
    mutate: Callable[[ListHandler], Any], ops: tuple[Any, ...]
) -> None:
    source = base()
    replica = replica_of(source)
    model = list(range(10))
    mutate(source)
    mutate(model)  # type: ignore[arg-type]
    assert source == model
    assert_strict(source.diff(), ListDelta(ops))
    ship(source, replica)
    assert source.diff() == ListDelta(())
    check_structure(source)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda h: h.__setitem__(0, 0),
        lambda h: h.__setitem__(slice(None), list(range(10))),
        lambda h: h.__setitem__(slice(0, 6, 2), [0, 2, 4]),
        lambda h: h.__setitem__(slice(3, 3), []),
        lambda h: h.__delitem__(slice(5, 5)),
        lambda h: h.__delitem__(slice(5, 2)),
        lambda h: h.extend([]),
        lambda h: h.__iadd__([]),
        lambda h: h.__imul__(1),
        lambda h: h.sort(),
        lambda h: h.sort(key=lambda v: 0),
    ],
)
def test_writes_that_change_nothing_are_not_recorded(mutate: Callable[[ListHandler], Any]) -> None:
    source = base()
    mutate(source)
    assert source == list(range(10))
    assert source.diff() == ListDelta(())


def test_equal_values_are_compared_strictly() -> None:
    nan = float("nan")
    source = committed([0.0, 1, nan, (1, 2.0), "s", b"b", *range(20)])
    source[0] = 0.0
    source[2] = nan
    source[3] = (1, 2.0)
    source[4] = "s"
    source[5] = b"b"
    assert source.diff() == ListDelta(())
    source[0] = -0.0
    source[1] = True
    source[3] = (1, 2)
    source[5] = b"c"
    assert_strict(
        source.diff(), ListDelta(((0, 0, -0.0), (0, 1, True), (0, 3, (1, 2)), (0, 5, b"c")))
    )


def test_clear_and_reverse_of_nothing_record_nothing() -> None:
    empty = committed()
    empty.clear()
    empty.reverse()
    empty.sort()
    assert empty.diff() == ListDelta(())
    palindrome = committed([1, 2, 1])
    palindrome.reverse()
    assert palindrome.diff() == ListDelta(())


def test_a_value_written_back_is_no_change() -> None:
    source = base()
    source[3] = "tmp"
    source[3] = 3
    assert source.diff() == ListDelta(())
    source[4] = "a"
    source[4] = "b"
    assert source.diff() == ListDelta(((0, 4, "b"),))


def test_index_errors_match_list() -> None:
    source = base()
    for bad in (
        lambda: source.__setitem__(10, 1),
        lambda: source.__delitem__(-11),
        lambda: source.pop(10),
        lambda: committed().pop(),
    ):
        with pytest.raises(IndexError):
            bad()
    with pytest.raises(TypeError, match="list indices must be integers or slices, not str"):
        source["a"] = 1  # type: ignore[call-overload]
    with pytest.raises(
        ValueError, match="attempt to assign sequence of size 1 to extended slice of size 2"
    ):
        source[0:4:2] = [1]
    with pytest.raises(
        ValueError, match="attempt to assign sequence of size 3 to extended slice of size 2"
    ):
        [0, 1, 2, 3][0:4:2] = [1, 2, 3]
    with pytest.raises(ValueError, match="not in list"):
        source.remove("missing")
    with pytest.raises(TypeError, match="can only assign an iterable"):
        source[0:1] = 5  # type: ignore[call-overload]
    with pytest.raises(TypeError):
        source.sort(key=lambda v: None if v else "")
    assert source == list(range(10))
    assert source.diff() == ListDelta(())


def test_unsupported_items_change_nothing() -> None:
    source = committed([1, {"a": 1}])
    child = source[1]
    writes: list[Callable[[], Any]] = [
        lambda: source.append(object()),
        lambda: source.insert(0, {1}),
        lambda: source.extend([2, 3, object()]),
        lambda: source.__setitem__(0, [1, {2: object()}]),
        lambda: source.__setitem__(slice(0, 2), [5, 6, {7}]),
        lambda: source.__setitem__(slice(0, 2, 1), ((1, object()), 2)),
    ]
    for bad in writes:
        with pytest.raises(TypeError):
            bad()
        assert source == [1, {"a": 1}]
        assert child.parent is source
        assert child._key == 1
        assert source.diff() == ListDelta(())
        check_structure(source)


READ_ONLY_WRITES: list[Callable[[ListHandler], Any]] = [
    lambda h: h.__setitem__(0, 5),
    lambda h: h.__setitem__(slice(0, 1), [5]),
    lambda h: h.__delitem__(0),
    lambda h: h.__delitem__(slice(0, 1)),
    lambda h: h.append(1),
    lambda h: h.extend([1]),
    lambda h: h.insert(0, 1),
    lambda h: h.pop(),
    lambda h: h.remove(1),
    lambda h: h.clear(),
    lambda h: h.sort(),
    lambda h: h.reverse(),
    lambda h: h.__iadd__([1]),
    lambda h: h.__imul__(2),
]


@pytest.mark.parametrize("write", READ_ONLY_WRITES)
def test_a_replica_refuses_every_write(write: Callable[[ListHandler], Any]) -> None:
    replica = ListHandler.from_snapshot([1, [2, 3], {"a": [4]}])
    assert replica.readonly
    for target in (replica, replica[1], replica[2]["a"]):
        with pytest.raises(ReadOnlyError, match="read-only replica"):
            write(target)
    assert_strict(replica.snapshot(), [1, [2, 3], {"a": [4]}])
    with pytest.raises(TypeError):  # ReadOnlyError is a TypeError
        replica[0] = 2


def test_a_replica_cannot_be_put_into_a_tracked_tree() -> None:
    replica = ListHandler.from_snapshot([[1]])
    source = committed()
    with pytest.raises(ValueError, match="read-only replica"):
        source.append(replica)
    source.append(replica.copy())
    assert source.diff() == ListDelta(((3, [[1]]),))


def test_a_handler_sits_in_one_place() -> None:
    source = committed([1, [2], {"a": 3}])
    other = committed([[9]])
    inner = other[0]
    for bad in (
        lambda: source.append(inner),
        lambda: source.insert(0, inner),
        lambda: source.extend([4, inner]),
        lambda: source.__setitem__(0, inner),
        lambda: source.__setitem__(0, source[1]),
        lambda: source.__setitem__(slice(0, 1), [source[2]]),
        lambda: source.__setitem__(slice(0, 2), [source[1], source[1]]),
        lambda: source.__setitem__(slice(0, 3, 2), [source[2], source[1]]),
        lambda: source.append(source),
        lambda: source[1].append(source),
    ):
        with pytest.raises(ValueError, match=r"already sits|inside itself"):
            bad()
        assert source == [1, [2], {"a": 3}]
        assert inner.parent is other
        assert source.diff() == ListDelta(())
        check_structure(source)
        check_structure(other)


def test_handlers_may_move_within_one_slice_write() -> None:
    source = committed([[1], {"a": 2}, 3])
    replica = replica_of(source)
    first, second = source[0], source[1]
    source[0:3] = [second, 3, first]
    assert source[0] is second
    assert source[2] is first
    assert first._key == 2
    check_structure(source)
    ship(source, replica)
    source[:] = reversed(source)
    assert source == [[1], 3, {"a": 2}]
    check_structure(source)
    ship(source, replica)


def test_a_child_edited_while_out_of_the_list_stays_tracked_when_put_back() -> None:
    source = committed([{"a": 1}, [1], *range(20)])
    replica = replica_of(source)
    mapping = source.pop(0)
    inner = source.pop(0)
    mapping["a"] = 2
    inner.append(2)
    source.insert(5, mapping)
    source.append(inner)
    ship(source, replica)
    mapping["a"] = 3
    inner.append(3)
    assert_strict(source.diff(), ListDelta(((0, 5, {"a": 3}), (0, 21, ListDelta(((1, 2, 3),))))))
    ship(source, replica)


def test_popped_and_removed_children_come_out_detached() -> None:
    source = committed([[1], {"a": 2}, [3]])
    child = source.pop(0)
    assert child.parent is None
    assert child.path == ()
    assert source[0]._key == 0
    assert source[1]._key == 1
    source.remove([3])
    del source[0]
    assert source == []
    assert source._nchildren == 0
    child.append(5)  # a detached handler is its own root now
    assert source.diff() == ListDelta(((3,),))


# -- what diff sends ---------------------------------------------------------------


def test_consecutive_appends_and_pops_compact() -> None:
    source = base()
    for value in "abc":
        source.append(value)
    source.extend("de")
    assert source.diff() == ListDelta(((1, 10, "a", "b", "c", "d", "e"),))
    source.pop()
    source.pop()
    assert source.diff() == ListDelta(((1, 10, "a", "b", "c"),))
    source.pop(10)
    assert source.diff() == ListDelta(((1, 10, "b", "c"),))
    source[11] = "C"
    assert source.diff() == ListDelta(((1, 10, "b", "C"),))
    source.commit()
    source.pop()
    source.pop()
    source.pop()
    del source[0]
    del source[0]
    assert source.diff() == ListDelta(((2, 9, 3), (2, 0, 2)))


def test_append_then_pop_is_nothing_and_clear_covers_appends() -> None:
    source = base()
    source.append("tmp")
    source.pop()
    assert source.diff() == ListDelta(())
    source.append(1)
    source.insert(0, 2)
    del source[0]
    assert source.diff() == ListDelta(((1, 10, 1),))
    big = committed(range(100))
    big.append("x")
    del big[50:]
    assert big.diff() == ListDelta(((2, 50, 50),))


def test_repeated_sets_keep_the_last() -> None:
    source = committed(range(100))
    for value in range(5):
        source[7] = value + 100
        source[8] = value + 200
    assert source.diff() == ListDelta(((0, 7, 104), (0, 8, 204)))


def test_writes_before_an_insert_or_delete_keep_their_place() -> None:
    source = committed(range(100))
    replica = replica_of(source)
    source[5] = "a"
    source[50] = "b"
    source.insert(0, "i")
    source[6] = "A"
    del source[1]
    source[50] = "B"
    source.append("z")
    source[0] = "I"
    assert_strict(
        source.diff(),
        ListDelta(
            (
                (0, 5, "a"),
                (0, 50, "b"),
                (1, 0, "i"),
                (0, 6, "A"),
                (2, 1, 1),
                (0, 50, "B"),
                (1, 100, "z"),
                (0, 0, "I"),
            )
        ),
    )
    ship(source, replica)


def test_the_whole_list_when_that_is_smaller() -> None:
    source = committed(range(6))
    source[0] = "a"
    source[1] = "b"
    assert source.diff() == ListDelta(((0, 0, "a"), (0, 1, "b")))
    source[2] = "c"
    assert source.diff() == ListDelta(((3, "a", "b", "c", 3, 4, 5),))
    source.commit()
    source.clear()
    source.append(1)
    assert source.diff() == ListDelta(((3, 1),))


def test_long_strings_weigh_by_length_in_a_short_list() -> None:
    # A log of recent messages: one append and one delete must not resend every message.
    log = ["welcome, bot1", "gem at 14,22: 8 points", "gem at 13,24: 9 points"]
    source = committed(log)
    replica = replica_of(source)
    source.append("gem at 5,32: 8 points")
    del source[0]
    assert source.diff() == ListDelta(((1, 3, "gem at 5,32: 8 points"), (2, 0, 1)))
    assert len(flatsync.CborCodec().encode(source.diff())) == 31  # the whole list: 72
    ship(source, replica)
    # Short strings still weigh 1: the same edits on one-letter items send the whole list.
    letters = committed(["a", "b", "c"])
    letters.append("d")
    del letters[0]
    assert letters.diff() == ListDelta(((3, "b", "c", "d"),))
    # Past 32 items nothing is recounted: the plain rule decides.
    long = committed([f"message number {i}" for i in range(33)])
    for i in range(20):
        long[i] = f"message {i} changed"
    assert long.diff().ops[0][0] == 3


def test_containers_weigh_more_than_scalars_in_the_size_rule() -> None:
    source = committed([{"a": i} for i in range(6)])
    replica = replica_of(source)
    for i in range(6):
        source[i]["a"] = -i
        source.append(i)
    delta = source.diff()
    assert delta.ops[0] == (1, 6, 0, 1, 2, 3, 4, 5)
    assert all(op[0] == 0 and type(op[2]) is dict for op in delta.ops[1:])
    ship(source, replica)


def test_an_existing_child_edited_in_place_is_a_nested_delta_at_its_index_at_diff_time() -> None:
    source = committed([{"hp": 1}, [1, 2], "x", {"hp": 2}, *list(range(20))])
    replica = replica_of(source)
    source[0]["hp"] = 5
    source[1].append(3)
    source.insert(0, "new")
    del source[3]
    assert_strict(
        source.diff(),
        ListDelta(((1, 0, "new"), (2, 3, 1), (0, 1, {"hp": 5}), (0, 2, ListDelta(((1, 2, 3),))))),
    )
    ship(source, replica)


def test_a_child_inserted_this_tick_is_a_snapshot_taken_at_diff_time() -> None:
    source = committed(range(10))
    replica = replica_of(source)
    source.append({"hp": 1})
    source.insert(0, [1])
    source[0].append(2)
    source[-1]["hp"] = 7
    source[-1]["new"] = [3]
    assert_strict(
        source.diff(),
        ListDelta(((1, 10, {"hp": 7, "new": [3]}), (1, 0, [1, 2]))),
    )
    ship(source, replica)
    source[0].append(3)
    assert source.diff() == ListDelta(((0, 0, ListDelta(((1, 2, 3),))),))
    ship(source, replica)


def test_a_new_mapping_item_is_sent_as_replace_and_a_new_list_as_a_plain_list() -> None:
    source = committed([{"a": 1}, [1], *list(range(20))])
    replica = replica_of(source)
    source[0] = {"b": 2}
    source[1] = [2]
    assert_strict(source.diff(), ListDelta(((0, 0, Replace({"b": 2})), (0, 1, [2]))))
    ship(source, replica)


def test_a_child_moved_within_the_list_is_sent_as_a_snapshot() -> None:
    source = committed([{"a": 1}, *list(range(20))])
    replica = replica_of(source)
    child = source.pop(0)
    child["a"] = 2
    source.append(child)
    assert_strict(source.diff(), ListDelta(((2, 0, 1), (1, 20, {"a": 2}))))
    ship(source, replica)
    child["a"] = 3
    assert source.diff() == ListDelta(((0, 20, {"a": 3}),))
    ship(source, replica)


def test_a_child_put_back_where_it_was_is_sent_as_a_snapshot() -> None:
    source = committed([{"a": 1}, *list(range(20))])
    replica = replica_of(source)
    child = source[0]
    child["a"] = 2
    source[0] = "gone"
    source[0] = child
    assert_strict(source.diff(), ListDelta(((0, 0, Replace({"a": 2})),)))
    ship(source, replica)


def test_sort_and_reverse_of_children_keep_keys_and_send_the_whole_list() -> None:
    source = committed([[3], [1], [2]])
    replica = replica_of(source)
    source.sort()
    assert [child._key for child in source] == [0, 1, 2]
    assert source.diff() == ListDelta(((3, [1], [2], [3]),))
    ship(source, replica)
    source.reverse()
    source[0].append(0)
    check_structure(source)
    ship(source, replica)
    assert source == [[3, 0], [2], [1]]


def test_list_in_a_mapping_and_mapping_in_a_list() -> None:
    root = DataHandler({"board": [[0, 0], [0, 0]], "players": {"p": {"inv": ["axe"]}}})
    root.commit()
    replica = replica_of(root)
    root["board"][1][0] = 5
    root["players"]["p"]["inv"].append("sword")
    assert_strict(
        root.diff(),
        {
            "board": ListDelta(((0, 1, ListDelta(((0, 0, 5),))),)),
            "players": {"p": {"inv": ListDelta(((1, 1, "sword"),))}},
        },
    )
    ship(root, replica)
    root["board"] = [[1]]
    root["players"]["p"]["inv"] = ["bow"]
    assert_strict(root.diff(), {"board": [[1]], "players": {"p": {"inv": ["bow"]}}})
    ship(root, replica)
    assert root["board"].path == ("board",)
    assert root["board"][0].path == ("board", 0)


def test_commit_forgets_changes_in_children() -> None:
    source = committed([{"a": 1}, [1], *list(range(20))])
    source[0]["a"] = 2
    source[1].append(2)
    source.append({"new": [1]})
    source[-1]["new"].append(2)
    source.commit()
    assert source.diff() == ListDelta(())
    assert source[0].diff() == {}
    assert source[1].diff() == ListDelta(())
    assert source[-1]["new"].diff() == ListDelta(())
    source[-1]["new"].append(3)  # reaches the list again: nobody stayed dirty
    assert source.diff() == ListDelta(((0, 22, {"new": ListDelta(((1, 2, 3),))}),))


def test_as_new_entry_is_the_plain_snapshot() -> None:
    source = ListHandler([1, {"a": (1, 2)}, [b"x"]])
    assert_strict(source._as_new_entry(), [1, {"a": (1, 2)}, [b"x"]])
    assert_strict(source.snapshot(), [1, {"a": (1, 2)}, [b"x"]])


# -- patch ---------------------------------------------------------------------------


def test_patch_events() -> None:
    replica = ListHandler.from_snapshot([1, 2, 3, {"a": 1}])
    assert replica.initial_events() == [
        Added(path=(0,), new=1),
        Added(path=(1,), new=2),
        Added(path=(2,), new=3),
        Added(path=(3,), new=replica[3]),
    ]
    old_child = replica[3]
    events = replica.patch(
        ListDelta(((0, 3, {"a": 2}), (1, 1, "x", "y"), (2, 3, 2), (0, 0, 9), (0, 3, Replace([7]))))
    )
    assert replica == [9, "x", "y", [7]]
    assert events == [
        Changed(path=(3, "a"), old=1, new=2),
        Added(path=(1,), new="x"),
        Added(path=(2,), new="y"),
        Removed(path=(4,), old=3),
        Removed(path=(3,), old=2),
        Changed(path=(0,), old=1, new=9),
        Changed(path=(3,), old=old_child, new=replica[3]),
    ]
    assert old_child.parent is None
    events = replica.patch(ListDelta(((3, 1, 2),)))
    assert events == [Changed(path=(), old=[9, "x", "y", [7]], new=replica)]
    assert replica == [1, 2]
    check_structure(replica)


def test_events_carry_the_list_path() -> None:
    root = DataHandler.from_snapshot({"board": [0, 0]})
    events = root.patch({"board": ListDelta(((0, 1, 5), (1, 2, 6)))})
    assert events == [
        Changed(path=("board", 1), old=0, new=5),
        Added(path=("board", 2), new=6),
    ]


def test_a_tracked_list_that_is_patched_records_the_change_for_a_relay() -> None:
    source = committed([{"a": 1}, [1], *list(range(10))])
    relay = source.copy()
    relay.commit()
    downstream = replica_of(relay)
    source[0]["a"] = 2
    source[1].append(2)
    source.insert(3, "i")
    del source[5]
    source.append({"n": 1})
    relay.patch(wire(source.diff()))
    source.commit()
    assert_strict(relay, source)
    ship(relay, downstream)
    assert_strict(downstream, source)
    relay.patch(ListDelta(((3, 1),)))
    assert relay.diff() == ListDelta(((3, 1),))


def test_two_nested_deltas_for_one_child_in_one_delta() -> None:
    replica = ListHandler.from_snapshot([{"a": 1}, 0])
    delta = ListDelta(((0, 0, {"b": Replace({})}), (0, 0, {"b": {"c": 1}})))
    replica.patch(delta)
    assert replica == [{"a": 1, "b": {"c": 1}}, 0]
    bad = ListDelta(((0, 0, {"b": DELETED}), (0, 0, {"b": {"c": 1}})))
    with pytest.raises(PatchError, match=r"root\[0\]\['b'\]"):
        replica.patch(bad)
    assert replica == [{"a": 1, "b": {"c": 1}}, 0]


def test_a_nested_delta_on_an_item_the_same_delta_inserted() -> None:
    replica = ListHandler.from_snapshot([0])
    replica.patch(
        ListDelta(
            ((1, 0, [1, 2]), (0, 0, ListDelta(((1, 2, 3),))), (0, 0, ListDelta(((2, 0, 1),))))
        )
    )
    assert replica == [[2, 3], 0]
    replica.patch(ListDelta(((0, 0, Replace({"x": 1})), (0, 0, {"y": 2}))))
    assert replica == [{"x": 1, "y": 2}, 0]
    check_structure(replica)


BAD_DELTAS: list[tuple[str, Any, str]] = [
    ("not-a-list-delta", {"a": 1}, r"root\['board'\]: a mapping delta .* found ListHandler"),
    ("ops-not-a-tuple", ListDelta(5), "tuple of operations"),  # type: ignore[arg-type]
    ("op-not-a-tuple", ListDelta((5,)), "operation #0 must be a non-empty tuple"),  # type: ignore[arg-type]
    ("empty-op", ListDelta(((),)), "operation #0 must be a non-empty tuple"),
    ("unknown-opcode", ListDelta(((7, 0, 1),)), "unknown opcode 7"),
    ("bool-opcode", ListDelta(((True, 0, 1),)), "unknown opcode True"),
    ("set-out-of-range", ListDelta(((0, 4, 1),)), r"root\['board'\]\[4\]: .* does not fit"),
    ("set-negative", ListDelta(((0, -1, 1),)), r"root\['board'\]\[-1\]"),
    ("set-bool-index", ListDelta(((0, True, 1),)), "the index is bool"),
    ("set-arity", ListDelta(((0, 1),)), r"\(set\) has 2 fields"),
    ("set-arity-long", ListDelta(((0, 1, 2, 3),)), r"\(set\) has 4 fields"),
    ("insert-arity", ListDelta(((1, 0),)), r"\(insert\) has 2 fields"),
    ("insert-out-of-range", ListDelta(((1, 5, 1),)), r"root\['board'\]\[5\]"),
    ("delete-arity", ListDelta(((2, 0),)), r"\(delete\) has 2 fields"),
    ("delete-too-many", ListDelta(((2, 2, 3),)), r"root\['board'\]\[2\]: .* 3 items at index 2"),
    ("delete-zero", ListDelta(((2, 0, 0),)), "positive int"),
    ("delete-float-count", ListDelta(((2, 0, 1.0),)), "positive int"),
    (
        "nested-on-scalar",
        ListDelta(((0, 0, {"a": 1}),)),
        r"root\['board'\]\[0\]: a mapping delta .* found int",
    ),
    (
        "list-delta-on-mapping",
        ListDelta(((0, 3, ListDelta(((1, 0, 1),))),)),
        r"\[3\]: a ListDelta delta .* DataHandler",
    ),
    (
        "mapping-delta-on-list",
        ListDelta(((0, 2, {"a": 1}),)),
        r"\[2\]: a mapping delta .* ListHandler",
    ),
    (
        "deep-nested-bad",
        ListDelta(((0, 2, ListDelta(((0, 5, 1),))),)),
        r"root\['board'\]\[2\]\[5\]",
    ),
    ("deleted-as-item", ListDelta(((0, 0, DELETED),)), "DELETED cannot be a list item"),
    ("bad-value-set", ListDelta(((0, 0, {1, 2}),)), r"root\['board'\]\[0\]: set is not a valid"),
    (
        "bad-value-replace",
        ListDelta(((0, 0, Replace(object())),)),
        r"root\['board'\]\[0\]: object is not",
    ),
    ("bad-value-insert", ListDelta(((1, 0, 1, [2, {3}]),)), r"root\['board'\]\[1\]\[1\]: set"),
    ("bad-value-whole", ListDelta(((3, 1, {"a": object()}),)), r"root\['board'\]\[1\]\['a'\]"),
    ("bad-nested-value", ListDelta(((0, 3, {"k": object()}),)), r"root\['board'\]\[3\]\['k'\]"),
    (
        "later-op-does-not-fit",
        ListDelta(((1, 0, 9), (2, 0, 1), (0, 1, 7), (2, 0, 9))),
        "operation #3",
    ),
    ("fits-only-before-a-delete", ListDelta(((2, 0, 4), (0, 0, 1))), r"\[0\]: .* list of 0 items"),
    ("nested-on-deleted-child", ListDelta(((2, 3, 1), (0, 2, {"k": 1}))), "found ListHandler"),
    ("nested-on-replaced-child", ListDelta(((0, 3, 5), (0, 3, {"k": 1}))), "found int"),
    ("nested-on-inserted-scalar", ListDelta(((1, 0, 5), (0, 0, {"k": 1}))), "found int"),
    (
        "nested-on-inserted-list-bad",
        ListDelta(((1, 0, [1]), (0, 0, ListDelta(((0, 3, 1),))))),
        r"\[0\]\[3\]",
    ),
    ("whole-then-bad", ListDelta(((3, 1), (0, 1, 2))), r"\[1\]: .* list of 1 items"),
]


#: Deltas whose only fault is a value: ``apply_list_delta_to_snapshot`` does not check values.
VALUE_FAULTS = {
    "bad-value-set",
    "bad-value-replace",
    "bad-value-insert",
    "bad-value-whole",
    "bad-nested-value",
}


@pytest.mark.parametrize(
    ("delta", "message", "structural"),
    [(d, m, n not in VALUE_FAULTS) for n, d, m in BAD_DELTAS],
    ids=[n for n, _, _ in BAD_DELTAS],
)
def test_an_ill_fitting_delta_raises_and_changes_nothing(
    delta: Any, message: str, structural: bool
) -> None:
    root = DataHandler.from_snapshot({"board": [0, 1, [2], {"k": 3}]})
    before = root.snapshot()
    board = root["board"]
    with pytest.raises(PatchError, match=message):
        root.patch({"board": delta})
    assert_strict(root.snapshot(), before)
    check_structure(root)
    if type(delta) is ListDelta:
        with pytest.raises(PatchError):
            board.patch(delta)
        assert_strict(root.snapshot(), before)
        source = ListHandler([0, 1, [2], {"k": 3}])
        with pytest.raises(PatchError):
            source.patch(delta)
        assert source.diff() == ListDelta(())
        if structural:
            with pytest.raises(PatchError):
                apply_list_delta_to_snapshot([0, 1, [2], {"k": 3}], delta, ())


def test_from_snapshot_checks_the_tree() -> None:
    with pytest.raises(PatchError, match="expected a list snapshot"):
        ListHandler.from_snapshot((1, 2))
    with pytest.raises(PatchError, match=r"root\[1\]\[0\]: set is not a valid snapshot value"):
        ListHandler.from_snapshot([1, [{1}]])
    replica = ListHandler.from_snapshot([1, [2, {"a": [3]}]])
    assert replica[1][1]["a"].readonly
    assert replica[1][1]["a"].path == (1, 1, "a")
    check_structure(replica)


# -- deltas as data: merge and apply to a snapshot ----------------------------------


def test_apply_list_delta_to_snapshot() -> None:
    snapshot = [1, {"a": 1}, [2]]
    delta = ListDelta(
        (
            (0, 1, {"a": 2, "b": Replace([1])}),
            (0, 2, ListDelta(((1, 1, 3),))),
            (1, 0, "x"),
            (2, 1, 1),
            (0, 0, Replace({"r": 1})),
        )
    )
    assert_strict(
        apply_list_delta_to_snapshot(snapshot, delta, ()), [{"r": 1}, {"a": 2, "b": [1]}, [2, 3]]
    )
    assert snapshot == [1, {"a": 1}, [2]]
    assert_strict(
        apply_delta({"l": snapshot}, {"l": delta}), {"l": [{"r": 1}, {"a": 2, "b": [1]}, [2, 3]]}
    )
    assert apply_list_delta_to_snapshot([1], ListDelta(((3, 5, 6),)), ()) == [5, 6]
    with pytest.raises(PatchError, match=r"root\['l'\]: a list delta needs a list, found dict"):
        apply_delta({"l": {}}, {"l": delta})
    with pytest.raises(PatchError, match=r"root\[0\]: a mapping delta needs a mapping"):
        apply_list_delta_to_snapshot([1], ListDelta(((0, 0, {"a": 1}),)), ())


def test_merge_compacts_adjacent_operations() -> None:
    def m(a: tuple[Any, ...], b: tuple[Any, ...]) -> ListDelta:
        return merge_list_deltas(ListDelta(a), ListDelta(b), ())

    assert m(((1, 3, "a"),), ((1, 4, "b"),)) == ListDelta(((1, 3, "a", "b"),))
    assert m(((1, 3, "a"),), ((1, 3, "b"),)) == ListDelta(((1, 3, "b", "a"),))
    assert m(((2, 3, 1),), ((2, 3, 2),)) == ListDelta(((2, 3, 3),))
    assert m(((2, 3, 1),), ((2, 1, 2),)) == ListDelta(((2, 1, 3),))
    assert m(((0, 3, 1),), ((0, 3, 2),)) == ListDelta(((0, 3, 2),))
    assert m(((1, 3, "a", "b"),), ((0, 4, Replace([1])),)) == ListDelta(((1, 3, "a", [1]),))
    assert m(((1, 3, {"x": 1}),), ((0, 3, {"y": 2}),)) == ListDelta(((1, 3, {"x": 1, "y": 2}),))
    assert m(((1, 3, "a", "b"),), ((2, 3, 2),)) == ListDelta(())
    assert m(((1, 3, "a", "b"),), ((2, 4, 1),)) == ListDelta(((1, 3, "a"),))
    assert m(((0, 3, {"y": 2}),), ((0, 3, {"z": 2}),)) == ListDelta(((0, 3, {"y": 2, "z": 2}),))
    # The net change: an insert then a delete of the same item cancels, around the rest.
    assert m(((1, 0, "a"), (2, 5, 1)), ((2, 0, 1), (1, 2, "b"))) == ListDelta(
        ((1, 2, "b"), (2, 5, 1))
    )
    # An operation of another shape (a peer's) is not composed: concatenated, folding neighbours.
    assert m(((1, 3, "a"),), ((0, 3, DELETED),)) == ListDelta(((1, 3, "a"), (0, 3, DELETED)))
    assert m(((2, 3, 1),), ((2, 3, 1), (9, 0))) == ListDelta(((2, 3, 2), (9, 0)))
    assert m(((1, 0, 1), (0, 5, 1)), ((3, 7),)) == ListDelta(((3, 7),))
    assert m(((3, 1, 2), (1, 0, 0)), ((2, 2, 1), (0, 0, 9))) == ListDelta(((3, 9, 1),))
    with pytest.raises(PatchError, match="cannot merge a list delta with a dict delta"):
        merge_list_deltas(ListDelta(()), {}, ())  # type: ignore[arg-type]
    with pytest.raises(PatchError, match=r"root\['l'\]"):
        merge({"l": ListDelta(((3, 1),))}, {"l": ListDelta(((0, 5, 1),))})
    assert_strict(merge({"l": [1, 2]}, {"l": ListDelta(((1, 2, 3),))}), {"l": [1, 2, 3]})
    assert_strict(merge({"l": Replace([1])}, {"l": ListDelta(((0, 0, 2),))}), {"l": Replace([2])})


values_for_merge = st.integers(0, 3)


@st.composite
def list_deltas(draw: st.DrawFn, length: int) -> tuple[ListDelta, int]:
    """A random valid ListDelta for a flat list of ``length`` ints, and the length after it."""
    ops: list[tuple[Any, ...]] = []
    for _ in range(draw(st.integers(0, 4))):
        choices = ["insert", "whole"] + (["set", "delete"] if length else [])
        kind = draw(st.sampled_from(choices))
        if kind == "set":
            ops.append((0, draw(st.integers(0, length - 1)), draw(values_for_merge)))
        elif kind == "insert":
            items = draw(st.lists(values_for_merge, min_size=1, max_size=3))
            ops.append((1, draw(st.integers(0, length)), *items))
            length += len(items)
        elif kind == "delete":
            i = draw(st.integers(0, length - 1))
            n = draw(st.integers(1, length - i))
            ops.append((2, i, n))
            length -= n
        else:
            items = draw(st.lists(values_for_merge, max_size=3))
            ops.append((3, *items))
            length = len(items)
    return ListDelta(tuple(ops)), length


@given(st.data())
def test_merge_equals_sequential_application(data: st.DataObject) -> None:
    start = data.draw(st.lists(values_for_merge, max_size=6))
    first, length = data.draw(list_deltas(len(start)))
    later, _ = data.draw(list_deltas(length))
    middle = apply_list_delta_to_snapshot(start, first, ())
    expected = apply_list_delta_to_snapshot(middle, later, ())
    merged = merge_list_deltas(first, later, ())
    assert apply_list_delta_to_snapshot(start, merged, ()) == expected
    replica = ListHandler.from_snapshot(start)
    replica.patch(wire(merged))
    assert replica == expected


@given(st.data())
@settings(max_examples=40)
def test_a_merge_of_many_ticks_is_the_net_change_bounded_by_the_list(data: st.DataObject) -> None:
    """Issue 14: a lagging client's merged delta of a list with inserts and deletes at
    random places grew with the ticks; it is now the net change, bounded by the list."""
    start = data.draw(st.lists(st.integers(0, 1000), max_size=20))
    source = ListHandler(start)
    source.commit()
    pending: ListDelta | None = None
    for _ in range(data.draw(st.integers(1, 120))):
        for _ in range(data.draw(st.integers(1, 3))):
            what = data.draw(st.sampled_from(["insert", "delete", "set"]))
            if what == "insert" or not source:
                source.insert(data.draw(st.integers(0, len(source))), data.draw(st.integers()))
            elif what == "delete":
                del source[data.draw(st.integers(0, len(source) - 1))]
            else:
                source[data.draw(st.integers(0, len(source) - 1))] = data.draw(st.integers(0, 99))
        delta = source.diff()
        source.commit()
        if delta is None:
            continue
        pending = delta if pending is None else merge_list_deltas(pending, delta, ())
        final = source.snapshot()
        assert apply_list_delta_to_snapshot(start, pending, ()) == final
        # At most one operation per run of the net change, each a few bytes beside its items.
        assert len(pending.ops) <= 2 * len(final) + 1
        assert len(CODEC.encode(pending)) <= len(CODEC.encode(final)) + 8 * (2 * len(final) + 1) + 4


def test_the_issue_list_stays_small_in_a_merge_of_2000_ticks() -> None:
    source = ListHandler(list(range(20)))
    source.commit()
    rng = random.Random(14)
    pending: ListDelta | None = None
    for tick in range(2000):
        del source[rng.randrange(len(source))]
        source.insert(rng.randrange(len(source) + 1), 1000 + tick)
        delta = source.diff()
        source.commit()
        assert delta is not None
        pending = delta if pending is None else merge_list_deltas(pending, delta, ())
    assert pending is not None
    assert apply_list_delta_to_snapshot(list(range(20)), pending, ()) == source.snapshot()
    assert len(CODEC.encode(pending)) < 3 * len(CODEC.encode(source.snapshot()))


# -- the model-based state machine ---------------------------------------------------
#
# Each operation is a function of (data, source container, model container), so that a rule
# applies it where the machine walked to, and ``edit_a_detached_child`` to a child taken out.

NAN = float("nan")
MAX_LENGTH = 80
CONFUSABLE = [0, 1, True, False, 0.0, -0.0, 1.0, NAN, (0,), (0.0,), (False,)]


def sort_key(value: Any) -> Any:
    """The same key for a model item and the source's item (containers tie: the sort is stable)."""
    if isinstance(value, dict | list):
        return (2, "")
    return (0 if type(value) is not tuple else 1, repr(value))


def fresh(value: Any) -> Any:
    return copy.deepcopy(value)


def anywhere(n: int) -> st.SearchStrategy[int]:
    """An index or a slice bound of a list of ``n`` items, out of range too."""
    return st.integers(-n - 2, n + 2)


def set_item(data: st.DataObject, src: Any, mod: list[Any]) -> None:
    if n := len(mod):
        i = data.draw(st.integers(-n, n - 1), label="index")
        value = data.draw(new_values(), label="value")
        src[i] = value
        mod[i] = fresh(value)


def set_scalar(data: st.DataObject, src: Any, mod: list[Any]) -> None:
    """The hot path: a scalar over a scalar of its type."""
    if n := len(mod):
        i = data.draw(st.integers(-n, n - 1), label="index")
        if not isinstance(mod[i], dict | list):
            value = data.draw(same_type_values(mod[i]), label="value")
            src[i] = value
            mod[i] = value


def set_confusable(data: st.DataObject, src: Any, mod: list[Any]) -> None:
    """A value equal under ``==`` and different for flatsync (1, 1.0, True; 0.0, -0.0)."""
    if n := len(mod):
        i = data.draw(st.integers(0, min(n, 3) - 1), label="index")
        value = data.draw(st.sampled_from(CONFUSABLE), label="value")
        src[i] = value
        mod[i] = value


def set_a_handler(data: st.DataObject, src: Any, mod: list[Any]) -> None:
    """An item set to a new (unattached) DataHandler or ListHandler."""
    if n := len(mod):
        i = data.draw(st.integers(0, n - 1), label="index")
        value = data.draw(containers(), label="value")
        src[i] = DataHandler(value) if type(value) is dict else ListHandler(value)
        mod[i] = fresh(value)


def set_slice(data: st.DataObject, src: Any, mod: list[Any]) -> None:
    if len(mod) < MAX_LENGTH:
        a, b = (
            data.draw(anywhere(len(mod)), label="start"),
            data.draw(anywhere(len(mod)), label="stop"),
        )
        items = data.draw(st.lists(new_values(), max_size=3), label="items")
        src[a:b] = items
        mod[a:b] = fresh(items)


def set_extended_slice(data: st.DataObject, src: Any, mod: list[Any]) -> None:
    n = len(mod)
    a, b = data.draw(anywhere(n), label="start"), data.draw(anywhere(n), label="stop")
    step = data.draw(st.sampled_from([-1, 2, -2, 3]), label="step")
    size = len(range(*slice(a, b, step).indices(n)))
    items = data.draw(st.lists(new_values(), min_size=size, max_size=size), label="items")
    src[a:b:step] = items
    mod[a:b:step] = fresh(items)


def permute_slice(data: st.DataObject, src: Any, mod: list[Any]) -> None:
    """``l[a:b] = l[a:b][::-1]``: the handlers of the slice move within one write."""
    a, b = data.draw(anywhere(len(mod)), label="start"), data.draw(anywhere(len(mod)), label="stop")
    src[a:b] = src[a:b][::-1]
    mod[a:b] = mod[a:b][::-1]


def delete_item(data: st.DataObject, src: Any, mod: list[Any]) -> None:
    if n := len(mod):
        i = data.draw(st.integers(-n, n - 1), label="index")
        del src[i]
        del mod[i]


def delete_slice(data: st.DataObject, src: Any, mod: list[Any]) -> None:
    a, b = data.draw(anywhere(len(mod)), label="start"), data.draw(anywhere(len(mod)), label="stop")
    stride = data.draw(st.sampled_from([None, 1, -1, 2, -2, 3]), label="step")
    del src[a:b:stride]
    del mod[a:b:stride]


def insert(data: st.DataObject, src: Any, mod: list[Any]) -> None:
    if len(mod) < MAX_LENGTH:
        i = data.draw(anywhere(len(mod)), label="index")
        value = data.draw(new_values(), label="value")
        src.insert(i, value)
        mod.insert(i, fresh(value))


def append(data: st.DataObject, src: Any, mod: list[Any]) -> None:
    if len(mod) < MAX_LENGTH:
        value = data.draw(new_values(), label="value")
        src.append(value)
        mod.append(fresh(value))


def extend(data: st.DataObject, src: Any, mod: list[Any]) -> None:
    if len(mod) < MAX_LENGTH:
        items = data.draw(st.lists(new_values(), max_size=3), label="items")
        src.extend(items)
        mod.extend(fresh(items))


def iadd(data: st.DataObject, src: Any, mod: list[Any]) -> None:
    if len(mod) < MAX_LENGTH:
        items = data.draw(st.lists(new_values(), max_size=3), label="items")
        src += items
        mod.extend(fresh(items))


def imul(data: st.DataObject, src: Any, mod: list[Any]) -> None:
    if len(mod) <= MAX_LENGTH // 2:
        times = data.draw(st.integers(0, 2), label="times")
        src *= times
        mod[:] = [fresh(item) for item in mod * times]


def pop(data: st.DataObject, src: Any, mod: list[Any]) -> None:
    if n := len(mod):
        if data.draw(st.booleans(), label="default index"):
            assert_strict(plain(src.pop()), mod.pop())
        else:
            i = data.draw(st.integers(-n, n - 1), label="index")
            assert_strict(plain(src.pop(i)), mod.pop(i))


def remove(data: st.DataObject, src: Any, mod: list[Any]) -> None:
    if n := len(mod):
        target = mod[data.draw(st.integers(0, n - 1), label="index")]
        j = mod.index(target)
        try:
            k = list.index(src, target)
        except ValueError:
            return  # a NaN that is not the same object on both sides
        if j == k:
            src.remove(target)
            del mod[j]


def clear(data: st.DataObject, src: Any, mod: list[Any]) -> None:
    src.clear()
    mod.clear()


def sort(data: st.DataObject, src: Any, mod: list[Any]) -> None:
    reverse = data.draw(st.booleans(), label="reverse")
    src.sort(key=lambda v: sort_key(plain(v)), reverse=reverse)
    mod.sort(key=sort_key, reverse=reverse)


def reverse(data: st.DataObject, src: Any, mod: list[Any]) -> None:
    src.reverse()
    mod.reverse()


def move(data: st.DataObject, src: Any, mod: list[Any]) -> None:
    """Pop an item and insert it elsewhere (a handler keeps its identity)."""
    if n := len(mod):
        i = data.draw(st.integers(0, n - 1), label="from")
        item = src.pop(i)
        j = data.draw(st.integers(0, n - 1), label="to")
        src.insert(j, item)
        mod.insert(j, mod.pop(i))


def edit_a_detached_child(data: st.DataObject, src: Any, mod: list[Any]) -> None:
    """Take a child out, edit it with any operation, put it back elsewhere."""
    if not (n := len(mod)):
        return
    children = [k for k, item in enumerate(mod) if isinstance(item, dict | list)]
    i = data.draw(st.sampled_from(children or range(n)), label="from")
    item = src.pop(i)
    model_item = mod.pop(i)
    if isinstance(model_item, list):
        operation = data.draw(st.sampled_from(LIST_OPERATIONS), label="list operation")
        operation(data, item, model_item)
    elif isinstance(model_item, dict):
        data.draw(st.sampled_from(DICT_OPERATIONS), label="dict operation")(data, item, model_item)
    j = data.draw(st.integers(0, n - 1), label="to")
    src.insert(j, item)
    mod.insert(j, model_item)


Operation = Callable[[st.DataObject, Any, Any], None]

LIST_OPERATIONS: list[Operation] = [
    set_item,
    set_scalar,
    set_confusable,
    edit_a_detached_child,
    set_a_handler,
    set_slice,
    set_extended_slice,
    permute_slice,
    delete_item,
    delete_slice,
    insert,
    append,
    extend,
    iadd,
    imul,
    pop,
    remove,
    clear,
    sort,
    reverse,
    move,
]


def set_key(data: st.DataObject, src: Any, mod: dict[Any, Any]) -> None:
    key = data.draw(keys(), label="key")
    value = data.draw(new_values(), label="value")
    src[key] = value
    mod[key] = fresh(value)


def delete_key(data: st.DataObject, src: Any, mod: dict[Any, Any]) -> None:
    if mod:
        key = data.draw(st.sampled_from(list(mod)), label="key")
        del src[key]
        del mod[key]


def pop_key(data: st.DataObject, src: Any, mod: dict[Any, Any]) -> None:
    if mod:
        key = data.draw(st.sampled_from(list(mod)), label="key")
        assert_strict(plain(src.pop(key)), mod.pop(key))


def clear_mapping(data: st.DataObject, src: Any, mod: dict[Any, Any]) -> None:
    src.clear()
    mod.clear()


def update_mapping(data: st.DataObject, src: Any, mod: dict[Any, Any]) -> None:
    update = data.draw(st.dictionaries(keys(), new_values(), max_size=2), label="update")
    src.update(update)
    mod.update(fresh(update))


DICT_OPERATIONS: list[Operation] = [set_key, delete_key, pop_key, clear_mapping, update_mapping]


class ListMachine(ConvergenceMachine):
    """A ListHandler source, a plain-list model, and three replicas fed through the codec.

    One rule per operation, applied to a list (or a mapping) somewhere in the state:
    the top list or one nested in it. The ticks, the invariants and the settling
    teardown come from :class:`~flatsync.testing.ConvergenceMachine`; on top, every
    replica must hold handlers of the source's classes at every level, and every
    handler must know its parent and its key.
    """

    codec = CODEC
    in_mapping = False
    #: Turn the size rule off, so that the log (never opcode 3) carries every change.
    log_only = False

    @initialize(items=st.lists(new_values(), max_size=8), padding=st.sampled_from([0, 0, 5, 40]))
    def setup(self, items: list[Any], padding: int) -> None:
        if self.log_only:
            self.saved_fall_back = ListHandler._fall_back
            ListHandler._fall_back = lambda self: None  # type: ignore[method-assign]
        # Long lists keep the log; short ones fall back to the whole contents.
        items = [*items, *(CONFUSABLE[k % len(CONFUSABLE)] for k in range(padding))]
        self.model = fresh(items)
        if self.in_mapping:
            self.root: Any = DataHandler({"l": items, "other": {"x": [1]}})
            self.model_root: Any = {"l": self.model, "other": {"x": [1]}}
        else:
            self.root = ListHandler(items)
            self.model_root = self.model
        self.start(self.root)
        self.last_snapshot = self.sync.previous

    @property
    def source(self) -> ListHandler:
        source: ListHandler = self.root["l"] if self.in_mapping else self.root
        return source

    def walk(self, data: st.DataObject, want: type) -> tuple[Any, Any]:
        """Pick a container of kind ``want`` somewhere in the state (source and model side)."""
        src: Any = self.root
        mod: Any = self.model_root
        found: list[tuple[Any, Any]] = []
        while True:
            if isinstance(mod, want) and not (self.in_mapping and mod is self.model_root):
                found.append((src, mod))
            inner = [
                k
                for k in (range(len(mod)) if type(mod) is list else list(mod))
                if isinstance(mod[k], dict | list)
            ]
            if not inner or data.draw(st.booleans(), label="stop here"):
                break
            k = data.draw(st.sampled_from(inner), label="step into")
            src, mod = src[k], mod[k]
        if not found:
            return self.source, self.model
        return found[-1]

    def on_a_list(self, data: st.DataObject, operation: Operation) -> None:
        operation(data, *self.walk(data, list))

    def on_a_mapping(self, data: st.DataObject, operation: Operation) -> None:
        src, mod = self.walk(data, dict)
        if isinstance(mod, dict):
            operation(data, src, mod)

    # -- the operations on lists --------------------------------------------------------

    @rule(data=st.data())
    def list_set_item(self, data: st.DataObject) -> None:
        self.on_a_list(data, set_item)

    @rule(data=st.data())
    def list_set_scalar(self, data: st.DataObject) -> None:
        self.on_a_list(data, set_scalar)

    @rule(data=st.data())
    def list_set_confusable(self, data: st.DataObject) -> None:
        self.on_a_list(data, set_confusable)

    @rule(data=st.data())
    def list_set_a_handler(self, data: st.DataObject) -> None:
        self.on_a_list(data, set_a_handler)

    @rule(data=st.data())
    def list_set_slice(self, data: st.DataObject) -> None:
        self.on_a_list(data, set_slice)

    @rule(data=st.data())
    def list_set_extended_slice(self, data: st.DataObject) -> None:
        self.on_a_list(data, set_extended_slice)

    @rule(data=st.data())
    def list_permute_slice(self, data: st.DataObject) -> None:
        self.on_a_list(data, permute_slice)

    @rule(data=st.data())
    def list_delete_item(self, data: st.DataObject) -> None:
        self.on_a_list(data, delete_item)

    @rule(data=st.data())
    def list_delete_slice(self, data: st.DataObject) -> None:
        self.on_a_list(data, delete_slice)

    @rule(data=st.data())
    def list_insert(self, data: st.DataObject) -> None:
        self.on_a_list(data, insert)

    @rule(data=st.data())
    def list_append(self, data: st.DataObject) -> None:
        self.on_a_list(data, append)

    @rule(data=st.data())
    def list_extend(self, data: st.DataObject) -> None:
        self.on_a_list(data, extend)

    @rule(data=st.data())
    def list_iadd(self, data: st.DataObject) -> None:
        self.on_a_list(data, iadd)

    @rule(data=st.data())
    def list_imul(self, data: st.DataObject) -> None:
        self.on_a_list(data, imul)

    @rule(data=st.data())
    def list_pop(self, data: st.DataObject) -> None:
        self.on_a_list(data, pop)

    @rule(data=st.data())
    def list_remove(self, data: st.DataObject) -> None:
        self.on_a_list(data, remove)

    @rule(data=st.data())
    def list_clear(self, data: st.DataObject) -> None:
        self.on_a_list(data, clear)

    @rule(data=st.data())
    def list_sort(self, data: st.DataObject) -> None:
        self.on_a_list(data, sort)

    @rule(data=st.data())
    def list_reverse(self, data: st.DataObject) -> None:
        self.on_a_list(data, reverse)

    @rule(data=st.data())
    def list_move_an_item(self, data: st.DataObject) -> None:
        self.on_a_list(data, move)

    @rule(data=st.data())
    def list_edit_a_detached_child(self, data: st.DataObject) -> None:
        self.on_a_list(data, edit_a_detached_child)

    # -- the operations on the mappings inside ------------------------------------------

    @rule(data=st.data())
    def dict_set(self, data: st.DataObject) -> None:
        self.on_a_mapping(data, set_key)

    @rule(data=st.data())
    def dict_delete(self, data: st.DataObject) -> None:
        self.on_a_mapping(data, delete_key)

    @rule(data=st.data())
    def dict_pop(self, data: st.DataObject) -> None:
        self.on_a_mapping(data, pop_key)

    @rule(data=st.data())
    def dict_clear(self, data: st.DataObject) -> None:
        self.on_a_mapping(data, clear_mapping)

    @rule(data=st.data())
    def dict_update(self, data: st.DataObject) -> None:
        self.on_a_mapping(data, update_mapping)

    # -- the checks (the ticks, the settling teardown and diff_explains_every_change: the base)

    def check_model(self) -> None:
        assert_strict(self.root.to_python(), self.model_root)
        check_structure(self.root)

    def after_tick(self, delta: Any) -> None:
        """The list's own delta applies to its last snapshot; replicas hold the right classes."""
        snapshot = self.sync.previous
        if self.in_mapping:
            if "l" in delta and type(delta["l"]) is ListDelta:
                assert_strict(
                    apply_list_delta_to_snapshot(self.last_snapshot["l"], delta["l"], ("l",)),
                    snapshot["l"],
                )
        else:
            assert_strict(apply_list_delta_to_snapshot(self.last_snapshot, delta, ()), snapshot)
        self.last_snapshot = snapshot
        replicas = self.sync.replicas
        if self.sync.ticks % 2 == 0:  # the merged replica got this tick too
            replicas = [*replicas, self.sync.merged]
        for replica in replicas:
            assert_strict(replica, self.root)
            check_structure(replica)

    def teardown(self) -> None:
        try:
            super().teardown()  # settles, with the log-only rule still on
        finally:
            if hasattr(self, "saved_fall_back"):
                ListHandler._fall_back = self.saved_fall_back  # type: ignore[method-assign]


class ListInMappingMachine(ListMachine):
    in_mapping = True


class LogOnlyMachine(ListMachine):
    log_only = True


MACHINE_SETTINGS = settings(stateful_step_count=30)
ListMachine.TestCase.settings = MACHINE_SETTINGS
ListInMappingMachine.TestCase.settings = MACHINE_SETTINGS
LogOnlyMachine.TestCase.settings = MACHINE_SETTINGS
TestListMachine = ListMachine.TestCase
TestListInMappingMachine = ListInMappingMachine.TestCase
TestLogOnlyMachine = LogOnlyMachine.TestCase
