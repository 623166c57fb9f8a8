"""Arena's messages on a TCP stream, and how they are framed.

flatsync's session packets are messages, not a stream, so on TCP each one gets
a length in front. Every message is::

    length (unsigned LEB128)  kind (1 byte)  body (length - 1 bytes)

========  ===============  =====================================================
kind      direction        body
========  ===============  =====================================================
``H``     client → server  hello: CBOR ``{"v": VERSION, "name": str}``
``W``     server → client  welcome: CBOR ``{"v": VERSION, "pid": int, "rate": ticks per second, "server": str}``
``S``     server → client  a :class:`flatsync.Publisher` packet (snapshot or delta)
``R``     client → server  a :class:`flatsync.Replica` packet (acknowledgement or request)
``D``     client → server  steer: one ASCII letter of :data:`arena.game.DIRECTIONS`
``P``     client → server  ping: up to 16 opaque bytes, echoed back
``O``     server → client  pong: the ping's bytes
``B``     either way       goodbye: a UTF-8 reason; the sender closes the connection
========  ===============  =====================================================

A message longer than :data:`MAX_MESSAGE`, an unknown kind or a malformed body
is a :class:`ProtocolError`: the peer that sent it is dropped.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import flatsync

__all__ = [
    "BYE",
    "HELLO",
    "KINDS",
    "MAX_MESSAGE",
    "PING",
    "PONG",
    "REPLY",
    "STATE",
    "STEER",
    "VERSION",
    "WELCOME",
    "ProtocolError",
    "decode_control",
    "encode_control",
    "message",
    "read_message",
]

#: The version of this message protocol, in the hello and the welcome.
VERSION: Final = 1
#: The longest message (kind byte included) either side accepts.
MAX_MESSAGE: Final = 1 << 20

HELLO: Final = b"H"
WELCOME: Final = b"W"
STATE: Final = b"S"
REPLY: Final = b"R"
STEER: Final = b"D"
PING: Final = b"P"
PONG: Final = b"O"
BYE: Final = b"B"
KINDS: Final = frozenset({HELLO, WELCOME, STATE, REPLY, STEER, PING, PONG, BYE})

#: Control messages are small: a tight limit keeps a hostile hello cheap to refuse.
_CONTROL_CODEC = flatsync.CborCodec(
    limits=flatsync.Limits(max_packet_size=1024, max_depth=2, max_container_items=16)
)


class ProtocolError(Exception):
    """The peer sent something that is not an Arena message; drop it."""


def message(kind: bytes, body: bytes = b"") -> bytes:
    """One framed message: the length, the kind, the body."""
    if kind not in KINDS:
        raise ValueError(f"unknown message kind {kind!r}")
    size = 1 + len(body)
    if size > MAX_MESSAGE:
        raise ValueError(f"a {size}-byte message is over the {MAX_MESSAGE}-byte limit")
    head = bytearray()
    while size >= 0x80:
        head.append(size & 0x7F | 0x80)
        size >>= 7
    head.append(size)
    return bytes(head) + kind + body


async def read_message(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """Read one message: ``(kind, body)``.

    Raises:
        asyncio.IncompleteReadError: the stream ended (cleanly before a message,
            or in the middle of one).
        ProtocolError: a length over :data:`MAX_MESSAGE` or of zero, or an
            unknown kind.
    """
    size = 0
    for shift in range(0, 28, 7):
        byte = (await reader.readexactly(1))[0]
        size |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
    else:
        raise ProtocolError("the length prefix is too long")
    if not 1 <= size <= MAX_MESSAGE:
        raise ProtocolError(f"a message of {size} bytes")
    data = await reader.readexactly(size)
    kind, body = data[:1], data[1:]
    if kind not in KINDS:
        raise ProtocolError(f"unknown message kind {kind!r}")
    return kind, body


def encode_control(fields: dict[str, Any]) -> bytes:
    """The body of a hello or a welcome."""
    return _CONTROL_CODEC.encode(fields)


def decode_control(body: bytes, required: dict[str, type]) -> dict[str, Any]:
    """Decode a hello or a welcome and check that ``required`` fields have their types.

    Raises:
        ProtocolError: the body does not decode, is not a map, lacks a field,
            has a field of another type, or another protocol version.
    """
    try:
        fields = _CONTROL_CODEC.decode(body)
    except flatsync.FlatsyncError as error:
        raise ProtocolError(f"a malformed control message: {error}") from None
    if type(fields) is not dict:
        raise ProtocolError("a control message is a map")
    for name, kind in {"v": int, **required}.items():
        if type(fields.get(name)) is not kind:
            raise ProtocolError(f"the control message lacks {name!r} ({kind.__name__})")
    if fields["v"] != VERSION:
        raise ProtocolError(f"protocol version {fields['v']}, this program speaks {VERSION}")
    return fields
