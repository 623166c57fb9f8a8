"""Links: one connection, TCP or WebSocket, seen as a channel of ``(kind, body)`` messages.

The server and the client speak to a :class:`Link` and never to a socket, so
that every rule of the protocol is written once for both transports. A link
reads one message at a time (never more than the size cap), writes one message
at a time (the write waits while the transport's buffer is above its
high-water mark), and turns every way a connection can end into
:class:`LinkClosed` with a short reason.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from ._messages import Kind, ProtocolError, frame, kind_of, read_length

if TYPE_CHECKING:
    from websockets.asyncio.connection import Connection

__all__ = ["Link", "LinkClosed", "TcpLink", "WebSocketLink", "format_address"]


class LinkClosed(Exception):
    """The connection ended (the reason says how)."""


def format_address(address: Any) -> str:
    """``host:port`` (``[host]:port`` for IPv6) of a socket address, or ``?``."""
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return "?"


class Link(abc.ABC):
    """One connection: :meth:`recv` and :meth:`send` messages, then :meth:`close`."""

    transport: str = "?"
    peer: str = "?"

    @abc.abstractmethod
    async def recv(self) -> tuple[Kind, bytes]:
        """The next message.

        Raises:
            LinkClosed: the connection ended (cleanly, reset, or mid-message).
            ProtocolError: the peer sent something that is not a message.
        """

    @abc.abstractmethod
    async def send(self, kind: Kind, body: bytes | bytearray | memoryview = b"") -> None:
        """Write one message; wait while the write buffer is above the high-water mark.

        Raises:
            LinkClosed: the connection ended.
        """

    @abc.abstractmethod
    def buffered(self) -> int:
        """Bytes written and not yet taken by the operating system."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Close cleanly: what is written goes first (bounded by the transport's own timeouts)."""

    @abc.abstractmethod
    def abort(self) -> None:
        """Close now, dropping whatever is not written."""


class TcpLink(Link):
    """A link over an asyncio stream: each message has its length in front (LEB128)."""

    transport = "tcp"

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        max_message: int,
        high_water: int,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._max = max_message
        writer.transport.set_write_buffer_limits(high=high_water)
        self.peer = format_address(writer.get_extra_info("peername"))

    async def recv(self) -> tuple[Kind, bytes]:
        reader = self._reader
        prefix = b""
        try:
            while True:
                byte = await reader.readexactly(1)
                prefix += byte
                size = read_length(prefix)
                if size is not None:
                    break
            if size > self._max:
                raise ProtocolError(f"a message of {size} bytes (the limit is {self._max})")
            data = await reader.readexactly(size)
        except asyncio.IncompleteReadError as error:
            if error.partial or prefix:
                raise LinkClosed("the connection ended in the middle of a message") from None
            raise LinkClosed("the peer closed the connection") from None
        except OSError as error:
            raise LinkClosed(f"connection error ({type(error).__name__})") from None
        return kind_of(data[0]), data[1:]

    async def send(self, kind: Kind, body: bytes | bytearray | memoryview = b"") -> None:
        writer = self._writer
        if writer.transport.is_closing():
            raise LinkClosed("the connection is closing")
        writer.write(frame(kind, body))
        try:
            await writer.drain()
        except OSError as error:
            raise LinkClosed(f"connection error ({type(error).__name__})") from None

    def buffered(self) -> int:
        return self._writer.transport.get_write_buffer_size()

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()

    def abort(self) -> None:
        self._writer.transport.abort()


class WebSocketLink(Link):
    """A link over a WebSocket connection (``websockets``): one binary message per message."""

    transport = "websocket"

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self.peer = format_address(connection.remote_address)

    async def recv(self) -> tuple[Kind, bytes]:
        from websockets.exceptions import ConnectionClosed  # noqa: PLC0415 - websockets is optional (flatsync[net])

        try:
            data = await self._connection.recv()
        except ConnectionClosed as error:
            raise LinkClosed(_ws_reason(error)) from None
        except OSError as error:
            raise LinkClosed(f"connection error ({type(error).__name__})") from None
        if isinstance(data, str):
            raise ProtocolError("a text message (the protocol's messages are binary)")
        if not data:
            raise ProtocolError("an empty message")
        return kind_of(data[0]), data[1:]

    async def send(self, kind: Kind, body: bytes | bytearray | memoryview = b"") -> None:
        from websockets.exceptions import ConnectionClosed  # noqa: PLC0415 - websockets is optional (flatsync[net])

        try:
            await self._connection.send(kind.value + bytes(body))
        except ConnectionClosed as error:
            raise LinkClosed(_ws_reason(error)) from None
        except OSError as error:
            raise LinkClosed(f"connection error ({type(error).__name__})") from None

    def buffered(self) -> int:
        transport = self._connection.transport
        return 0 if transport is None else transport.get_write_buffer_size()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._connection.close()

    def abort(self) -> None:
        transport = self._connection.transport
        if transport is not None:
            transport.abort()


def _ws_reason(error: Exception) -> str:
    from websockets.exceptions import ConnectionClosed  # noqa: PLC0415 - websockets is optional (flatsync[net])

    if isinstance(error, ConnectionClosed):
        frame_ = error.rcvd or error.sent
        if frame_ is None:
            return "the connection ended without a closing handshake"
        return f"the WebSocket closed (code {frame_.code})"
    return type(error).__name__
