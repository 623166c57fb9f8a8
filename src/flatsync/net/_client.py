"""The client: a :class:`~flatsync.Replica` fed over TCP or WebSocket, reconnecting by itself."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import struct
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

import attrs

from .._codecs._cbor import CborCodec
from .._codecs._codec import Codec
from .._handlers._data import DataHandler
from .._session._events import FrameApplied
from .._session._replica import Replica
from .._tree._errors import DecodeError, FlatsyncError, LimitError, PatchError
from ._links import Link, LinkClosed, TcpLink, WebSocketLink
from ._messages import (
    MAX_PING,
    Hello,
    Kind,
    ProtocolError,
    Resume,
    Welcome,
    decode_welcome,
    encode_hello,
    reason_bytes,
    reason_text,
)

__all__ = ["Client", "Connected", "Disconnected", "Message", "NetEvent", "ServerRefused"]

log = logging.getLogger("flatsync.net")


class ServerRefused(FlatsyncError, ConnectionError):
    """The server answered the hello with a goodbye (full, codec mismatch, refused by the game)."""


@attrs.frozen(kw_only=True)
class Connected:
    """The client is connected (again) and welcomed.

    Attributes:
        session: The server's session id.
        client: This client's id on that server.
        resumed: The server took the client back as the same client (its id
            and key): a delta from the frame its replica holds follows when
            the server's history still has that frame, else a snapshot
            (:attr:`Client.snapshot_bytes` grows then).
        new_session: The session is not the one the replica was built from
            (a restarted or another server): a snapshot of the new session
            follows, and replaces the state whole (with events for what
            differs; :attr:`Client.state` stays the same object). Until then
            the state is the old session's, and the replica refuses anything
            but that snapshot. ``False`` at the first connection.
    """

    session: bytes
    client: int
    resumed: bool
    new_session: bool


@attrs.frozen(kw_only=True)
class Disconnected:
    """The connection ended; the client reconnects unless it was closed.

    Attributes:
        reason: Why, in a few words (a goodbye's reason when the server sent one).
    """

    reason: str


@attrs.frozen(kw_only=True)
class Message:
    """An application message from the server.

    Attributes:
        data: The message, decoded with the session's codec.
    """

    data: Any


NetEvent = Connected | Disconnected | Message

_END = object()


class Client:
    """A flatsync client: connects, keeps a :class:`~flatsync.Replica`, reconnects by itself.

    ``url`` is ``tcp://host:port``, ``ws://host:port/path`` or
    ``wss://...`` (IPv6 hosts in brackets: ``tcp://[::1]:8765``). Use it as an
    async context manager (it connects on entry, closes on exit), and iterate
    it for events: the replica's events (:class:`~flatsync.Added`, …,
    :class:`~flatsync.FrameApplied`) and :class:`Connected`,
    :class:`Disconnected`, :class:`Message`. The events wait in a bounded
    queue: while it is full the client stops reading, and the server merges
    what it misses. A program that reads only :attr:`state` passes
    ``events=False``.

    Args:
        url: Where the server listens.
        name: The client's name, in its hello (up to 64 characters).
        token: Opaque bytes for the server's application (up to 256).
        codec: The session's codec (CBOR by default); it must be the server's.
        reconnect: Reconnect when the connection is lost, with exponential
            backoff from ``backoff[0]`` to ``backoff[1]`` seconds.
        events: Queue events for iteration.
        max_events: The queue's bound, in packets' worth of events.
        max_message: The longest message accepted from the server, in bytes.
        connect_timeout: Seconds for a connection and its handshake.
        idle_timeout: Seconds of silence after which the server counts as gone.
        ping_interval: Seconds between pings (they measure :attr:`rtt`).
        on_message: ``on_message(data)`` for each application message, besides the event.
        on_events: ``on_events(events)`` after each sync packet, with what
            :meth:`Replica.receive <flatsync.Replica.receive>` returned (a
            game redraws there), besides the events queued for iteration.
    """

    def __init__(
        self,
        url: str,
        *,
        name: str = "",
        token: bytes = b"",
        codec: Codec | None = None,
        reconnect: bool = True,
        backoff: tuple[float, float] = (0.05, 5.0),
        events: bool = True,
        max_events: int = 256,
        max_message: int = 1 << 20,
        high_water: int = 64 * 1024,
        connect_timeout: float = 5.0,
        idle_timeout: float = 10.0,
        ping_interval: float = 1.0,
        on_message: Callable[[Any], Any] | None = None,
        on_events: Callable[[list[Any]], Any] | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("tcp", "ws", "wss") or parts.hostname is None or not parts.port:
            raise ValueError(f"expected tcp://host:port or ws://host:port/..., not {url!r}")
        self.url = url
        self.name = name
        self.token = token
        self.codec: Codec = CborCodec() if codec is None else codec
        self.reconnect = reconnect
        self.backoff = backoff
        self.max_message = max_message
        self.high_water = high_water
        self.connect_timeout = connect_timeout
        self.idle_timeout = idle_timeout
        self.ping_interval = ping_interval
        self.on_message = on_message
        self.on_events = on_events
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port
        #: The replica, the same for the client's whole life (a new session's
        #: snapshot replaces its state whole; it never mixes two sessions).
        self.replica = Replica(self.codec)
        #: The server's session id, its name and tick rate, and this client's id there.
        self.session: bytes | None = None
        self.server_name: str | None = None
        self.tick_rate: float | None = None
        self.client_id: int | None = None
        self._key = b""
        #: The last measured round trip in seconds.
        self.rtt: float | None = None
        #: Every byte of sync packets received, and of those that brought snapshots.
        self.bytes_received = 0
        self.snapshot_bytes = 0
        self.packets_received = 0
        #: Why the last connection ended (``None`` while the first one lasts).
        self.last_reason: str | None = None
        self._events: asyncio.Queue[Any] | None = asyncio.Queue(max_events) if events else None
        self._link: Link | None = None
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._outbox: list[tuple[Kind, bytes]] = []
        self._outbox_bytes = 0
        self._wake = asyncio.Event()
        self._changed = asyncio.Event()
        self._closed = False
        self._ping: tuple[bytes, float] | None = None

    # -- what it holds --------------------------------------------------------------------------

    @property
    def state(self) -> DataHandler:
        """The replica's state (read-only), the same object for the client's whole life."""
        return self.replica.state

    @property
    def connected(self) -> bool:
        """Whether a connection is up and welcomed."""
        return self._link is not None

    @property
    def closed(self) -> bool:
        """Whether the client has stopped (closed, or its connection ended without ``reconnect``)."""
        return self._closed

    async def wait_closed(self) -> None:
        """Wait until :attr:`closed`."""
        while not self._closed:
            self._changed.clear()
            await self._changed.wait()

    # -- lifecycle --------------------------------------------------------------------------------

    async def __aenter__(self) -> Client:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Connect and wait for the welcome; then the client runs (and reconnects) by itself.

        Raises:
            OSError, TimeoutError: the first connection failed.
            ServerRefused: the server said goodbye to the hello.
            ProtocolError: the server does not speak this protocol.
        """
        if self._task is not None:
            raise RuntimeError("connect() was called already")
        link = await self._open()
        self._task = asyncio.create_task(self._run(link), name="flatsync-net-client")

    async def close(self, reason: str = "closed by the client") -> None:
        """Say goodbye, close the connection and stop reconnecting; the iteration ends."""
        if self._closed:
            return
        self._closed = True
        if self.last_reason is None:
            self.last_reason = reason
        link = self._link
        if link is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await link.send(Kind.BYE, reason_bytes(reason))
            link.abort()
        for task in (self._task, self._writer):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        self._link = None
        self._end()

    def _end(self) -> None:
        self._changed.set()
        if self._events is not None:
            with contextlib.suppress(asyncio.QueueFull):
                self._events.put_nowait(_END)

    def send(self, message: Any) -> None:
        """Send an application message to the server (encoded with the session's codec).

        Raises:
            ConnectionError: not connected now (the message is not kept for later).
            EncodeError, LimitError: the codec refused it.
            ValueError: it is over the outbox's bound (``max_message``).
        """
        if self._link is None:
            raise ConnectionError("not connected")
        self._queue(Kind.MESSAGE, self.codec.encode(message))

    def _queue(self, kind: Kind, body: bytes) -> None:
        if self._outbox_bytes + len(body) > self.max_message:
            raise ValueError("the outbox is full (the server does not read)")
        self._outbox.append((kind, body))
        self._outbox_bytes += len(body)
        self._wake.set()

    async def wait_until(
        self, predicate: Callable[[DataHandler], bool], timeout: float = 10.0
    ) -> None:
        """Wait until ``predicate(state)`` is true (checked after each packet and reconnection).

        Raises:
            TimeoutError: not within ``timeout`` seconds.
            ConnectionError: the client is closed.
        """
        async with asyncio.timeout(timeout):
            while not predicate(self.state):
                if self._closed:
                    raise ConnectionError("the client is closed")
                self._changed.clear()
                await self._changed.wait()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        queue = self._events
        if queue is None:
            raise RuntimeError("this client was made with events=False")
        while True:
            item = await queue.get()
            if item is _END:
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(_END)  # for the next iteration
                return
            if isinstance(item, list):
                for event in item:
                    yield event
            else:
                yield item

    # -- connecting -------------------------------------------------------------------------------

    async def _open(self) -> Link:
        """One connection, handshake included: the link, welcomed."""
        async with asyncio.timeout(self.connect_timeout):
            if self._scheme == "tcp":
                reader, writer = await asyncio.open_connection(self._host, self._port)
                link: Link = TcpLink(
                    reader, writer, max_message=self.max_message, high_water=self.high_water
                )
            else:
                from websockets.asyncio.client import connect  # noqa: PLC0415 - websockets is optional (flatsync[net])

                connection = await connect(
                    self.url,
                    max_size=self.max_message,
                    write_limit=self.high_water,
                    ping_interval=None,
                    compression=None,
                    open_timeout=None,
                    close_timeout=1.0,
                )
                link = WebSocketLink(connection)
            try:
                resume = None
                if self.session is not None and self.client_id is not None:
                    replica = self.replica
                    resume = Resume(
                        session=self.session,
                        client=self.client_id,
                        key=self._key,
                        # What the replica holds of this session (nothing yet: a snapshot).
                        frame=replica.frame if replica.session == self.session else None,
                    )
                hello = Hello(
                    codec=self.codec.name, name=self.name, token=self.token, resume=resume
                )
                await link.send(Kind.HELLO, encode_hello(hello))
                try:
                    kind, body = await link.recv()
                except LinkClosed as error:
                    raise ConnectionError(f"the server hung up: {error}") from None
                if kind is Kind.BYE:
                    raise ServerRefused(reason_text(body))
                if kind is not Kind.WELCOME:
                    raise ProtocolError(f"expected a welcome, got a {kind.name.lower()}")
                welcome = decode_welcome(body)
            except BaseException:
                link.abort()
                raise
        self._welcomed(welcome, link)
        return link

    def _welcomed(self, welcome: Welcome, link: Link) -> None:
        if welcome.codec != self.codec.name:
            link.abort()
            raise ProtocolError(f"the server speaks {welcome.codec!r}, not {self.codec.name!r}")
        new_session = self.session is not None and welcome.session != self.session
        self.session = welcome.session
        # Never a mixed state: from now on the replica refuses whatever is not of
        # this session, and a snapshot of it replaces what another one built.
        self.replica.expect_session(welcome.session)
        self.client_id = welcome.client
        self._key = welcome.key
        self.server_name = welcome.server
        self.tick_rate = welcome.rate
        self._link = link
        self._outbox.clear()
        self._outbox_bytes = 0
        self._ping = None
        self._writer = asyncio.create_task(
            self._write_loop(link), name="flatsync-net-client-writer"
        )
        self._put_nowait(
            Connected(
                session=welcome.session,
                client=welcome.client,
                resumed=welcome.resumed,
                new_session=new_session,
            )
        )
        self._changed.set()

    def _put_nowait(self, item: Any) -> None:
        """Queue a connection event; when the queue is full, it is dropped (state events are not)."""
        if self._events is not None:
            with contextlib.suppress(asyncio.QueueFull):
                self._events.put_nowait(item)

    async def _run(self, link: Link | None) -> None:
        try:
            delay = self.backoff[0]
            while not self._closed:
                if link is None:
                    try:
                        link = await self._open()
                    except Exception as error:  # refused, reset, an HTTP error status...: try again
                        log.info("reconnecting to %s failed: %s", self.url, str(error)[:200])
                        await asyncio.sleep(delay * (0.5 + random.random()))
                        delay = min(delay * 2, self.backoff[1])
                        continue
                    delay = self.backoff[0]
                reason = await self._read_loop(link)
                self._link = None
                link.abort()
                if self._writer is not None:
                    self._writer.cancel()
                    with contextlib.suppress(BaseException):
                        await self._writer
                    self._writer = None
                link = None
                if self._closed:
                    break
                log.info("disconnected from %s: %s", self.url, reason)
                self.last_reason = reason
                self._put_nowait(Disconnected(reason=reason))
                self._changed.set()
                if not self.reconnect:
                    break
        finally:
            if link is not None:
                link.abort()
            if self._writer is not None:
                self._writer.cancel()
            self._link = None
            self._closed = True
            self._end()

    async def _read_loop(self, link: Link) -> str:
        """Read until the connection ends; the reason."""
        try:
            while True:
                async with asyncio.timeout(self.idle_timeout):
                    kind, body = await link.recv()
                if kind is Kind.SYNC:
                    await self._apply(body)
                elif kind is Kind.MESSAGE:
                    data = self.codec.decode(body)
                    if self.on_message is not None:
                        self.on_message(data)
                    if self._events is not None:
                        await self._events.put(Message(data=data))
                elif kind is Kind.PING:
                    if len(body) > MAX_PING:
                        raise ProtocolError(f"a ping of {len(body)} bytes")
                    self._queue(Kind.PONG, body)
                elif kind is Kind.PONG:
                    ping = self._ping
                    if ping is not None and ping[0] == body:
                        self.rtt = asyncio.get_running_loop().time() - ping[1]
                        self._ping = None
                elif kind is Kind.BYE:
                    return f"the server said goodbye: {reason_text(body)}"
                else:
                    raise ProtocolError(f"a server does not send a {kind.name.lower()}")
        except LinkClosed as error:
            return str(error)
        except TimeoutError:
            return f"the server was silent for more than {self.idle_timeout:g} s"
        except (FlatsyncError, ValueError) as error:
            return f"the server sent garbage ({type(error).__name__}: {str(error)[:200]})"

    async def _apply(self, packet: bytes) -> None:
        self.bytes_received += len(packet)
        self.packets_received += 1
        try:
            events: list[Any] = self.replica.receive(packet)
        except (DecodeError, LimitError, PatchError) as error:
            # The replica is unchanged and asks for what it needs.
            log.warning("a packet did not apply: %s", str(error)[:200])
            events = []
        if events and type(events[-1]) is FrameApplied and events[-1].base is None:
            self.snapshot_bytes += len(packet)
        self._wake.set()  # the replica has something to say
        self._changed.set()
        if self.on_events is not None:
            self.on_events(events)
        if self._events is not None and events:
            await self._events.put(events)

    async def _write_loop(self, link: Link) -> None:
        loop = asyncio.get_running_loop()
        next_ping = loop.time()
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.0, next_ping - loop.time())):
                        await self._wake.wait()
                self._wake.clear()
                now = loop.time()
                if now >= next_ping:
                    next_ping = now + self.ping_interval
                    if self._ping is None or now - self._ping[1] > self.idle_timeout:
                        body = struct.pack(">d", now)
                        self._ping = (body, now)
                        self._outbox.append((Kind.PING, body))
                        self._outbox_bytes += len(body)
                async with asyncio.timeout(self.idle_timeout):
                    reply = self.replica.packet_to_send()
                    if reply is not None:
                        await link.send(Kind.REPLY, reply)
                    while self._outbox:
                        kind, body = self._outbox.pop(0)
                        self._outbox_bytes -= len(body)
                        await link.send(kind, body)
        except (LinkClosed, TimeoutError):
            link.abort()  # the reader sees the end and reconnects

    def __repr__(self) -> str:
        state = "connected" if self.connected else "closed" if self._closed else "connecting"
        return f"<Client {self.url} {state} frame={self.replica.frame}>"
