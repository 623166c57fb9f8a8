"""Events: light values, and ``patch(..., events=False)`` changing the state exactly as with events.

The events are tuple subclasses (a ``patch`` builds them several times faster
than frozen attrs instances); these tests hold them to what the attrs records
promised: keyword construction, read-only attributes, equality only within one
event class, a hash, no ordering, the same ``repr``, pickling and copying.
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import flatsync
from flatsync import Added, ByteHandler, CellsChanged, Changed, DataHandler, ListHandler, Removed
from flatsync._handlers._data import _CLEAN
from flatsync.testing import assert_strict_equal, record_registry, snapshots, values

CODEC = flatsync.CborCodec()
#: Keys of the board and the record beside the generated entries.
BOARD, PROBE = ("board",), ("probe",)

EVENTS: list[Any] = [
    Added(path=(1, "hp"), new=8),
    Removed(path=(1, "hp"), old=8),
    Changed(path=(3, "hp"), old=7, new=6),
    CellsChanged(path=("b",), shape=(4, 4), indices=(9, 15), old=(0, 0), new=(5, 9)),
]


def _twin(event: Any) -> Any:
    """An equal event built anew from its fields, by keyword."""
    return type(event)(**{name: getattr(event, name) for name in event._fields})


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_an_event_is_a_value(event: Any) -> None:
    twin = _twin(event)
    assert twin == event
    assert not twin != event  # noqa: SIM202 - __ne__ itself is under test
    assert hash(twin) == hash(event)
    assert len({event, twin}) == 1
    assert pickle.loads(pickle.dumps(event)) == event
    assert type(pickle.loads(pickle.dumps(event, protocol=0))) is type(event)
    assert copy.copy(event) == event
    assert copy.deepcopy(event) == event
    assert eval(repr(event), vars(flatsync)) == event
    for name in event._fields:
        with pytest.raises(AttributeError):
            setattr(event, name, None)
    with pytest.raises(AttributeError):
        event.other = 1  # no __dict__
    with pytest.raises(TypeError):
        type(event)(*tuple(event))  # keyword construction only
    with pytest.raises(TypeError):
        _ = event < twin  # no ordering


def test_events_equal_only_events_of_their_class_with_equal_fields() -> None:
    changed = Changed(path=(3, "hp"), old=7, new=6)
    assert changed != Changed(path=(3, "hp"), old=7, new=5)
    assert changed != Changed(path=(3, "mp"), old=7, new=6)
    assert changed != ((3, "hp"), 7, 6)
    assert ((3, "hp"), 7, 6) != changed  # noqa: SIM300 - the reflected side is under test
    assert not changed == ((3, "hp"), 7, 6)  # noqa: SIM201 - __eq__ itself is under test
    added: Any = Added(path=(1,), new=2)
    assert added != Removed(path=(1,), old=2)
    assert changed != object()
    assert [changed] == [Changed(path=(3, "hp"), old=7, new=6)]


def test_reprs_are_those_of_the_records() -> None:
    assert repr(Changed(path=(3, "hp"), old=7, new=6)) == "Changed(path=(3, 'hp'), old=7, new=6)"
    assert repr(Added(path=(1,), new="x")) == "Added(path=(1,), new='x')"
    assert repr(Removed(path=(), old=None)) == "Removed(path=(), old=None)"
    long = CellsChanged(path=(), shape=(20,), indices=tuple(range(9)), old=(0,) * 9, new=(1,) * 9)
    assert repr(long) == (
        "CellsChanged(path=(), shape=(20,), indices=<9 items>, old=<9 items>, new=<9 items>)"
    )


def test_events_match_by_keyword_and_by_position() -> None:
    match Changed(path=(3, "hp"), old=7, new=6):
        case Changed(path=(key, "hp"), new=new):
            assert (key, new) == (3, 6)
        case _:  # pragma: no cover - the case above matches
            raise AssertionError
    match Added(path=(1,), new=2):
        case Added(path, new):
            assert (path, new) == ((1,), 2)
        case _:  # pragma: no cover - the case above matches
            raise AssertionError


# -- events=False -------------------------------------------------------------------------


def _morph_list(handler: ListHandler, target: list[Any]) -> None:
    for i, value in enumerate(target[: len(handler)]):
        _morph_value(handler, i, value)
    if len(target) > len(handler):
        handler.extend(target[len(handler) :])
    else:
        del handler[len(target) :]


def _morph_value(handler: Any, key: Any, value: Any) -> None:
    cur = handler[key]
    if type(cur) is DataHandler and type(value) is dict:
        _morph(cur, value)
    elif type(cur) is ListHandler and type(value) is list:
        _morph_list(cur, value)
    else:
        handler[key] = value


def _morph(handler: DataHandler, target: dict[Any, Any], keep: tuple[Any, ...] = ()) -> None:
    """Turn ``handler`` into ``target`` (but ``keep``) by writes that keep what can be kept."""
    for key in [key for key in handler if key not in target and key not in keep]:
        del handler[key]
    for key, value in target.items():
        if key in handler:
            _morph_value(handler, key, value)
        else:
            handler[key] = value


def _variant(data: st.DataObject, tree: Any) -> Any:
    """``tree`` with some entries kept, some dropped, some replaced and some changed inside."""
    if type(tree) is list:
        items = [_variant(data, item) if data.draw(st.booleans()) else item for item in tree]
        return items[: data.draw(st.integers(0, len(items)))] + data.draw(
            st.lists(values(), max_size=2)
        )
    if type(tree) is not dict:
        return data.draw(values())
    out: dict[Any, Any] = {}
    for key, value in tree.items():
        choice = data.draw(st.sampled_from(["keep", "drop", "change"]))
        if choice == "keep":
            out[key] = value
        elif choice == "change":
            out[key] = _variant(data, value)
    for key, value in data.draw(snapshots(max_depth=2, max_size=2)).items():
        out.setdefault(key, value)
    return out


@given(
    before=snapshots(),
    data=st.data(),
    cells=st.lists(st.tuples(st.integers(0, 15), st.integers(0, 255)), max_size=6),
    fields=st.lists(values(), min_size=2, max_size=2),
)
def test_patch_without_events_changes_the_state_exactly_as_with_events(
    before: dict[Any, Any],
    data: st.DataObject,
    cells: list[tuple[int, int]],
    fields: list[Any],
) -> None:
    with record_registry():

        @flatsync.record(name="Probe")
        class Probe(flatsync.Record):
            a: Any
            b: Any

        source = DataHandler(before)
        source[BOARD] = ByteHandler("u8", (16,))
        source[PROBE] = Probe(1, 2)
        source.commit()
        after = _variant(data, before)
        snapshot = CODEC.decode(CODEC.encode(source.snapshot()))
        _morph(source, {k: v for k, v in after.items() if k not in (BOARD, PROBE)}, (BOARD, PROBE))
        for index, value in cells:
            source[BOARD][index] = value
        source[PROBE].a, source[PROBE].b = fields
        delta = CODEC.decode(CODEC.encode(source.diff()))

        for readonly in (True, False):
            told = DataHandler.from_snapshot(snapshot)
            quiet = DataHandler.from_snapshot(snapshot)
            if not readonly:
                told, quiet = told.copy(), quiet.copy()
            events = told.patch(delta)
            assert quiet.patch(delta, events=False) == []
            assert_strict_equal(quiet, told)
            assert_strict_equal(quiet, source)
            assert_strict_equal(quiet.diff(), told.diff())  # the same changes tracked
            assert bool(events) == bool(delta)
        assert not _CLEAN, "the shared change set of clean handlers was written to"


def _every_event_kind() -> Iterator[tuple[flatsync.Handler, Any]]:
    board = ByteHandler("u8", (4,))
    replica = ByteHandler.from_snapshot(board.snapshot())
    board[1] = 5
    yield replica, board.diff()
    items = ListHandler([1, 2, 3])
    listed = ListHandler.from_snapshot(items.snapshot())
    items[0] = 9
    del items[1]
    items.append(4)
    yield listed, items.diff()


def test_other_kinds_build_no_event_either() -> None:
    for replica, delta in _every_event_kind():
        twin = replica.copy()
        assert twin.patch(delta)
        assert replica.patch(delta, events=False) == []
        assert_strict_equal(replica, twin)
