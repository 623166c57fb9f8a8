"""The demo game over real sockets on 127.0.0.1: a full game with bots, and faults.

The framing and the protocol are flatsync.net's, tested in tests/net; here the
game's side: players join, steer, leave, and misbehave.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flatsync
from arena.bot import Bot
from arena.client import ArenaClient, Disconnected
from arena.game import Game, view_for
from arena.server import ArenaServer
from flatsync.testing import strict_equal


def run(main: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(main(), 60))


# -- a whole game -----------------------------------------------------------------------


@asynccontextmanager
async def arena(**options: Any) -> AsyncIterator[ArenaServer]:
    server = ArenaServer(Game(seed=11), tick_rate=options.pop("tick_rate", 200), **options)
    await server.start("127.0.0.1", 0)
    try:
        yield server
    finally:
        await server.close()


def assert_in_sync(server: ArenaServer, client: ArenaClient) -> None:
    expected = view_for(client.pid).project(server.game.state.snapshot())
    assert client.replica.frame == server.publisher.frame
    assert strict_equal(client.state, expected), client.name if hasattr(client, "name") else ""


async def settle(server: ArenaServer, clients: list[ArenaClient]) -> None:
    for client in clients:
        await client.wait_for_frame(server.publisher.frame, timeout=10)


def test_bots_play_a_game_and_every_replica_ends_equal_to_the_server(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ticks = 300

    async def main() -> list[tuple[str, float, int]]:
        async with arena() as server:
            bots = [await Bot.join("127.0.0.1", server.port, f"bot{n}", seed=n) for n in range(5)]
            await server.run(ticks=ticks)
            clients = [bot.client for bot in bots]
            await settle(server, clients)
            for client in clients:
                assert_in_sync(server, client)
            players = server.game.state["players"]
            assert sum(player.score for player in players.values()) > 0  # they played
            assert all(bot.moves > 0 for bot in bots)
            report = [
                (players[c.pid].name, c.bytes_received / ticks, players[c.pid].score)
                for c in clients
            ]
            for client in clients:
                await client.close()
            return report

    report = run(main)
    with capsys.disabled():
        print(f"\n  arena end to end, {ticks} ticks:")
        for name, per_tick, score in report:
            print(f"    {name}: {per_tick:.1f} bytes per tick (snapshot included), score {score}")
    # Five players move each tick: a few dozen bytes of positions, not the board.
    assert all(per_tick < 200 for _, per_tick, _ in report)


def test_a_late_joiner_gets_a_snapshot_and_follows() -> None:
    async def main() -> None:
        async with arena() as server:
            early = await Bot.join("127.0.0.1", server.port, "early", seed=1)
            await server.run(ticks=50)
            late = await Bot.join("127.0.0.1", server.port, "late", seed=2)
            await server.run(ticks=50)
            clients = [early.client, late.client]
            await settle(server, clients)
            for client in clients:
                assert_in_sync(server, client)
            assert set(late.client.state["players"]) == {early.client.pid, late.client.pid}
            assert set(late.client.state["private"]) == {late.client.pid}
            for client in clients:
                await client.close()

    run(main)


def test_a_full_server_refuses_politely() -> None:
    async def main() -> None:
        async with arena() as server:
            clients = [
                await ArenaClient.connect("127.0.0.1", server.port, f"p{n}") for n in range(26)
            ]
            with pytest.raises(Disconnected, match="full"):
                await ArenaClient.connect("127.0.0.1", server.port, "one too many")
            for client in clients:
                await client.close()

    run(main)


def test_the_server_says_goodbye_when_it_closes() -> None:
    async def main() -> None:
        async with arena() as server:
            client = await ArenaClient.connect("127.0.0.1", server.port, "ada")
            await server.run(ticks=3)
            await client.wait_for_frame(3)
        await asyncio.wait_for(client.closed.wait(), 5)
        assert client.goodbye == "the server said goodbye: the server is shutting down"
        with pytest.raises(Disconnected):
            await client.wait_for_frame(100)
        await client.close()

    run(main)


# -- faults ----------------------------------------------------------------------------


def message(kind: bytes, body: bytes) -> bytes:
    """One flatsync.net message on TCP: its length (one LEB128 byte here), kind, body."""
    assert len(body) < 127
    return bytes((len(body) + 1,)) + kind + body


async def raw_join(port: int, name: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A hand-made client: says hello, reads the welcome, then does what the test says."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    hello = flatsync.CborCodec().encode({"v": 1, "codec": "cbor", "name": name})
    writer.write(message(b"H", hello))
    size = (await reader.readexactly(1))[0]
    if size & 0x80:
        size = size & 0x7F | (await reader.readexactly(1))[0] << 7
    assert (await reader.readexactly(size))[:1] == b"W"
    return reader, writer


async def reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (SO_LINGER 0), as a crashed process's kernel would."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
    await asyncio.sleep(0)


async def until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Wait until ``condition()`` holds, checking every few milliseconds; fail after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        await asyncio.sleep(0.01)


async def close_all(writers: list[asyncio.StreamWriter]) -> None:
    """Close every raw connection a test opened, whatever state it is in."""
    for writer in writers:
        writer.transport.abort()
    for writer in writers:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 5)


FAULTY = {"crasher", "staller", "babbler", "quitter", "steerer"}


def test_faulty_clients_are_dropped_and_the_others_stay_in_sync(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="flatsync.net")

    async def main() -> None:
        raw: list[asyncio.StreamWriter] = []
        clients: list[ArenaClient] = []

        async def join(name: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            reader, writer = await raw_join(server.port, name)
            raw.append(writer)
            return reader, writer

        async with arena(idle_timeout=1.0, write_limit=4096) as server:
            ticking: asyncio.Task[None] | None = None
            try:
                healthy = [
                    await Bot.join("127.0.0.1", server.port, f"ok{n}", seed=n) for n in range(3)
                ]
                clients = [bot.client for bot in healthy]
                ticking = asyncio.create_task(server.run())

                # One that crashes mid-stream: a reset once frames reach it.
                crashing, crasher = await join("crasher")
                await asyncio.wait_for(crashing.read(1), 30)
                await reset(crasher)
                # One that stalls: it joins, then neither reads nor answers.
                await join("staller")
                # One that sends garbage after its hello, and one that sends garbage instead.
                _, babbler = await join("babbler")
                babbler.write(b"\x05Rjunk")
                _, stranger = await asyncio.open_connection("127.0.0.1", server.port)
                raw.append(stranger)
                stranger.write(b"GET / HTTP/1.1\r\nHost: arena\r\n\r\n")
                # One that hangs up in the middle of a message.
                _, quitter = await join("quitter")
                quitter.write(b"\x10S12")
                quitter.close()
                # One whose steering is not a direction.
                _, steerer = await join("steerer")
                steerer.write(message(b"M", flatsync.CborCodec().encode("Z")))

                # The stall takes idle_timeout (1 s) to notice.
                await until(
                    lambda: {name for name, _ in server.departures} >= FAULTY,
                    "every faulty client departed",
                )
                frame_then = server.publisher.frame
                await until(lambda: server.publisher.frame > frame_then, "still ticking")
                server.stop()
                await ticking
                await settle(server, clients)
                for client in clients:
                    assert_in_sync(server, client)
                assert set(server.clients) == {client.pid for client in clients}
                assert set(server.game.state["players"]) == {client.pid for client in clients}
                reasons = dict(server.departures)
                # A reset shows as one on a read, or as a broken pipe on a write first.
                assert reasons["crasher"] in {
                    "connection error (ConnectionResetError)",
                    "connection error (BrokenPipeError)",
                    "the peer closed the connection",
                }
                assert reasons["staller"] == "silent for more than 1 s"
                assert reasons["babbler"].startswith("sent a malformed message (FrameError")
                # Cut short, or reset: the kernel resets a socket closed with unread data, and
                # the server sees the reset on a read, or as a broken pipe on a write first.
                assert reasons["quitter"] in {
                    "the connection ended in the middle of a message",
                    "connection error (ConnectionResetError)",
                    "connection error (BrokenPipeError)",
                }
                assert reasons["steerer"] == "sent garbage (unknown direction 'Z')"
            finally:
                server.stop()
                if ticking is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(ticking, 10)
                await close_all(raw)
                for client in clients:
                    await client.close()

    run(main)
    logged = caplog.text
    assert "connection from" in logged  # the stranger never joined
    assert "(babbler, " in logged


def test_a_slow_reader_is_skipped_then_caught_up_with_one_merged_delta() -> None:
    async def main() -> None:
        async with arena(write_limit=0) as server:  # nothing may wait in a send buffer
            bot = await Bot.join("127.0.0.1", server.port, "bot", seed=1)
            await server.run(ticks=100)
            await settle(server, [bot.client])
            assert_in_sync(server, bot.client)
            # Skipped ticks were merged: at most one packet per tick, none lost.
            assert bot.client.packets_received <= 101
            await bot.client.close()

    run(main)


@given(junk=st.binary(min_size=1, max_size=64))
@settings(max_examples=15, deadline=None)
def test_random_bytes_after_a_hello_never_stop_the_server(junk: bytes) -> None:
    async def main() -> None:
        async with arena(idle_timeout=0.5) as server:
            bot = await Bot.join("127.0.0.1", server.port, "bot", seed=1)
            raw: list[asyncio.StreamWriter] = []
            try:
                _, writer = await raw_join(server.port, "fuzzer")
                raw.append(writer)
                writer.write(junk)
                await server.run(ticks=20)
                writer.close()
                await server.run(ticks=5)
                await settle(server, [bot.client])
                assert_in_sync(server, bot.client)
            finally:
                await close_all(raw)
                await bot.client.close()

    run(main)


def test_flatsync_errors_are_flatsync_errors() -> None:
    # The server relies on this to tell garbage from bugs.
    assert issubclass(flatsync.FrameError, flatsync.FlatsyncError)
