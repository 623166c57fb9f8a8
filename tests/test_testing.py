"""Tests for flatsync.testing itself: what works without hypothesis, the harness catching a
broken source, and the record registry helpers."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Mapping
from typing import Any

import attrs
import pytest

import flatsync
import flatsync.testing
from flatsync import CborCodec, DataHandler, ListHandler, PatchError, Record, RecordView
from flatsync.protocol import ListDelta
from flatsync.testing import Convergence, forget_records, record_registry

#: A child process in which ``import hypothesis`` fails, as where the extra is not installed.
WITHOUT_HYPOTHESIS = """
import sys


class NoHypothesis:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "hypothesis":
            raise ImportError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NoHypothesis())
"""


def run_without_hypothesis(code: str) -> str:
    child = subprocess.run(
        [sys.executable, "-c", WITHOUT_HYPOTHESIS + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    return child.stdout


def test_the_helpers_without_hypothesis_work_without_it() -> None:
    out = run_without_hypothesis(
        """
        from flatsync import DataHandler
        from flatsync.testing import (
            Convergence, SyncPair, assert_strict_equal, forget_records, record_registry,
            strict_equal,
        )
        assert strict_equal({1: 2.0}, {1: 2.0}) and not strict_equal(1, 1.0)
        assert_strict_equal((1, b"x"), (1, b"x"))
        pair = SyncPair(DataHandler({"hp": 8}))
        pair.source["hp"] = 7
        pair.tick()
        pair.assert_synced()
        Convergence(DataHandler({"a": [1]})).settle()
        print("hypothesis" in sys.modules)
        """
    )
    assert out.split() == ["False"]


def test_a_name_that_needs_hypothesis_says_which_extra_to_install() -> None:
    out = run_without_hypothesis(
        """
        import flatsync.testing
        for name in ("keys", "check_codec", "ConvergenceMachine"):
            try:
                getattr(flatsync.testing, name)
            except ImportError as error:
                print(name, "flatsync[testing]" in str(error))
        """
    )
    assert out.split() == ["keys", "True", "check_codec", "True", "ConvergenceMachine", "True"]


def test_every_public_name_is_there_and_named_publicly() -> None:
    for name in flatsync.testing.__all__:
        obj = getattr(flatsync.testing, name)
        assert obj.__module__ == "flatsync.testing", name
    assert set(flatsync.testing.__all__) <= set(dir(flatsync.testing))
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        flatsync.testing.nothing  # type: ignore[attr-defined]  # noqa: B018


# -- Convergence -------------------------------------------------------------------------


class Lossy(DataHandler):
    """A mapping whose diff forgets the key ``"b"``: replication is broken."""

    def diff(self) -> Any:
        delta = super().diff()
        delta.pop("b", None)
        return delta


def test_convergence_catches_a_diff_that_forgets_a_change() -> None:
    sync = Convergence(Lossy({"a": 1, "b": 2}))
    sync.source["a"] = 3
    sync.tick()
    sync.source["b"] = 4
    with pytest.raises(AssertionError, match=r"root\['b'\]: 2 vs 4"):
        sync.tick()


def test_convergence_follows_a_list_and_runs_the_hook_on_every_tick() -> None:
    seen: list[Any] = []
    sync = Convergence(ListHandler([1, [2]]), after_tick=seen.append)
    assert sync.previous == [1, [2]]
    sync.source.append(3)
    assert sync.tick(join=True) == ListDelta(((1, 2, 3),))
    sync.source[1].append(4)
    sync.settle()
    assert type(sync.late) is ListHandler
    assert sync.late == sync.merged == [1, [2, 4], 3]
    assert sync.ticks == len(seen) == 3
    assert seen[1] == ListDelta(((0, 1, ListDelta(((1, 1, 4),))),))
    assert seen[2] == ListDelta(())


# -- the record registry -----------------------------------------------------------------


@flatsync.record(name="TestingImp")
class Imp(Record):
    name: str
    hp: int = attrs.field(default=3)


def test_record_registry_forgets_what_was_declared_inside_and_restores_what_was_forgotten(
    records: Mapping[str, type[Record]],
) -> None:
    schemas = flatsync.protocol.record_schemas()
    with record_registry() as classes:

        @flatsync.record(name="TestingScratch")
        class Scratch(Record):
            x: int

        assert classes["TestingScratch"] is Scratch
        flatsync.protocol.add_record_schemas({61999: ("Far", ("a",))})
        with forget_records(Imp):
            assert "TestingImp" not in classes
        assert classes["TestingImp"] is Imp
    assert "TestingScratch" not in records
    assert flatsync.protocol.record_schemas() == schemas


def test_forget_records_with_or_without_the_schemas() -> None:
    packet = CborCodec().encode({"i": Imp("x").snapshot()})
    with forget_records("TestingImp", keep_schemas=True):
        view = DataHandler.from_snapshot(CborCodec().decode(packet))["i"]
        assert type(view) is RecordView
        assert dict(view) == {"name": "x", "hp": 3}
    with forget_records(Imp), pytest.raises(PatchError, match="is unknown here"):
        DataHandler.from_snapshot(CborCodec().decode(packet))
    assert type(DataHandler.from_snapshot(CborCodec().decode(packet))["i"]) is Imp
    with pytest.raises(KeyError), forget_records("NoSuchRecord"):
        pass
