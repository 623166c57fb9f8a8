"""The Arena server: a :class:`~arena.game.Game` served by :class:`flatsync.net.Server`.

Everything about connections (the handshake, one writer per client with flow
control, pings, faults, bounded buffers) is :mod:`flatsync.net`'s. What is left
here is the game's side of it: a player joins when a client says hello (its id
goes to the client as the first application message, ``{"pid": id}``), steers
with application messages (one letter of :data:`arena.game.DIRECTIONS`), and
leaves when its connection ends. The tick loop steps the game at a fixed rate.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import attrs

import flatsync
import flatsync.net

from .game import DIRECTIONS, Game, GameFull, view_for

__all__ = ["ArenaServer", "ClientStats"]

log = logging.getLogger(__name__)

#: How many departures :attr:`ArenaServer.departures` remembers, and how long a reason is kept.
_DEPARTURES = 64
_REASON = 200


@attrs.define
class ClientStats:
    """What the server knows of one player's client."""

    pid: int
    name: str
    peer: str
    joined_frame: int
    rtt: float | None = None


class ArenaServer:
    """A game server on one asyncio loop.

    >>> import asyncio
    >>> from arena.game import Game
    >>> async def main():
    ...     server = ArenaServer(Game(seed=1), tick_rate=50)
    ...     await server.start("127.0.0.1", 0)
    ...     await server.run(ticks=3)
    ...     await server.close()
    ...     return server.publisher.frame
    >>> asyncio.run(main())
    3

    Args:
        game: The game to run.
        name: The server's name, in the welcome and the LAN announcement.
        tick_rate: Ticks per second.
        idle_timeout: Seconds of silence after which a client is dropped.
        write_limit: The connections' write high-water mark, in bytes.
        codec: The session codec (CBOR by default).
    """

    def __init__(
        self,
        game: Game,
        *,
        name: str = "arena",
        tick_rate: float = 10.0,
        idle_timeout: float = 5.0,
        write_limit: int = 64 * 1024,
        codec: flatsync.Codec | None = None,
    ) -> None:
        if tick_rate <= 0:
            raise ValueError(f"the tick rate must be positive, not {tick_rate}")
        self.game = game
        self.name = name
        self.tick_rate = tick_rate
        self.net = flatsync.net.Server(
            game.state,
            name=name,
            codec=codec,
            tick_rate=tick_rate,
            idle_timeout=idle_timeout,
            handshake_timeout=idle_timeout,
            high_water=write_limit,
            resume_timeout=0,  # a player whose connection is lost leaves the arena at once
            max_clients=64,
            on_join=self._join,
            on_leave=self._leave,
            on_message=self._steer,
        )
        self.publisher = self.net.publisher
        self._stats: dict[int, ClientStats] = {}
        #: Called after every tick with the frame number (the demo's live summary uses it).
        self.on_tick: list[Callable[[int], None]] = []
        #: Why the last clients left, newest last: ``(name, reason)`` (bounded).
        self.departures: deque[tuple[str, str]] = deque(maxlen=_DEPARTURES)
        self.stopping = False

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on TCP ``host:port`` (port 0: any free port, see :attr:`port`)."""
        await self.net.start(tcp=(host, port))

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        return self.net.tcp_address[1]

    @property
    def clients(self) -> dict[int, ClientStats]:
        """The connected clients, by player id."""
        for peer in self.net.clients.values():
            stats = self._stats.get(peer.data)
            if stats is not None:
                stats.rtt = peer.rtt
        return dict(self._stats)

    async def run(self, *, ticks: int | None = None, duration: float | None = None) -> None:
        """Run the tick loop until :meth:`stop`, or for ``ticks`` ticks, or ``duration`` seconds."""
        loop = asyncio.get_running_loop()
        period = 1.0 / self.tick_rate
        start = deadline = loop.time()
        done = 0
        while not self.stopping and (ticks is None or done < ticks):
            if duration is not None and loop.time() - start >= duration:
                break
            self.tick()
            done += 1
            deadline += period
            delay = deadline - loop.time()
            if delay < -period:  # far behind (a slow machine): do not try to catch up
                deadline = loop.time()
                delay = 0
            await asyncio.sleep(max(0.0, delay))

    def stop(self) -> None:
        """Make :meth:`run` return after the current tick."""
        self.stopping = True

    async def close(self) -> None:
        """Say goodbye to every client and stop listening."""
        self.stopping = True
        await self.net.close()

    # -- a tick ---------------------------------------------------------------------------

    def tick(self) -> int:
        """Step the game, commit the frame, and wake every client's writer."""
        self.game.step()
        frame = self.net.tick()
        for callback in self.on_tick:
            callback(frame)
        return frame

    # -- players --------------------------------------------------------------------------

    def _join(self, peer: flatsync.net.Peer) -> flatsync.View:
        if self.stopping:
            raise flatsync.net.Refused("the server is shutting down")
        try:
            pid = self.game.join(peer.name or "player")
        except GameFull as error:
            raise flatsync.net.Refused(str(error)) from None
        peer.data = pid
        name = self.game.state["players"][pid].name
        self._stats[pid] = ClientStats(
            pid=pid, name=name, peer=peer.address, joined_frame=self.publisher.frame
        )
        self.net.send(peer.id, {"pid": pid})
        return view_for(pid)

    def _leave(self, peer: flatsync.net.Peer, reason: str) -> None:
        pid = peer.data
        if pid is None:
            return
        stats = self._stats.pop(pid, None)
        self.game.leave(pid)
        if len(reason) > _REASON:
            reason = reason[: _REASON - 1] + "…"
        self.departures.append((stats.name if stats is not None else peer.name, reason))

    def _steer(self, peer: flatsync.net.Peer, message: Any) -> None:
        if type(message) is not str or message not in DIRECTIONS:
            self.net.disconnect(peer.id, f"sent garbage (unknown direction {str(message)[:20]!r})")
            return
        self.game.steer(peer.data, message)
