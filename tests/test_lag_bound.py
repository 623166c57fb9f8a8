"""Bounded memory: a lagging client costs at most what its view's snapshot costs.

Issue 14: a 20-item list plus a 10-entity map with rotating ids, 2,000 ticks, a
client never drained: one pending packet of 26,617 B against a 153 B snapshot;
and 3,000 one-tick players with their own views left 8.2 MiB of compiled views
with no client connected.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flatsync
from flatsync import ANY, DataHandler, Publisher, Replica, View
from flatsync._session._publisher import LAG_ALLOWANCE, SNAPSHOT_SIZE_AGE
from flatsync._session._state import NEW, PRIVATE, SHARED, SNAPSHOT
from flatsync._session._views import project_state
from flatsync._tree._merge import apply_delta
from flatsync.testing import assert_strict_equal

CODEC = flatsync.CborCodec()


def pending_bytes(pub: Publisher, client: Any) -> tuple[int, int]:
    """What ``client``'s outbox holds, measured: (encoded bytes of the packet it would
    get now, or of what the publisher keeps for it; frames the pending delta spans)."""
    c = pub._clients[client]
    if c.mode is NEW:
        return 0, 0
    if c.mode is SHARED:
        assert c.sent is not None
        if c.sent == pub.frame:
            return 0, 0
        return len(CODEC.encode(pub._merged(c.node, c.sent, pub.frame))), pub.frame - c.sent
    if c.mode is PRIVATE:
        assert c.private is not None
        return len(CODEC.encode(c.private)), 2
    assert c.mode is SNAPSHOT
    assert c.snap is not None
    kept = len(CODEC.encode(c.private)) if c.private else 0
    packet = len(CODEC.encode(apply_delta(c.snap, c.private) if c.private else c.snap))
    return max(kept, packet), 2


def snapshot_bytes(pub: Publisher, client: Any) -> int:
    return len(CODEC.encode(project_state(pub.root, pub._clients[client].node)))


def churn(root: DataHandler, draw: Any, next_id: int) -> int:
    """One tick of the issue's state: a delete and an insert at random places in a
    20-item list, and an entity that leaves the map for a new one."""
    items = root["items"]
    del items[draw(len(items))]
    items.insert(draw(len(items) + 1), draw(1000))
    ents = root["ents"]
    del ents[min(ents)]
    ents[next_id] = {"hp": next_id % 97}
    return next_id + 1


def new_state() -> DataHandler:
    return DataHandler({"items": list(range(20)), "ents": {i: {"hp": i} for i in range(10)}})


@pytest.mark.parametrize("alone", [False, True], ids=["beside-a-live-client", "alone"])
def test_the_issue_reproducer_stays_within_the_snapshot(alone: bool) -> None:
    """The bound holds for a laggard beside an up-to-date client and for a lone
    one (whose chain end is then the only one the publisher has)."""
    root = new_state()
    pub = Publisher(root, history=64)
    pub.add_client("lag")
    if not alone:
        pub.add_client("live")
    replica = Replica()
    pub.tick()
    for packet in pub.packets_for("lag"):
        replica.receive(packet)
    if not alone:
        pub.packets_for("live")
    seed = [12345]

    def draw(bound: int) -> int:
        seed[0] = (seed[0] * 1103515245 + 12345) % 2**31
        return seed[0] % bound

    next_id = 10
    for _ in range(2000):
        next_id = churn(root, draw, next_id)
        pub.tick()
        if not alone:
            pub.packets_for("live")
        size, _ = pending_bytes(pub, "lag")
        assert size <= snapshot_bytes(pub, "lag") + LAG_ALLOWANCE
    packets = pub.packets_for("lag")
    assert sum(map(len, packets)) <= snapshot_bytes(pub, "lag") + LAG_ALLOWANCE + 10
    for packet in packets:
        replica.receive(packet)
    assert_strict_equal(replica.state, root)


@settings(max_examples=30)
@given(st.data())
def test_pending_bytes_stay_bounded_under_random_lag(data: st.DataObject) -> None:
    """Three clients (two views) drained at random, some ticks not at all, with
    packets lost at random: at every tick each lagging client's pending delta is
    within its view's snapshot (measured at most ``SNAPSHOT_SIZE_AGE`` frames ago) plus
    ``LAG_ALLOWANCE``, and every client converges strictly once drained."""
    root = new_state()
    history = data.draw(st.integers(2, 16), label="history")
    pub = Publisher(root, history=history)
    views: dict[int, View | None] = {0: None, 1: View(("items",)), 2: View(("ents", ANY))}
    replicas = {cid: Replica() for cid in views}
    for cid, view in views.items():
        pub.add_client(cid, view)
    sizes: dict[int, list[int]] = {cid: [] for cid in views}
    # How often each client's transport is busy (in tenths; 10: never drained).
    stall = {cid: data.draw(st.integers(0, 10), label=f"stall {cid}") for cid in views}

    def draw(bound: int) -> int:
        return data.draw(st.integers(0, bound - 1))

    next_id = 10
    for _ in range(data.draw(st.integers(5, 200), label="ticks")):
        next_id = churn(root, draw, next_id)
        pub.tick()
        for cid, replica in replicas.items():
            sizes[cid] = [*sizes[cid][-SNAPSHOT_SIZE_AGE:], snapshot_bytes(pub, cid)]
            size, span = pending_bytes(pub, cid)
            if span >= 2:
                assert size <= max(sizes[cid]) + LAG_ALLOWANCE
            if data.draw(st.integers(0, 9)) < stall[cid]:  # this client's transport is busy
                continue
            for packet in pub.packets_for(cid):
                if data.draw(st.integers(0, 9)) > 0:  # 1 in 10 lost
                    replica.receive(packet)
            reply = replica.packet_to_send()
            if reply is not None:
                pub.receive(cid, reply)
    for _ in range(4):  # settle: every transport writable, nothing lost
        pub.tick()
        for cid, replica in replicas.items():
            for packet in pub.packets_for(cid):
                replica.receive(packet)
            reply = replica.packet_to_send()
            if reply is not None:
                pub.receive(cid, reply)
    for cid, replica in replicas.items():
        view = views[cid]
        expected = root.snapshot() if view is None else view.project(root.snapshot())
        assert_strict_equal(replica.state, expected)


def test_compiled_views_are_released_when_their_clients_leave() -> None:
    root = DataHandler({"board": {"w": 8}, "players": {}})
    pub = Publisher(root)
    pub.add_client("stays", View(("board",)))
    pub.tick()
    compiler = pub._compiler
    for pid in range(3000):
        root["players"][pid] = {"name": f"p{pid}", "pos": (pid, 0)}
        pub.add_client(pid, View(("board",), ("players", ANY, "pos"), ("players", pid)))
        pub.tick()
        pub.packets_for(pid)
        pub.remove_client(pid)
        del root["players"][pid]
        assert compiler.size <= 200  # (it was 2 nodes per player, kept forever)
    pub.tick()
    # What the remaining client uses is still there, the same objects.
    stays = pub._clients["stays"].node
    assert compiler.root(View(("board",))) is stays
    # And the views of clients that change views go too.
    for k in range(500):
        pub.set_view("stays", View(("players", k)))
        pub.tick()
        assert compiler.size <= 200
    pub.set_view("stays", View(("board",)))
    pub.tick()
    assert compiler.release([pub._clients["stays"].node]) <= 4
