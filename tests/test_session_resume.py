"""The session verbs a transport uses instead of header bytes (issue 14).

``Publisher.pause`` / ``Publisher.resume`` for a client whose connection dropped
and may come back, ``Publisher.receive`` reporting what a replica said
(:class:`flatsync.protocol.Reply`), and ``Publisher.sent``, the frame a drain
brings a client to.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flatsync
from flatsync import DataHandler, Publisher, Replica, View
from flatsync._session._frames import Kind, ack, parse, refresh, resync
from flatsync._session._views import project_state
from flatsync.protocol import Reply
from flatsync.testing import assert_strict_equal
from session_helpers import pump

SESSION = bytes(range(8))


class CountingCodec(flatsync.CborCodec):
    """A CBOR codec that counts its encodings."""

    def __init__(self) -> None:
        super().__init__()
        self.encoded = 0

    def encode(self, tree: Any) -> bytes:
        self.encoded += 1
        return super().encode(tree)


def joined(history: int = 4, codec: flatsync.Codec | None = None) -> tuple[Publisher, Replica]:
    pub = Publisher(DataHandler({"hp": 0}), history=history, session=SESSION, codec=codec)
    pub.add_client("a")
    pub.tick()
    replica = Replica()
    pump(pub, "a", replica)
    return pub, replica


def test_receive_reports_what_the_replica_said() -> None:
    pub, _ = joined()
    assert pub.receive("a", ack(1)) == Reply(kind="ack", frame=1)
    assert pub.receive("a", ack(0)) == Reply(kind="ack", frame=0)  # ignored, still reported
    assert pub.receive("a", resync(1, 1)) == Reply(kind="resync", frame=1)
    assert pub.receive("a", refresh(None)) == Reply(kind="refresh", frame=None)
    with pytest.raises(flatsync.FrameError):
        pub.receive("a", bytes.fromhex("10 02 01 a0"))


def test_sent_is_the_frame_a_drain_brings_the_client_to() -> None:
    pub = Publisher(DataHandler({"hp": 0}))
    pub.add_client("a")
    assert pub.sent("a") is None
    pub.tick()
    pub.tick()
    packets = pub.packets_for("a")
    assert parse(packets[-1]).frame == pub.sent("a") == 2
    pub.root["hp"] = 1
    pub.tick()
    assert pub.sent("a") == 2  # nothing drained since
    pub.packets_for("a")
    assert pub.sent("a") == 3
    with pytest.raises(KeyError):
        pub.sent("b")


def test_a_paused_client_costs_a_tick_nothing_and_resumes_with_a_delta() -> None:
    codec = CountingCodec()
    pub, replica = joined(history=4, codec=codec)
    pub.pause("a")
    assert pub.paused("a")
    encoded = codec.encoded
    for hp in range(1, 4):
        pub.root["hp"] = hp
        pub.tick()
        assert pub.packets_for("a") == []
        assert not pub.pending("a")
    assert codec.encoded == encoded  # nothing built, merged or measured for it
    assert not pub._out.waiting
    assert not pub._out.holding
    assert not pub._out.want
    # A late acknowledgement of the old connection still counts.
    pub.receive("a", ack(1))
    assert pub.acked("a") == 1
    assert pub.resume("a", replica.frame) is True
    assert not pub.paused("a")
    packets = pub.packets_for("a")
    assert [p.hex(" ") for p in packets] == ["10 04 03 a1 62 68 70 03"]  # 1 -> 4, one delta
    replica.receive(packets[0])
    assert_strict_equal(replica.state, pub.root)


def test_a_resume_beyond_the_history_gets_a_snapshot() -> None:
    pub, replica = joined(history=2)
    pub.pause("a")
    for hp in range(1, 5):
        pub.root["hp"] = hp
        pub.tick()
    assert pub.resume("a", replica.frame) is False
    assert pub.packets_for("a") == []  # a snapshot at the next tick
    pub.tick()
    packets = pub.packets_for("a")
    assert [parse(p).kind for p in packets] == [Kind.SNAPSHOT]
    replica.receive(packets[0])
    assert_strict_equal(replica.state, pub.root)


@pytest.mark.parametrize("held", [None, 0, 9], ids=["nothing", "older than acked", "never sent"])
def test_a_resume_from_a_frame_it_cannot_vouch_for_gets_a_snapshot(held: int | None) -> None:
    pub, replica = joined()
    pub.root["hp"] = 1
    pub.tick()
    pump(pub, "a", replica)
    assert pub.resume("a", held) is False
    pub.tick()
    assert [parse(p).kind for p in pub.packets_for("a")] == [Kind.SNAPSHOT]


def test_a_view_change_while_paused_resumes_with_a_snapshot() -> None:
    root = DataHandler({"hp": 0, "zone": {"a": 1}})
    pub = Publisher(root, session=SESSION)
    pub.add_client("a", View(("hp",)))
    pub.tick()
    replica = Replica()
    pump(pub, "a", replica)
    pub.pause("a")
    pub.set_view("a", View(("zone",)))
    pub.tick()
    assert pub.resume("a", replica.frame) is False
    pub.tick()
    pump(pub, "a", replica)
    assert_strict_equal(replica.state, {"zone": {"a": 1}})


def test_a_paused_client_ignores_requests_and_a_snapshot_asked_for_comes_at_resume() -> None:
    pub, replica = joined()
    pub.pause("a")
    pub.receive("a", refresh(None))
    pub.receive("a", resync(1, 1))
    pub.tick()
    assert pub.packets_for("a") == []
    pub.request_snapshot("a")
    assert pub.paused("a")
    assert pub.resume("a", replica.frame) is False
    pub.tick()
    assert [parse(p).kind for p in pub.packets_for("a")] == [Kind.SNAPSHOT]


def test_resume_without_a_pause_replaces_the_connection() -> None:
    pub, replica = joined()
    pub.root["hp"] = 1
    pub.tick()
    lost = pub.packets_for("a")  # on the old connection, never arrives
    assert lost
    assert pub.resume("a", replica.frame) is True
    packets = pub.packets_for("a")
    assert [parse(p).kind for p in packets] == [Kind.DELTA]
    replica.receive(packets[0])
    assert_strict_equal(replica.state, pub.root)


STEPS = st.lists(
    st.tuples(
        st.sampled_from(["tick", "drain", "lose", "pause", "resume", "view", "refresh"]),
        st.integers(0, 2),
    ),
    max_size=60,
)


@given(STEPS)
@settings(max_examples=150)
def test_clients_that_pause_and_resume_converge_strictly(steps: list[tuple[str, int]]) -> None:
    root = DataHandler({"hp": 0, "zone": {"a": 1}, "log": [0]})
    pub = Publisher(root, history=3)
    views = [None, View(("zone",)), View(("hp",))]
    replicas = {who: Replica() for who in range(3)}
    for who in range(3):
        pub.add_client(who, views[who])
    for op, who in steps:
        if op == "tick":
            root["hp"] += 1
            root["zone"]["a"] += who
            root["log"].insert(who % (len(root["log"]) + 1), who)
            pub.tick()
        elif op == "drain":
            pump(pub, who, replicas[who])
        elif op == "lose":
            pub.packets_for(who)
        elif op == "pause":
            pub.pause(who)
        elif op == "resume":
            pub.resume(who, replicas[who].frame)
        elif op == "view":
            pub.set_view(who, views[(who + pub.frame) % 3])
        else:
            replicas[who].request_refresh()
            packet = replicas[who].packet_to_send()
            assert packet is not None
            pub.receive(who, packet)
    for who in range(3):
        pub.resume(who, replicas[who].frame)
    pub.tick()
    for who in range(3):
        for _ in range(3):
            pump(pub, who, replicas[who])
        expected = project_state(root, pub._clients[who].node)
        assert_strict_equal(replicas[who].state, expected)
