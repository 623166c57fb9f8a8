"""LAN discovery: servers announce themselves, clients find them without an address.

Standard library only (:mod:`asyncio` and :mod:`socket`), IPv4 only.

How it works
------------

Two UDP ports are involved, so that a server and a client on the same host never
compete for the same datagram:

* :data:`DISCOVERY_PORT` (47474): every server's :class:`Announcer` listens here
  for *probes*.
* :data:`ANNOUNCE_PORT` (47475): clients listen here for periodic
  *announcements*.

A server runs an :class:`Announcer`. It sends its announcement (name, TCP port,
protocol version, player counts and a random instance id) every ``interval``
seconds to a target address, by default the IPv4 broadcast address
``255.255.255.255`` on :data:`ANNOUNCE_PORT`, and it answers every probe that
reaches :data:`DISCOVERY_PORT` at once with the same announcement, unicast to
the probe's sender.

A client calls :func:`discover`. It listens on :data:`ANNOUNCE_PORT` and, from a
second socket on a port of its own, broadcasts a probe to
:data:`DISCOVERY_PORT` (and repeats it a few times, as UDP may lose it). The
servers' replies come back to that port of its own within milliseconds; the
periodic announcements arrive as well. Until the timeout (or until ``limit``
servers are known) it collects both, keeps the newest announcement of each
server, one server being a (host, TCP port, instance id), and returns them
sorted as :class:`ServerInfo` records. The host of a server is the source
address of its datagram: an announcement never carries an address, so one that
a server cannot know (behind NAT, on several interfaces) is never sent wrong.
:func:`discover_first` returns the first server to answer.

Both ports are bound with ``SO_REUSEADDR`` (and ``SO_REUSEPORT`` where the
platform has it), so several servers and several clients can run on one host:
a broadcast datagram reaches every socket bound to its port. A *unicast*
datagram (a probe sent to ``127.0.0.1``, say) reaches only one of them: that is
how the kernel delivers unicast, and why broadcast is the default.

The instance id is drawn at random when the announcer is created, so a server
that restarts on the same address and port is a new entry, and two servers
behind one NAT address stay two entries.

Nothing that arrives can crash a listener: a datagram that is not exactly one
well-formed probe or announcement (truncated, oversized, another program's,
hostile) is logged at debug level and ignored. A probe is exactly as long as the
longest announcement, so that a probe with a forged source address cannot make
a server an amplifier: the reply is never larger than the probe.

The datagrams, byte by byte
---------------------------

Integers are unsigned and big-endian. Every datagram starts with the same 7
bytes::

    offset  size  field
    0       6     magic: the ASCII bytes b"ARENA1" ("1": the layout version;
                  another layout gets another magic)
    6       1     kind: b"Q" (0x51) probe, b"A" (0x41) announcement

A probe is exactly 88 bytes (:data:`PROBE_SIZE`)::

    7       81    zero bytes (padding, see above; anything else is rejected)

An announcement is 25 to 88 bytes (24 + the name's length)::

    7       2     TCP port of the game server (1..65535)
    9       2     game protocol version the server speaks (0..65535)
    11      2     players connected (0..65535)
    13      2     maximum players (0 = no limit)
    15      8     instance id (random, chosen when the server starts)
    23      1     N = length of the name in bytes (1..64)
    24      N     the server's name, UTF-8, printable characters only

For example, the server "Arena" on TCP port 4000, protocol 1, 2 of 8 players,
instance id 0x0123456789ABCDEF, announces these 29 bytes::

    41 52 45 4e 41 31  41  0f a0  00 01  00 02  00 08
    01 23 45 67 89 ab cd ef  05  41 72 65 6e 61

>>> Announcement("Arena", 4000, protocol=1, players=2, max_players=8,
...              instance_id=0x0123456789ABCDEF).encode().hex(" ")
'41 52 45 4e 41 31 41 0f a0 00 01 00 02 00 08 01 23 45 67 89 ab cd ef 05 41 72 65 6e 61'

A datagram is accepted only if its length is exactly what its fields say, so
trailing bytes, a short name or a name length above 64 are all rejected, as are
a TCP port 0, a name that is not UTF-8 and a name with control characters (it
would end up on a terminal).

Usage
-----

On the server::

    async with Announcer("Arena", tcp_port=4000, max_players=8) as announcer:
        ...
        announcer.update(players=3)   # the next announcement and replies say 3

On the client::

    servers = await discover(timeout=1.0)
    first = await discover_first(timeout=3.0)  # None if nobody answered

From a shell, ``python -m arena.discovery`` lists the servers on the LAN, and
``python -m arena.discovery --announce NAME --tcp-port 4000`` announces a
(pretend) server until interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import secrets
import socket
import struct
import sys
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Final, Self, TypeVar, cast

__all__ = [
    "ANNOUNCE_PORT",
    "BROADCAST",
    "DISCOVERY_PORT",
    "MAGIC",
    "MAX_ANNOUNCEMENT_SIZE",
    "MAX_NAME_BYTES",
    "PROBE_SIZE",
    "Announcement",
    "Announcer",
    "DatagramError",
    "Probe",
    "ServerInfo",
    "decode_datagram",
    "discover",
    "discover_first",
    "main",
]

log = logging.getLogger(__name__)

#: The UDP port on which servers listen for probes.
DISCOVERY_PORT: Final = 47474
#: The UDP port on which clients listen for periodic announcements.
ANNOUNCE_PORT: Final = 47475
#: The IPv4 limited broadcast address: every host on the local network.
BROADCAST: Final = "255.255.255.255"

#: The first 6 bytes of every datagram; the "1" is the layout version.
MAGIC: Final = b"ARENA1"
_KIND_PROBE: Final = b"Q"
_KIND_ANNOUNCEMENT: Final = b"A"
#: magic, kind, TCP port, protocol, players, max players, instance id, name length.
_HEADER: Final = struct.Struct(">6scHHHHQB")
#: The longest name, in UTF-8 bytes.
MAX_NAME_BYTES: Final = 64
#: The longest announcement in bytes (24 + 64 = 88).
MAX_ANNOUNCEMENT_SIZE: Final = _HEADER.size + MAX_NAME_BYTES
#: The size of a probe: that of the longest announcement (no amplification).
PROBE_SIZE: Final = MAX_ANNOUNCEMENT_SIZE
_PROBE_BYTES: Final = MAGIC + _KIND_PROBE + bytes(PROBE_SIZE - len(MAGIC) - 1)

_U16: Final = 0xFFFF
_U64: Final = 0xFFFF_FFFF_FFFF_FFFF


class DatagramError(ValueError):
    """A datagram that is not a well-formed probe or announcement."""


def _check_name(name: str) -> bytes:
    """The UTF-8 bytes of a valid server name; ValueError (DatagramError) if invalid."""
    if not isinstance(name, str):
        raise DatagramError(f"the name must be a str, not {type(name).__name__}")
    if not name.isprintable():
        raise DatagramError(f"the name {name!r} has non-printable characters")
    try:
        raw = name.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates
        raise DatagramError(f"the name {name!r} is not valid Unicode") from exc
    if not 1 <= len(raw) <= MAX_NAME_BYTES:
        raise DatagramError(f"the name must be 1 to {MAX_NAME_BYTES} UTF-8 bytes, not {len(raw)}")
    return raw


def _check_int(field: str, value: int, low: int, high: int) -> None:
    # bool is an int, but True is no port number.
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise DatagramError(f"{field} must be an int in {low}..{high}, not {value!r}")


@dataclasses.dataclass(frozen=True, slots=True)
class Probe:
    """A client's "who is there?" datagram. It has no fields."""

    def encode(self) -> bytes:
        """The probe's :data:`PROBE_SIZE` bytes."""
        return _PROBE_BYTES


@dataclasses.dataclass(frozen=True, slots=True)
class Announcement:
    """What a server says about itself, as the datagram carries it.

    The constructor checks every field against the datagram's limits and
    raises :class:`DatagramError` (a :class:`ValueError`) if one does not fit.
    """

    #: The server's name: 1 to 64 UTF-8 bytes, printable characters only.
    name: str
    #: The TCP port on which the game server accepts players.
    tcp_port: int
    #: The version of the game protocol the server speaks.
    protocol: int = 1
    #: Players connected now.
    players: int = 0
    #: The most players the server takes; 0 means no limit.
    max_players: int = 0
    #: Random, chosen when the server starts: tells a restarted server apart.
    instance_id: int = 0

    def __post_init__(self) -> None:
        _check_name(self.name)
        _check_int("tcp_port", self.tcp_port, 1, _U16)
        _check_int("protocol", self.protocol, 0, _U16)
        _check_int("players", self.players, 0, _U16)
        _check_int("max_players", self.max_players, 0, _U16)
        _check_int("instance_id", self.instance_id, 0, _U64)

    def encode(self) -> bytes:
        """The announcement's datagram (see the module's docstring for the layout)."""
        name = _check_name(self.name)
        return (
            _HEADER.pack(
                MAGIC,
                _KIND_ANNOUNCEMENT,
                self.tcp_port,
                self.protocol,
                self.players,
                self.max_players,
                self.instance_id,
                len(name),
            )
            + name
        )

    @classmethod
    def decode(cls, data: bytes) -> Announcement:
        """The announcement in ``data``; :class:`DatagramError` if it is not one."""
        message = decode_datagram(data)
        if not isinstance(message, Announcement):
            raise DatagramError("a probe, not an announcement")
        return message


def decode_datagram(data: bytes) -> Probe | Announcement:
    """Decode one datagram.

    Raises:
        DatagramError: for anything but exactly one well-formed probe or
            announcement. No other exception escapes, whatever the bytes.
    """
    size = len(data)
    if size < len(MAGIC) + 1:
        raise DatagramError(f"truncated: {size} bytes")
    if data[: len(MAGIC)] != MAGIC:
        raise DatagramError(f"not an arena datagram: starts with {bytes(data[:8])!r}")
    kind = data[len(MAGIC) : len(MAGIC) + 1]
    if kind == _KIND_PROBE:
        if data != _PROBE_BYTES:
            raise DatagramError(f"malformed probe ({size} bytes)")
        return Probe()
    if kind != _KIND_ANNOUNCEMENT:
        raise DatagramError(f"unknown kind {kind!r}")
    if size < _HEADER.size:
        raise DatagramError(f"truncated announcement: {size} bytes")
    if size > MAX_ANNOUNCEMENT_SIZE:
        raise DatagramError(f"oversized announcement: {size} bytes")
    _, _, tcp_port, protocol, players, max_players, instance_id, name_size = _HEADER.unpack_from(
        data
    )
    if size != _HEADER.size + name_size:
        raise DatagramError(f"the name is {name_size} bytes, the datagram has {size} bytes")
    try:
        name = bytes(data[_HEADER.size :]).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DatagramError("the name is not UTF-8") from exc
    # The constructor checks the rest (name length and characters, port 0).
    return Announcement(name, tcp_port, protocol, players, max_players, instance_id)


@dataclasses.dataclass(frozen=True, slots=True, order=True)
class ServerInfo:
    """A server that :func:`discover` found. Sorts by name, then address."""

    #: The server's name, as it announced it.
    name: str
    #: The address its announcement came from: connect to it.
    host: str
    #: The TCP port of the game server.
    port: int
    #: Players connected when it last announced itself.
    players: int = 0
    #: The most players it takes; 0 means no limit.
    max_players: int = 0
    #: The game protocol version it speaks.
    protocol: int = 1
    #: Its random instance id (a restarted server has a new one).
    instance_id: int = 0

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)``: where to open the TCP connection."""
        return (self.host, self.port)

    @classmethod
    def from_announcement(cls, announcement: Announcement, host: str) -> ServerInfo:
        """The info of the server whose ``announcement`` came from ``host``."""
        return cls(
            name=announcement.name,
            host=host,
            port=announcement.tcp_port,
            players=announcement.players,
            max_players=announcement.max_players,
            protocol=announcement.protocol,
            instance_id=announcement.instance_id,
        )

    def __str__(self) -> str:
        seats = f"{self.players}/{self.max_players}" if self.max_players else f"{self.players}"
        return (
            f"{self.name}  {self.host}:{self.port}  players {seats}  protocol {self.protocol}"
            f"  id {self.instance_id:016x}"
        )


# --- sockets ------------------------------------------------------------------------------


def _udp_socket(host: str, port: int, *, share: bool, broadcast: bool) -> socket.socket:
    """A non-blocking IPv4 UDP socket bound to ``(host, port)``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        if share:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if hasattr(socket, "SO_REUSEPORT"):
                # Some kernels (old WSL) define the name but refuse the option.
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if broadcast:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.setblocking(False)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


async def _resolve(host: str, port: int) -> tuple[str, int]:
    """``(host, port)`` with ``host`` as a numeric IPv4 address (without blocking the loop)."""
    try:
        return (str(ipaddress.IPv4Address(host)), port)
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, family=socket.AF_INET, type=socket.SOCK_DGRAM
    )
    if not infos:  # pragma: no cover - getaddrinfo raises instead
        raise OSError(f"cannot resolve {host!r}")
    address = infos[0][4]
    return (str(address[0]), int(address[1]))


class _Endpoint(asyncio.DatagramProtocol):
    """A datagram protocol that decodes what it receives and knows when it is closed."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (In Python 3.11 the selector loop's datagram transport does not
        # inherit from asyncio.DatagramTransport, hence no isinstance check.)
        self.transport = cast(asyncio.DatagramTransport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        try:
            message = decode_datagram(data)
        except DatagramError as exc:
            log.debug("ignored a datagram from %s:%s: %s", addr[0], addr[1], exc)
            return
        self.message_received(message, (str(addr[0]), int(addr[1])))

    def message_received(self, message: Probe | Announcement, addr: tuple[str, int]) -> None:
        raise NotImplementedError

    def error_received(self, exc: Exception) -> None:
        # E.g. ICMP "port unreachable" after a unicast probe to a host without a server.
        log.debug("UDP error: %s", exc)

    def send(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(data, addr)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


_E = TypeVar("_E", bound=_Endpoint)


async def _open(endpoint: _E, sock: socket.socket) -> _E:
    try:
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: endpoint, sock=sock
        )
    except BaseException:
        sock.close()
        raise
    endpoint.transport = transport
    return endpoint


# --- the server side ----------------------------------------------------------------------


class _AnnouncerEndpoint(_Endpoint):
    def __init__(self, announcer: Announcer) -> None:
        super().__init__()
        self.announcer = announcer
        self.warned = False

    def message_received(self, message: Probe | Announcement, addr: tuple[str, int]) -> None:
        if isinstance(message, Probe):
            log.debug("probe from %s:%s: replying", *addr)
            self.send(self.announcer.datagram, addr)
        # Another server's broadcast announcement: not for us.

    def error_received(self, exc: Exception) -> None:
        # A periodic broadcast fails every time on a host without a network: say it once.
        if not self.warned and self.announcer.target is not None:
            self.warned = True
            log.warning(
                "cannot send announcements to %s:%s (%s); probes are still answered",
                *self.announcer.target,
                exc,
            )
        else:
            super().error_received(exc)


class Announcer:
    """Makes a game server findable: periodic announcements and answers to probes.

    Nothing happens until :meth:`start` (or ``async with``); :meth:`aclose` (or
    the end of the ``async with`` block) stops it. The announcement's fields
    are checked at once: :class:`DatagramError` (a :class:`ValueError`) if one
    does not fit the datagram.

    Args:
        name: the server's name (1 to 64 UTF-8 bytes, printable).
        tcp_port: the TCP port on which the game server accepts players.
        protocol: the game protocol version (:data:`arena.net.VERSION`).
        players: players connected now (change it with :meth:`update`).
        max_players: the most players the server takes, 0 for no limit.
        instance_id: defaults to 64 random bits.
        port: the UDP port to listen on for probes; 0 picks a free one (see
            :attr:`port` after :meth:`start`).
        bind_host: the address to listen on; ``""`` is every interface (needed to
            hear broadcast probes).
        target: where the periodic announcements go; ``None`` sends none (the
            announcer then only answers probes).
        interval: seconds between periodic announcements.
    """

    def __init__(
        self,
        name: str,
        tcp_port: int,
        *,
        protocol: int = 1,
        players: int = 0,
        max_players: int = 0,
        instance_id: int | None = None,
        port: int = DISCOVERY_PORT,
        bind_host: str = "",
        target: tuple[str, int] | None = (BROADCAST, ANNOUNCE_PORT),
        interval: float = 2.0,
    ) -> None:
        if not interval > 0:
            raise ValueError(f"interval must be positive, not {interval!r}")
        self._announcement = Announcement(
            name,
            tcp_port,
            protocol=protocol,
            players=players,
            max_players=max_players,
            instance_id=secrets.randbits(64) if instance_id is None else instance_id,
        )
        self._datagram = self._announcement.encode()
        self._requested_port = port
        self.bind_host = bind_host
        #: Where the periodic announcements go (resolved to a numeric address by start()).
        self.target = target
        self.interval = interval
        self._endpoint: _AnnouncerEndpoint | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    @property
    def announcement(self) -> Announcement:
        """What the announcer says now."""
        return self._announcement

    @property
    def datagram(self) -> bytes:
        """The announcement's datagram, as sent now."""
        return self._datagram

    @property
    def port(self) -> int:
        """The UDP port it listens on for probes (the real one once started)."""
        if self._endpoint is not None and self._endpoint.transport is not None:
            return int(self._endpoint.transport.get_extra_info("sockname")[1])
        return self._requested_port

    @property
    def running(self) -> bool:
        """Whether it is started and not closed."""
        return self._endpoint is not None and not self._endpoint.closed.done()

    async def start(self) -> Self:
        """Bind the socket and start announcing. Returns the announcer itself.

        Raises:
            OSError: if the socket cannot be bound or the target not resolved.
            RuntimeError: if it was started before.
        """
        if self._endpoint is not None:
            raise RuntimeError("the announcer was started already")
        if self.target is not None:
            self.target = await _resolve(*self.target)
        sock = _udp_socket(self.bind_host, self._requested_port, share=True, broadcast=True)
        self._endpoint = await _open(_AnnouncerEndpoint(self), sock)
        log.info(
            "announcing %r (TCP port %d) to %s, answering probes on UDP port %d",
            self._announcement.name,
            self._announcement.tcp_port,
            "nobody" if self.target is None else f"{self.target[0]}:{self.target[1]}",
            self.port,
        )
        if self.target is not None:
            self._task = asyncio.create_task(self._announce_periodically(self.target))
        return self

    async def _announce_periodically(self, target: tuple[str, int]) -> None:
        assert self._endpoint is not None
        while True:
            self._endpoint.send(self._datagram, target)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._wake.wait()

    def update(
        self,
        *,
        name: str | None = None,
        players: int | None = None,
        max_players: int | None = None,
        announce: bool = False,
    ) -> None:
        """Change what the announcer says (the next announcement and replies say it).

        With ``announce=True`` the periodic announcement goes out now rather
        than at the end of the interval. Raises :class:`DatagramError` (and
        changes nothing) if a value does not fit.
        """
        changes: dict[str, Any] = {}
        if name is not None:
            changes["name"] = name
        if players is not None:
            changes["players"] = players
        if max_players is not None:
            changes["max_players"] = max_players
        self._announcement = dataclasses.replace(self._announcement, **changes)
        self._datagram = self._announcement.encode()
        if announce:
            self._wake.set()

    def close(self) -> None:
        """Stop announcing and close the socket (:meth:`wait_closed` waits for it)."""
        if self._task is not None:
            self._task.cancel()
        if self._endpoint is not None:
            self._endpoint.close()

    async def wait_closed(self) -> None:
        """Wait until :meth:`close` has finished."""
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._endpoint is not None:
            await asyncio.shield(self._endpoint.closed)

    async def aclose(self) -> None:
        """:meth:`close`, then :meth:`wait_closed`."""
        self.close()
        await self.wait_closed()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


# --- the client side ----------------------------------------------------------------------


class _Collector(_Endpoint):
    """Feeds the announcements it receives to a shared table of servers."""

    def __init__(
        self,
        servers: dict[tuple[str, int, int], ServerInfo],
        found: asyncio.Event,
        limit: int | None,
    ) -> None:
        super().__init__()
        self.servers = servers
        self.found = found
        self.limit = limit

    def message_received(self, message: Probe | Announcement, addr: tuple[str, int]) -> None:
        if isinstance(message, Probe):
            return  # another client's (or our own, broadcast) probe
        info = ServerInfo.from_announcement(message, addr[0])
        key = (info.host, info.port, info.instance_id)
        if key not in self.servers:
            log.debug("found %s", info)
        self.servers[key] = info  # the newest news of a server wins
        if self.limit is not None and len(self.servers) >= self.limit:
            self.found.set()


async def _probe_repeatedly(endpoint: _Endpoint, target: tuple[str, int]) -> None:
    """Send a probe now, then again after 0.1, 0.3, 0.7, ... s (capped at 1 s apart)."""
    delay = 0.1
    while True:
        endpoint.send(_PROBE_BYTES, target)
        await asyncio.sleep(delay)
        delay = min(2 * delay, 1.0)


async def discover(
    timeout: float = 1.0,
    *,
    port: int = DISCOVERY_PORT,
    probe_address: str | None = BROADCAST,
    listen_port: int | None = ANNOUNCE_PORT,
    bind_host: str = "",
    limit: int | None = None,
) -> list[ServerInfo]:
    """Find the game servers on the LAN.

    Listens for announcements and probes for servers for ``timeout`` seconds,
    then returns what it found, one entry per server (host, TCP port, instance
    id), sorted.

    Args:
        timeout: how long to collect, in seconds.
        port: the UDP port the servers listen on for probes.
        probe_address: where to send the probe: the broadcast address, a subnet's
            broadcast address, or one host's address. ``None`` sends no probe
            (only periodic announcements are heard).
        listen_port: the UDP port to hear periodic announcements on; ``None``
            listens for none (only replies to the probe are heard). If another
            program holds the port, discovery goes on with the probe alone.
        bind_host: the local address of the sockets; ``""`` is every interface.
        limit: return as soon as this many servers are known.

    Raises:
        OSError: if the probe's socket cannot be opened or ``probe_address``
            not resolved. A probe that cannot be sent (no network) is not an error.
    """
    if not timeout >= 0:
        raise ValueError(f"timeout must be >= 0, not {timeout!r}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, not {limit!r}")
    servers: dict[tuple[str, int, int], ServerInfo] = {}
    found = asyncio.Event()
    endpoints: list[_Endpoint] = []
    prober: asyncio.Task[None] | None = None
    try:
        if listen_port is not None:
            try:
                sock = _udp_socket(bind_host, listen_port, share=True, broadcast=False)
            except OSError as exc:
                log.warning("cannot listen on UDP port %d (%s): probing only", listen_port, exc)
            else:
                endpoints.append(await _open(_Collector(servers, found, limit), sock))
        if probe_address is not None:
            target = await _resolve(probe_address, port)
            sock = _udp_socket(bind_host, 0, share=False, broadcast=True)
            prober_endpoint = await _open(_Collector(servers, found, limit), sock)
            endpoints.append(prober_endpoint)
            prober = asyncio.create_task(_probe_repeatedly(prober_endpoint, target))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await found.wait()
    finally:
        if prober is not None:
            prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await prober
        for endpoint in endpoints:
            endpoint.close()
        for endpoint in endpoints:
            await asyncio.shield(endpoint.closed)
    return sorted(servers.values())


async def discover_first(
    timeout: float = 3.0,
    *,
    port: int = DISCOVERY_PORT,
    probe_address: str | None = BROADCAST,
    listen_port: int | None = ANNOUNCE_PORT,
    bind_host: str = "",
) -> ServerInfo | None:
    """The first server to make itself heard, or ``None`` after ``timeout`` seconds.

    The arguments are those of :func:`discover`.
    """
    servers = await discover(
        timeout,
        port=port,
        probe_address=probe_address,
        listen_port=listen_port,
        bind_host=bind_host,
        limit=1,
    )
    return servers[0] if servers else None


# --- the command line ---------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m arena.discovery",
        description="List the arena servers on the LAN, or announce a pretend one.",
    )
    parser.add_argument("--timeout", type=float, default=1.0, help="seconds to listen (1.0)")
    parser.add_argument("--first", action="store_true", help="stop at the first server")
    parser.add_argument(
        "--probe",
        default=BROADCAST,
        metavar="ADDRESS",
        help=f"where to send the probe ({BROADCAST}), 'none' for no probe;"
        " with --announce: where the announcements go",
    )
    parser.add_argument(
        "--port", type=int, default=DISCOVERY_PORT, help=f"servers' UDP port ({DISCOVERY_PORT})"
    )
    parser.add_argument(
        "--listen-port",
        type=int,
        default=ANNOUNCE_PORT,
        help=f"UDP port for announcements ({ANNOUNCE_PORT}); 0 for none",
    )
    parser.add_argument("--announce", metavar="NAME", help="announce a server by this name")
    parser.add_argument("--tcp-port", type=int, default=4000, help="its TCP port (4000)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    return parser


async def _announce_forever(args: argparse.Namespace) -> None:
    target = (args.probe, args.listen_port) if args.probe != "none" and args.listen_port else None
    async with Announcer(args.announce, args.tcp_port, port=args.port, target=target) as announcer:
        print(f"announcing {announcer.announcement.name!r}; Ctrl-C stops", flush=True)
        await asyncio.Event().wait()


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: prints the servers found, one a line.

    Returns 0 if it found one, 1 if not (2 for bad arguments, as argparse does).
    """
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(name)s: %(message)s",
    )
    if args.announce is not None:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_announce_forever(args))
        return 0
    servers = asyncio.run(
        discover(
            args.timeout,
            port=args.port,
            probe_address=None if args.probe == "none" else args.probe,
            listen_port=args.listen_port or None,
            limit=1 if args.first else None,
        )
    )
    for server in servers:
        print(server)
    if not servers:
        print("no servers found", file=sys.stderr)
    return 0 if servers else 1


if __name__ == "__main__":
    sys.exit(main())
