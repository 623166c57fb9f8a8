"""The JavaScript WebSocket client against the Python ``flatsync.net`` server, on 127.0.0.1.

The client (``js/test/cross/ws-client.ts``, run by node with its built-in
WebSocket) joins, follows the state tick by tick, exchanges application
messages, resumes after its connection drops, and follows a restarted server
to its new session; it reports what happens as
JSON lines on stdout and takes commands on stdin.
"""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import flatsync
from flatsync.net import Server
from test_js_cross import JS, need_program, tagged
from test_js_cross import _build as build_js

CLIENT = JS / "build" / "test" / "cross" / "ws-client.js"
WAIT = 60.0


class JsClient:
    """The node process and what it reported."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.events: list[dict[str, Any]] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            self.events.append(json.loads(line))

    def command(self, **command: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(command) + "\n").encode())

    async def until(self, condition: Callable[[], bool]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        while not condition():
            if loop.time() > deadline or self.reader.done():
                raise TimeoutError(f"the JS client did not get there: {self.events[-3:]}")
            await asyncio.sleep(0.01)

    def last(self, event: str) -> dict[str, Any] | None:
        found = [e for e in self.events if e["event"] == event]
        return found[-1] if found else None

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.command(cmd="close")
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:  # pragma: no cover - only if it hangs
                self.process.kill()
                await self.process.wait()
        await self.reader


async def _synced(client: JsClient, frame: int, state: Any) -> None:
    """Wait until the JS client's latest state is ``state`` at ``frame``, exactly."""
    want = {"event": "state", "frame": frame, "state": state}
    await client.until(lambda: client.last("state") == want)


@pytest.fixture(scope="module")
def built() -> Path:
    build_js()
    return CLIENT


@pytest.mark.parametrize("codec_name", ["cbor", "json"])
def test_js_client_joins_follows_messages_and_resumes(built: Path, codec_name: str) -> None:
    codec = flatsync.CborCodec() if codec_name == "cbor" else flatsync.JsonCodec()
    received: list[Any] = []

    async def main() -> None:
        root = flatsync.DataHandler(
            {"players": {1: {"pos": (2, 2), "hp": 8}}, "board": flatsync.ByteHandler("u8", (4,))}
        )
        server = Server(
            root, codec=codec, on_message=lambda peer, message: received.append(message)
        )
        await server.start(websocket=("127.0.0.1", 0))
        host, port = server.websocket_address
        node = need_program("node", "nodejs")
        process = await asyncio.create_subprocess_exec(
            node,
            "--experimental-websocket",
            "--no-warnings",
            str(built),
            f"ws://{host}:{port}/",
            codec_name,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        client = JsClient(process)
        try:
            session = server.publisher.session.hex()
            await client.until(lambda: (client.last("welcome") or {}).get("session") == session)
            for tick in range(5):
                root["players"][1]["hp"] = 8 - tick
                root["players"][tick + 2] = {"pos": (tick, 0.5), "hp": 2**60 + tick}
                root["board"][tick % 4] = tick
                await _synced(client, server.tick(), tagged(root.snapshot()))
            # Application messages both ways.
            client.command(
                cmd="send",
                value=["tuple", [["str", "steer"], ["float", struct.pack(">d", 1.0).hex()]]],
            )
            await client.until(lambda: received == [("steer", 1.0)])
            assert type(received[0][1]) is float
            (peer_id,) = server.clients
            server.send(peer_id, {"hello": b"\x00"})
            await client.until(lambda: client.last("message") is not None)
            assert client.last("message") == {
                "event": "message",
                "value": tagged({"hello": b"\x00"}),
            }
            # A dropped connection resumes where the replica is.
            client.command(cmd="drop")
            await client.until(lambda: (client.last("welcome") or {}).get("resumed") is True)
            del root["players"][1]
            await _synced(client, server.tick(), tagged(root.snapshot()))
            # A restarted server (a new session on the same port): the client comes
            # back, and the new session's snapshot replaces the state.
            await server.close()
            fresh = flatsync.DataHandler({"players": {9: {"pos": (0, 0), "hp": 1.0}}})
            server = Server(fresh, codec=codec)
            await server.start(websocket=("127.0.0.1", port))
            session = server.publisher.session.hex()
            await client.until(lambda: (client.last("welcome") or {}).get("session") == session)
            await _synced(client, server.tick(), tagged(fresh.snapshot()))
        finally:
            await client.stop()
            await server.close()

    asyncio.run(asyncio.wait_for(main(), 180))
