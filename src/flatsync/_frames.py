"""The frame header: the few bytes in front of every session packet.

A session packet is one message: a header, then (for frames) the codec's bytes
of a protocol tree. The header is binary and independent of the codec, so that
a shared payload is encoded once and a peer can check the version before it
decodes anything. Byte 0 holds the format version (high nibble) and the
packet's kind (low nibble); then come one or two unsigned LEB128 varints::

    kind 0  DELTA     frame, frame - base (at least 1), then the delta
    kind 1  SNAPSHOT  frame, then the snapshot
    kind 2  ACK       the frame the replica holds
    kind 3  RESYNC    the frame the replica holds, the base of the packet it could not use
    kind 4  REFRESH   that base + 1, or 0 when the refresh is asked for explicitly

The wire-format page of the docs gives the same table with examples.
"""

from __future__ import annotations

import enum

import attrs

from ._errors import FrameError

__all__ = [
    "VERSION",
    "Header",
    "Kind",
    "ack",
    "delta_header",
    "parse",
    "refresh",
    "resync",
    "snapshot_header",
]

#: The format version this library writes and reads (the wire-format version).
VERSION = 1

#: A varint longer than this (63 bits of payload) is refused.
_MAX_VARINT_BYTES = 9


class Kind(enum.IntEnum):
    """The kind of a session packet (the low nibble of byte 0)."""

    DELTA = 0
    SNAPSHOT = 1
    ACK = 2
    RESYNC = 3
    REFRESH = 4


_KIND_NAMES = {kind.value: kind for kind in Kind}


@attrs.frozen(kw_only=True)
class Header:
    """A parsed header.

    Attributes:
        kind: The packet's kind.
        frame: DELTA and SNAPSHOT: the frame the packet brings the replica to.
            ACK and RESYNC: the frame the replica holds. REFRESH: ``0``.
        base: DELTA: the frame the delta applies to. RESYNC and REFRESH: the
            base of the packet the replica could not use (``None`` for an
            explicit REFRESH). SNAPSHOT and ACK: ``None``.
        size: How many bytes the header takes (the payload starts there).
    """

    kind: Kind
    frame: int
    base: int | None
    size: int


def _uvarint(value: int) -> bytes:
    """Unsigned LEB128: seven bits per byte, low bits first, high bit = more follows."""
    if value < 0:
        raise ValueError(f"a frame number cannot be negative ({value})")
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _first(kind: Kind) -> bytes:
    return bytes(((VERSION << 4) | kind,))


def delta_header(frame: int, base: int) -> bytes:
    """The header of a delta that takes a replica from frame ``base`` to frame ``frame``."""
    if base >= frame:
        raise ValueError(f"a delta's base ({base}) must come before its frame ({frame})")
    return _first(Kind.DELTA) + _uvarint(frame) + _uvarint(frame - base)


def snapshot_header(frame: int) -> bytes:
    """The header of a snapshot of frame ``frame``."""
    return _first(Kind.SNAPSHOT) + _uvarint(frame)


def ack(frame: int) -> bytes:
    """An acknowledgement: the replica holds frame ``frame`` (a whole packet)."""
    return _first(Kind.ACK) + _uvarint(frame)


def resync(held: int, rejected_base: int) -> bytes:
    """A request to resend from frame ``held`` (a whole packet)."""
    return _first(Kind.RESYNC) + _uvarint(held) + _uvarint(rejected_base)


def refresh(rejected_base: int | None) -> bytes:
    """A request for a snapshot (a whole packet); ``None``: asked for explicitly."""
    return _first(Kind.REFRESH) + _uvarint(0 if rejected_base is None else rejected_base + 1)


def _read_uvarint(data: bytes | bytearray | memoryview, pos: int, what: str) -> tuple[int, int]:
    value = 0
    shift = 0
    for count in range(_MAX_VARINT_BYTES):
        if pos >= len(data):
            raise FrameError(f"the frame header is cut short in its {what}")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if byte == 0 and count:
                raise FrameError(f"the {what} is not in its shortest form")
            return value, pos
        shift += 7
    raise FrameError(f"the {what} is longer than {_MAX_VARINT_BYTES} bytes")


def parse(data: bytes | bytearray | memoryview) -> Header:
    """Parse the header at the start of ``data``.

    Raises:
        FrameError: the header is empty or cut short, has a format version other
            than :data:`VERSION`, an unknown kind, a varint that is too long or
            not in its shortest form, or (for a delta) a base that is not before
            its frame. Nothing else is checked (the payload is the codec's).
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"a packet is bytes, not {type(data).__name__}")
    if not data:
        raise FrameError("an empty packet has no frame header")
    first = data[0]
    version = first >> 4
    if version != VERSION:
        raise FrameError(
            f"the packet is of format version {version}; this flatsync speaks version {VERSION}"
        )
    kind = _KIND_NAMES.get(first & 0x0F)
    if kind is None:
        raise FrameError(f"unknown packet kind {first & 0x0F}")
    if kind is Kind.REFRESH:
        code, pos = _read_uvarint(data, 1, "rejected base")
        return Header(kind=kind, frame=0, base=None if code == 0 else code - 1, size=pos)
    frame, pos = _read_uvarint(data, 1, "frame number")
    base: int | None = None
    if kind is Kind.DELTA:
        distance, pos = _read_uvarint(data, pos, "base distance")
        if distance == 0:
            raise FrameError(f"a delta to frame {frame} cannot have itself as its base")
        if distance > frame:
            raise FrameError(f"a delta to frame {frame} cannot start {distance} frames earlier")
        base = frame - distance
    elif kind is Kind.RESYNC:
        base, pos = _read_uvarint(data, pos, "rejected base")
    return Header(kind=kind, frame=frame, base=base, size=pos)
