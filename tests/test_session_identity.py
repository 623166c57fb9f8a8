"""Session identity: a replica never applies a packet of another publisher to its state.

Each :class:`~flatsync.Publisher` has a random 8-byte :attr:`~flatsync.Publisher.session`;
snapshots and resync answers carry it (the common delta does not: it keeps its 3
header bytes), and a transport's handshake hands it to
:meth:`~flatsync.Replica.expect_session`. The two constructed cases of issue 14
(another server's delta, and its resync answer, applied to a replica of the first
gave ``{'hp': 93, 'name': 'A'}``) are refused here, and the replica recovers on
the new server's snapshot.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flatsync import DataHandler, FrameApplied, FrameDropped, Publisher, Replica
from flatsync._session._frames import Kind, parse
from flatsync.testing import assert_strict_equal
from session_helpers import pump

A, B = bytes(range(8)), bytes(range(8, 16))


def two_servers(frames: int = 3) -> tuple[Publisher, Publisher, Replica, Replica]:
    """Servers A and B at the same frame with the same client "c"; a replica that follows
    A and one that follows B."""
    a = Publisher(DataHandler({"hp": 100, "name": "A"}), session=A)
    b = Publisher(DataHandler({"hp": 100, "name": "B"}), session=B)
    replica = Replica()
    b_replica = Replica()
    for pub, rep in ((a, replica), (b, b_replica)):
        pub.add_client("c")
        for _ in range(frames):
            pub.tick()
            pump(pub, "c", rep)
    assert replica.session == A
    assert b_replica.session == B
    assert replica.frame == b_replica.frame == b.frame
    return a, b, replica, b_replica


def test_the_common_delta_keeps_its_three_header_bytes() -> None:
    pub = Publisher(DataHandler({3: {"hp": 7}}), session=A)
    pub.add_client("a")
    pub.tick()
    [snapshot] = pub.packets_for("a")
    assert snapshot.hex(" ") == "11 01 00 01 02 03 04 05 06 07 a1 03 a1 62 68 70 07"
    pub.root[3]["hp"] = 6
    pub.tick()
    assert [p.hex(" ") for p in pub.packets_for("a")] == ["10 02 01 a1 03 a1 62 68 70 06"]


def test_a_publisher_has_a_random_session_unless_given() -> None:
    one, two = Publisher(DataHandler()), Publisher(DataHandler())
    assert len(one.session) == 8
    assert type(one.session) is bytes
    assert one.session != two.session
    assert Publisher(DataHandler(), session=B).session == B
    for bad in (b"short", bytes(9), "01234567", bytearray(8)):
        with pytest.raises(ValueError, match="8 bytes"):
            Publisher(DataHandler(), session=bad)  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        one.session = B  # type: ignore[misc]
    assert Replica().session is None


def test_another_servers_delta_is_refused_once_the_transport_names_its_session() -> None:
    _, b, replica, _ = two_servers()
    b.root["hp"] = 93
    b.tick()
    [delta] = b.packets_for("c")
    assert delta.hex(" ") == "10 04 01 a1 62 68 70 18 5d"  # no session in it
    replica.expect_session(b.session)  # the transport's handshake with server B
    assert replica.receive(delta) == [FrameDropped(frame=4, base=3, reason="session")]
    assert replica.state == {"hp": 100, "name": "A"}
    assert replica.session == A
    b.receive("c", replica.packet_to_send() or b"")  # a refresh request
    b.tick()
    events = pump(b, "c", replica)
    assert events[-1] == FrameApplied(frame=5, base=None)
    assert replica.session == B
    assert_strict_equal(replica.state, b.root)
    # From now on B's deltas apply.
    b.root["hp"] = 92
    b.tick()
    assert pump(b, "c", replica)[-1] == FrameApplied(frame=6, base=5)
    assert_strict_equal(replica.state, b.root)


def test_another_servers_resync_answer_is_refused_and_the_replica_recovers() -> None:
    a, b, replica, b_replica = two_servers()
    a.root["hp"] = 99
    a.tick()
    a.packets_for("c")  # lost
    a.root["hp"] = 98
    a.tick()
    [gap] = a.packets_for("c")
    assert replica.receive(gap) == [FrameDropped(frame=5, base=4, reason="gap")]
    request = replica.packet_to_send()
    assert request == bytes.fromhex("13 03 04")
    # The request reaches server B (a reconnection), which sent frame 4 to "c".
    b.root["hp"] = 93
    b.tick()
    for packet in b.packets_for("c"):  # its acknowledgement is still on the way
        b_replica.receive(packet)
    b.root["name"] = "B2"
    b.tick()
    b.receive("c", request)
    answer, delta = b.packets_for("c")
    assert answer[:11] == bytes.fromhex("15 04 01") + B
    assert replica.receive(answer) == [FrameDropped(frame=4, base=3, reason="session")]
    assert replica.state == {"hp": 100, "name": "A"}
    [dropped] = replica.receive(delta)
    assert isinstance(dropped, FrameDropped)
    assert dropped.reason in ("gap", "stale")
    b.receive("c", replica.packet_to_send() or b"")
    b.tick()
    pump(b, "c", replica)
    assert replica.session == B
    assert_strict_equal(replica.state, b.root)


def test_a_restarted_server_leads_a_kept_replica_to_its_snapshot() -> None:
    old = Publisher(DataHandler({"hp": 1}))
    replica = Replica()
    old.add_client("c")
    for hp in range(2, 40):
        old.root["hp"] = hp
        old.tick()
        pump(old, "c", replica)
    assert replica.frame == 38
    new = Publisher(DataHandler({"hp": 5, "name": "new"}))
    new.add_client("c")
    new.receive("c", bytes.fromhex("12 26"))  # an ack of frame 38 from the old run: ignored
    new.tick()
    new.receive("c", bytes.fromhex("13 26 26"))  # a resync of the old run, crossing: ignored
    [snapshot] = new.packets_for("c")
    new.receive("c", bytes.fromhex("12 26"))  # a frame never sent to it: ignored, no raise
    assert replica.receive(snapshot)[-1] == FrameApplied(frame=1, base=None)
    assert replica.session == new.session
    assert replica.frame == 1
    assert_strict_equal(replica.state, new.root)
    new.receive("c", replica.packet_to_send() or b"")
    assert new.acked("c") == 1
    new.root["hp"] = 6
    new.tick()
    assert pump(new, "c", replica)[-1] == FrameApplied(frame=2, base=1)
    assert_strict_equal(replica.state, new.root)


def test_a_resync_from_a_frame_never_sent_gets_a_snapshot() -> None:
    pub = Publisher(DataHandler({"hp": 1}))
    pub.add_client("c")
    replica = Replica()
    pub.tick()
    pump(pub, "c", replica)
    pub.receive("c", bytes.fromhex("13 30 31"))  # holds 48 of another session
    pub.tick()
    [packet] = pub.packets_for("c")
    assert parse(packet).kind is Kind.SNAPSHOT


def test_a_snapshot_of_an_unexpected_session_is_refused() -> None:
    a, b, replica, _ = two_servers()
    replica.expect_session(A)  # the same session: nothing changes
    assert replica.packet_to_send() is None
    b.request_snapshot("c")
    b.tick()
    [snapshot] = b.packets_for("c")
    assert replica.receive(snapshot) == [FrameDropped(frame=4, base=None, reason="session")]
    assert replica.state == {"hp": 100, "name": "A"}
    a.root["hp"] = 50
    a.tick()
    assert pump(a, "c", replica)[-1] == FrameApplied(frame=4, base=3)
    with pytest.raises(ValueError, match="8 bytes"):
        replica.expect_session(b"nope")


@given(
    st.lists(
        st.tuples(st.sampled_from("ab"), st.integers(0, 200), st.booleans()),
        min_size=1,
        max_size=30,
    )
)
def test_a_replica_never_mixes_two_sessions(steps: list[tuple[str, int, bool]]) -> None:
    """A client that hops between two servers at random, its transport's handshake
    naming the server's session at each hop (``hop``: the step connects anew, also to
    the same server): the replica's state is always exactly one server's state at
    some frame, never a mix, and it ends on the server it follows."""
    pubs = {
        "a": Publisher(DataHandler({"hp": 0, "name": "A"}), session=A),
        "b": Publisher(DataHandler({"hp": 0, "name": "B"}), session=B),
    }
    seen: dict[bytes, list[dict[str, Any]]] = {A: [], B: []}
    for pub in pubs.values():
        pub.add_client("c")
    replica = Replica()
    current = None
    for name, hp, hop in steps:
        pub = pubs[name]
        pub.root["hp"] = hp
        pub.tick()
        seen[pub.session].append(pub.root.snapshot())
        if hop or name != current:
            replica.expect_session(pub.session)
            current = name
        for packet in pub.packets_for("c"):
            replica.receive(packet)
            if replica.session is not None:
                assert replica.state.snapshot() in seen[replica.session]
        reply = replica.packet_to_send()
        if reply is not None:
            pub.receive("c", reply)
    pub = pubs[current or "a"]
    for _ in range(3):
        pub.tick()
        pump(pub, "c", replica)
    assert replica.session == pub.session
    assert_strict_equal(replica.state, pub.root)


# -- a replica that reports no change events --------------------------------------------------


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", 1, 2.0]), st.one_of(st.none(), st.integers(), st.floats())
        ),
        max_size=30,
    ),
    st.sets(st.integers(0, 29)),
)
def test_a_replica_without_events_follows_the_same_states(
    writes: list[tuple[Any, Any]], lost: set[int]
) -> None:
    """events=False: the same state after every packet, only frame records reported."""
    root = DataHandler({"a": 1})
    pub = Publisher(root)
    loud, quiet = Replica(), Replica(events=False)
    pub.add_client("loud")
    pub.add_client("quiet")
    for step, (key, value) in enumerate(writes):
        if value is None:
            root.pop(key, None)
        else:
            root[key] = value
        pub.tick()
        for client, replica in (("loud", loud), ("quiet", quiet)):
            packets = pub.packets_for(client)
            if step in lost:  # the same packets lost for both: a resync follows
                packets = packets[1:]
            for packet in packets:
                reported = replica.receive(packet)
                if replica is quiet:
                    assert all(type(r) in (FrameApplied, FrameDropped) for r in reported)
            reply = replica.packet_to_send()
            if reply is not None:
                pub.receive(client, reply)
        assert loud.frame == quiet.frame
        assert_strict_equal(quiet.state, loud.state)
    for _ in range(3):  # a lost first snapshot is asked for again, then sent at a tick
        pub.tick()
        for client, replica in (("loud", loud), ("quiet", quiet)):
            pump(pub, client, replica)
    assert_strict_equal(quiet.state, root)
    assert_strict_equal(loud.state, root)
