"""What the flatsync.net tests share: a server on 127.0.0.1, raw peers, a cuttable proxy, waits."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import flatsync
from flatsync.net import Client, Server
from flatsync.net._links import LinkClosed, TcpLink
from flatsync.net._messages import Hello, Kind, decode_welcome, encode_hello, frame

TRANSPORTS = ["tcp", "websocket"]

#: Generous: the machine is shared, and a wait ends as soon as its condition holds.
WAIT = 60.0


def run(main: Callable[[], Awaitable[Any]]) -> Any:
    """Run a test's coroutine with an outer bound, so that a hang fails instead of stalling."""
    return asyncio.run(asyncio.wait_for(main(), 180))


async def eventually(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    """Wait until ``condition()`` holds, checking between turns of the loop."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError("the condition did not hold in time")
        await asyncio.sleep(0.005)


def url(server: Server, transport: str) -> str:
    if transport == "tcp":
        host, port = server.tcp_address
        return f"tcp://{host}:{port}"
    host, port = server.websocket_address
    return f"ws://{host}:{port}/"


@asynccontextmanager
async def serving(state: dict[Any, Any] | None = None, **options: Any) -> AsyncIterator[Server]:
    """A server on both transports of 127.0.0.1, closed on exit."""
    root = flatsync.DataHandler({"hp": 8} if state is None else state)
    server = Server(root, **options)
    await server.start(tcp=("127.0.0.1", 0), websocket=("127.0.0.1", 0))
    try:
        yield server
    finally:
        await server.close()


class Raw:
    """A hand-driven TCP peer: it sends and reads exactly what a test says."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.link = TcpLink(reader, writer, max_message=1 << 24, high_water=1 << 20)

    @classmethod
    async def open(cls, address: tuple[str, int], *, rcvbuf: int | None = None) -> Raw:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, address)
        reader, writer = await asyncio.open_connection(sock=sock)
        return cls(reader, writer)

    async def hello(self, name: str = "raw") -> int:
        """Say hello; the client id of the welcome."""
        await self.link.send(Kind.HELLO, encode_hello(Hello(codec="cbor", name=name)))
        kind, body = await self.link.recv()
        assert kind is Kind.WELCOME
        return decode_welcome(body).client

    def write(self, data: bytes) -> None:
        self.writer.write(data)

    async def send(self, kind: Kind, body: bytes = b"") -> None:
        self.writer.write(frame(kind, body))
        await self.writer.drain()

    async def recv(self) -> tuple[Kind, bytes]:
        return await self.link.recv()

    async def recv_sync(self) -> bytes:
        """The next sync packet (pings are answered, other messages skipped)."""
        while True:
            kind, body = await self.link.recv()
            if kind is Kind.SYNC:
                return body
            if kind is Kind.PING:
                await self.send(Kind.PONG, body)

    async def closed(self) -> bool:
        """Read until the server closes the connection (True), skipping messages."""
        try:
            while True:
                await self.link.recv()
        except (LinkClosed, flatsync.FlatsyncError):
            return True
        finally:
            self.abort()

    def abort(self) -> None:
        self.writer.transport.abort()


class Proxy:
    """A TCP proxy in front of a server: it records what the server sends and can cut the line."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.up = True
        #: False: what the server sends is swallowed (lost in flight), not forwarded.
        self.deliver = True
        self.swallowed = 0
        self.pairs: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = []
        self.tasks: set[asyncio.Task[None]] = set()
        #: Each message the server sent through the proxy, as (connection number, kind, body).
        self.messages: list[tuple[int, Kind, bytes]] = []
        self._server: asyncio.Server | None = None
        self._count = 0

    async def start(self) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        host, port = self._server.sockets[0].getsockname()[:2]
        return host, port

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.transport.abort()
            return
        self._count += 1
        number = self._count
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.pairs.append((writer, up_writer))
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        try:
            await asyncio.gather(
                self._pipe(reader, up_writer, None), self._pipe(up_reader, writer, number)
            )
        finally:
            self.tasks.discard(task)
            writer.transport.abort()
            up_writer.transport.abort()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, record: int | None
    ) -> None:
        link = TcpLink(reader, writer, max_message=1 << 24, high_water=1 << 20)
        with contextlib.suppress(Exception):
            while True:
                if record is None:
                    data = await reader.read(65536)
                    if not data:
                        break
                    writer.write(data)
                else:
                    kind, body = await link.recv()
                    if not self.deliver:
                        self.swallowed += 1
                        continue
                    self.messages.append((record, kind, body))
                    writer.write(frame(kind, body))
        writer.transport.abort()

    def cut(self) -> None:
        """Cut every connection (both sides see a reset)."""
        for a, b in self.pairs:
            a.transport.abort()
            b.transport.abort()
        self.pairs.clear()

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()


async def close_all(*clients: Client) -> None:
    for client in clients:
        await client.close()
