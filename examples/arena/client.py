"""The Arena client: a :class:`flatsync.net.Client`, this player's id, and its statistics.

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
import time
from collections.abc import Callable
from typing import Any

import flatsync
import flatsync.net

__all__ = ["ArenaClient", "Disconnected"]

#: Callbacks get the events of each packet the replica applied.
Listener = Callable[[list[Any]], None]


class Disconnected(Exception):
    """The server closed the connection, refused the hello, or said goodbye."""


class ArenaClient:
    """A connected player. Make one with :meth:`connect`.

    Attributes:
        pid: This player's id on the server.
        listeners: Called with the events of each packet the replica applied.
        goodbye: Why the connection ended, once it has.
        closed: Set when the connection has ended.
    """

    def __init__(self, client: flatsync.net.Client, pid: int) -> None:
        self.net = client
        self.pid = pid
        self.goodbye: str | None = None
        self.listeners: list[Listener] = []
        self.closed = asyncio.Event()
        self._received: collections.deque[tuple[float, int]] = collections.deque()
        client.on_events = self._on_events
        self._watch = asyncio.create_task(self._watch_end())

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
        """Connect, say hello, and wait for the welcome and this player's id.

        Raises:
            Disconnected: the server refused (for example because it is full).
            OSError: the connection failed.
            TimeoutError: no welcome within ``timeout`` seconds.
            flatsync.net.ProtocolError: the server does not speak flatsync.net.
        """
        pid: list[int] = []
        got_pid = asyncio.Event()

        def on_message(data: Any) -> None:
            if not pid and type(data) is dict and type(data.get("pid")) is int:
                pid.append(data["pid"])
                got_pid.set()

        address = f"[{host}]" if ":" in host else host
        client = flatsync.net.Client(
            f"tcp://{address}:{port}",
            name=name,
            codec=codec,
            reconnect=False,
            events=False,
            connect_timeout=timeout,
            on_message=on_message,
        )
        try:
            await client.connect()
            async with asyncio.timeout(timeout):
                await got_pid.wait()
        except flatsync.net.ServerRefused as error:
            raise Disconnected(str(error)) from None
        except BaseException:
            await client.close()
            raise
        return cls(client, pid[0])

    # -- what the player sees -------------------------------------------------------------

    @property
    def replica(self) -> flatsync.Replica:
        """The :class:`flatsync.Replica` of what this player sees."""
        return self.net.replica

    @property
    def state(self) -> flatsync.DataHandler:
        """The replicated state (read-only): ``board``, ``players``, and this player's ``private``."""
        return self.net.state

    @property
    def me(self) -> Any:
        """This player's entry in ``players``, or ``None`` before the first snapshot."""
        return self.state.get("players", {}).get(self.pid)

    @property
    def server_name(self) -> str | None:
        """The name the server gave in its welcome."""
        return self.net.server_name

    @property
    def tick_rate(self) -> float | None:
        """The server's ticks per second."""
        return self.net.tick_rate

    @property
    def bytes_received(self) -> int:
        """Every byte of sync packets received."""
        return self.net.bytes_received

    @property
    def snapshot_bytes(self) -> int:
        """The part of :attr:`bytes_received` that brought snapshots."""
        return self.net.snapshot_bytes

    @property
    def packets_received(self) -> int:
        """Sync packets received."""
        return self.net.packets_received

    @property
    def rtt(self) -> float | None:
        """The last measured round trip in seconds (``None`` before the first pong)."""
        return self.net.rtt

    @rtt.setter
    def rtt(self, value: float | None) -> None:
        self.net.rtt = value

    @property
    def bytes_per_second(self) -> float:
        """Bytes received over the last second."""
        now = time.monotonic()
        self._forget_old(now)
        if not self._received:
            return 0.0
        return float(self.net.bytes_received - self._received[0][1])

    def _forget_old(self, now: float) -> None:
        while len(self._received) > 1 and now - self._received[1][0] > 1.0:
            self._received.popleft()

    # -- what the player does -------------------------------------------------------------

    def steer(self, direction: str) -> None:
        """Walk in ``direction`` (one of :data:`arena.game.DIRECTIONS`) from the next tick on."""
        with contextlib.suppress(ConnectionError):
            self.net.send(direction)

    async def wait_for_frame(self, frame: int, timeout: float = 5.0) -> None:
        """Wait until the replica holds ``frame`` or a later one.

        Raises:
            TimeoutError: it did not within ``timeout`` seconds.
            Disconnected: the connection ended first.
        """
        try:
            await self.net.wait_until(lambda _: (self.replica.frame or 0) >= frame, timeout)
        except ConnectionError:
            raise Disconnected(self.goodbye or "the connection ended") from None

    async def close(self) -> None:
        """Say goodbye and close the connection."""
        await self.net.close("bye")
        with contextlib.suppress(asyncio.CancelledError):
            await self._watch

    # -- the hooks ------------------------------------------------------------------------

    def _on_events(self, events: list[Any]) -> None:
        now = time.monotonic()
        self._received.append((now, self.net.bytes_received))
        self._forget_old(now)
        for listener in self.listeners:
            listener(events)

    async def _watch_end(self) -> None:
        await self.net.wait_closed()
        reason = self.net.last_reason or "the connection ended"
        self.goodbye = "closed by the client" if reason == "bye" else reason
        self.closed.set()
