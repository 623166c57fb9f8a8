"""The frame header: the few bytes in front of every session packet.

A session packet is one message: a header, then (for frames) the codec's bytes
of a protocol tree. The header is binary and independent of the codec, so that
a shared payload is encoded once and a peer can check the version before it
decodes anything. Byte 0 holds the format version (high nibble) and the
packet's kind (low nibble); then come one or two unsigned LEB128 varints::

    kind 0  DELTA     frame, frame - base (at least 1), then the delta
    kind 1  SNAPSHOT  frame, the session (8 bytes), then the snapshot
    kind 2  ACK       the frame the replica holds
    kind 3  RESYNC    the frame the replica holds, the base of the packet it could not use
    kind 4  REFRESH   that base + 1, or 0 when the refresh is asked for explicitly
    kind 5  ANSWER    frame, frame - base (at least 1), the session (8 bytes), then
                      the delta: a delta that answers a RESYNC

The session is the publisher's identity (:data:`SESSION_SIZE` raw bytes): a
replica applies a delta only to a state of the same session, so it travels in
every packet that starts or restarts a chain (a snapshot, a resync answer),
and never in the common delta, which keeps its few header bytes.

Bit 3 of the kind (kinds 8, 9 and 13: a DELTA, a SNAPSHOT or an ANSWER) says
that a schema table follows the frame numbers and the session: the names and
field names of the records whose ids the payload uses and the replica may not
know yet::

    count, then count times: id, name, field count, then field count times: field name

each number an unsigned varint, each name a varint byte length and UTF-8 bytes,
ids strictly increasing. The wire-format page of the docs gives the same
tables with examples.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

import attrs

from .._codecs._varint import VarintError, read_uvarint, uvarint
from .._tree._errors import FrameError
from .._tree._records import ID_LIMIT

__all__ = [
    "SESSION_SIZE",
    "VERSION",
    "Header",
    "Kind",
    "SchemaEntry",
    "ack",
    "answer_header",
    "delta_header",
    "parse",
    "refresh",
    "resync",
    "schema_table",
    "snapshot_header",
]

#: The format version this library writes and reads (the wire-format version).
VERSION = 1

#: How many bytes a session identity takes (in SNAPSHOT and ANSWER headers).
SESSION_SIZE = 8

#: A varint longer than this (63 bits of payload) is refused.
_MAX_VARINT_BYTES = 9

#: Bit 3 of a DELTA's or a SNAPSHOT's kind: a schema table follows the frame numbers.
_SCHEMAS_FLAG = 0x08

#: One entry of a schema table: a record's id, name and field names.
SchemaEntry = tuple[int, str, tuple[str, ...]]


class Kind(enum.IntEnum):
    """The kind of a session packet (the low nibble of byte 0)."""

    DELTA = 0
    SNAPSHOT = 1
    ACK = 2
    RESYNC = 3
    REFRESH = 4
    ANSWER = 5


_KIND_NAMES = {kind.value: kind for kind in Kind}

#: The kinds that may carry a schema table (bit 3).
_TABLE_KINDS = (Kind.DELTA, Kind.SNAPSHOT, Kind.ANSWER)

# Looking an enum member up on its class costs about 90 ns (CPython 3.11); every
# packet passes through parse(), which uses these names.
_DELTA, _SNAPSHOT, _RESYNC, _REFRESH, _ANSWER = (
    Kind.DELTA,
    Kind.SNAPSHOT,
    Kind.RESYNC,
    Kind.REFRESH,
    Kind.ANSWER,
)


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
        size: How many bytes the header takes, its schema table included (the
            payload starts there).
        schemas: DELTA, SNAPSHOT and ANSWER: the schema table, ``(id, name,
            field names)`` by increasing id; empty when there is none.
        session: SNAPSHOT and ANSWER: the publisher's session identity
            (:data:`SESSION_SIZE` bytes); ``None`` for the other kinds.
    """

    kind: Kind
    frame: int
    base: int | None
    size: int
    schemas: tuple[SchemaEntry, ...] = ()
    session: bytes | None = None


def _first(kind: Kind, schemas: bool = False) -> bytes:
    return bytes(((VERSION << 4) | kind | (_SCHEMAS_FLAG if schemas else 0),))


def _text(text: str) -> bytes:
    data = text.encode()
    return uvarint(len(data)) + data


def schema_table(entries: Iterable[SchemaEntry]) -> bytes:
    """The bytes of a schema table (``entries`` by increasing id; at least one)."""
    ordered = sorted(entries)
    if not ordered:
        raise ValueError("a schema table holds at least one record")
    out = [uvarint(len(ordered))]
    last = -1
    for rid, name, fields in ordered:
        if not last < rid < ID_LIMIT:
            raise ValueError(f"record ids in a schema table are distinct, below {ID_LIMIT}")
        last = rid
        out.append(uvarint(rid) + _text(name) + uvarint(len(fields)))
        out.extend(_text(field) for field in fields)
    return b"".join(out)


def delta_header(frame: int, base: int, table: bytes = b"") -> bytes:
    """The header of a delta that takes a replica from frame ``base`` to frame ``frame``.

    ``table``: a :func:`schema_table` to send along, or nothing.
    """
    if base >= frame:
        raise ValueError(f"a delta's base ({base}) must come before its frame ({frame})")
    return _first(Kind.DELTA, bool(table)) + uvarint(frame) + uvarint(frame - base) + table


def snapshot_header(frame: int, session: bytes, table: bytes = b"") -> bytes:
    """The header of a snapshot of frame ``frame`` of session ``session``.

    ``table``: a :func:`schema_table`, or nothing.
    """
    _check_session(session)
    return _first(Kind.SNAPSHOT, bool(table)) + uvarint(frame) + session + table


def answer_header(frame: int, base: int, session: bytes, table: bytes = b"") -> bytes:
    """The header of a resync answer: a delta from ``base`` to ``frame`` of session ``session``.

    ``table``: a :func:`schema_table`, or nothing.
    """
    if base >= frame:
        raise ValueError(f"a delta's base ({base}) must come before its frame ({frame})")
    _check_session(session)
    return (
        _first(Kind.ANSWER, bool(table)) + uvarint(frame) + uvarint(frame - base) + session + table
    )


def _check_session(session: bytes) -> None:
    if type(session) is not bytes or len(session) != SESSION_SIZE:
        raise ValueError(f"a session identity is {SESSION_SIZE} bytes, not {session!r}")


def ack(frame: int) -> bytes:
    """An acknowledgement: the replica holds frame ``frame`` (a whole packet)."""
    return _first(Kind.ACK) + uvarint(frame)


def resync(held: int, rejected_base: int) -> bytes:
    """A request to resend from frame ``held`` (a whole packet)."""
    return _first(Kind.RESYNC) + uvarint(held) + uvarint(rejected_base)


def refresh(rejected_base: int | None) -> bytes:
    """A request for a snapshot (a whole packet); ``None``: asked for explicitly."""
    return _first(Kind.REFRESH) + uvarint(0 if rejected_base is None else rejected_base + 1)


def _varint_error(exc: VarintError, what: str) -> FrameError:
    if exc.reason == "cut":
        return FrameError(f"the frame header is cut short in its {what}")
    if exc.reason == "padded":
        return FrameError(f"the {what} is not in its shortest form")
    return FrameError(f"the {what} is longer than {_MAX_VARINT_BYTES} bytes")


def _read_uvarint(data: bytes | bytearray | memoryview, pos: int, what: str) -> tuple[int, int]:
    try:
        return read_uvarint(data, pos, _MAX_VARINT_BYTES, True)
    except VarintError as exc:
        raise _varint_error(exc, what) from None


def _read_text(data: bytes | bytearray | memoryview, pos: int, what: str) -> tuple[str, int]:
    size, pos = _read_uvarint(data, pos, f"length of {what}")
    if size == 0:
        raise FrameError(f"{what} is empty in the schema table")
    if size > len(data) - pos:
        raise FrameError(f"the schema table is cut short in {what}")
    try:
        text = bytes(data[pos : pos + size]).decode()
    except UnicodeDecodeError:
        raise FrameError(f"{what} in the schema table is not UTF-8") from None
    return text, pos + size


def _read_table(
    data: bytes | bytearray | memoryview, pos: int
) -> tuple[tuple[SchemaEntry, ...], int]:
    """Parse a schema table. Every count is checked against the bytes left before use,
    so the work and the memory follow the packet's size."""
    count, pos = _read_uvarint(data, pos, "schema count")
    if count == 0 or count > len(data) - pos:
        raise FrameError(f"a schema table cannot hold {count} records here")
    entries: list[SchemaEntry] = []
    last = -1
    for _ in range(count):
        rid, pos = _read_uvarint(data, pos, "record id")
        if rid >= ID_LIMIT:
            raise FrameError(f"record id {rid} in the schema table is not below {ID_LIMIT}")
        if rid <= last:
            raise FrameError(f"record ids in the schema table must increase ({last}, then {rid})")
        last = rid
        name, pos = _read_text(data, pos, f"the name of record {rid}")
        fields_count, pos = _read_uvarint(data, pos, f"field count of record {rid}")
        if fields_count == 0 or fields_count > len(data) - pos:
            raise FrameError(f"record {name!r} cannot have {fields_count} fields here")
        fields = []
        for index in range(fields_count):
            field, pos = _read_text(data, pos, f"field {index} of record {name!r}")
            fields.append(field)
        if len(set(fields)) != len(fields):
            raise FrameError(f"record {name!r} repeats a field name in the schema table")
        entries.append((rid, name, tuple(fields)))
    return tuple(entries), pos


def parse(data: bytes | bytearray | memoryview) -> Header:
    """Parse the header at the start of ``data``, with its schema table if it has one.

    Raises:
        FrameError: the header is empty or cut short, is not a flatsync header
            (its first byte gives a format version other than :data:`VERSION`:
            the message says "not a flatsync packet"), has an unknown kind, a varint that is too long or
            not in its shortest form, (for a delta) a base that is not before
            its frame, or a malformed schema table (an empty one, a count beyond
            the bytes left, record ids out of order or not below 65,536, empty
            or non-UTF-8 names, a record without fields or with a field name
            twice). Nothing else is checked (the payload is the codec's).
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"a packet is bytes, not {type(data).__name__}")
    if not data:
        raise FrameError("an empty packet has no frame header")
    first = data[0]
    version = first >> 4
    if version != VERSION:
        raise FrameError(
            f"not a flatsync packet: its first byte 0x{first:02x} does not start a frame header "
            f"of format version {VERSION} (as a header it would be of version {version})"
        )
    code = first & 0x0F
    kind = _KIND_NAMES.get(code)
    if code & _SCHEMAS_FLAG and code & 0x07 in _TABLE_KINDS:
        kind = _KIND_NAMES[code & 0x07]
    if kind is None:
        raise FrameError(f"unknown packet kind {code}")
    # The header's varints are read in place (every packet passes here); ``what``
    # names the one being read for the error message.
    what = "frame number"
    base: int | None = None
    try:
        if kind is _REFRESH:
            what = "rejected base"
            code, pos = read_uvarint(data, 1, _MAX_VARINT_BYTES, True)
            return Header(kind=kind, frame=0, base=None if code == 0 else code - 1, size=pos)
        frame, pos = read_uvarint(data, 1, _MAX_VARINT_BYTES, True)
        if kind is _DELTA or kind is _ANSWER:
            what = "base distance"
            distance, pos = read_uvarint(data, pos, _MAX_VARINT_BYTES, True)
            if distance == 0:
                raise FrameError(f"a delta to frame {frame} cannot have itself as its base")
            if distance > frame:
                raise FrameError(f"a delta to frame {frame} cannot start {distance} frames earlier")
            base = frame - distance
        elif kind is _RESYNC:
            what = "rejected base"
            base, pos = read_uvarint(data, pos, _MAX_VARINT_BYTES, True)
    except VarintError as exc:
        raise _varint_error(exc, what) from None
    session: bytes | None = None
    if kind is _SNAPSHOT or kind is _ANSWER:
        end = pos + SESSION_SIZE
        if end > len(data):
            raise FrameError("the frame header is cut short in its session")
        session = bytes(data[pos:end])
        pos = end
    schemas: tuple[SchemaEntry, ...] = ()
    if code & _SCHEMAS_FLAG:
        schemas, pos = _read_table(data, pos)
    return Header(kind=kind, frame=frame, base=base, size=pos, schemas=schemas, session=session)
