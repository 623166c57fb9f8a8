"""flatsync.relay end to end: an origin, real brokers (NATS JetStream, Redis), gateways, clients.

Every test starts its broker server on a free port of 127.0.0.1 and stops it
(fixtures); gateways run in this process, or in a process of their own where
a test kills or pauses one. Clients are plain :class:`flatsync.net.Client`
objects. After each scenario the origin stops ticking, and every client must
end strictly equal to the origin's state, having applied its frames in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from flatsync import DataHandler, FrameApplied, FrameDropped, PatchError
from flatsync.net import Client, Connected
from flatsync.relay import (
    BROKER_CLIENT,
    Broker,
    BrokerError,
    FedPublisher,
    Feed,
    Gateway,
    MemoryBroker,
    NatsBroker,
    Origin,
    RedisBroker,
)
from flatsync.relay.__main__ import broker_for
from flatsync.relay.__main__ import main as relay_main
from flatsync.relay.local import BrokerServer, Forwarder, GatewayProcess
from flatsync.testing import assert_strict_equal

SECRET = bytes(range(32))
BACKENDS = ["nats", "redis"]
WAIT = 30.0


def run(main: Any) -> Any:
    return asyncio.run(asyncio.wait_for(main(), 120))


async def eventually(condition: Any, timeout: float = WAIT) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError("the condition did not hold in time")
        await asyncio.sleep(0.01)


@pytest.fixture(params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BrokerServer]:
    with BrokerServer(request.param, tmp_path / request.param) as broker:
        yield broker


def make_broker(server: BrokerServer, history: int = 32) -> Broker:
    return server.broker(history=history)


def new_state() -> DataHandler:
    return DataHandler({"tick": 0, "e": {i: {"x": 0, "y": i} for i in range(16)}, "log": []})


def play(root: DataHandler) -> None:
    """One tick of a little game: moves, a spawn or a despawn, a list that grows and shrinks."""
    t = root["tick"] = root["tick"] + 1
    entities = root["e"]
    key = t % 20
    if key in entities and t % 3 == 0:
        del entities[key]
    elif key in entities:
        entities[key]["x"] = t
    else:
        entities[key] = {"x": t, "y": -t}
    root["log"].append(t)
    if len(root["log"]) > 5:
        root["log"].pop(0)


def same(a: Any, b: Any) -> bool:
    try:
        assert_strict_equal(a, b)
    except AssertionError:
        return False
    return True


class Watched:
    """A client, and the frames it applied (which must go up within a session)."""

    def __init__(self, url: str, name: str) -> None:
        self.applied: list[tuple[bytes | None, int]] = []
        self.dropped: list[FrameDropped] = []
        self.connected: list[Connected] = []
        self.client = Client(url, name=name, events=False, on_events=self._events)

    def _events(self, events: list[Any]) -> None:
        for event in events:
            if isinstance(event, FrameApplied):
                self.applied.append((self.client.session, event.frame))
            elif isinstance(event, FrameDropped):
                self.dropped.append(event)

    def check_order(self) -> None:
        for (s1, f1), (s2, f2) in zip(self.applied, self.applied[1:], strict=False):
            if s1 == s2:
                assert f2 > f1, f"frame {f2} applied after {f1}"


@asynccontextmanager
async def origin_of(
    broker: Broker, state: DataHandler | None = None, **options: Any
) -> AsyncIterator[Origin]:
    options.setdefault("tick_rate", 50.0)
    options.setdefault("snapshot_every", 8)
    origin = Origin(new_state() if state is None else state, broker, world="w", **options)
    origin.on_tick = lambda: play(origin.root)
    await origin.start()
    try:
        yield origin
    finally:
        origin.stop()
        await origin.close()


@asynccontextmanager
async def gateway_of(broker: Broker, **options: Any) -> AsyncIterator[Gateway]:
    gateway = Gateway(broker, world="w", secret=SECRET, **options)
    await gateway.start(tcp=("127.0.0.1", 0))
    try:
        yield gateway
    finally:
        await gateway.close()


def url_of(gateway: Gateway) -> str:
    host, port = gateway.tcp_address
    return f"tcp://{host}:{port}"


async def ticking(origin: Origin, ticks: int) -> None:
    await origin.run(ticks=ticks)
    await origin.flushed()


async def converge(origin: Origin, clients: list[Watched]) -> None:
    """Stop ticking; every client ends strictly equal to the origin, frames applied in order."""
    await origin.flushed()
    await eventually(
        lambda: all(
            c.client.session == origin.session and same(c.client.state, origin.root)
            for c in clients
        )
    )
    for c in clients:
        c.check_order()


# -- the scenarios ----------------------------------------------------------------------------------


def test_clients_converge_through_two_gateways(server: BrokerServer) -> None:
    async def main() -> None:
        inputs: list[tuple[int, Any]] = []
        async with (
            make_broker(server) as broker,
            origin_of(broker, on_input=lambda c, m: inputs.append((c, m))) as origin,
            gateway_of(broker, name="a") as a,
            gateway_of(broker, name="b") as b,
        ):
            await ticking(origin, 5)
            clients = [Watched(url_of(g), f"{g.name}{i}") for g in (a, b) for i in range(3)]
            for c in clients:
                await c.client.connect()
            try:
                await ticking(origin, 30)
                await converge(origin, clients)
                assert a.fed.frame == b.fed.frame == origin.frame
                assert a.reseeds == b.reseeds == 0
                # Inputs reach the origin with the client's id, whichever its gateway.
                clients[0].client.send(("steer", "N"))
                clients[3].client.send({"fire": True})
                await eventually(lambda: len(inputs) == 2)
                ids = {c.client.client_id for c in (clients[0], clients[3])}
                assert {cid for cid, _ in inputs} == ids
                assert sorted(inputs, key=repr) == sorted(
                    [(clients[0].client.client_id, ("steer", "N")),
                     (clients[3].client.client_id, {"fire": True})],
                    key=repr,
                )  # fmt: skip
            finally:
                for c in clients:
                    await c.client.close()

    run(main)


def test_the_stream_holds_the_origins_packets_byte_for_byte(server: BrokerServer) -> None:
    async def main() -> None:
        async with make_broker(server, history=4) as broker, origin_of(broker) as origin:
            await ticking(origin, 10)
            records = [r async for r in broker.history_of("w")]
            assert len(records) == 4  # bounded to H
            # A client of the origin's own publisher gets the same bytes for the last frame.
            frames = [r[8:] for r in records]
            assert all(r[:8] == origin.session for r in records)
            assert [f[1] for f in frames] == [10, 9, 8, 7]
            stored = await broker.load("w")
            assert stored is not None
            assert stored[8:10] == bytes([0x11, 8])  # the snapshot of frame 8
            fed = FedPublisher({}, frame=0, session=origin.session)
            fed.reseed(8, origin.publisher.codec.decode(stored[8 + 10 :]))
            for frame in reversed(frames[:2]):
                fed.feed(frame[1], origin.publisher.codec.decode(frame[3:]))
            assert_strict_equal(fed.root, origin.root)

    run(main)


def test_a_client_whose_gateway_is_killed_resumes_on_another_without_a_snapshot(
    server: BrokerServer,
) -> None:
    async def main() -> None:
        async with (
            make_broker(server) as broker,
            origin_of(broker) as origin,
            gateway_of(broker, name="b") as b,
        ):
            await ticking(origin, 3)
            killed = GatewayProcess(server.url, "w", SECRET, "--name", "a")
            await asyncio.to_thread(killed.start)
            proxy = Forwarder(killed.port)
            clients: list[Watched] = []
            try:
                await proxy.start()
                address = proxy.url
                clients = [Watched(address, f"c{i}") for i in range(4)]
                for c in clients:
                    await c.client.connect()
                await ticking(origin, 10)
                await converge(origin, clients)
                before = [c.client.snapshot_bytes for c in clients]
                ids = [c.client.client_id for c in clients]
                killed.kill()
                proxy.target = b.tcp_address[1]
                await ticking(origin, 10)
                await converge(origin, clients)
                assert [c.client.server_name for c in clients] == ["b"] * 4
                assert [c.client.client_id for c in clients] == ids
                # Resumed from their ack: a delta, not a snapshot.
                assert [c.client.snapshot_bytes for c in clients] == before
            finally:
                for c in clients:
                    await c.client.close()
                await proxy.close()
                killed.stop()

    run(main)


def test_a_client_held_back_past_the_ring_moves_with_a_snapshot_on_every_backend(
    server: BrokerServer,
) -> None:
    """The fan-out benchmark's question: behind the next gateway's ring, a snapshot, on both.

    The client's link is stalled while the origin ticks far past the ring of
    the gateway it will move to (8 frames); its gateway is killed; it moves
    with the frame it holds, which has left that ring: the answer is a
    snapshot (never a delta from a frame the gateway cannot vouch for), and
    the client ends strictly equal to the origin, on NATS and on Redis alike.
    """

    async def main() -> None:
        async with (
            make_broker(server) as broker,
            origin_of(broker) as origin,
            gateway_of(broker, name="b", history=8) as b,
        ):
            await ticking(origin, 3)
            killed = GatewayProcess(server.url, "w", SECRET, "--name", "a", "--history", "8")
            await asyncio.to_thread(killed.start)
            link = Forwarder(killed.port)
            await link.start()
            watched = Watched(link.url, "c")
            try:
                await watched.client.connect()
                await ticking(origin, 5)
                await converge(origin, [watched])
                before = watched.client.snapshot_bytes
                link.stall()
                held = watched.client.replica.frame
                assert held is not None
                await ticking(origin, 40)  # far past b's ring of 8 frames
                await eventually(lambda: b.fed.frame == origin.frame)
                killed.kill()
                link.target = b.tcp_address[1]
                link.release()
                await eventually(lambda: watched.client.server_name == "b")
                assert watched.client.client_id is not None
                # What it held (up to 4 packets in flight past its ack) is behind b's ring.
                assert watched.client.replica.frame is not None
                assert watched.client.replica.frame < b.fed.frame - 8
                await ticking(origin, 2)  # the snapshot comes with the origin's next frame
                await converge(origin, [watched])
                assert watched.client.snapshot_bytes > before
            finally:
                await watched.client.close()
                await link.close()
                killed.stop()

    run(main)


class Gated(Broker):
    """A real broker whose live frames wait at a gate (a gateway that lags behind the others)."""

    def __init__(self, inner: Broker) -> None:
        super().__init__(history=inner.history)
        self.inner = inner
        self.open = asyncio.Event()
        self.open.set()
        self._pumps: list[asyncio.Task[None]] = []

    async def connect(self) -> None:
        await self.inner.connect()

    async def close(self) -> None:
        for task in self._pumps:
            task.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)
        await self.inner.close()

    async def publish(self, world: str, frame: int, record: bytes) -> None:
        await self.inner.publish(world, frame, record)

    async def store(self, world: str, record: bytes) -> None:
        await self.inner.store(world, record)

    async def load(self, world: str) -> bytes | None:
        return await self.inner.load(world)

    def history_of(self, world: str) -> AsyncIterator[bytes]:
        return self.inner.history_of(world)

    async def subscribe(self, world: str, feed: Feed) -> None:
        held = Feed(4096)
        await self.inner.subscribe(world, held)

        async def pump() -> None:
            while (record := await held.get()) is not None:
                await self.open.wait()
                feed.put(record)

        self._pumps.append(asyncio.create_task(pump()))

    async def send_input(self, world: str, record: bytes) -> None:
        await self.inner.send_input(world, record)

    async def subscribe_inputs(self, world: str, feed: Feed) -> None:
        await self.inner.subscribe_inputs(world, feed)


def test_a_client_ahead_of_its_new_gateway_resumes_without_a_snapshot(
    server: BrokerServer,
) -> None:
    """A client that moves to a gateway a few frames behind its old one is within the ring.

    The gateways of a world do not hold the same frame at the same instant
    (each takes the frames live from the broker, at its own pace): a client
    that held the latest frame on a quick gateway and moves to a lagging one
    is *ahead* of it. The new gateway waits (``resume_wait``) until it holds
    the client's frame, then takes it back with a delta; it used to send it a
    snapshot, which made the share of clients resumed without a snapshot
    depend on which backend delivered faster to which gateway.
    """

    async def main() -> None:
        gated = Gated(make_broker(server))
        async with (
            make_broker(server) as broker,
            gated,
            origin_of(broker) as origin,
            gateway_of(broker, name="a") as a,
            gateway_of(gated, name="b", resume_wait=10.0) as b,
        ):
            await ticking(origin, 3)
            await eventually(lambda: b.fed.frame == origin.frame)
            link = Forwarder(a.tcp_address[1])
            await link.start()
            watched = Watched(link.url, "c")
            try:
                await watched.client.connect()
                gated.open.clear()  # b lags from now on
                await ticking(origin, 5)
                await converge(origin, [watched])
                assert b.fed.frame == origin.frame - 5
                before = watched.client.snapshot_bytes
                link.target = b.tcp_address[1]
                link.cut()  # the client moves to b, 5 frames ahead of it
                # Let b answer the client's hello while it lags (it waits for the frames).
                with contextlib.suppress(TimeoutError):
                    await eventually(lambda: watched.client.server_name == "b", timeout=0.5)
                gated.open.set()
                await eventually(lambda: watched.client.server_name == "b")
                await ticking(origin, 3)
                await converge(origin, [watched])
                # A delta, not a snapshot: the client dropped nothing (no stale snapshot of
                # a frame before its own, no delta from a frame it does not hold).
                assert watched.client.snapshot_bytes == before
                assert watched.dropped == []
            finally:
                await watched.client.close()
                await link.close()

    run(main)


def test_a_gateway_paused_longer_than_the_stream_reseeds_from_the_snapshot(
    server: BrokerServer,
) -> None:
    async def main() -> None:
        async with make_broker(server, history=8) as broker, origin_of(broker) as origin:
            await ticking(origin, 3)
            paused = GatewayProcess(server.url, "w", SECRET, "--max-feed", "4")
            await asyncio.to_thread(paused.start)
            watched = Watched(f"tcp://127.0.0.1:{paused.port}", "c")
            try:
                await watched.client.connect()
                await ticking(origin, 5)
                await converge(origin, [watched])
                before = watched.client.snapshot_bytes
                paused.signal(signal.SIGSTOP)
                await ticking(origin, 30)  # > H = 8 frames
                paused.signal(signal.SIGCONT)
                await converge(origin, [watched])
                assert watched.client.snapshot_bytes > before  # re-seeded: a snapshot came
            finally:
                paused.signal(signal.SIGCONT)
                await watched.client.close()
                paused.stop()

    run(main)


def test_an_origin_restarted_from_the_stored_snapshot(server: BrokerServer) -> None:
    async def main() -> None:
        async with (
            make_broker(server) as broker,
            gateway_of_after(broker) as (first, a, b),
        ):
            clients = [Watched(url_of(g), f"{g.name}{i}") for g in (a, b) for i in range(2)]
            try:
                for c in clients:
                    await c.client.connect()
                await ticking(first, 10)
                await converge(first, clients)
                tick = first.root["tick"]
                first.stop()
                await first.close()
                # The origin crashed; a new one starts from what the broker stored.
                second = await Origin.restore(broker, world="w", tick_rate=50.0)
                second.on_tick = lambda: play(second.root)
                assert second.session != first.session
                assert second.root["tick"] <= tick
                await second.start()
                try:
                    await ticking(second, 10)
                    await converge(second, clients)
                    assert a.session == b.session == second.session
                    assert a.restarts == b.restarts == 1
                finally:
                    await second.close()
            finally:
                for c in clients:
                    await c.client.close()

    run(main)


@asynccontextmanager
async def gateway_of_after(broker: Broker) -> AsyncIterator[tuple[Origin, Gateway, Gateway]]:
    origin = Origin(new_state(), broker, world="w", tick_rate=50.0, snapshot_every=4)
    origin.on_tick = lambda: play(origin.root)
    await origin.start()
    try:
        async with gateway_of(broker, name="a") as a, gateway_of(broker, name="b") as b:
            yield origin, a, b
    finally:
        await origin.close()


def test_the_broker_restarted_under_load(server: BrokerServer) -> None:
    async def main() -> None:
        async with (
            make_broker(server) as broker,
            origin_of(broker, snapshot_every=4) as origin,
            gateway_of(broker, name="a") as a,
            gateway_of(broker, name="b") as b,
        ):
            clients = [Watched(url_of(g), f"{g.name}{i}") for g in (a, b) for i in range(2)]
            try:
                for c in clients:
                    await c.client.connect()
                load = asyncio.create_task(origin.run(ticks=60))
                await eventually(lambda: origin.frame >= 10)
                server.stop()
                await eventually(lambda: origin.frame >= 25)
                server.start()
                await load
                await converge(origin, clients)
            finally:
                for c in clients:
                    await c.client.close()

    run(main)


# -- pieces -----------------------------------------------------------------------------------------


def test_a_stalled_broker_merges_like_a_slow_client_and_the_origin_stores_a_snapshot() -> None:
    class Stalled(Broker):
        def __init__(self) -> None:
            super().__init__(history=8)
            self.published: list[int] = []
            self.stored: list[bytes] = []
            self.open = asyncio.Event()

        async def connect(self) -> None:
            pass

        async def close(self) -> None:
            pass

        async def publish(self, world: str, frame: int, record: bytes) -> None:
            await self.open.wait()
            self.published.append(frame)

        async def store(self, world: str, record: bytes) -> None:
            if self.stored:
                await self.open.wait()
            self.stored.append(record)

        async def load(self, world: str) -> bytes | None:
            return self.stored[-1] if self.stored else None

        async def history_of(self, world: str) -> AsyncIterator[bytes]:
            nothing: tuple[bytes, ...] = ()
            for record in nothing:
                yield record

        async def subscribe(self, world: str, feed: Feed) -> None:
            pass

        async def send_input(self, world: str, record: bytes) -> None:
            pass

        async def subscribe_inputs(self, world: str, feed: Feed) -> None:
            feed.put(b"\xff")  # malformed: dropped

    async def main() -> None:
        broker = Stalled()
        origin = Origin(new_state(), broker, world="w", max_queue=4, snapshot_every=1000)
        await origin.start()
        try:
            for _ in range(20):
                play(origin.root)
                origin.tick()
            assert origin.stalls == 16
            assert len(origin._queue) == 4
            broker.open.set()
            await origin.flushed()
            assert broker.published == [1, 2, 3, 4]
            # The next drained packet merges frames 5 to 21: a snapshot of 21 is stored.
            play(origin.root)
            origin.tick()
            play(origin.root)
            origin.tick()
            await origin.flushed()
            assert broker.published == [1, 2, 3, 4, 22]
            assert broker.stored[-1][9] == 21
            assert origin.publisher.pending(BROKER_CLIENT) is False
        finally:
            await origin.close()

    run(main)


def test_feed_is_bounded_and_drops_its_oldest() -> None:
    async def main() -> None:
        feed = Feed(2)
        for record in (b"1", b"2", b"3"):
            feed.put(record)
        assert (len(feed), feed.dropped) == (2, 1)
        assert await feed.get() == b"2"
        assert await feed.get() == b"3"
        feed.close()
        assert await feed.get() is None

    run(main)


def test_arguments_and_errors() -> None:
    with pytest.raises(ValueError, match="history"):
        NatsBroker(history=0)
    with pytest.raises(ValueError, match="prefix"):
        NatsBroker(prefix="a.b")
    with pytest.raises(ValueError, match="nats:// or redis://"):
        broker_for("http://x", 4)
    assert isinstance(broker_for("redis://127.0.0.1:1/0", 4), RedisBroker)
    broker = NatsBroker("nats://127.0.0.1:1")
    with pytest.raises(ValueError, match="at least 16"):
        Gateway(broker, secret=b"short")
    with pytest.raises(TypeError, match="forwards"):
        Gateway(broker, secret=SECRET, on_message=print)
    with pytest.raises(TypeError, match="does not tick"):
        Gateway(broker, secret=SECRET).tick()
    with pytest.raises(ValueError, match="snapshot_every"):
        Origin(new_state(), broker, snapshot_every=0)
    assert "NatsBroker" in repr(broker)
    assert "RedisBroker" in repr(RedisBroker())

    async def unreachable() -> None:
        for dead in (
            NatsBroker("nats://127.0.0.1:1", timeout=0.5),
            RedisBroker("redis://127.0.0.1:1"),
        ):
            with pytest.raises(BrokerError):
                await dead.connect()
            await dead.close()
        with pytest.raises(LookupError):
            await Origin.restore(Empty(), world="w")

    run(unreachable)
    with pytest.raises(SystemExit):
        relay_main(["nothing"])


class _Stubborn:
    """A stand-in for ``nats.connect`` that behaves as nats-py's first-connection loop
    can on Python 3.11: it swallows ``swallow`` cancellations (an ``asyncio.wait_for``
    that turned them into connection errors) and retries; with ``connects`` it
    succeeds after the first one, with a client the broker must close."""

    def __init__(self, swallow: int, *, connects: bool = False) -> None:
        self.swallow, self.connects = swallow, connects
        self.closed = False

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        swallowed = 0
        for _ in range(300):  # about 3 s: a bound that was not kept fails, not hangs
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                swallowed += 1
                if self.connects:
                    return self
                if swallowed > self.swallow:
                    raise
        raise RuntimeError("the connection attempt ran on: its deadline was not kept")

    async def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("connects", [False, True], ids=["gives-up", "connects-late"])
def test_nats_connect_is_bounded_when_the_client_swallows_a_cancellation(
    monkeypatch: pytest.MonkeyPatch, connects: bool
) -> None:
    import nats  # noqa: PLC0415 - nats-py is optional (flatsync[relay])

    stubborn = _Stubborn(3, connects=connects)
    monkeypatch.setattr(nats, "connect", stubborn)

    async def attempt() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        broker = NatsBroker("nats://127.0.0.1:1", timeout=0.2)
        with pytest.raises(BrokerError, match="no connection within"):
            await broker.connect()
        return loop.time() - start

    assert run(attempt) < 5
    assert stubborn.closed is connects


class Empty(Broker):
    async def connect(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def publish(self, world: str, frame: int, record: bytes) -> None:
        pass

    async def store(self, world: str, record: bytes) -> None:
        pass

    async def load(self, world: str) -> bytes | None:
        return None

    async def history_of(self, world: str) -> AsyncIterator[bytes]:
        nothing: tuple[bytes, ...] = ()
        for record in nothing:
            yield record

    async def subscribe(self, world: str, feed: Feed) -> None:
        pass

    async def send_input(self, world: str, record: bytes) -> None:
        pass

    async def subscribe_inputs(self, world: str, feed: Feed) -> None:
        pass


def test_a_gateway_refuses_to_feed_what_does_not_fit() -> None:
    fed = FedPublisher({"a": 1}, frame=1, session=SECRET[:8])
    with pytest.raises(PatchError):
        fed.feed(2, {"a": {"b": 1}})


def test_a_gateway_catches_up_from_the_stream_then_from_the_snapshot() -> None:
    """Live records lost: the stream fills the gap; past the stream, the snapshot does."""

    class Lossy(MemoryBroker):
        def __init__(self) -> None:
            super().__init__(history=4)
            self.lose = False

        async def publish(self, world: str, frame: int, record: bytes) -> None:
            if not self.lose:
                await super().publish(world, frame, record)
                return
            live, self._live = self._live, {}
            try:
                await super().publish(world, frame, record)
            finally:
                self._live = live

    async def main() -> None:
        broker = Lossy()
        origin = Origin(new_state(), broker, world="w", snapshot_every=6)
        await origin.start()
        async with gateway_of(broker) as gateway:
            watched = Watched(url_of(gateway), "c")
            await watched.client.connect()
            try:

                async def ticks(n: int) -> None:
                    for _ in range(n):
                        play(origin.root)
                        origin.tick()
                    await origin.flushed()

                await ticks(3)
                await converge(origin, [watched])
                snapshots = watched.client.snapshot_bytes
                catch_ups = gateway.catch_ups
                broker.lose = True
                await ticks(2)  # lost live, kept in the stream
                broker.lose = False
                await ticks(1)
                await converge(origin, [watched])
                assert (gateway.catch_ups, gateway.reseeds) == (catch_ups + 1, 0)
                assert watched.client.snapshot_bytes == snapshots
                broker.lose = True
                await ticks(9)  # lost live, and more than the stream keeps
                broker.lose = False
                await ticks(1)
                await converge(origin, [watched])
                assert gateway.reseeds == 1
                assert watched.client.snapshot_bytes > snapshots
                assert gateway.fed.frame == origin.frame
                assert "Gateway" in repr(gateway)
                assert "MemoryBroker" in repr(broker)
                assert "Origin" in repr(origin)
                assert "FedPublisher" in repr(gateway.fed)
            finally:
                await watched.client.close()
        await origin.close()
        await broker.close()

    run(main)
