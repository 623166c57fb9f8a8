"""The client side of a session: :class:`Replica` applies a publisher's packets in order.

Like the rest of the session layer it does no I/O: it turns packets into state
and events, and tells what to send back (an acknowledgement, a resync request,
a refresh request); the caller moves the bytes. The replica applies a delta
only on the exact frame it was built for; a packet it cannot use (lost,
reordered, duplicated) leaves its state as it was.
"""

from __future__ import annotations

from typing import Any

from .._codecs._cbor import CborCodec
from .._codecs._codec import Codec
from .._codecs._sniff import other_codec
from .._handlers._base import snapshot_value
from .._handlers._data import DataHandler, stored_key
from .._tree._errors import DecodeError, FrameError, LimitError, PatchError
from .._tree._events import Event
from .._tree._markers import DELETED, Marker, Replace
from .._tree._records import RecordSnapshot
from .._tree._values import ABSENT, VALUE_TYPES, same_value
from ._events import DropReason, FrameApplied, FrameDropped
from ._frames import SESSION_SIZE, Header, Kind, ack, parse, refresh, resync
from ._records import Schema, merge_schemas, schemas_in_use

__all__ = ["Replica"]


class Replica:
    """The client side of a session: applies a publisher's packets in order, and tells what to send back.

    :attr:`state` is a read-only :class:`~flatsync.DataHandler`, empty until
    the first snapshot arrives, and the same object for the replica's whole
    life (a snapshot that refreshes it is applied as a change, with events).
    A delta is applied only to the exact frame it was built for; any other
    packet leaves the state as it was and is reported as a
    :class:`FrameDropped`, and when the replica is missing something it asks
    to resync. After each :meth:`receive`, send what :meth:`packet_to_send`
    returns (an acknowledgement or a request).

    >>> import flatsync
    >>> replica = flatsync.Replica()
    >>> replica.receive(bytes.fromhex("11 01 00 01 02 03 04 05 06 07 a1 62 68 70 08"))
    [Added(path=('hp',), new=8), FrameApplied(frame=1, base=None)]
    >>> replica.session.hex(" ")
    '00 01 02 03 04 05 06 07'
    >>> replica.packet_to_send().hex(" ")
    '12 01'
    >>> replica.receive(bytes.fromhex("10 03 01 a1 62 68 70 06"))
    [FrameDropped(frame=3, base=2, reason='gap')]
    >>> replica.state, replica.packet_to_send().hex(" ")
    (DataHandler({'hp': 8}), '13 01 02')

    Each snapshot and each resync answer carries the publisher's
    :attr:`~flatsync.Publisher.session`: a snapshot of another session
    replaces the state whatever its frame number (a restarted server leads
    its clients to a fresh snapshot that way), and a resync answer of another
    session is refused (:class:`FrameDropped` with reason ``"session"``) and
    a snapshot asked for. A common delta does not carry the session: a
    transport that reconnects tells the replica which session it now follows
    with :meth:`expect_session`.

    Records arrive as instances of their class where it is registered in the
    replica's process, and as read-only :class:`~flatsync.RecordView` mappings
    with the same fields where it is not: the publisher sends each record's
    name and field names along, once (:attr:`schemas`).

    Args:
        codec: The publisher's codec (a :class:`~flatsync.CborCodec` by default).
        events: Whether :meth:`receive` reports what each packet changed
            (``Added``, ``Removed``, ``Changed``, ``CellsChanged``). With
            ``False`` the state changes exactly as with ``True`` and
            :meth:`receive` reports only :class:`FrameApplied` and
            :class:`FrameDropped`: a client that reads the state each frame
            instead of reacting to changes saves building the events.
    """

    def __init__(self, codec: Codec | None = None, *, events: bool = True) -> None:
        self._codec: Codec = CborCodec() if codec is None else codec
        self._events = events
        self._state = DataHandler.from_snapshot({})
        self._schemas: dict[int, Schema] = {}
        self._frame: int | None = None
        self._session: bytes | None = None
        #: The session a transport said the packets come from (expect_session), or None.
        self._expected: bytes | None = None
        self._ack: int | None = None
        #: A pending request: (kind, the rejected base or None).
        self._request: tuple[Kind, int | None] | None = None

    @property
    def state(self) -> DataHandler:
        """The replicated state, read-only, as the client's view shows frame :attr:`frame`."""
        return self._state

    @property
    def frame(self) -> int | None:
        """The frame the state is at, or ``None`` before the first snapshot."""
        return self._frame

    @property
    def codec(self) -> Codec:
        """The codec of every payload."""
        return self._codec

    @property
    def session(self) -> bytes | None:
        """The :attr:`~flatsync.Publisher.session` of the state held, or ``None`` before the first snapshot."""
        return self._session

    def expect_session(self, session: bytes) -> None:
        """Say which publisher's session the packets from now on come from (a transport's handshake).

        When the state is of another session, deltas are refused
        (:class:`FrameDropped` with reason ``"session"``) from now on, and a
        refresh request is queued, until a snapshot of ``session`` arrives;
        snapshots of any other session are refused too. When the state is of
        ``session`` (a reconnection to the same server), nothing changes:
        deltas from the frame held apply as before.

        Raises:
            ValueError: ``session`` is not 8 bytes (nothing changes).
        """
        if type(session) is not bytes or len(session) != SESSION_SIZE:
            raise ValueError(f"a session identity is {SESSION_SIZE} bytes, not {session!r}")
        self._expected = session
        if self._session is not None and self._session != session:
            self._request = (Kind.REFRESH, None)

    @property
    def schemas(self) -> dict[int, Schema]:
        """What the publisher sent of record schemas, as ``{id: (name, field names)}`` (a copy)."""
        return dict(self._schemas)

    def _learn(self, header: Header) -> dict[int, Schema]:
        """The schemas with the packet's table added (applied once the packet is)."""
        if not header.schemas:
            return self._schemas
        return merge_schemas(self._schemas, ((rid, (n, f)) for rid, n, f in header.schemas))

    def receive(
        self, packet: bytes | bytearray | memoryview
    ) -> list[Event | FrameApplied | FrameDropped]:
        """Apply one packet from the publisher; return what changed.

        A snapshot newer than the state or of another session, or a delta built
        on exactly the frame the state is at, is applied: the result is the
        :class:`~flatsync.Added`/:class:`~flatsync.Removed`/:class:`~flatsync.Changed`
        events, then a :class:`FrameApplied`, and an acknowledgement is queued.
        Any other packet changes nothing and gives one :class:`FrameDropped`:
        a duplicate or an older packet is ignored, and a packet that shows the
        replica missed something (a gap) queues a request to resync from the
        frame it holds (or, before the first snapshot, a refresh request). A
        resync answer of another session than the state's, or a delta while the
        transport said the packets come from another session
        (:meth:`expect_session`), is dropped with reason ``"session"`` and
        queues a refresh request.

        When it raises, the state, the frame and the record schemas are exactly
        as they were.

        Raises:
            FrameError: the header is malformed (its schema table too), of
                another format version, or not a frame (an acknowledgement).
            DecodeError, LimitError: the payload does not decode; the packet
                counts as lost (a resync request is queued). When it decodes in
                another built-in codec, the message says "codec mismatch" and
                names it.
            PatchError: the payload decodes but does not fit the state, which
                means the two sides disagree: a refresh request is queued. Also
                when the packet's schema table gives a record other fields than
                the class registered here under its name: the two programs
                declare it differently, which no refresh mends, so nothing is
                queued.
        """
        header = parse(packet)
        kind = header.kind
        frame = header.frame
        held = self._frame
        if kind is Kind.DELTA or kind is Kind.ANSWER:
            base = header.base
            assert base is not None
            expected = self._expected
            if (
                header.session is not None and held is not None and header.session != self._session
            ) or (expected is not None and expected != self._session):
                self._ask(Kind.REFRESH, None)
                return [FrameDropped(frame=frame, base=base, reason="session")]
            if held is None or base != held:
                if held is not None and frame <= held:
                    reason: DropReason = "duplicate" if frame == held else "stale"
                else:
                    reason = "gap" if held is None or base > held else "stale"
                    self._ask(Kind.RESYNC if held is not None else Kind.REFRESH, base)
                return [FrameDropped(frame=frame, base=base, reason=reason)]
            schemas = self._learn(header)
            try:
                delta = self._codec.decode(memoryview(packet)[header.size :])
            except (DecodeError, LimitError) as exc:
                self._ask(Kind.RESYNC, base)
                raise self._mismatch(exc, packet, header) from None
            try:
                with schemas_in_use(schemas):
                    events: list[Event | FrameApplied | FrameDropped] = list(
                        self._state.patch(delta, events=self._events)
                    )
            except PatchError:
                self._ask(Kind.REFRESH, None)
                raise
            self._schemas = schemas
            self._applied(frame)
            events.append(FrameApplied(frame=frame, base=base))
            return events
        if kind is Kind.SNAPSHOT:
            session = header.session
            assert session is not None
            expected = self._expected
            if expected is not None and session != expected:
                return [FrameDropped(frame=frame, base=None, reason="session")]
            fresh = session != self._session
            if held is not None and frame <= held and not fresh:
                reason = "duplicate" if frame == held else "stale"
                return [FrameDropped(frame=frame, base=None, reason=reason)]
            schemas = (
                merge_schemas({}, ((rid, (n, f)) for rid, n, f in header.schemas))
                if fresh
                else self._learn(header)
            )
            try:
                tree = self._codec.decode(memoryview(packet)[header.size :])
            except (DecodeError, LimitError) as exc:
                self._ask(Kind.REFRESH, None)
                raise self._mismatch(exc, packet, header) from None
            try:
                if type(tree) is not dict:
                    raise PatchError(
                        f"root: a snapshot must be a mapping (dict), got {type(tree).__name__}"
                    )
                with schemas_in_use(schemas):
                    events = list(
                        self._state.patch(_refresh_delta(self._state, tree), events=self._events)
                    )
            except PatchError:
                self._ask(Kind.REFRESH, None)
                raise
            self._schemas = schemas
            self._session = session
            self._applied(frame)
            self._request = None
            events.append(FrameApplied(frame=frame, base=None))
            return events
        raise FrameError(f"a replica receives frames, not a {kind.name.lower()} packet")

    def _mismatch(
        self, exc: DecodeError | LimitError, packet: bytes | bytearray | memoryview, header: Header
    ) -> DecodeError | LimitError:
        """``exc``, or a :class:`DecodeError` that says the payload is in another codec."""
        if type(exc) is not DecodeError:
            return exc
        name = other_codec(memoryview(packet)[header.size :], self._codec)
        if name is None:
            return exc
        return DecodeError(
            f"codec mismatch: the payload is {name}, but this replica decodes "
            f"{self._codec.name} (give the Replica the publisher's codec); {exc}"
        )

    def _applied(self, frame: int) -> None:
        self._frame = frame
        self._ack = frame
        if self._request is not None and self._request[0] is Kind.RESYNC:
            self._request = None  # it is somewhere else now; a new gap asks again

    def _ask(self, kind: Kind, rejected: int | None) -> None:
        request = self._request
        if request is None:
            self._request = (kind, rejected)
            return
        old_kind, old_rejected = request
        if old_kind is Kind.REFRESH and old_rejected is None:
            return  # an explicit refresh covers everything
        if kind is Kind.REFRESH and rejected is None:
            self._request = (kind, None)
            return
        if old_rejected is not None and (rejected is None or rejected < old_rejected):
            rejected = old_rejected
        self._request = (Kind.REFRESH if Kind.REFRESH in (kind, old_kind) else kind, rejected)

    def request_refresh(self) -> None:
        """Ask the publisher for a snapshot (sent with the next :meth:`packet_to_send`).

        The state is left as it is until the snapshot arrives.
        """
        self._request = (Kind.REFRESH, None)

    def packet_to_send(self) -> bytes | None:
        """The packet to send to the publisher now, or ``None``: a request, else an acknowledgement.

        Requests and acknowledgements coalesce: only the newest matters, so
        calling this once per received packet, or once per tick, is the
        caller's choice. A request also acknowledges the frame the replica holds.
        """
        request = self._request
        if request is not None:
            self._request = None
            self._ack = None
            kind, rejected = request
            if kind is Kind.REFRESH or self._frame is None:
                return refresh(rejected)
            return resync(self._frame, self._frame if rejected is None else rejected)
        if self._ack is not None:
            frame, self._ack = self._ack, None
            return ack(frame)
        return None

    def __repr__(self) -> str:
        return f"<Replica frame={self._frame} entries={len(self._state)}>"


def _refresh_delta(current: DataHandler, tree: dict[Any, Any]) -> dict[Any, Any]:
    """The delta from ``current`` to the snapshot ``tree`` (the replica's refresh)."""
    out: dict[Any, Any] = {}
    for key in current:
        if key not in tree:
            out[key] = DELETED
    for key, value in tree.items():
        old = dict.get(current, key, ABSENT)
        if old is ABSENT or not same_value(stored_key(current, key), key):
            out[key] = Replace(value)
        elif isinstance(old, DataHandler) and type(value) is dict:
            sub = _refresh_delta(old, value)
            if sub:
                out[key] = sub
        elif not _same_tree(snapshot_value(old), value):
            out[key] = Replace(value)
    return out


def _same_tree(a: Any, b: Any) -> bool:
    """Strict equality of two snapshot trees: types, key types and float bits."""
    t = type(a)
    if t is not type(b):
        return False
    if t is dict:
        if len(a) != len(b):
            return False
        for key, value in a.items():
            other = b.get(key, ABSENT)
            if other is ABSENT or not same_value(stored_key(b, key), key):
                return False
            if not _same_tree(value, other):
                return False
        return True
    if t is list:
        return len(a) == len(b) and all(_same_tree(x, y) for x, y in zip(a, b, strict=True))
    if t is tuple:  # a tuple value, or a record's values (which may hold dicts and lists)
        return len(a) == len(b) and all(_same_tree(x, y) for x, y in zip(a, b, strict=True))
    if t in VALUE_TYPES:
        return same_value(a, b)
    if t is RecordSnapshot:
        # Not ``==``: that would take -0.0 for 0.0 and 1 for True in the fields.
        return a.id == b.id and _same_tree(a.values, b.values)
    if isinstance(a, Marker):
        # Other typed snapshots (a board's): compare what they hold, strictly.
        slots = [name for cls in t.__mro__ for name in getattr(cls, "__slots__", ())]
        if slots:
            return all(_same_tree(getattr(a, name), getattr(b, name)) for name in slots)
    return bool(a == b)
