"""A refresh converges: a snapshot replaces values that are ``==`` but not identical.

Issue 14: a record ``Mob(f=0.0)`` under a Publisher; ``f = -0.0``, tick, the packet
lost, ``request_snapshot``, tick: the server held ``-0.0``, the replica ``0.0``,
both at frame 3, with no event. The replica compared the snapshot with ``==``
inside records.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

import flatsync
from flatsync import Changed, DataHandler, FrameApplied, Publisher, Replica
from flatsync.testing import assert_strict_equal


@flatsync.record
class RefreshMob:
    f: float


@flatsync.record
class RefreshBox:
    v: Any
    w: int = 0


#: Pairs of values that are ``==`` (and hash alike) but not the same value.
EQUAL_BUT_NOT_SAME: list[tuple[Any, Any]] = [
    (0.0, -0.0),
    (1, True),
    (1, 1.0),
    (True, 1.0),
    (0, False),
    (0, 0.0),
    ((1, 2), (1.0, 2)),
    ((0.0,), (-0.0,)),
    (2**53, float(2**53)),
]

#: Where the value sits: in a mapping, a list, a record, inside a record's list,
#: mapping (as a value and as a key), tuple, or nested record, and in a mapping
#: held by a record held by a mapping.
PLACES: list[Callable[[Any], Any]] = [
    lambda v: v,
    lambda v: [1, v],
    lambda v: {"k": v},
    RefreshBox,
    lambda v: RefreshBox([v]),
    lambda v: RefreshBox({"k": v}),
    lambda v: RefreshBox({v: "key"}),
    lambda v: RefreshBox((v, 2)),
    lambda v: RefreshBox(RefreshBox(v)),
    lambda v: {"d": RefreshBox({"e": [v]})},
]


def refreshed(old: Any, new: Any) -> tuple[DataHandler, Replica, list[Any]]:
    """A replica that holds ``old``; the server writes ``new``, the packet is lost, and
    the client gets a snapshot instead: return the root, the replica and its events."""
    root = DataHandler({"x": old, "y": 5})
    pub = Publisher(root)
    pub.add_client("c")
    replica = Replica()
    pub.tick()
    for packet in pub.packets_for("c"):
        replica.receive(packet)
    root["x"] = new
    pub.tick()
    pub.packets_for("c")  # lost
    pub.request_snapshot("c")
    pub.tick()
    events: list[Any] = []
    for packet in pub.packets_for("c"):
        events.extend(replica.receive(packet))
    assert replica.frame == pub.frame == 3
    return root, replica, events


def test_the_issue_reproducer() -> None:
    root = DataHandler({"m": RefreshMob(f=0.0)})
    pub = Publisher(root)
    pub.add_client("c")
    replica = Replica()
    pub.tick()
    for packet in pub.packets_for("c"):
        replica.receive(packet)
    root["m"].f = -0.0
    pub.tick()
    pub.packets_for("c")  # lost
    pub.request_snapshot("c")
    pub.tick()
    events: list[Any] = []
    for packet in pub.packets_for("c"):
        events.extend(replica.receive(packet))
    assert (pub.frame, replica.frame) == (3, 3)
    assert str(replica.state["m"].f) == "-0.0"
    assert_strict_equal(replica.state, root)
    assert events == [
        Changed(path=("m",), old=RefreshMob(f=0.0), new=RefreshMob(f=-0.0)),
        FrameApplied(frame=3, base=None),
    ]


@given(
    st.sampled_from(EQUAL_BUT_NOT_SAME),
    st.booleans(),
    st.sampled_from(range(len(PLACES))),
)
def test_a_refresh_replaces_equal_but_different_values(
    pair: tuple[Any, Any], backwards: bool, place: int
) -> None:
    old, new = pair[::-1] if backwards else pair
    wrap = PLACES[place]
    root, replica, events = refreshed(wrap(old), wrap(new))
    assert_strict_equal(replica.state, root)
    assert len(events) >= 2  # at least one change event, then FrameApplied
    assert events[-1] == FrameApplied(frame=3, base=None)


@given(st.sampled_from(range(len(PLACES))), st.sampled_from([0.0, 1, (1, 2), 2**53]))
def test_a_refresh_of_the_same_value_says_nothing(place: int, value: Any) -> None:
    wrap = PLACES[place]
    root, replica, events = refreshed(wrap(value), wrap(value))
    assert_strict_equal(replica.state, root)
    assert events == [FrameApplied(frame=3, base=None)]


def test_every_pair_in_every_place() -> None:
    """The same as the hypothesis test, every combination once (180 refreshes)."""
    for old, new in EQUAL_BUT_NOT_SAME:
        for first, second in ((old, new), (new, old)):
            for wrap in PLACES:
                root, replica, events = refreshed(wrap(first), wrap(second))
                assert_strict_equal(replica.state, root)
                assert len(events) >= 2
