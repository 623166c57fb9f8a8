"""The server: a :class:`~flatsync.Publisher` behind TCP and WebSocket listeners.

Per connection, two tasks: the reader (the handshake, then every message the
client sends) and the writer (the only task that writes to the connection).
The writer wakes at each tick, at each acknowledgement and when a control
message waits, and it drains the publisher only while fewer than
``max_in_flight`` packets are unacknowledged and the connection is writable:
a client that reads slowly is simply not drained, and the publisher merges
what it misses into its next packet. Everything else a peer can make the
server write (pongs, replies) waits in a bounded outbox; a peer that lets it
fill, or does not read for ``idle_timeout`` seconds, is dropped.

A connection that ends without a goodbye leaves its client *detached* for
``resume_timeout`` seconds: the publisher pauses it (:meth:`Publisher.pause`
keeps its place and builds nothing for it), and a client that comes back with
the session id, its client id and its resume key (all in the welcome it had)
resumes from the frame its replica holds (:meth:`Publisher.resume`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import struct
from collections import deque
from collections.abc import Callable
from typing import Any

import attrs

from .._codecs._codec import Codec
from .._handlers._data import DataHandler
from .._session._publisher import Publisher
from .._session._views import View
from .._tree._errors import FlatsyncError
from ._links import Link, LinkClosed, TcpLink, WebSocketLink
from ._messages import (
    ID_SIZE,
    MAX_PING,
    Hello,
    Kind,
    ProtocolError,
    Welcome,
    decode_hello,
    encode_welcome,
    reason_bytes,
    reason_text,
)
from ._ticking import tick_at

__all__ = ["Peer", "Refused", "Server"]

log = logging.getLogger("flatsync.net")

#: The longest reason a log line shows.
_LOG_REASON = 200


class Refused(Exception):
    """Raised by an ``on_join`` callback to refuse a client; the reason is sent to it."""


@attrs.define(eq=False)
class Peer:
    """What the server knows of one client (the same object while it resumes).

    Attributes:
        id: The client's id on this server (also its id in the publisher).
        name: The name it gave in its hello (up to 64 characters).
        token: The token it gave (up to 256 bytes), for the application to check.
        address: ``host:port`` of its current or last connection.
        transport: ``"tcp"`` or ``"websocket"``.
        connected: Whether a connection is attached now.
        rtt: The last measured round trip, in seconds (``None`` before the first pong).
        data: Free for the application (a player id, say).
    """

    id: int
    name: str
    token: bytes
    address: str
    transport: str
    connected: bool = True
    rtt: float | None = None
    data: Any = None


class _Conn:
    """The server's side of one client: its link, its outbox, its flow control."""

    __slots__ = (
        "expiry",
        "in_flight",
        "key",
        "link",
        "outbox",
        "outbox_bytes",
        "peer",
        "ping",
        "wake",
        "writer",
    )

    def __init__(self, peer: Peer, key: bytes) -> None:
        self.peer = peer
        self.key = key
        self.link: Link | None = None
        self.outbox: deque[tuple[Kind, bytes]] = deque()
        self.outbox_bytes = 0
        self.wake = asyncio.Event()
        #: The latest frame at each drain not yet acknowledged (at most max_in_flight).
        self.in_flight: deque[int] = deque()
        self.writer: asyncio.Task[None] | None = None
        #: The body of the ping waiting for its pong, and when it was sent.
        self.ping: tuple[bytes, float] | None = None
        self.expiry: asyncio.TimerHandle | None = None


class Server:
    """A flatsync server: owns a :class:`~flatsync.Publisher` and serves it over TCP and WebSocket.

    >>> import asyncio, flatsync, flatsync.net
    >>> async def main():
    ...     async with flatsync.net.Server(flatsync.DataHandler({"hp": 8})) as server:
    ...         await server.start(tcp=("127.0.0.1", 0))
    ...         host, port = server.tcp_address
    ...         async with flatsync.net.Client(f"tcp://{host}:{port}", events=False) as client:
    ...             server.publisher.root["hp"] = 7
    ...             server.tick()
    ...             await client.wait_until(lambda state: state.get("hp") == 7)
    ...             return dict(client.state)
    >>> asyncio.run(main())
    {'hp': 7}

    Args:
        state: The root to publish, or a :class:`~flatsync.Publisher` of it.
        name: The server's name, in the welcome.
        codec: The session's codec (when ``state`` is not a publisher already).
        history: The publisher's ring (when ``state`` is not a publisher already).
        tick_rate: Ticks per second of :meth:`run` (``None``: you call :meth:`tick`).
        on_join: ``on_join(peer)``, when a new client has said hello; it may
            return a :class:`~flatsync.View` for it, or raise :class:`Refused`.
        on_leave: ``on_leave(peer, reason)``, when a client is gone for good.
        on_message: ``on_message(peer, message)``, for each application message.
        on_tick: ``on_tick()``, called by :meth:`run` before each tick: mutate
            the state there.
        max_in_flight: K: packets sent to a client beyond its acknowledgement
            before the server waits (the publisher merges meanwhile).
        high_water: Bytes in a connection's write buffer above which the
            server does not write more to it.
        max_message: The longest message accepted from a peer, in bytes.
        max_outbox: Bytes of control messages and replies that may wait for a
            client; past it the client is dropped as not reading.
        handshake_timeout: Seconds a new connection has to say hello.
        idle_timeout: Seconds of silence (or of a write that cannot proceed)
            after which a connection is dropped.
        ping_interval: Seconds between the server's pings (they measure :attr:`Peer.rtt`).
        resume_timeout: Seconds a client whose connection was lost stays
            detached, waiting to resume (``0``: it leaves at once).
        max_clients: Clients, connected and detached, beyond which new ones
            are refused (the oldest detached one is let go first).
        max_handshakes: Connections that have not said hello yet, beyond
            which new connections are closed at once.
    """

    def __init__(
        self,
        state: DataHandler | Publisher,
        *,
        name: str = "flatsync",
        codec: Codec | None = None,
        history: int = 64,
        tick_rate: float | None = None,
        on_join: Callable[..., Any] | None = None,
        on_leave: Callable[..., Any] | None = None,
        on_message: Callable[..., Any] | None = None,
        on_tick: Callable[..., Any] | None = None,
        max_in_flight: int = 4,
        high_water: int = 64 * 1024,
        max_message: int = 1 << 20,
        max_outbox: int = 256 * 1024,
        handshake_timeout: float = 5.0,
        idle_timeout: float = 10.0,
        ping_interval: float = 1.0,
        resume_timeout: float = 10.0,
        max_clients: int = 1000,
        max_handshakes: int = 256,
    ) -> None:
        if isinstance(state, Publisher):
            self.publisher = state
        else:
            self.publisher = Publisher(state, codec=codec, history=history)
        if tick_rate is not None and tick_rate <= 0:
            raise ValueError(f"the tick rate must be positive, not {tick_rate}")
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, not {max_in_flight}")
        self.name = name
        self.tick_rate = tick_rate
        #: This run's identity, which is the publisher's session (8 random bytes
        #: drawn when the publisher is made, carried by its snapshots too).
        self.session = self.publisher.session
        self.on_join = on_join
        self.on_leave = on_leave
        self.on_message = on_message
        self.on_tick = on_tick
        self.max_in_flight = max_in_flight
        self.high_water = high_water
        self.max_message = max_message
        self.max_outbox = max_outbox
        self.handshake_timeout = handshake_timeout
        self.idle_timeout = idle_timeout
        self.ping_interval = ping_interval
        self.resume_timeout = resume_timeout
        self.max_clients = max_clients
        self.max_handshakes = max_handshakes
        self._conns: dict[int, _Conn] = {}
        self._next_id = 1
        self._handshakes = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._tcp: asyncio.Server | None = None
        self._ws: Any = None
        self._farewells: dict[Link, asyncio.Task[None]] = {}
        self._closing = False
        self._stopping = False

    # -- listening --------------------------------------------------------------------------

    async def start(
        self, *, tcp: tuple[str, int] | None = None, websocket: tuple[str, int] | None = None
    ) -> None:
        """Listen on TCP, on WebSocket, or both (port 0: any free port).

        Raises:
            OSError: an address could not be bound.
            ImportError: ``websocket`` is given and the ``websockets`` package is
                missing (``pip install flatsync[net]``).
        """
        if tcp is None and websocket is None:
            raise ValueError("give a tcp or a websocket address (or both)")
        if tcp is not None:
            self._tcp = await asyncio.start_server(self._accept_tcp, tcp[0], tcp[1])
        if websocket is not None:
            from websockets.asyncio.server import serve  # noqa: PLC0415 - websockets is optional (flatsync[net])

            self._ws = await serve(
                self._accept_ws,
                websocket[0],
                websocket[1],
                max_size=self.max_message,
                write_limit=self.high_water,
                ping_interval=None,
                compression=None,
                open_timeout=self.handshake_timeout,
                close_timeout=self.handshake_timeout,
                logger=logging.getLogger("flatsync.net.websockets"),
            )

    @property
    def tcp_address(self) -> tuple[str, int]:
        """The ``(host, port)`` the TCP listener is bound to."""
        if self._tcp is None:
            raise RuntimeError("not listening on TCP")
        name = self._tcp.sockets[0].getsockname()
        return str(name[0]), int(name[1])

    @property
    def websocket_address(self) -> tuple[str, int]:
        """The ``(host, port)`` the WebSocket listener is bound to."""
        if self._ws is None:
            raise RuntimeError("not listening on WebSocket")
        name = self._ws.sockets[0].getsockname()
        return str(name[0]), int(name[1])

    @property
    def clients(self) -> dict[int, Peer]:
        """Every client, connected or detached, by id."""
        return {cid: conn.peer for cid, conn in self._conns.items()}

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self, reason: str = "the server is shutting down") -> None:
        """Say goodbye to every client, stop listening, and end every task.

        Clients see the reason; detached clients leave (``on_leave`` is called for each).
        """
        self._closing = True
        self._stopping = True
        if self._tcp is not None:
            self._tcp.close()
        for conn in list(self._conns.values()):
            self._leave(conn, reason, goodbye=True)
        # The goodbyes go out first (each within a second), then everything stops.
        await asyncio.gather(*self._farewells.values(), return_exceptions=True)
        if self._ws is not None:
            self._ws.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._tcp is not None:
            await self._tcp.wait_closed()
        if self._ws is not None:
            await self._ws.wait_closed()

    # -- ticking ------------------------------------------------------------------------------

    def tick(self) -> int:
        """Commit the state as the next frame (:meth:`Publisher.tick`) and wake every writer."""
        frame = self.publisher.tick()
        for conn in self._conns.values():
            if conn.link is not None:
                conn.wake.set()
        return frame

    async def run(self, *, ticks: int | None = None) -> None:
        """Tick at ``tick_rate`` until :meth:`stop` (or ``ticks`` ticks): ``on_tick()``, then :meth:`tick`.

        A slow machine that falls more than a tick behind skips ahead rather
        than catching up with a burst.
        """
        if self.tick_rate is None:
            raise ValueError("run() needs a tick_rate")
        self._stopping = False
        await tick_at(self.tick_rate, self._step, lambda: self._stopping, ticks)

    def _step(self) -> None:
        if self.on_tick is not None:
            self.on_tick()
        self.tick()

    def stop(self) -> None:
        """Make :meth:`run` return after the current tick."""
        self._stopping = True

    # -- application messages -----------------------------------------------------------------

    def send(self, client: int, message: Any) -> None:
        """Send an application message to one client (encoded with the session's codec).

        It waits in the client's bounded outbox; a client that lets the outbox
        overflow is dropped. A detached client's messages are discarded.

        Raises:
            KeyError: no such client.
            EncodeError, LimitError: the codec refused the message.
        """
        conn = self._conns[client]
        body = self.publisher.codec.encode(message)
        if conn.link is not None:
            self._queue(conn, Kind.MESSAGE, body)

    def broadcast(self, message: Any) -> None:
        """Send an application message to every connected client (encoded once)."""
        body = self.publisher.codec.encode(message)
        for conn in list(self._conns.values()):
            if conn.link is not None:
                self._queue(conn, Kind.MESSAGE, body)

    def disconnect(self, client: int, reason: str = "disconnected by the server") -> None:
        """Say goodbye to a client and let it go (``on_leave`` is called).

        Raises:
            KeyError: no such client.
        """
        self._leave(self._conns[client], reason, goodbye=True)

    def _queue(self, conn: _Conn, kind: Kind, body: bytes) -> None:
        if conn.outbox_bytes + len(body) > self.max_outbox:
            self._drop(conn, "not reading: its outbox is full")
            return
        conn.outbox.append((kind, body))
        conn.outbox_bytes += len(body)
        conn.wake.set()

    # -- connections ----------------------------------------------------------------------------

    async def _accept_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = TcpLink(reader, writer, max_message=self.max_message, high_water=self.high_water)
        await self._serve(link)

    async def _accept_ws(self, connection: Any) -> None:
        await self._serve(WebSocketLink(connection))

    async def _serve(self, link: Link) -> None:
        task = asyncio.current_task()
        assert task is not None
        if self._closing or self._handshakes >= self.max_handshakes:
            link.abort()
            return
        self._tasks.add(task)
        conn: _Conn | None = None
        try:
            self._handshakes += 1
            try:
                conn = await self._handshake(link)
            finally:
                self._handshakes -= 1
            if conn is not None:
                await self._read_loop(conn, link)
        except asyncio.CancelledError:
            link.abort()
        except LinkClosed as error:
            self._ended(conn, link, str(error))
        except TimeoutError:
            self._ended(conn, link, f"silent for more than {self._timeout_of(conn):g} s")
        except (FlatsyncError, UnicodeError) as error:
            # A protocol fault: the peer is dropped for good, with a goodbye that says why.
            why = f"sent a malformed message ({type(error).__name__}: {error})"
            if conn is not None and conn.link is link:
                self._leave(conn, why, goodbye=True)
            else:
                self._log_end(None, link, why)
                self._farewell(link, why)
        except Exception:
            log.exception("client connection from %s: the server failed", link.peer)
            if conn is not None and conn.link is link:
                self._leave(conn, "the server failed", goodbye=True)
        finally:
            self._tasks.discard(task)
            farewell = self._farewells.get(link)
            if farewell is not None:
                with contextlib.suppress(BaseException):
                    await asyncio.shield(farewell)
            link.abort()

    def _timeout_of(self, conn: _Conn | None) -> float:
        return self.handshake_timeout if conn is None else self.idle_timeout

    async def _handshake(self, link: Link) -> _Conn | None:
        async with asyncio.timeout(self.handshake_timeout):
            kind, body = await link.recv()
        if kind is not Kind.HELLO:
            raise ProtocolError(f"expected a hello, got a {kind.name.lower()}")
        hello = decode_hello(body)
        codec = self.publisher.codec.name
        if hello.codec != codec:
            await self._refuse(
                link, f"codec mismatch: the server speaks {codec!r}, not {hello.codec!r}"
            )
            return None
        if self._closing:
            await self._refuse(link, "the server is shutting down")
            return None
        await self._before_resume(hello)
        conn = self._resume(hello, link)
        resumed = conn is not None
        if conn is None:
            conn = await self._join(hello, link)
            if conn is None:
                return None
        welcome = Welcome(
            codec=codec,
            session=self.session,
            client=conn.peer.id,
            key=conn.key,
            resumed=resumed,
            server=self.name,
            rate=None if self.tick_rate is None else float(self.tick_rate),
        )
        conn.link = link
        conn.peer.connected = True
        conn.peer.address = link.peer
        conn.peer.transport = link.transport
        conn.outbox.appendleft((Kind.WELCOME, encode_welcome(welcome)))  # before on_join's messages
        conn.outbox_bytes += len(conn.outbox[0][1])
        conn.in_flight.clear()
        conn.wake.set()
        writer = asyncio.create_task(
            self._write_loop(conn, link), name=f"flatsync-net-writer-{conn.peer.id}"
        )
        conn.writer = writer
        self._tasks.add(writer)
        writer.add_done_callback(self._tasks.discard)
        log.info(
            "client %d (%s, %s) %s over %s",
            conn.peer.id,
            conn.peer.name,
            link.peer,
            "resumed" if resumed else "joined",
            link.transport,
        )
        return conn

    async def _refuse(self, link: Link, reason: str) -> None:
        self._log_end(None, link, f"refused: {reason}")
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self.handshake_timeout):
                await link.send(Kind.BYE, reason_bytes(reason))

    async def _before_resume(self, hello: Hello) -> None:
        """A hook before a hello is taken: a relay gateway waits there for the frame a moving client holds.

        A plain server has nothing to wait for.
        """

    def _resume(self, hello: Hello, link: Link) -> _Conn | None:
        """The detached (or replaced) client the hello resumes, attached; or ``None``."""
        resume = hello.resume
        if resume is None or resume.session != self.session:
            return None
        conn = self._conns.get(resume.client)
        if conn is None:
            conn = self._adopt(hello, link)
            if conn is None:
                return None
        elif not hmac.compare_digest(conn.key, resume.key):
            return None
        if conn.link is not None:
            self._detach(conn, "replaced by a new connection", expire=False)
        if conn.expiry is not None:
            conn.expiry.cancel()
            conn.expiry = None
        self.publisher.resume(conn.peer.id, resume.frame)
        return conn

    def _adopt(self, hello: Hello, link: Link) -> _Conn | None:
        """A client of another server of this session resumes here: its attached ``_Conn``, or ``None``.

        A plain server knows no other server of its session: the client joins
        afresh. A relay gateway (:class:`flatsync.relay.Gateway`) overrides
        this hook with :meth:`_new_key`, so that a client may move between the
        gateways of one origin.
        """
        return None

    def _new_key(self, client: int) -> bytes:
        """The resume key of a new client (random here; a relay gateway derives it)."""
        return os.urandom(ID_SIZE)

    async def _join(self, hello: Hello, link: Link) -> _Conn | None:
        if len(self._conns) >= self.max_clients:
            detached = [c for c in self._conns.values() if c.link is None]
            if not detached:
                await self._refuse(link, "the server is full")
                return None
            self._leave(detached[0], "let go to make room", goodbye=False)
        cid = self._next_id
        while cid in self._conns:  # an id that a relay gateway adopted (_adopt)
            cid += 1
        self._next_id = cid + 1
        peer = Peer(
            id=cid, name=hello.name, token=hello.token, address=link.peer, transport=link.transport
        )
        conn = _Conn(peer, self._new_key(cid))
        conn.link = link  # so that on_join may send it messages already
        self._conns[cid] = conn
        view: View | None = None
        try:
            if self.on_join is not None:
                view = self.on_join(peer)
            self.publisher.add_client(cid, view)
        except Refused as error:
            del self._conns[cid]
            await self._refuse(link, str(error) or "refused")
            return None
        except BaseException:
            del self._conns[cid]
            raise
        return conn

    async def _read_loop(self, conn: _Conn, link: Link) -> None:
        publisher = self.publisher
        cid = conn.peer.id
        timeout = self.idle_timeout
        while conn.link is link:
            async with asyncio.timeout(timeout):
                kind, body = await link.recv()
            if conn.link is not link:
                return
            if kind is Kind.REPLY:
                if publisher.receive(cid, body).kind != "ack":
                    conn.in_flight.clear()  # it asks for something: what is in flight is of no use
                conn.wake.set()
            elif kind is Kind.MESSAGE:
                message = publisher.codec.decode(body)
                if self.on_message is not None:
                    self.on_message(conn.peer, message)
            elif kind is Kind.PING:
                if len(body) > MAX_PING:
                    raise ProtocolError(f"a ping of {len(body)} bytes (at most {MAX_PING})")
                self._queue(conn, Kind.PONG, body)
            elif kind is Kind.PONG:
                ping = conn.ping
                if ping is not None and ping[0] == body:
                    conn.peer.rtt = asyncio.get_running_loop().time() - ping[1]
                    conn.ping = None
            elif kind is Kind.BYE:
                self._leave(conn, f"said goodbye: {reason_text(body)}", goodbye=False)
                return
            else:
                raise ProtocolError(f"a client does not send a {kind.name.lower()}")

    async def _write_loop(self, conn: _Conn, link: Link) -> None:
        publisher = self.publisher
        cid = conn.peer.id
        loop = asyncio.get_running_loop()
        stall = self.idle_timeout
        next_ping = loop.time()
        try:
            while conn.link is link:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.0, next_ping - loop.time())):
                        await conn.wake.wait()
                conn.wake.clear()
                now = loop.time()
                if now >= next_ping:
                    next_ping = now + self.ping_interval
                    if conn.ping is None or now - conn.ping[1] > self.idle_timeout:
                        body = struct.pack(">d", now)
                        conn.ping = (body, now)
                        conn.outbox.append((Kind.PING, body))
                        conn.outbox_bytes += len(body)
                async with asyncio.timeout(stall):
                    while conn.outbox and conn.link is link:
                        kind, body = conn.outbox.popleft()
                        conn.outbox_bytes -= len(body)
                        await link.send(kind, body)
                    if conn.link is not link:
                        return
                    in_flight = conn.in_flight
                    acked = publisher.acked(cid)
                    if acked is not None:
                        while in_flight and in_flight[0] <= acked:
                            in_flight.popleft()
                    if len(in_flight) >= self.max_in_flight or link.buffered() > self.high_water:
                        continue  # an acknowledgement wakes it
                    packets = publisher.packets_for(cid)
                    if packets:
                        sent = publisher.sent(cid)
                        assert sent is not None
                        in_flight.append(sent)
                        for packet in packets:
                            await link.send(Kind.SYNC, packet)
        except TimeoutError:
            self._drop(conn, f"not reading: a write waited more than {stall:g} s")
        except LinkClosed:
            pass  # the reader sees it too, and says why
        except FlatsyncError as error:
            # The codec refused the state: a bug of the program, not of the peer.
            log.error("client %d: could not encode its packet: %s", cid, str(error)[:_LOG_REASON])
            self._drop(conn, "the server could not encode its state")

    # -- how connections end ------------------------------------------------------------------

    def _log_end(self, conn: _Conn | None, link: Link, reason: str) -> None:
        if len(reason) > _LOG_REASON:
            reason = reason[: _LOG_REASON - 1] + "…"
        if conn is None:
            log.info("connection from %s (%s) closed: %s", link.peer, link.transport, reason)
        else:
            log.info("client %d (%s, %s) %s", conn.peer.id, conn.peer.name, link.peer, reason)

    def _ended(self, conn: _Conn | None, link: Link, reason: str) -> None:
        """The link ended without a goodbye: the client is detached (it may resume)."""
        if conn is None:
            self._log_end(None, link, reason)
        elif conn.link is link:
            self._detach(conn, reason)

    def _detach(self, conn: _Conn, reason: str, *, expire: bool = True) -> None:
        link = conn.link
        assert link is not None
        self._log_end(conn, link, f"lost: {reason}")
        conn.link = None
        conn.peer.connected = False
        conn.outbox.clear()
        conn.outbox_bytes = 0
        conn.ping = None
        conn.wake.set()
        link.abort()
        self.publisher.pause(conn.peer.id)  # nothing is built for it until it resumes
        if not expire:
            return
        if self.resume_timeout <= 0 or self._closing:
            self._leave(conn, reason, goodbye=False)
        else:
            loop = asyncio.get_running_loop()
            conn.expiry = loop.call_later(
                self.resume_timeout, self._leave, conn, f"lost: {reason}", False
            )

    def _drop(self, conn: _Conn, reason: str) -> None:
        """The peer misbehaves (does not read): it leaves, its connection is cut."""
        self._leave(conn, reason, goodbye=False)

    def _leave(self, conn: _Conn, reason: str, goodbye: bool) -> None:
        """The client is gone for good: publisher and application forget it."""
        if self._conns.get(conn.peer.id) is not conn:
            return
        del self._conns[conn.peer.id]
        if conn.expiry is not None:
            conn.expiry.cancel()
            conn.expiry = None
        link = conn.link
        conn.link = None
        conn.peer.connected = False
        conn.outbox.clear()
        conn.outbox_bytes = 0
        conn.wake.set()
        if link is not None:
            self._log_end(conn, link, f"left: {reason}")
            if goodbye:
                self._farewell(link, reason)
            else:
                link.abort()
        self.publisher.remove_client(conn.peer.id)
        if self.on_leave is not None:
            self.on_leave(conn.peer, reason)

    def _farewell(self, link: Link, reason: str) -> None:
        """Send a goodbye and close, within a second; the link's handler waits for it."""
        if link in self._farewells:
            return
        task = asyncio.create_task(self._goodbye(link, reason))
        self._farewells[link] = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _: self._farewells.pop(link, None))

    async def _goodbye(self, link: Link, reason: str) -> None:
        try:
            async with asyncio.timeout(min(1.0, self.idle_timeout)):
                await link.send(Kind.BYE, reason_bytes(reason))
                await link.close()
        except (TimeoutError, LinkClosed):
            pass
        finally:
            link.abort()

    def __repr__(self) -> str:
        connected = sum(1 for c in self._conns.values() if c.link is not None)
        return (
            f"<Server {self.name!r} session={self.session.hex()[:8]} "
            f"clients={connected}/{len(self._conns)} frame={self.publisher.frame}>"
        )
