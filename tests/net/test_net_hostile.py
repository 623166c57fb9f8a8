"""Hostile and broken peers end their own connection only, with one short log line each."""

from __future__ import annotations

import asyncio
import logging
import random

import pytest
from _net_helpers import Raw, eventually, run, serving, url
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

import flatsync
from flatsync.net import Client, ProtocolError
from flatsync.net._messages import (
    Hello,
    Kind,
    Resume,
    decode_hello,
    decode_welcome,
    encode_hello,
    frame,
    read_length,
)
from flatsync.testing import strict_equal


def test_framing() -> None:
    assert frame(Kind.SYNC, b"\x11\x01") == b"\x03S\x11\x01"
    assert frame(Kind.SYNC, bytes(200))[:3] == b"\xc9\x01S"
    assert read_length(b"\xc9") is None
    assert read_length(b"\xc9\x01") == 201
    with pytest.raises(ProtocolError, match="0 bytes"):
        read_length(b"\x00")
    with pytest.raises(ProtocolError, match="more than 4 bytes"):
        read_length(b"\x80\x80\x80\x80\x01")


def test_hello_round_trips_and_is_checked() -> None:
    hello = Hello(
        codec="cbor",
        name="ann",
        token=b"t",
        resume=Resume(session=bytes(16), client=3, key=bytes(16), frame=None),
    )
    assert decode_hello(encode_hello(hello)) == hello
    assert encode_hello(Hello(codec="cbor", name="ann")).hex(" ") == (
        "a3 61 76 01 65 63 6f 64 65 63 64 63 62 6f 72 64 6e 61 6d 65 63 61 6e 6e"
    )
    for body, match in [
        (b"\xff", "malformed"),
        (b"\x80", "is a map"),
        (b"\xa1\x61v\x02", "protocol version 2"),
        (b"\xa1\x61v\x01", "'codec'"),
        (flatsync.CborCodec().encode({"v": 1, "codec": "cbor", "name": "x" * 65}), "64"),
        (bytes(2000), "malformed"),
    ]:
        with pytest.raises(ProtocolError, match=match):
            decode_hello(body)
    with pytest.raises(ProtocolError, match="'session'"):
        decode_welcome(flatsync.CborCodec().encode({"v": 1, "codec": "cbor"}))


def test_hostile_peers_end_only_their_own_connection(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="flatsync.net")

    async def main() -> None:
        async with serving(
            {"hp": 8}, handshake_timeout=1.0, resume_timeout=0, tick_rate=50
        ) as server:
            ticking = asyncio.create_task(server.run())
            honest = [
                Client(url(server, "tcp"), name="tcp", events=False),
                Client(url(server, "websocket"), name="ws", events=False),
            ]
            for client in honest:
                await client.connect()
            tcp = server.tcp_address
            rng = random.Random(7)

            async def garbage() -> None:
                raw = await Raw.open(tcp)
                raw.write(bytes(rng.randrange(256) for _ in range(64)))
                assert await raw.closed()

            async def half_message() -> None:
                raw = await Raw.open(tcp)
                await raw.hello("half")
                raw.write(b"\x64R\x12")  # 100 bytes announced, 2 sent, then gone
                await raw.writer.drain()
                # A FIN, not a reset: a reset may reach the server before it reads
                # the half message, which the kernel then drops (a "connection
                # error" instead of the end in the middle of a message).
                raw.writer.write_eof()
                assert await raw.closed()

            async def huge_message() -> None:
                raw = await Raw.open(tcp)
                await raw.hello("huge")
                raw.write(frame(Kind.MESSAGE, bytes(1 << 20)))
                assert await raw.closed()

            async def read_forever(ws: ClientConnection) -> None:
                while True:
                    await ws.recv()

            async def huge_websocket_message() -> None:
                host, port = server.websocket_address
                async with connect(f"ws://{host}:{port}/", max_size=None) as ws:
                    await ws.send(Kind.HELLO.value + encode_hello(Hello(codec="cbor")))
                    await ws.recv()
                    await ws.send(Kind.MESSAGE.value + bytes(1 << 20))
                    with pytest.raises(ConnectionClosed, match="1009"):
                        await read_forever(ws)

            async def stalled_handshake() -> None:
                raw = await Raw.open(tcp)
                assert await raw.closed()  # the server hangs up after handshake_timeout

            async def cycles() -> None:
                for index in range(200):
                    raw = await Raw.open(tcp)
                    if index % 2:
                        await raw.hello("cycle")
                    raw.abort()

            async def honest_changes() -> None:
                for value in range(40):
                    server.publisher.root["hp"] = value
                    await asyncio.sleep(0.005)

            await asyncio.gather(
                garbage(),
                half_message(),
                huge_message(),
                huge_websocket_message(),
                stalled_handshake(),
                cycles(),
                honest_changes(),
            )
            await eventually(
                lambda: all(
                    c.replica.frame == server.publisher.frame
                    and strict_equal(c.state, server.publisher.root)
                    for c in honest
                )
            )
            # Nothing of the hostile peers is left: only the honest clients remain.
            await eventually(lambda: len(server.clients) == 2 and not server._farewells)
            assert sorted(p.name for p in server.clients.values()) == ["tcp", "ws"]
            assert server._handshakes == 0
            for client in honest:
                await client.close()
            server.stop()
            await ticking

    run(main)
    lines = [r.getMessage() for r in caplog.records if r.name == "flatsync.net"]
    assert lines
    assert max(len(line) for line in lines) < 400
    assert any("malformed" in line for line in lines)
    assert any("in the middle of a message" in line for line in lines)
    assert any("silent for more than 1 s" in line for line in lines)
    assert any("1048577 bytes" in line for line in lines)
