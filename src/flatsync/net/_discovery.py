"""LAN discovery: a server announces itself over UDP, :func:`discover` lists the servers.

Promoted from the demo game. Two UDP ports, so that a server and a client on
one host never compete for a datagram: servers listen for *probes* on
:data:`DISCOVERY_PORT` (47474) and answer each at once, unicast; clients hear
periodic *announcements* on :data:`ANNOUNCE_PORT` (47475). A probe is exactly
as long as the longest announcement, so that a forged probe cannot make a
server an amplifier. A datagram that is not exactly one well-formed probe or
announcement is ignored (logged at debug level).

IPv4 and IPv6: the socket family follows the addresses. On IPv4 the default
target is the limited broadcast ``255.255.255.255``; IPv6 has no broadcast, so
give a multicast group with its scope (``ff02::1%eth0``: every host on that
link) or a host's address.

The datagrams (integers unsigned, big-endian)::

    offset  size  field
    0       6     magic b"FSYNC1" ("1": the layout version)
    6       1     kind: b"Q" (0x51) probe, b"A" (0x41) announcement
    probe:
    7       83    zero bytes (a probe is 90 bytes)
    announcement (27 to 90 bytes):
    7       2     TCP port of the server (0: none)
    9       2     WebSocket port (0: none)
    11      2     network protocol version (flatsync.net.PROTOCOL_VERSION)
    13      2     clients connected
    15      2     most clients (0: no limit)
    17      8     instance id (the first 8 bytes of the server's session id)
    25      1     N: the name's length in bytes (1..64)
    26      N     the name, UTF-8, printable characters only
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import socket
import struct
from typing import Any, Final, cast

import attrs

from .._tree._errors import FlatsyncError
from ._messages import PROTOCOL_VERSION

__all__ = [
    "ANNOUNCE_PORT",
    "BROADCAST",
    "DISCOVERY_PORT",
    "Announcement",
    "Announcer",
    "DatagramError",
    "ServerInfo",
    "decode_datagram",
    "discover",
]

log = logging.getLogger("flatsync.net.discovery")

#: The UDP port on which servers listen for probes.
DISCOVERY_PORT: Final = 47474
#: The UDP port on which clients listen for periodic announcements.
ANNOUNCE_PORT: Final = 47475
#: The IPv4 limited broadcast address: every host on the local network.
BROADCAST: Final = "255.255.255.255"

_MAGIC: Final = b"FSYNC1"
_HEADER: Final = struct.Struct(">6scHHHHHQB")
_MAX_NAME: Final = 64
_PROBE: Final = _MAGIC + b"Q" + bytes(_HEADER.size + _MAX_NAME - len(_MAGIC) - 1)
_U16: Final = 0xFFFF


class DatagramError(FlatsyncError, ValueError):
    """A datagram that is not a well-formed probe or announcement."""


def _u16(field: str, value: int) -> int:
    if type(value) is not int or not 0 <= value <= _U16:
        raise DatagramError(f"{field} must be an int in 0..65535, not {value!r}")
    return value


@attrs.frozen(kw_only=True)
class Announcement:
    """What a server says about itself (the constructor checks every field).

    Attributes:
        name: 1 to 64 UTF-8 bytes, printable characters only.
        tcp_port: The server's TCP port (0: it does not listen on TCP).
        websocket_port: Its WebSocket port (0: none).
        protocol: The network protocol version it speaks.
        clients: Clients connected.
        max_clients: The most clients it takes (0: no limit).
        instance_id: 64 bits that tell a restarted server apart.
    """

    name: str
    tcp_port: int = 0
    websocket_port: int = 0
    protocol: int = PROTOCOL_VERSION
    clients: int = 0
    max_clients: int = 0
    instance_id: int = 0

    def __attrs_post_init__(self) -> None:
        self.encode()

    def encode(self) -> bytes:
        """The announcement's datagram.

        Raises:
            DatagramError: a field does not fit.
        """
        name = self.name
        if type(name) is not str or not name.isprintable():
            raise DatagramError(f"the name {name!r} is not printable text")
        try:
            raw = name.encode("utf-8")
        except UnicodeEncodeError:
            raise DatagramError(f"the name {name!r} is not valid Unicode") from None
        if not 1 <= len(raw) <= _MAX_NAME:
            raise DatagramError(f"the name must be 1 to {_MAX_NAME} UTF-8 bytes, not {len(raw)}")
        if type(self.instance_id) is not int or not 0 <= self.instance_id < 1 << 64:
            raise DatagramError(f"instance_id must be 64 bits, not {self.instance_id!r}")
        if not (self.tcp_port or self.websocket_port):
            raise DatagramError("a server announces a TCP port, a WebSocket port, or both")
        return (
            _HEADER.pack(
                _MAGIC,
                b"A",
                _u16("tcp_port", self.tcp_port),
                _u16("websocket_port", self.websocket_port),
                _u16("protocol", self.protocol),
                _u16("clients", self.clients),
                _u16("max_clients", self.max_clients),
                self.instance_id,
                len(raw),
            )
            + raw
        )


def decode_datagram(data: bytes) -> Announcement | None:
    """The announcement in ``data``, or ``None`` for a probe.

    Raises:
        DatagramError: anything but exactly one well-formed probe or
            announcement; no other exception escapes, whatever the bytes.
    """
    size = len(data)
    if size < len(_MAGIC) + 1 or data[: len(_MAGIC)] != _MAGIC:
        raise DatagramError(f"not a flatsync datagram ({size} bytes)")
    kind = data[len(_MAGIC) : len(_MAGIC) + 1]
    if kind == b"Q":
        if data != _PROBE:
            raise DatagramError(f"a malformed probe ({size} bytes)")
        return None
    if kind != b"A":
        raise DatagramError(f"unknown kind {kind!r}")
    if not _HEADER.size < size <= _HEADER.size + _MAX_NAME:
        raise DatagramError(f"an announcement of {size} bytes")
    _, _, tcp, ws, protocol, clients, most, instance, length = _HEADER.unpack_from(data)
    if size != _HEADER.size + length:
        raise DatagramError(f"the name is {length} bytes, the datagram has {size} bytes")
    try:
        name = bytes(data[_HEADER.size :]).decode("utf-8")
    except UnicodeDecodeError:
        raise DatagramError("the name is not UTF-8") from None
    return Announcement(
        name=name,
        tcp_port=tcp,
        websocket_port=ws,
        protocol=protocol,
        clients=clients,
        max_clients=most,
        instance_id=instance,
    )


@attrs.frozen(kw_only=True, order=True)
class ServerInfo:
    """A server that :func:`discover` heard. Sorts by name, then host.

    Attributes:
        name: Its name.
        host: The address its datagram came from: connect there.
        tcp_port: Its TCP port (0: none).
        websocket_port: Its WebSocket port (0: none).
        clients: Clients connected when it last spoke.
        max_clients: The most it takes (0: no limit).
        protocol: The network protocol version it speaks.
        instance_id: Its random id (a restarted server has a new one).
    """

    name: str
    host: str
    tcp_port: int
    websocket_port: int
    clients: int
    max_clients: int
    protocol: int
    instance_id: int

    def url(self, transport: str = "tcp") -> str:
        """The :class:`~flatsync.net.Client` URL of the server: ``"tcp"`` or ``"websocket"``.

        Raises:
            ValueError: the server does not listen on that transport.
        """
        host = f"[{self.host}]" if ":" in self.host else self.host
        if transport == "tcp" and self.tcp_port:
            return f"tcp://{host}:{self.tcp_port}"
        if transport == "websocket" and self.websocket_port:
            return f"ws://{host}:{self.websocket_port}/"
        raise ValueError(f"{self.name} does not listen on {transport}")


def _udp_socket(host: str, port: int, *, share: bool) -> socket.socket:
    """A non-blocking UDP socket bound to ``(host, port)``; IPv6 when ``host`` has a colon."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if share:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if hasattr(socket, "SO_REUSEPORT"):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        else:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.setblocking(False)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


async def _resolve(host: str, port: int) -> tuple[Any, ...]:
    """The socket address of ``(host, port)`` (numeric; IPv6 scope resolved)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    return tuple(infos[0][4])


class _Endpoint(asyncio.DatagramProtocol, abc.ABC):
    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        try:
            announcement = decode_datagram(data)
        except DatagramError as error:
            log.debug("ignored a datagram from %s: %s", addr[0], error)
            return
        self.received(announcement, addr)

    @abc.abstractmethod
    def received(self, announcement: Announcement | None, addr: tuple[Any, ...]) -> None:
        """Handle one datagram (``None``: not an announcement, e.g. a probe)."""

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP error: %s", exc)

    def send(self, data: bytes, addr: tuple[Any, ...]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(data, addr)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def _open(endpoint: _Endpoint, sock: socket.socket) -> None:
    try:
        await asyncio.get_running_loop().create_datagram_endpoint(lambda: endpoint, sock=sock)
    except BaseException:
        sock.close()
        raise


class _Answerer(_Endpoint):
    def __init__(self, announcer: Announcer) -> None:
        super().__init__()
        self.announcer = announcer

    def received(self, announcement: Announcement | None, addr: tuple[Any, ...]) -> None:
        if announcement is None:  # a probe: answer it, unicast
            self.send(self.announcer.datagram, addr)


class Announcer:
    """Makes a server findable: periodic announcements, and an answer to each probe.

    Use it as an async context manager (or :meth:`start` and :meth:`aclose`).

    Args:
        announcement: What to say (change it with :meth:`update`).
        port: The UDP port to hear probes on (0: any free port, see :attr:`port`).
        bind_host: The address to listen on: ``"0.0.0.0"`` (every IPv4
            interface), ``"::"`` (every IPv6 one), or one address.
        target: Where the periodic announcements go (``None``: none, the
            announcer only answers probes). Its family must be ``bind_host``'s.
        interval: Seconds between announcements.
    """

    def __init__(
        self,
        announcement: Announcement,
        *,
        port: int = DISCOVERY_PORT,
        bind_host: str = "0.0.0.0",
        target: tuple[str, int] | None = (BROADCAST, ANNOUNCE_PORT),
        interval: float = 2.0,
    ) -> None:
        if not interval > 0:
            raise ValueError(f"interval must be positive, not {interval!r}")
        self.announcement = announcement
        self.datagram = announcement.encode()
        self.bind_host = bind_host
        self.target = target
        self.interval = interval
        self._port = port
        self._endpoint: _Answerer | None = None
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def for_server(cls, server: Any, **options: Any) -> Announcer:
        """An announcer of a started :class:`~flatsync.net.Server` (its name, ports, session)."""
        ports = {}
        for transport in ("tcp", "websocket"):
            with contextlib.suppress(RuntimeError):
                ports[f"{transport}_port"] = getattr(server, f"{transport}_address")[1]
        announcement = Announcement(
            name=server.name,
            clients=len(server.clients),
            max_clients=server.max_clients,
            instance_id=int.from_bytes(server.session[:8], "big"),
            **ports,
        )
        return cls(announcement, **options)

    @property
    def port(self) -> int:
        """The UDP port it hears probes on."""
        if self._endpoint is not None and self._endpoint.transport is not None:
            return int(self._endpoint.transport.get_extra_info("sockname")[1])
        return self._port

    async def start(self) -> Announcer:
        """Bind and start announcing.

        Raises:
            OSError: the socket cannot be bound.
        """
        if self._endpoint is not None:
            raise RuntimeError("the announcer was started already")
        endpoint = _Answerer(self)
        await _open(endpoint, _udp_socket(self.bind_host, self._port, share=True))
        self._endpoint = endpoint
        if self.target is not None:
            target = await _resolve(*self.target)
            self._task = asyncio.create_task(self._announce(target))
        return self

    async def _announce(self, target: tuple[Any, ...]) -> None:
        assert self._endpoint is not None
        while True:
            self._endpoint.send(self.datagram, target)
            await asyncio.sleep(self.interval)

    def update(self, **changes: Any) -> None:
        """Change fields of the announcement (``clients=3``); the next datagrams say it.

        Raises:
            DatagramError: a value does not fit (nothing changes).
        """
        announcement = attrs.evolve(self.announcement, **changes)
        self.datagram = announcement.encode()
        self.announcement = announcement

    async def aclose(self) -> None:
        """Stop announcing and close the socket."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._endpoint is not None:
            self._endpoint.close()
            await asyncio.shield(self._endpoint.closed)

    async def __aenter__(self) -> Announcer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class _Collector(_Endpoint):
    def __init__(
        self, servers: dict[tuple[Any, ...], ServerInfo], done: asyncio.Event, limit: int | None
    ) -> None:
        super().__init__()
        self.servers = servers
        self.done = done
        self.limit = limit

    def received(self, announcement: Announcement | None, addr: tuple[Any, ...]) -> None:
        if announcement is None:
            return  # another client's probe
        host = str(addr[0]).split("%")[0]
        info = ServerInfo(
            name=announcement.name,
            host=host,
            tcp_port=announcement.tcp_port,
            websocket_port=announcement.websocket_port,
            clients=announcement.clients,
            max_clients=announcement.max_clients,
            protocol=announcement.protocol,
            instance_id=announcement.instance_id,
        )
        self.servers[(host, info.tcp_port, info.websocket_port, info.instance_id)] = info
        if self.limit is not None and len(self.servers) >= self.limit:
            self.done.set()


async def discover(
    timeout: float = 1.0,
    *,
    port: int = DISCOVERY_PORT,
    probe_address: str | None = BROADCAST,
    listen_port: int | None = ANNOUNCE_PORT,
    listen_host: str = "0.0.0.0",
    limit: int | None = None,
) -> list[ServerInfo]:
    """The servers that make themselves heard within ``timeout`` seconds, sorted.

    It probes ``probe_address`` (repeatedly: UDP may lose a datagram) and
    listens for announcements on ``listen_port``; one entry per server (host,
    ports, instance id), the newest news winning.

    Args:
        timeout: How long to listen, in seconds.
        port: The servers' probe port.
        probe_address: Where to probe: a broadcast address, a multicast group
            (IPv6: ``ff02::1%eth0``), or a host; ``None``: no probe.
        listen_port: Where to hear announcements (``None``: nowhere). If
            another program holds it, discovery goes on with the probe alone.
        listen_host: The address to hear announcements on (``"::"`` for IPv6).
        limit: Return as soon as this many servers are known.

    Raises:
        OSError: the probe's socket cannot be opened or its address resolved.
    """
    if not timeout >= 0:
        raise ValueError(f"timeout must be >= 0, not {timeout!r}")
    servers: dict[tuple[Any, ...], ServerInfo] = {}
    done = asyncio.Event()
    endpoints: list[_Endpoint] = []
    prober: asyncio.Task[None] | None = None
    try:
        if listen_port is not None:
            try:
                sock = _udp_socket(listen_host, listen_port, share=True)
            except OSError as error:
                log.warning("cannot listen on UDP port %d (%s): probing only", listen_port, error)
            else:
                listener = _Collector(servers, done, limit)
                await _open(listener, sock)
                endpoints.append(listener)
        if probe_address is not None:
            target = await _resolve(probe_address, port)
            local = "::" if len(target) == 4 else "0.0.0.0"
            endpoint = _Collector(servers, done, limit)
            await _open(endpoint, _udp_socket(local, 0, share=False))
            endpoints.append(endpoint)
            prober = asyncio.create_task(_probe(endpoint, target))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await done.wait()
    finally:
        if prober is not None:
            prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await prober
        for opened in endpoints:
            opened.close()
        for opened in endpoints:
            await asyncio.shield(opened.closed)
    return sorted(servers.values())


async def _probe(endpoint: _Endpoint, target: tuple[Any, ...]) -> None:
    """A probe now, then again after 0.1, 0.3, 0.7, ... s (at most 1 s apart)."""
    delay = 0.1
    while True:
        endpoint.send(_PROBE, target)
        await asyncio.sleep(delay)
        delay = min(2 * delay, 1.0)
