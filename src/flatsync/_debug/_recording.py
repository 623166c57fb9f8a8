"""The recording format: a stream of packets in one file, for bug reports and tests.

:func:`write_recording` stores packets, :func:`read_recording` reads them back
as a :class:`Recording`; ``python -m flatsync replay`` plays one. Nothing here
does I/O: the functions take and return bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import attrs

from .._codecs._varint import VarintError, read_uvarint, uvarint
from .._tree._errors import DecodeError

__all__ = ["Recording", "read_recording", "write_recording"]

_MAGIC = b"FSREC1\n"


@attrs.frozen(kw_only=True)
class Recording:
    """A recorded stream of packets, as :func:`~flatsync.debug.write_recording` stores it.

    Attributes:
        codec: The name of the codec of the packets' payloads (``Codec.name``).
        framed: Whether each packet starts with a session frame header (the
            publisher's packets) or is a bare codec packet (a snapshot first,
            then deltas).
        packets: The packets, in order.
    """

    codec: str
    framed: bool
    packets: tuple[bytes, ...]


#: A length takes at most this many bytes (64 bits of payload).
_MAX_LENGTH_BYTES = 10


def _read_length(data: bytes, pos: int) -> tuple[int, int]:
    try:
        return read_uvarint(data, pos, _MAX_LENGTH_BYTES)
    except VarintError as exc:
        if exc.reason == "cut" or exc.end >= len(data):
            raise DecodeError("the recording is cut short inside a length") from None
        raise DecodeError("the recording holds a length longer than 64 bits") from None


def write_recording(packets: Iterable[bytes], *, codec: str, framed: bool) -> bytes:
    """Store packets in the recording format, for bug reports and tests.

    The format: the 7 bytes ``FSREC1\\n``; one byte, ``1`` when the packets
    carry session frame headers and ``0`` when they are bare codec packets;
    the codec's name as an unsigned LEB128 length and its UTF-8 bytes; then
    each packet as an unsigned LEB128 length and its bytes, to the end.

    >>> write_recording([b"\\xa1\\x62hp\\x08"], codec="cbor", framed=False).hex(" ")
    '46 53 52 45 43 31 0a 00 04 63 62 6f 72 05 a1 62 68 70 08'

    Args:
        packets: The packets, in the order they were sent.
        codec: The name of their codec (``Codec.name``).
        framed: Whether they start with session frame headers.

    Raises:
        TypeError: a packet is not bytes-like.
    """
    name = codec.encode("utf-8")
    out = bytearray(_MAGIC)
    out.append(1 if framed else 0)
    out += uvarint(len(name)) + name
    for packet in packets:
        if not isinstance(packet, bytes | bytearray | memoryview):
            raise TypeError(f"a packet is bytes, not {type(packet).__name__}")
        out += uvarint(len(packet))
        out += packet
    return bytes(out)


def read_recording(data: bytes) -> Recording:
    """Read what :func:`~flatsync.debug.write_recording` wrote.

    Raises:
        DecodeError: ``data`` is not a recording, or is cut short.
    """
    if not data.startswith(_MAGIC) or len(data) <= len(_MAGIC):
        raise DecodeError("not a flatsync recording (it must start with 'FSREC1\\n')")
    flag = data[len(_MAGIC)]
    if flag not in (0, 1):
        raise DecodeError(f"unknown recording flag {flag}")
    length, pos = _read_length(data, len(_MAGIC) + 1)
    if pos + length > len(data):
        raise DecodeError("the recording is cut short inside the codec name")
    try:
        name = data[pos : pos + length].decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError("the recording's codec name is not UTF-8") from None
    pos += length
    packets = []
    for length, start in _lengths(data, pos):
        packets.append(bytes(data[start : start + length]))
    return Recording(codec=name, framed=flag == 1, packets=tuple(packets))


def _lengths(data: bytes, pos: int) -> Iterator[tuple[int, int]]:
    while pos < len(data):
        length, pos = _read_length(data, pos)
        if pos + length > len(data):
            raise DecodeError("the recording is cut short inside a packet")
        yield length, pos
        pos += length
