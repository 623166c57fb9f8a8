"""The Arena client: one TCP connection, the :class:`flatsync.Replica` it feeds, and its statistics.

The terminal client (:mod:`arena.tui`) and the bots (:mod:`arena.bot`) are
both an :class:`ArenaClient` with something on top that reads
:attr:`ArenaClient.state` and calls :meth:`ArenaClient.steer`.

>>> import asyncio
>>> from arena.game import Game
>>> from arena.server import ArenaServer
>>> async def main():
...     server = ArenaServer(Game(seed=1), tick_rate=100)
...     await server.start()
...     client = await ArenaClient.connect("127.0.0.1", server.port, "ada")
...     await server.run(ticks=5)
...     await client.wait_for_frame(5)
...     me = client.me
...     await client.close()
...     await server.close()
...     return me.name, me.glyph, client.replica.frame
>>> asyncio.run(main())
('ada', 'A', 5)
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import struct
import time
from collections.abc import Callable
from typing import Any

import flatsync

from . import net

__all__ = ["ArenaClient", "Disconnected"]

log = logging.getLogger(__name__)

#: Callbacks get the events of each packet the replica applied.
Listener = Callable[[list[Any]], None]


class Disconnected(Exception):
    """The server closed the connection, refused the hello, or said goodbye."""


class ArenaClient:
    """A connected player. Make one with :meth:`connect`.

    Attributes:
        pid: This player's id on the server.
        server_name: The name the server gave in its welcome.
        tick_rate: The server's ticks per second.
        replica: The :class:`flatsync.Replica` of what this player sees.
        bytes_received: Every byte read from the server, framing included.
        snapshot_bytes: The part of :attr:`bytes_received` that brought snapshots.
        rtt: The last measured round trip in seconds (``None`` before the first pong).
        goodbye: Why the connection ended, once it has.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        welcome: dict[str, Any],
        codec: flatsync.Codec | None = None,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.pid: int = welcome["pid"]
        self.server_name: str = welcome["server"]
        self.tick_rate: float = welcome["rate"]
        self.replica = flatsync.Replica(codec)
        self.bytes_received = 0
        self.snapshot_bytes = 0
        self.packets_received = 0
        self.rtt: float | None = None
        self.goodbye: str | None = None
        self.listeners: list[Listener] = []
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._received: collections.deque[tuple[float, int]] = collections.deque()
        self._tasks = [
            asyncio.create_task(self._read_loop(), name=f"arena-read-{self.pid}"),
            asyncio.create_task(self._ping_loop(), name=f"arena-ping-{self.pid}"),
        ]
        self.closed = asyncio.Event()

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        name: str,
        *,
        timeout: float = 5.0,
        codec: flatsync.Codec | None = None,
    ) -> ArenaClient:
        """Connect, say hello, and wait for the welcome.

        Raises:
            Disconnected: the server refused (for example because it is full).
            OSError: the connection failed.
            TimeoutError: no welcome within ``timeout`` seconds.
            arena.net.ProtocolError: the server does not speak Arena.
        """
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        try:
            writer.write(
                net.message(net.HELLO, net.encode_control({"v": net.VERSION, "name": name}))
            )
            kind, body = await asyncio.wait_for(net.read_message(reader), timeout)
            if kind == net.BYE:
                raise Disconnected(body.decode("utf-8", "replace"))
            if kind != net.WELCOME:
                raise net.ProtocolError(f"expected a welcome, got {kind!r}")
            welcome = net.decode_control(body, {"pid": int, "rate": float, "server": str})
        except BaseException:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            raise
        return cls(reader, writer, welcome, codec)

    # -- what the player sees -------------------------------------------------------------

    @property
    def state(self) -> flatsync.DataHandler:
        """The replicated state (read-only): ``board``, ``players``, and this player's ``private``."""
        return self.replica.state

    @property
    def me(self) -> Any:
        """This player's entry in ``players``, or ``None`` before the first snapshot."""
        return self.state.get("players", {}).get(self.pid)

    @property
    def bytes_per_second(self) -> float:
        """Bytes received over the last second."""
        self._forget_old(time.monotonic())
        return float(sum(size for _, size in self._received))

    def _forget_old(self, now: float) -> None:
        while self._received and now - self._received[0][0] > 1.0:
            self._received.popleft()

    # -- what the player does -------------------------------------------------------------

    def steer(self, direction: str) -> None:
        """Walk in ``direction`` (one of :data:`arena.game.DIRECTIONS`) from the next tick on."""
        self._send(net.message(net.STEER, direction.encode("ascii")))

    async def wait_for_frame(self, frame: int, timeout: float = 5.0) -> None:
        """Wait until the replica holds ``frame`` or a later one.

        Raises:
            TimeoutError: it did not within ``timeout`` seconds.
            Disconnected: the connection ended first.
        """

        if (self.replica.frame or 0) < frame and not self.closed.is_set():
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append((frame, waiter))
            try:
                await asyncio.wait_for(waiter, timeout)
            finally:
                self._waiters.remove((frame, waiter))
        if (self.replica.frame or 0) < frame:
            raise Disconnected(self.goodbye or "the connection ended")

    async def close(self) -> None:
        """Say goodbye and close the connection."""
        if not self._writer.transport.is_closing():
            self._send(net.message(net.BYE, b"bye"))
        self._writer.close()
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()
        self._ended(self.goodbye or "closed by the client")

    # -- the loops ------------------------------------------------------------------------

    def _send(self, data: bytes) -> None:
        if not self._writer.transport.is_closing():
            self._writer.write(data)

    async def _read_loop(self) -> None:
        try:
            while True:
                kind, body = await net.read_message(self._reader)
                size = len(body) + 2
                self.bytes_received += size
                now = time.monotonic()
                self._received.append((now, size))
                self._forget_old(now)
                if kind == net.STATE:
                    self._apply(body, size)
                elif kind == net.PONG and len(body) == 8:
                    (sent,) = struct.unpack("<d", body)
                    self.rtt = time.monotonic() - sent
                elif kind == net.BYE:
                    self._ended(f"the server said goodbye: {body.decode('utf-8', 'replace')}")
                    return
                else:
                    raise net.ProtocolError(f"a server does not send {kind!r}")
        except asyncio.CancelledError:
            raise
        except (asyncio.IncompleteReadError, ConnectionError) as error:
            self._ended(f"the connection ended ({type(error).__name__})")
        except (net.ProtocolError, flatsync.FlatsyncError) as error:
            self._ended(f"the server sent garbage ({error})")
        finally:
            self._writer.close()

    def _apply(self, packet: bytes, size: int) -> None:
        self.packets_received += 1
        try:
            events = self.replica.receive(packet)
        except (flatsync.DecodeError, flatsync.LimitError, flatsync.PatchError) as error:
            # The replica is unchanged and has queued a request to resync or refresh.
            log.warning("dropped a packet that did not apply: %s", error)
            events = []
        if any(type(event) is flatsync.FrameApplied and event.base is None for event in events):
            self.snapshot_bytes += size
        reply = self.replica.packet_to_send()
        if reply is not None:
            self._send(net.message(net.REPLY, reply))
        for listener in self.listeners:
            listener(events)
        self._notify()

    def _notify(self) -> None:
        held = self.replica.frame or 0
        for frame, waiter in self._waiters:
            if (held >= frame or self.closed.is_set()) and not waiter.done():
                waiter.set_result(None)

    def _ended(self, reason: str) -> None:
        if self.goodbye is None:
            self.goodbye = reason
            log.info("disconnected: %s", reason)
        self.closed.set()
        self._notify()

    async def _ping_loop(self) -> None:
        while True:
            self._send(net.message(net.PING, struct.pack("<d", time.monotonic())))
            await asyncio.sleep(1.0)
