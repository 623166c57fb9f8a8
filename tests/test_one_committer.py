"""The root has one committer: a root a Publisher owns refuses anyone else's ``commit()``.

Issue 14: ``root.commit()`` called each tick beside a Publisher silently lost
changes (server ``{'hp': 1}``, replica ``{'hp': 8}``, with normal events).
"""

from __future__ import annotations

import pytest

import flatsync
from flatsync import CommitError, DataHandler, FlatsyncError, Publisher, Replica
from flatsync.testing import assert_strict_equal


def test_commit_beside_a_publisher_is_refused_and_loses_nothing() -> None:
    root = DataHandler({"hp": 8})
    pub = Publisher(root)
    pub.add_client("c")
    replica = Replica()
    pub.tick()
    for packet in pub.packets_for("c"):
        replica.receive(packet)
    root["hp"] = 1
    with pytest.raises(CommitError, match=r"call Publisher\.tick\(\)"):
        root.commit()
    assert root.diff() == {"hp": 1}  # nothing was thrown away
    pub.tick()
    for packet in pub.packets_for("c"):
        replica.receive(packet)
    assert_strict_equal(replica.state, root)
    assert issubclass(CommitError, FlatsyncError)
    assert issubclass(CommitError, RuntimeError)
    assert flatsync.CommitError is CommitError


def test_children_and_unowned_roots_still_commit() -> None:
    free = DataHandler({"a": {"b": 1}})
    free["a"]["b"] = 2
    free.commit()
    assert free.diff() == {}
    assert free.copy().diff() == {}
    root = DataHandler({"a": {"b": 1}})
    Publisher(root)
    root.copy().commit()  # a copy is not owned


def test_a_new_publisher_takes_the_root_over() -> None:
    root = DataHandler({"hp": 8})
    old = Publisher(root)
    new = Publisher(root)
    root["hp"] = 7
    with pytest.raises(CommitError, match="took this root over"):
        old.tick()
    assert root.diff() == {"hp": 7}
    assert new.tick() == 1
    assert root.diff() == {}
