"""The messages of the flatsync network protocol, and their framing on a TCP stream.

Sans-I/O like the sessions below: this module turns messages into bytes and
bytes into messages, and checks what a peer sent; it opens nothing. Every
message is a kind byte and a body. On TCP each one gets its length in front
(unsigned LEB128, at most 4 bytes); on a WebSocket each message is one binary
WebSocket message, without the length. The docs' protocol page gives every
kind byte for byte.
"""

from __future__ import annotations

import enum
from typing import Any, Final

import attrs

from .._codecs._cbor import CborCodec
from .._codecs._limits import Limits
from .._codecs._varint import VarintError, read_uvarint, uvarint
from .._tree._errors import FlatsyncError

__all__ = [
    "MAX_NAME",
    "MAX_TOKEN",
    "PROTOCOL_VERSION",
    "Hello",
    "Kind",
    "ProtocolError",
    "Welcome",
    "decode_hello",
    "decode_welcome",
    "encode_hello",
    "encode_welcome",
    "frame",
    "read_length",
]

#: The version of the network protocol, in the hello and the welcome.
PROTOCOL_VERSION: Final = 1
#: The longest client name (characters) and token (bytes) a server accepts.
MAX_NAME: Final = 64
MAX_TOKEN: Final = 256
#: The longest ping body; a longer ping is a protocol fault.
MAX_PING: Final = 16
#: The longest goodbye reason (bytes of UTF-8); longer reasons are cut.
MAX_REASON: Final = 256
#: The length of a session id and of a resume key.
ID_SIZE: Final = 16


class Kind(bytes, enum.Enum):
    """The kind byte of a message (an ASCII letter, so a hex dump reads)."""

    HELLO = b"H"  #: The client's first message, who it is (client to server).
    WELCOME = (
        b"W"  #: The answer to a hello, with the session id and the resume key (server to client).
    )
    SYNC = b"S"  #: A publisher packet, a snapshot or a delta (server to client).
    REPLY = b"R"  #: A replica packet, an acknowledgement or a request (client to server).
    MESSAGE = b"M"  #: An application message in the session's codec (either way).
    PING = b"P"  #: Up to 16 opaque bytes, to be echoed (either way).
    PONG = b"O"  #: The bytes of a ping, echoed (either way).
    BYE = b"B"  #: A UTF-8 reason, after which the sender closes (either way).


_KINDS: dict[int, Kind] = {kind.value[0]: kind for kind in Kind}


class ProtocolError(FlatsyncError, ValueError):
    """A peer sent something the network protocol does not allow: its connection ends."""


def kind_of(byte: int) -> Kind:
    """The :class:`Kind` of a kind byte.

    Raises:
        ProtocolError: not a kind of the protocol.
    """
    kind = _KINDS.get(byte)
    if kind is None:
        raise ProtocolError(f"unknown message kind 0x{byte:02x}")
    return kind


def frame(kind: Kind, body: bytes | bytearray | memoryview = b"") -> bytes:
    """One message framed for a TCP stream: its length (LEB128), its kind, its body."""
    head = bytearray(uvarint(1 + len(body)))
    head += kind.value
    head += body
    return bytes(head)


def read_length(prefix: bytes) -> int | None:
    """Decode a length prefix; ``None`` when it is not complete yet.

    Raises:
        ProtocolError: more than 4 bytes of prefix (over 256 MiB), or a length of zero.
    """
    try:
        size, _ = read_uvarint(prefix, 0, 4)
    except VarintError as exc:
        if exc.reason == "cut":
            return None
        raise ProtocolError("a length prefix of more than 4 bytes") from None
    if size == 0:
        raise ProtocolError("a message of 0 bytes")
    return size


# -- the handshake --------------------------------------------------------------------------

#: Handshake messages are small: a tight limit keeps a hostile hello cheap to refuse.
_CONTROL = CborCodec(
    limits=Limits(
        max_packet_size=1024,
        max_depth=3,
        max_container_items=16,
        max_string_length=MAX_TOKEN,
        max_total_items=64,
    )
)


@attrs.frozen(kw_only=True)
class Resume:
    """What a reconnecting client presents: the session and client it had, and its frame."""

    session: bytes
    client: int
    key: bytes
    frame: int | None


@attrs.frozen(kw_only=True)
class Hello:
    """The client's first message."""

    codec: str
    name: str = ""
    token: bytes = b""
    resume: Resume | None = None
    version: int = PROTOCOL_VERSION


@attrs.frozen(kw_only=True)
class Welcome:
    """The server's answer to a hello it accepts."""

    codec: str
    session: bytes
    client: int
    key: bytes
    resumed: bool
    server: str
    rate: float | None
    version: int = PROTOCOL_VERSION


def encode_hello(hello: Hello) -> bytes:
    """The body of a hello."""
    fields: dict[str, Any] = {"v": hello.version, "codec": hello.codec, "name": hello.name}
    if hello.token:
        fields["token"] = hello.token
    if hello.resume is not None:
        r = hello.resume
        fields["resume"] = {
            "session": r.session,
            "client": r.client,
            "key": r.key,
            "frame": r.frame,
        }
    return _CONTROL.encode(fields)


def encode_welcome(welcome: Welcome) -> bytes:
    """The body of a welcome."""
    return _CONTROL.encode(
        {
            "v": welcome.version,
            "codec": welcome.codec,
            "session": welcome.session,
            "client": welcome.client,
            "key": welcome.key,
            "resumed": welcome.resumed,
            "server": welcome.server,
            "rate": welcome.rate,
        }
    )


def _fields(body: bytes | bytearray | memoryview, what: str) -> dict[str, Any]:
    try:
        fields = _CONTROL.decode(body)
    except FlatsyncError as error:
        raise ProtocolError(f"a malformed {what}: {error}") from None
    if type(fields) is not dict:
        raise ProtocolError(f"a {what} is a map, not {type(fields).__name__}")
    version = fields.get("v")
    if type(version) is not int:
        raise ProtocolError(f"a {what} without a protocol version")
    if version != PROTOCOL_VERSION:
        raise ProtocolError(f"protocol version {version}; this side speaks {PROTOCOL_VERSION}")
    return fields


def _field(fields: dict[str, Any], name: str, kinds: tuple[type, ...], what: str) -> Any:
    value = fields.get(name)
    if type(value) not in kinds:
        raise ProtocolError(f"a {what}'s {name!r} is not {' or '.join(k.__name__ for k in kinds)}")
    return value


def decode_hello(body: bytes | bytearray | memoryview) -> Hello:
    """Decode and check a hello.

    Raises:
        ProtocolError: not a well-formed hello of this protocol version.
    """
    fields = _fields(body, "hello")
    codec = _field(fields, "codec", (str,), "hello")
    name = _field(fields, "name", (str,), "hello")
    if len(name) > MAX_NAME or not name.isprintable():
        raise ProtocolError(f"a name of more than {MAX_NAME} printable characters")
    token = fields.get("token", b"")
    if type(token) is not bytes:
        raise ProtocolError("a hello's 'token' is not bytes")
    resume: Resume | None = None
    raw = fields.get("resume")
    if raw is not None:
        if type(raw) is not dict:
            raise ProtocolError("a hello's 'resume' is not a map")
        session = _field(raw, "session", (bytes,), "resume")
        key = _field(raw, "key", (bytes,), "resume")
        client = _field(raw, "client", (int,), "resume")
        held = _field(raw, "frame", (int, type(None)), "resume")
        if held is not None and held < 0:
            raise ProtocolError("a negative frame")
        resume = Resume(session=session, client=client, key=key, frame=held)
    return Hello(codec=codec, name=name, token=token, resume=resume)


def decode_welcome(body: bytes | bytearray | memoryview) -> Welcome:
    """Decode and check a welcome.

    Raises:
        ProtocolError: not a well-formed welcome of this protocol version.
    """
    fields = _fields(body, "welcome")
    return Welcome(
        codec=_field(fields, "codec", (str,), "welcome"),
        session=_field(fields, "session", (bytes,), "welcome"),
        client=_field(fields, "client", (int,), "welcome"),
        key=_field(fields, "key", (bytes,), "welcome"),
        resumed=_field(fields, "resumed", (bool,), "welcome"),
        server=_field(fields, "server", (str,), "welcome"),
        rate=_field(fields, "rate", (float, type(None)), "welcome"),
    )


def reason_bytes(reason: str) -> bytes:
    """A goodbye's body: the reason in UTF-8, cut to :data:`MAX_REASON` bytes."""
    return reason.encode("utf-8")[:MAX_REASON].decode("utf-8", "ignore").encode("utf-8")


def reason_text(body: bytes | bytearray | memoryview) -> str:
    """A goodbye's reason as text, cut to :data:`MAX_REASON` bytes and printable."""
    text = bytes(body[:MAX_REASON]).decode("utf-8", "replace")
    return "".join(c if c.isprintable() else "?" for c in text)
