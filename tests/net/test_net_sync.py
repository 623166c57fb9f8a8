"""flatsync.net over real sockets on 127.0.0.1: convergence, flow control, resume, restarts."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from _net_helpers import TRANSPORTS, Proxy, Raw, eventually, run, serving, url

import flatsync
from flatsync.net import Client, Connected, Message, Peer, Refused, Server, ServerRefused
from flatsync.net._messages import Kind
from flatsync.testing import strict_equal


def mutate(root: flatsync.DataHandler, rng: random.Random) -> None:
    """A few random writes: values, nested maps, deletes, lists."""
    for _ in range(rng.randint(1, 4)):
        key = rng.randrange(12)
        roll = rng.random()
        if roll < 0.2 and key in root:
            del root[key]
        elif roll < 0.5:
            root[key] = {"hp": rng.randint(0, 9), "pos": (rng.random(), -0.0)}
        elif roll < 0.7:
            root[key] = [rng.randint(0, 3) for _ in range(rng.randint(0, 4))]
        else:
            root[key] = rng.choice([1, 1.0, True, "x", b"\x00", None])


def synced(client: Client, server: Server) -> bool:
    return client.replica.frame == server.publisher.frame and strict_equal(
        client.state, server.publisher.root
    )


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_many_clients_converge_strictly(transport: str) -> None:
    async def main() -> None:
        async with serving({}) as server:
            clients = [Client(url(server, transport), name=f"c{i}", events=False) for i in range(8)]
            for client in clients:
                await client.connect()
            rng = random.Random(14)
            for _ in range(60):
                mutate(server.publisher.root, rng)
                server.tick()
                await asyncio.sleep(0)  # let the writers run between ticks
            await eventually(lambda: all(synced(c, server) for c in clients))
            assert sorted(p.name for p in server.clients.values()) == [f"c{i}" for i in range(8)]
            for client in clients:
                await client.close()
            await eventually(lambda: not server.clients)

    run(main)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_events_and_application_messages_both_ways(transport: str) -> None:
    async def main() -> None:
        heard: list[tuple[str, Any]] = []

        def on_message(peer: Peer, message: Any) -> None:
            heard.append((peer.name, message))
            server.send(peer.id, {"echo": message})

        async with serving({"hp": 8}, on_message=on_message) as server:
            async with Client(url(server, transport), name="ann") as client:
                client.send(("steer", "N"))
                server.tick()
                events: list[Any] = []
                async for event in client:
                    events.append(event)
                    if any(isinstance(e, Message) for e in events) and any(
                        isinstance(e, flatsync.FrameApplied) for e in events
                    ):
                        break
                assert heard == [("ann", ("steer", "N"))]
                assert Message(data={"echo": ("steer", "N")}) in events
                assert isinstance(events[0], Connected)
                assert not events[0].resumed
                assert events[0].new_session is False
                assert flatsync.Added(path=("hp",), new=8) in events
                server.publisher.root["hp"] = 7
                server.tick()
                async for event in client:
                    if isinstance(event, flatsync.Changed):
                        assert event == flatsync.Changed(path=("hp",), old=8, new=7)
                        break
            # After close, the iteration ends.
            assert [event async for event in client] == []

    run(main)


def test_a_slow_reader_stays_within_k_frames_and_gets_a_merged_catch_up() -> None:
    async def main() -> None:
        async with serving({"hp": 0}, max_in_flight=3) as server:
            raw = await Raw.open(server.tcp_address)
            cid = await raw.hello()
            publisher = server.publisher
            # It reads nothing and acknowledges nothing, while 100 ticks pass.
            for tick in range(100):
                publisher.root["hp"] = tick
                server.tick()
                await asyncio.sleep(0)
            await eventually(lambda: len(server._conns[cid].in_flight) == 3)
            assert publisher.pending(cid)  # the rest waits, merged, in the publisher
            # It was sent exactly 3 packets: a snapshot and two deltas of one frame each.
            packets = [await raw.recv_sync() for _ in range(3)]
            assert packets[0][0] == 0x11
            assert [p[0] for p in packets[1:]] == [0x10, 0x10]
            # One acknowledgement of the last: the next packet is one delta to the latest frame.
            last = publisher.acked(cid)
            assert last is None
            frame_of_third = packets[2][1]
            await raw.send(Kind.REPLY, bytes((0x12, frame_of_third)))
            catch_up = await raw.recv_sync()
            assert catch_up == bytes((0x10, 100, 100 - frame_of_third)) + b"\xa1\x62hp\x18\x63"
            assert server._conns[cid].outbox_bytes <= server.max_outbox
            raw.abort()

    run(main)


def test_a_reader_that_stops_reading_is_held_at_the_high_water_mark_then_dropped() -> None:
    async def main() -> None:
        left: list[str] = []
        async with serving(
            {"blob": b""},
            max_in_flight=1_000_000,
            high_water=16 * 1024,
            idle_timeout=3.0,
            on_leave=lambda peer, reason: left.append(reason),
        ) as server:
            raw = await Raw.open(server.tcp_address, rcvbuf=4096)
            cid = await raw.hello()
            conn = server._conns[cid]
            assert conn.link is not None
            link = conn.link
            peak = 0
            for tick in range(400):
                server.publisher.root["blob"] = tick.to_bytes(2, "big") * 5000
                server.tick()
                await asyncio.sleep(0)
                peak = max(peak, link.buffered())
                if left:
                    break
                raw.write(b"\x09P" + bytes(8))  # it pings: it is not silent, it does not read
            # Never more than the mark plus one packet waits in the server for it.
            assert peak <= 16 * 1024 + 10_100

            def pinging() -> bool:
                raw.write(b"\x09P" + bytes(8))
                return bool(left)

            await eventually(pinging)
            assert left == ["not reading: a write waited more than 3 s"]
            raw.abort()

    run(main)


def test_a_peer_that_pings_and_never_reads_is_dropped_with_bounded_memory() -> None:
    async def main() -> None:
        left: list[str] = []
        async with serving(
            {}, high_water=4096, max_outbox=4096, on_leave=lambda peer, reason: left.append(reason)
        ) as server:
            raw = await Raw.open(server.tcp_address, rcvbuf=4096)
            cid = await raw.hello()
            sent = 0
            while not left and sent < 2_000_000:
                raw.write(b"\x09P" + bytes(8))
                sent += 1
                if sent % 1000 == 0:
                    await asyncio.sleep(0)
                    if cid in server._conns:
                        assert server._conns[cid].outbox_bytes <= 4096
            await eventually(lambda: bool(left))
            assert left == ["not reading: its outbox is full"]
            raw.abort()

    run(main)


# -- resume and restarts ---------------------------------------------------------------


def test_a_reconnect_within_the_history_gets_a_delta_and_beyond_it_a_snapshot() -> None:
    async def main() -> None:
        async with serving({"hp": 8}, history=4) as server:
            proxy = Proxy(server.tcp_address)
            host, port = await proxy.start()
            client = Client(f"tcp://{host}:{port}", events=False, backoff=(0.02, 0.1))
            await client.connect()
            publisher = server.publisher
            publisher.root["hp"] = 7
            server.tick()
            await eventually(lambda: synced(client, server))
            held = client.replica.frame
            assert held == 1
            (peer,) = server.clients.values()

            def new_packets(before: set[int]) -> list[bytes]:
                return [
                    body
                    for number, kind, body in proxy.messages
                    if number not in before and kind is Kind.SYNC
                ]

            async def cut() -> set[int]:
                before = {number for number, _, _ in proxy.messages}
                proxy.up = False
                proxy.cut()
                await eventually(lambda: not peer.connected and not client.connected)
                return before

            # Within the history: the first packet on the new connection is the delta 1 → 3.
            before = await cut()
            assert publisher.paused(peer.id)  # detached: nothing is built for it meanwhile
            for _ in range(2):
                publisher.root["hp"] = 5
                server.tick()
            assert not publisher.pending(peer.id)
            proxy.up = True
            await eventually(lambda: synced(client, server))
            assert new_packets(before)[0] == bytes.fromhex("10 03 02 a1 62 68 70 05")
            # The first snapshot: its header, the 8 bytes of the session, {"hp": 8}.
            assert client.snapshot_bytes == len(bytes.fromhex("11 01") + server.session) + 5
            assert peer is next(iter(server.clients.values()))  # the same client, resumed

            # Beyond the history (4 frames): frame 4 is lost in flight, the line drops, and
            # 10 ticks later the replica, at frame 3, gets a snapshot.
            proxy.deliver = False
            publisher.root["hp"] = 4
            server.tick()
            await eventually(lambda: proxy.swallowed > 0)
            before = await cut()
            proxy.deliver = True
            for _ in range(10):
                server.tick()
            proxy.up = True
            await eventually(lambda: peer.connected)
            server.tick()
            await eventually(lambda: synced(client, server))
            assert new_packets(before)[0] == (
                bytes.fromhex("11 0f") + server.session + bytes.fromhex("a1 62 68 70 04")
            )
            assert strict_equal(client.state, {"hp": 4})
            await client.close()
            await proxy.close()

    run(main)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_resume_over_websocket_or_tcp_continues_without_a_snapshot(transport: str) -> None:
    async def main() -> None:
        async with serving({"hp": 8}) as server:
            client = Client(url(server, transport), events=False, backoff=(0.02, 0.1))
            await client.connect()
            server.tick()
            await eventually(lambda: synced(client, server))
            snapshot_bytes = client.snapshot_bytes
            (conn,) = server._conns.values()
            old = conn.link
            assert old is not None
            old.abort()  # the line drops under both
            server.publisher.root["hp"] = 3
            server.tick()
            await eventually(lambda: conn.link not in (None, old) and synced(client, server))
            assert client.snapshot_bytes == snapshot_bytes
            assert list(server.clients) == [conn.peer.id]
            await client.close()

    run(main)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_restarted_server_leads_its_clients_to_the_new_sessions_snapshot(transport: str) -> None:
    async def main() -> None:
        first = Server(flatsync.DataHandler({"hp": 93, "name": "A"}))
        await first.start(tcp=("127.0.0.1", 0), websocket=("127.0.0.1", 0))
        tcp, ws = first.tcp_address, first.websocket_address
        clients = [
            Client(url(first, transport), events=True, backoff=(0.02, 0.2)) for _ in range(3)
        ]
        for client in clients:
            await client.connect()
        for _ in range(5):
            first.publisher.root["hp"] -= 1
            first.tick()
        await eventually(lambda: all(synced(c, first) for c in clients))
        old_states = [c.state for c in clients]
        await first.close()

        # The second server: another session, whose frames restart from 0.
        second = Server(flatsync.DataHandler({"hp": 1}), tick_rate=100)
        await second.start(tcp=tcp, websocket=ws)
        ticking = asyncio.create_task(second.run())
        await eventually(lambda: all(synced(c, second) for c in clients))
        second.stop()
        await ticking
        for client, old in zip(clients, old_states, strict=True):
            # One replica for the client's life: the app's state object is kept, and
            # the new session's snapshot replaced it whole.
            assert client.state is old
            assert strict_equal(client.state, {"hp": 1})  # never {"hp": 1, "name": "A"}
            seen: list[Any] = []
            async for event in client:
                seen.append(event)
                if isinstance(event, Connected) and event.new_session:
                    break
            assert seen[-1].session == second.session
            async for event in client:
                seen.append(event)
                if isinstance(event, flatsync.FrameApplied) and event.base is None:
                    break
            assert flatsync.Removed(path=("name",), old="A") in seen
            await client.close()
        await second.close()

    run(main)


# -- refusals ------------------------------------------------------------------------------


def test_refusals_reach_the_client() -> None:
    async def main() -> None:
        def on_join(peer: Peer) -> None:
            if peer.name == "mallory":
                raise Refused("not you")

        async with serving({}, on_join=on_join) as server:
            with pytest.raises(ServerRefused, match="not you"):
                await Client(url(server, "tcp"), name="mallory").connect()
            with pytest.raises(ServerRefused, match="codec mismatch"):
                await Client(url(server, "websocket"), codec=flatsync.JsonCodec()).connect()
            async with Client(url(server, "tcp"), name="ann", events=False):
                pass
            assert not server.clients

    run(main)


def test_a_client_keeps_reconnecting_through_http_errors_of_a_restarting_server() -> None:
    async def main() -> None:
        first = Server(flatsync.DataHandler({"hp": 1}))
        await first.start(websocket=("127.0.0.1", 0))
        address = first.websocket_address
        client = Client(url(first, "websocket"), events=False, backoff=(0.01, 0.05))
        await client.connect()
        await first.close()
        refusals = 0

        async def unavailable(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal refusals
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            refusals += 1
            writer.close()

        busy = await asyncio.start_server(unavailable, *address)
        await eventually(lambda: refusals >= 3)
        busy.close()
        await busy.wait_closed()
        second = Server(flatsync.DataHandler({"hp": 2}), tick_rate=100)
        await second.start(websocket=address)
        ticking = asyncio.create_task(second.run())
        await eventually(lambda: synced(client, second))
        assert not client.closed
        second.stop()
        await ticking
        await client.close()
        await second.close()

    run(main)
