"""The Arena server: TCP connections around a :class:`~arena.game.Game` and a :class:`flatsync.Publisher`.

Three kinds of task run on one asyncio loop:

* the **tick loop** (:meth:`ArenaServer.run`) steps the game at a fixed rate,
  commits the tick with :meth:`flatsync.Publisher.tick`, and drains each
  client whose socket can take more (:meth:`flatsync.Publisher.packets_for`);
  a client whose send buffer is full is simply skipped, and the publisher
  merges what it missed into its next packet;
* one **reader** per connection hands the client's acknowledgements and
  requests to :meth:`flatsync.Publisher.receive` and its steering to the game;
* :mod:`asyncio`'s own server accepts connections and starts readers.

Whatever a client does (hang up, reset, stall, send garbage) ends in
:meth:`ArenaServer.drop`: a log line, the player leaves the game, and the
server and every other client go on. A client counts as stalled when it has
not been heard from (clients acknowledge every tick) for ``idle_timeout``
seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import flatsync

from . import net
from .game import DIRECTIONS, Game, GameFull, view_for

__all__ = ["ArenaServer", "ClientStats"]

log = logging.getLogger(__name__)


@dataclass
class ClientStats:
    """What the server knows of one client."""

    pid: int
    name: str
    peer: str
    joined_frame: int
    bytes_sent: int = 0
    packets_sent: int = 0
    ticks_skipped: int = 0
    last_heard: float = field(default_factory=time.monotonic)


@dataclass
class _Connection:
    stats: ClientStats
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    closed: bool = False


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
        idle_timeout: Seconds of silence after which a client counts as
            stalled and is dropped.
        write_limit: Bytes waiting in a client's send buffer above which it
            is not sent the current tick (the publisher merges it into the next).
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
        self.idle_timeout = idle_timeout
        self.write_limit = write_limit
        self.publisher = flatsync.Publisher(game.state, codec=codec)
        self._connections: dict[int, _Connection] = {}
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        #: Called after every tick with the frame number (the demo's live summary uses it).
        self.on_tick: list[Callable[[int], None]] = []
        #: Why clients left, in order: ``(name, reason)``.
        self.departures: list[tuple[str, str]] = []
        self.stopping = False

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on ``host:port`` (port 0: any free port, see :attr:`port`)."""
        self._server = await asyncio.start_server(self._accept, host, port)

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        if self._server is None:
            raise RuntimeError("the server is not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def clients(self) -> dict[int, ClientStats]:
        """The connected clients, by player id."""
        return {pid: conn.stats for pid, conn in self._connections.items()}

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
        """Say goodbye to every client, stop listening, and wait for the readers to end."""
        self.stopping = True
        if self._server is not None:
            self._server.close()
        for pid in list(self._connections):
            self.drop(pid, "the server is shutting down", goodbye=True)
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    # -- a tick ---------------------------------------------------------------------------

    def tick(self) -> int:
        """Step the game, commit the frame, and send each client what it can take now."""
        self.game.step()
        frame = self.publisher.tick()
        now = time.monotonic()
        for pid, conn in list(self._connections.items()):
            if now - conn.stats.last_heard > self.idle_timeout:
                self.drop(pid, f"stalled: silent for more than {self.idle_timeout:g} s")
            else:
                self._flush(conn)
        for callback in self.on_tick:
            callback(frame)
        return frame

    def _flush(self, conn: _Connection) -> None:
        transport = conn.writer.transport
        if transport.is_closing():
            return  # its reader sees the end too, and drops it with the reason
        if transport.get_write_buffer_size() > self.write_limit:
            conn.stats.ticks_skipped += 1  # lagging: the publisher merges what it misses
            return
        for packet in self.publisher.packets_for(conn.stats.pid):
            data = net.message(net.STATE, packet)
            conn.writer.write(data)
            conn.stats.bytes_sent += len(data)
            conn.stats.packets_sent += 1

    # -- connections ----------------------------------------------------------------------

    def drop(self, pid: int, reason: str, *, goodbye: bool = False) -> None:
        """Disconnect a client: log why, take its player out, close its socket."""
        conn = self._connections.pop(pid, None)
        if conn is None or conn.closed:
            return
        conn.closed = True
        stats = conn.stats
        log.info("client %s (%s, player %d) left: %s", stats.peer, stats.name, pid, reason)
        self.departures.append((stats.name, reason))
        self.publisher.remove_client(pid)
        self.game.leave(pid)
        transport = conn.writer.transport
        if goodbye and not transport.is_closing():
            conn.writer.write(net.message(net.BYE, reason.encode()))
        if transport.get_write_buffer_size() > self.write_limit:
            transport.abort()  # a stalled peer would keep a graceful close waiting forever
        else:
            conn.writer.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        peer = "{}:{}".format(*writer.get_extra_info("peername", ("?", 0))[:2])
        pid: int | None = None
        try:
            pid = await self._handshake(reader, writer, peer)
            if pid is not None:
                await self._read_loop(self._connections[pid])
        except asyncio.CancelledError:
            pass
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError) as error:
            self._hang_up(pid, writer, peer, f"disconnected ({type(error).__name__})")
        except (net.ProtocolError, flatsync.FlatsyncError, ValueError) as error:
            self._hang_up(pid, writer, peer, f"sent garbage ({type(error).__name__}: {error})")
        else:
            self._hang_up(pid, writer, peer, "said goodbye")
        finally:
            self._handlers.discard(task)
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _hang_up(self, pid: int | None, writer: asyncio.StreamWriter, peer: str, why: str) -> None:
        if pid is not None:
            self.drop(pid, why)
        else:
            log.info("connection from %s closed before joining: %s", peer, why)
            writer.transport.abort()

    async def _handshake(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> int | None:
        kind, body = await asyncio.wait_for(net.read_message(reader), self.idle_timeout)
        if kind != net.HELLO:
            raise net.ProtocolError(f"expected a hello, got {kind!r}")
        hello = net.decode_control(body, {"name": str})
        if self.stopping:
            writer.write(net.message(net.BYE, b"the server is shutting down"))
            return None
        try:
            pid = self.game.join(hello["name"])
        except GameFull as error:
            writer.write(net.message(net.BYE, str(error).encode()))
            log.info("refused %s: %s", peer, error)
            return None
        name = self.game.state["players"][pid].name
        self.publisher.add_client(pid, view_for(pid))
        stats = ClientStats(pid=pid, name=name, peer=peer, joined_frame=self.publisher.frame)
        self._connections[pid] = _Connection(stats, reader, writer)
        welcome = {"v": net.VERSION, "pid": pid, "rate": float(self.tick_rate), "server": self.name}
        writer.write(net.message(net.WELCOME, net.encode_control(welcome)))
        log.info("client %s joined as %s (player %d)", peer, name, pid)
        return pid

    async def _read_loop(self, conn: _Connection) -> None:
        pid = conn.stats.pid
        while not conn.closed:
            kind, body = await net.read_message(conn.reader)
            if conn.closed:
                return
            conn.stats.last_heard = time.monotonic()
            if kind == net.REPLY:
                self.publisher.receive(pid, body)
            elif kind == net.STEER:
                direction = body.decode("ascii", "replace")
                if direction not in DIRECTIONS:
                    raise net.ProtocolError(f"unknown direction {direction!r}")
                self.game.steer(pid, direction)
            elif kind == net.PING:
                if len(body) > 16:
                    raise net.ProtocolError("a ping of more than 16 bytes")
                conn.writer.write(net.message(net.PONG, body))
            elif kind == net.BYE:
                return
            else:
                raise net.ProtocolError(f"a client does not send {kind!r}")
