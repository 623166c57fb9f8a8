"""The relay's session piece: a fed publisher is indistinguishable from the origin's publisher.

The proof is a hypothesis state machine. An origin :class:`~flatsync.Publisher`
has one more client, the broker, drained at every tick; a
:class:`~flatsync.relay.FedPublisher` is seeded from the broker's first packet
(a snapshot) and fed every frame after it from the broker's packets (their
payload bytes forwarded). The same clients are added to both, with the same
views, view changes, refresh requests, drains and replies, over a network that
loses, duplicates, reorders and delays packets: every packet the fed
publisher makes for a client must be byte for byte the one the origin's
publisher makes for it.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from flatsync import CborCodec, DataHandler, FrameError, PatchError, Publisher, Replica, View
from flatsync._session._frames import Kind, parse
from flatsync.relay import FedPublisher
from flatsync.testing import assert_strict_equal
from session_helpers import pump
from test_session import FAULTS, MOVES, PALETTE, new_player

BROKER = "broker"
CODEC = CborCodec()
CLIENTS = st.integers(0, 2)
PLAYERS = st.integers(0, 3)
CHUNKS = st.tuples(st.integers(0, 4), st.integers(0, 2))
SMALL = st.one_of(st.integers(-2, 2), st.sampled_from([0.5, -0.0, "s", b"b", None, True]))
VIEWS = st.sampled_from(PALETTE)


class Twins(RuleBasedStateMachine):
    """The origin's publisher and a fed publisher, serving the same clients side by side."""

    def __init__(self) -> None:
        super().__init__()
        self.root = DataHandler(
            {
                "players": {0: new_player(0), 1: new_player(1)},
                "chunks": {(x, y): {"b": bytes([x, y])} for x in range(3) for y in range(2)},
                "meta": {"round": 0, "log": [1, 2]},
            }
        )
        self.origin = Publisher(self.root, history=3)
        self.origin.add_client(BROKER)
        self.fed: FedPublisher | None = None
        self.replicas: dict[int, Replica] = {}
        self.connected: set[int] = set()
        self.blocked: set[int] = set()
        self.down: dict[int, list[bytes]] = {}
        self.up: dict[int, list[bytes]] = {}
        self.sent = 0

    @initialize(views=st.lists(VIEWS, min_size=1, max_size=3))
    def start(self, views: list[View | None]) -> None:
        self._tick()  # the broker's snapshot seeds the fed publisher
        for client, view in enumerate(views):
            self.connect(client, view, fresh=True)

    def _tick(self) -> None:
        frame = self.origin.tick()
        [packet] = self.origin.packets_for(BROKER)
        header = parse(packet)
        payload = packet[header.size :]
        tree = CODEC.decode(payload)
        if self.fed is None:
            assert header.kind is Kind.SNAPSHOT
            assert header.session == self.origin.session
            self.fed = FedPublisher(
                tree, frame=frame, session=self.origin.session, history=self.origin.history
            )
        else:
            assert header.kind is Kind.DELTA
            assert (header.frame, header.base) == (frame, frame - 1)
            assert self.fed.feed(frame, tree, payload=payload) == frame
        for client in sorted(self.connected):
            if client not in self.blocked:
                self._drain(client)

    @property
    def twin(self) -> FedPublisher:
        assert self.fed is not None
        return self.fed

    def _drain(self, client: int) -> None:
        mine = self.origin.packets_for(client)
        theirs = self.twin.packets_for(client)
        assert theirs == mine
        self.sent += len(mine)
        self.down[client].extend(mine)

    # -- clients, on both publishers alike --

    @rule(client=CLIENTS, view=VIEWS, fresh=st.booleans())
    def connect(self, client: int, view: View | None, fresh: bool) -> None:
        if client in self.connected:
            return
        if fresh or client not in self.replicas:
            self.replicas[client] = Replica()
        self.origin.add_client(client, view)
        self.twin.add_client(client, view)
        self.connected.add(client)
        self.down[client] = []
        self.up[client] = []

    @rule(client=CLIENTS)
    def disconnect(self, client: int) -> None:
        if client in self.connected:
            self.origin.remove_client(client)
            self.twin.remove_client(client)
            self.connected.discard(client)
            self.blocked.discard(client)

    @rule(client=CLIENTS, view=VIEWS)
    def change_view(self, client: int, view: View | None) -> None:
        if client in self.connected:
            self.origin.set_view(client, view)
            self.twin.set_view(client, view)

    @rule(client=CLIENTS, slow=st.booleans())
    def slow_down(self, client: int, slow: bool) -> None:
        if slow:
            self.blocked.add(client)
        else:
            self.blocked.discard(client)

    @rule(client=CLIENTS)
    def ask_snapshot(self, client: int) -> None:
        if client in self.connected:
            self.origin.request_snapshot(client)
            self.twin.request_snapshot(client)

    @rule(client=CLIENTS)
    def ask_refresh(self, client: int) -> None:
        if client in self.connected:
            self.replicas[client].request_refresh()
            self._reply(client)

    # -- the game --

    @rule(moves=st.lists(st.tuples(MOVES, PLAYERS, SMALL, CHUNKS), min_size=0, max_size=4))
    def play(self, moves: list[tuple[str, int, Any, tuple[int, int]]]) -> None:
        players = self.root["players"]
        chunks = self.root["chunks"]
        for move, player, value, chunk in moves:
            entity = players.get(player)
            alive = isinstance(entity, DataHandler)
            if move == "move" and alive:
                entity["pos"] = (entity["pos"][0] + 1, value)
            elif move == "hit" and alive:
                entity["hp"] = value
            elif move == "loot" and alive:
                entity["inv"].append(value)
            elif move == "take" and alive and entity["inv"]:
                entity["inv"].pop(0)
            elif move == "secret" and alive:
                entity["secret"] = {"code": value}
            elif move == "spawn" and player not in players:
                players[player] = new_player(player)
            elif move == "despawn":
                players.pop(player, None)
            elif move == "scalar":
                players[player] = value
            elif move == "respawn":
                players.pop(player, None)
                players[player] = new_player(player + 10)
            elif move == "chunk":
                if isinstance(chunks.get(chunk), DataHandler):
                    chunks[chunk]["b"] = value
                else:
                    chunks[chunk] = {"b": value}
            elif move == "unchunk":
                chunks.pop(chunk, None)
            elif move == "round":
                self.root["meta"]["round"] += 1
                self.root["meta"]["log"].insert(0, value)
        self._tick()

    # -- the network --

    @rule(client=CLIENTS)
    def drain(self, client: int) -> None:
        if client in self.connected and client not in self.blocked:
            self._drain(client)

    @rule(data=st.data())
    def deliver(self, data: st.DataObject) -> None:
        for client in sorted(self.connected):
            for queue, down in ((self.down, True), (self.up, False)):
                packets = queue[client]
                queue[client] = []
                order = data.draw(st.permutations(range(len(packets))), label="order")
                for index in order:
                    fault = data.draw(FAULTS, label="fault")
                    if fault == "later":
                        queue[client].append(packets[index])
                    elif fault != "drop":
                        self._arrive(client, packets[index], down)
                        if fault == "dup":
                            self._arrive(client, packets[index], down)
                        if down and data.draw(st.booleans(), label="reply now"):
                            self._reply(client)

    def _arrive(self, client: int, packet: bytes, down: bool) -> None:
        if client not in self.connected:
            return
        if down:
            self.replicas[client].receive(packet)
        else:
            self.origin.receive(client, packet)
            self.twin.receive(client, packet)

    @rule(client=CLIENTS)
    def reply(self, client: int) -> None:
        if client in self.replicas:
            self._reply(client)

    def _reply(self, client: int) -> None:
        reply = self.replicas[client].packet_to_send()
        if reply is not None and client in self.connected:
            self.up[client].append(reply)

    # -- what must hold --

    @invariant()
    def the_fed_state_is_the_origins(self) -> None:
        if self.fed is not None:
            assert self.fed.frame == self.origin.frame
            assert_strict_equal(self.fed.root, self.root)
            for client in self.connected:
                assert self.fed.pending(client) == self.origin.pending(client)
                assert self.fed.acked(client) == self.origin.acked(client)

    def teardown(self) -> None:
        if self.fed is None:
            return
        self.blocked.clear()
        for _ in range(2):
            self._tick()
            for client in sorted(self.connected):
                while self.down[client]:
                    self._arrive(client, self.down[client].pop(0), True)
                    self._reply(client)
                while self.up[client]:
                    self._arrive(client, self.up[client].pop(0), False)
        snapshot = self.root.snapshot()
        for client in self.connected:
            view = self.origin.view(client)
            assert_strict_equal(
                self.replicas[client].state, snapshot if view is None else view.project(snapshot)
            )


Twins.TestCase.settings = settings(Twins.TestCase.settings, stateful_step_count=60)
test_the_fed_publisher_sends_the_origins_bytes = Twins.TestCase


# -- the fed publisher's own verbs ------------------------------------------------------------------

SESSION = bytes(range(8))


def test_feed_refuses_a_gap_and_a_delta_that_does_not_fit_changing_nothing() -> None:
    fed = FedPublisher({"hp": 8, "pos": {"x": 1}}, frame=3, session=SESSION)
    with pytest.raises(FrameError, match="frame 5 does not follow frame 3"):
        fed.feed(5, {"hp": 7})
    with pytest.raises(PatchError):
        fed.feed(4, {"hp": {"x": 1}})
    assert fed.frame == 3
    assert dict(fed.root) == {"hp": 8, "pos": {"x": 1}}
    with pytest.raises(TypeError, match="call feed"):
        fed.tick()
    assert fed.root.readonly
    with pytest.raises(ValueError, match="not negative"):
        FedPublisher({}, frame=-1, session=SESSION)


def test_reseed_gives_every_client_a_snapshot_of_the_new_frame() -> None:
    fed = FedPublisher({"hp": 8}, frame=1, session=SESSION, history=2)
    fed.add_client("ann")
    fed.feed(2, {"hp": 7})
    replica = Replica()
    pump(fed, "ann", replica)
    assert replica.frame == 2
    with pytest.raises(ValueError, match="goes forward"):
        fed.reseed(2, {"hp": 1})
    fed.reseed(9, {"hp": 3, "new": True})
    assert dict(fed.root) == {"hp": 3, "new": True}
    [packet] = fed.packets_for("ann")
    assert packet[0] == 0x11
    replica.receive(packet)
    assert (replica.frame, dict(replica.state)) == (9, {"hp": 3, "new": True})
    fed.feed(10, {"hp": 2})
    pump(fed, "ann", replica)
    assert (replica.frame, dict(replica.state)) == (10, {"hp": 2, "new": True})


def test_adopt_continues_a_client_from_the_frame_it_holds() -> None:
    origin = Publisher(DataHandler({"hp": 8}), session=SESSION, history=4)
    origin.add_client("a")
    origin.add_client(BROKER)
    origin.tick()
    [seed] = origin.packets_for(BROKER)
    header = parse(seed)
    fed = FedPublisher(
        CODEC.decode(seed[header.size :]), frame=header.frame, session=SESSION, history=4
    )
    replica = Replica()
    pump(origin, "a", replica)
    for hp in (7, 6, 5):
        origin.root["hp"] = hp
        frame = origin.tick()
        [packet] = origin.packets_for(BROKER)
        fed.feed(frame, CODEC.decode(packet[parse(packet).size :]))
    # The client held frame 1 at the origin; it moves to the fed publisher.
    assert fed.adopt("a", held=replica.frame)
    [packet] = fed.packets_for("a")
    assert packet[0] == 0x10  # a delta from frame 1, not a snapshot
    replica.receive(packet)
    assert (replica.frame, dict(replica.state)) == (4, {"hp": 5})
    # Too old (out of the ring), newer than the fed publisher, or nothing: a snapshot.
    for hp in (4, 3, 2, 1, 0):
        origin.root["hp"] = hp
        frame = origin.tick()
        [packet] = origin.packets_for(BROKER)
        fed.feed(frame, CODEC.decode(packet[parse(packet).size :]))
    assert not fed.adopt("b", held=1)
    assert not fed.adopt("c", held=99)
    assert not fed.adopt("d", held=None)
    assert fed.adopt("e", held=fed.frame)
    assert fed.packets_for("e") == []
    fed.feed(fed.frame + 1, {})
    assert fed.packets_for("b")[0][0] == 0x11


def test_an_adopted_client_shares_the_packet_of_the_clients_that_wait_where_it_holds() -> None:
    pub = Publisher(DataHandler({"hp": 8, "log": []}), session=SESSION, history=4)
    pub.add_client("a")
    replica = Replica()
    pub.root["hp"] = 7
    pub.tick()
    pump(pub, "a", replica)
    held = replica.frame
    pub.root["log"].append("hit")
    pub.tick()
    # "b" holds what "a" holds (it moved here): the same delta, the same bytes.
    assert pub.adopt("b", held=held)
    assert not pub.paused("b")
    [shared] = pub.packets_for("a")
    assert pub.packets_for("b") == [shared]
    assert pub.sent("b") == pub.frame
    replica.receive(shared)
    assert_strict_equal(replica.state, pub.root)
    with pytest.raises(ValueError, match="already joined"):
        pub.adopt("b", held=held)
