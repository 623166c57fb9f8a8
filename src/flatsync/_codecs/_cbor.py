"""CborCodec: the compact default codec, on cbor2.

The mapping from protocol trees to CBOR (RFC 8949):

=====================  ===============================================
protocol tree          CBOR
=====================  ===============================================
``None``/``bool``      simple values ``null``/``false``/``true``
``int``                integer; beyond 64 bits a bignum (tags 2 and 3)
``float``              the shortest of half, single and double float that
                       keeps the exact bits (a NaN is always a double)
``str``/``bytes``      text string / byte string
``tuple``              array
``dict``               map (insertion order kept)
``list``               tag 8 + array (a list handler's snapshot)
``DELETED``            ``undefined`` (``0xf7``, one byte)
a marker               tag ``marker_id`` (6, 7, 9 to 15) + its content
a user value           tag 27 + array ``[name, tree]``
=====================  ===============================================

Tags 6 to 15 have a one-byte head. IANA keeps them unassigned (reserved for
Standards Action); flatsync uses them privately inside its own packets,
which no generic CBOR tool is expected to interpret, because the byte budgets
of the common cases (a new entity in 32 bytes, a board cell in 6) leave no
room for the three-byte heads of the first-come-first-served range. Tag 27 is
IANA's "serialised object with type name and constructor arguments", which is
what a value of a registered type is.

Encoding uses cbor2 (its ``encoders`` table writes floats, lists, markers and
value types as above). Decoding does not: see the comment above :class:`_Parser`.
"""

from __future__ import annotations

import struct
from typing import Any

import cbor2

from .._native import compiled as _compiled
from .._native import hooks as _hooks
from .._tree._errors import DecodeError, EncodeError, FlatsyncError, LimitError
from .._tree._markers import DELETED, MARKERS, Deleted, Marker
from .._tree._types import TYPES_BY_CLASS, value_from_tree
from .._tree._values import format_path
from ._codec import Codec, check_packet, check_tree, count_key_hash, depth_cap, packet_bytes
from ._limits import Limits

__all__ = ["TAG_LIST", "TAG_VALUE", "CborCodec"]

#: The tag of a list's snapshot; the markers' tags are their ``marker_id``.
TAG_LIST = 8
#: The tag of a value of a registered type: ``[name, tree]``.
TAG_VALUE = 27

_pack_e = struct.Struct(">e").pack
_unpack_e = struct.Struct(">e").unpack
_pack_f = struct.Struct(">f").pack
_unpack_f = struct.Struct(">f").unpack
_pack_d = struct.Struct(">d").pack
_unpack_d = struct.Struct(">d").unpack
_FLOATS = {0xF9: _unpack_e, 0xFA: _unpack_f, 0xFB: _unpack_d}


# -- encoding ---------------------------------------------------------------------------------


#: Encoded floats by value, for the values a game repeats (grid positions, hit
#: points): a hit skips the struct round trips. Only halves and singles are
#: cached: an arbitrary double seldom comes again, and would only push them
#: out. Zero is never cached (``-0.0 == 0.0`` would find the other's bytes),
#: nor NaN (it is always a double).
_FLOAT_BYTES: dict[float, bytes] = {}
_FLOAT_CACHE_SIZE = 4096


def _encode_float(encoder: cbor2.CBOREncoder, value: float) -> None:
    data = _FLOAT_BYTES.get(value)
    if data is None or not value:
        # The common miss, an arbitrary double, is decided here: no single holds
        # it (nor a NaN, which never equals itself), so no half does either.
        try:
            narrow = _unpack_f(_pack_f(value))[0] == value
        except OverflowError:
            narrow = False
        if narrow:
            data = _float_bytes(value)
            if value:
                if len(_FLOAT_BYTES) >= _FLOAT_CACHE_SIZE:
                    _FLOAT_BYTES.clear()
                _FLOAT_BYTES[value] = data
        else:
            data = b"\xfb" + _pack_d(value)
    encoder.write(data)


def _float_bytes(value: float) -> bytes:
    """The shortest CBOR float that holds ``value`` exactly (NaN: a double, payload kept).

    Single precision is tried first: an arbitrary double fails there and is
    done in three struct calls instead of five, and a value that no single
    holds no half holds either.
    """
    if value == value:
        try:
            single = _pack_f(value)
        except OverflowError:
            return b"\xfb" + _pack_d(value)
        if _unpack_f(single)[0] == value:
            try:
                half = _pack_e(value)
            except OverflowError:
                return b"\xfa" + single
            if _unpack_e(half)[0] == value:
                return b"\xf9" + half
            return b"\xfa" + single
    return b"\xfb" + _pack_d(value)


def _encode_list(encoder: cbor2.CBOREncoder, value: list[Any]) -> None:
    encoder.write(b"\xc8")  # tag 8
    encoder.encode_array(value)


def _encode_marker(encoder: cbor2.CBOREncoder, value: Marker) -> None:
    encoder.write(bytes((0xC0 | value.marker_id,)))  # a tag in 6..15: a one-byte head
    encoder.encode(value.content())


def _encode_deleted(encoder: cbor2.CBOREncoder, value: Deleted) -> None:
    encoder.write(b"\xf7")  # undefined


def _encode_none(encoder: cbor2.CBOREncoder, value: None) -> None:
    encoder.write(b"\xf6")  # null (cbor2's encode_none takes no value; a miss costs more)


def _encode_user(encoder: cbor2.CBOREncoder, value: Any) -> None:
    value_type = TYPES_BY_CLASS[type(value)]
    encoder.write(b"\xd8\x1b\x82")  # tag 27, an array of two
    encoder.encode(value_type.name)
    encoder.encode(value_type.to_tree(value))


def _encode_default(encoder: cbor2.CBOREncoder, value: Any) -> None:
    if isinstance(value, Marker):  # a marker class that is not registered (yet)
        _encode_marker(encoder, value)
        return
    # check_tree refused every other type before cbor2 was called.
    raise EncodeError(f"cannot encode {type(value).__name__}")  # pragma: no cover - see above


_ENCODER = cbor2.CBOREncoder
_BASE_ENCODERS: dict[type, Any] = {
    float: _encode_float,
    list: _encode_list,
    Deleted: _encode_deleted,
    # cbor2 6 looks every value's type up in this table first and raises and
    # catches a KeyError for each one it misses: the common types map to
    # cbor2's own methods, which write the same bytes as its fallback.
    int: _ENCODER.encode_int,
    str: _ENCODER.encode_string,
    bytes: _ENCODER.encode_bytes,
    bool: _ENCODER.encode_bool,
    type(None): _encode_none,
    dict: _ENCODER.encode_map,
    tuple: _ENCODER.encode_array,
}
_encoder_cache: list[Any] = [None, None]


def _encoders() -> dict[type, Any]:
    # Markers and value types register when their modules are imported, or
    # later: rebuild the table when either registry has grown.
    version = (len(MARKERS), len(TYPES_BY_CLASS))
    if _encoder_cache[0] != version:
        encoders = dict(_BASE_ENCODERS)
        for cls in MARKERS.values():
            encoders[cls] = _encode_marker
        for cls in TYPES_BY_CLASS:
            encoders[cls] = _encode_user
        _encoder_cache[:] = [version, encoders]
    table: dict[type, Any] = _encoder_cache[1]
    return table


def _user_pair(value: Any) -> tuple[str, Any]:
    """A registered value's ``(name, tree)``: what tag 27 holds (for the C encoder)."""
    value_type = TYPES_BY_CLASS[type(value)]
    return value_type.name, value_type.to_tree(value)


# -- the C accelerator ------------------------------------------------------------------------
#
# Where it was built, flatsync._native's C decode and encode take the common
# path; each gives what the Python code here gives or declines to it (on any
# error too, so that the messages are this module's). The pure-Python code is
# their oracle: tests/test_native.py compares them.

if _compiled is not None:
    _compiled.configure_cbor(
        DELETED, MARKERS, value_from_tree, count_key_hash, Marker, _user_pair, TYPES_BY_CLASS
    )
_DECLINED: Any = None if _compiled is None else _compiled.DECLINED


# -- decoding ---------------------------------------------------------------------------------
#
# flatsync reads CBOR with a parser of its own, in one pass over the packet's
# bytes, instead of cbor2's loads: cbor2 builds each map in C before anything
# could look at its keys, so a map of keys crafted to share one CPython hash
# (integers beyond 2**61 - 1, tuples, floats) would cost quadratic time there.
# The parser checks every key's hash before the key goes into a dict, checks
# every declared length against the limits and against the bytes that are left
# before it allocates anything, never recurses for values, and builds protocol-
# tree items directly (tuples, DELETED, markers), so no second pass is needed.

# The kinds of container the parser is inside. _MARKER holds a marker's content
# (one item, not counted) and _VALUE a value type's [name, tree].
_ROOT, _MAP, _TUPLE, _LIST, _RAW, _MARKER, _VALUE = range(7)
# Where an item stands: a value, inside a tuple, or inside a marker's content.
_V, _T, _R = range(3)
_ITEM_CONTEXT = {_ROOT: _V, _MAP: _V, _TUPLE: _T, _LIST: _V, _RAW: _R, _MARKER: _R, _VALUE: _V}
_MISSING = object()


class _Refused(Exception):
    """Raised inside the parser; becomes a DecodeError or LimitError naming the path."""

    def __init__(self, message: str, limit: bool = False) -> None:
        super().__init__(message)
        self.limit = limit


def _head(data: bytes, pos: int) -> tuple[int, int, int]:
    """Major type, argument and the offset after the head at ``pos``.

    Raises:
        IndexError: the packet ends inside the head.
        _Refused: an indefinite length or a reserved value.
    """
    b = data[pos]
    ai = b & 31
    if ai < 24:
        return b >> 5, ai, pos + 1
    if 24 <= ai <= 27:
        end = pos + 1 + (1 << (ai - 24))
        if end > len(data):
            raise IndexError
        return b >> 5, int.from_bytes(data[pos + 1 : end], "big"), end
    if ai == 31:
        raise _Refused("an indefinite-length item (flatsync sends only definite lengths)")
    raise _Refused(f"a reserved additional information value {ai}")


class _Parser:
    """One packet's parse: the limits, and where it is (for error messages)."""

    __slots__ = (
        "data",
        "max_collisions",
        "max_depth",
        "max_items",
        "max_string",
        "size",
        "stack",
        "total_left",
    )

    def __init__(self, data: bytes, limits: Limits) -> None:
        self.data = data
        self.size = len(data)
        self.max_depth = depth_cap(limits)
        self.max_items = limits.max_container_items
        self.max_string = limits.max_string_length
        self.total_left = limits.max_total_items
        self.max_collisions = limits.max_hash_collisions
        # The enclosing containers, outermost first: (items left, kind, depth of its
        # items, what it built so far, the current key, key hashes, a marker's tag).
        self.stack: list[tuple[Any, ...]] = []

    def container(self, size: int, depth: int, per_item: int, pos: int) -> None:
        if size * per_item > self.size - pos:
            raise _Refused(
                f"a container declares {size} items but only {self.size - pos} bytes follow"
            )
        if depth >= self.max_depth:
            raise _Refused(f"the packet nests deeper than {self.max_depth} levels", True)
        if size > self.max_items:
            raise _Refused(
                f"a container of {size} items is over the limit of {self.max_items}", True
            )
        self.total_left -= size
        if self.total_left < 0:
            raise _Refused("the packet holds more items than max_total_items", True)

    def string(self, length: int, pos: int) -> int:
        end = pos + length
        if end > self.size:
            raise _Refused(f"a string declares {length} bytes but only {self.size - pos} follow")
        if length > self.max_string:
            raise _Refused(
                f"a string of {length} bytes is over the limit of {self.max_string}", True
            )
        return end

    def text(self, pos: int, end: int) -> str:
        try:
            return self.data[pos:end].decode("utf-8")
        except UnicodeDecodeError:
            raise _Refused("a text string that is not valid UTF-8") from None

    def run(self) -> Any:
        """Parse the whole packet and return its tree.

        Raises:
            _Refused: what is wrong, and whether it is a limit; :attr:`stack`
                then ends with the container where it is.
            IndexError: the packet ends inside an item.
        """
        data = self.data
        size = self.size
        stack = self.stack
        max_depth = self.max_depth
        short_strings = self.max_string >= 23
        unpack_e, unpack_f, unpack_d = _unpack_e, _unpack_f, _unpack_d
        # The current container, in locals; the stack holds the enclosing ones.
        out: Any
        key: Any
        value: Any
        left, kind, depth, out, key, hashes, tag = 1, _ROOT, 0, [], None, None, 0
        ctx = _V
        pos = 0
        try:
            while True:
                if left == 0:
                    # The container is complete: build it, and hand it to its parent.
                    if kind == _ROOT:
                        if pos != size:
                            raise _Refused(f"{size - pos} trailing bytes after the packet")
                        return out[0]
                    if kind in {_MAP, _LIST}:  # built in place
                        value = out
                    elif kind in {_TUPLE, _RAW}:
                        value = tuple(out)
                    elif kind == _MARKER:
                        try:
                            value = MARKERS[tag].from_content(out[0])
                        except DecodeError as exc:
                            raise _Refused(str(exc)) from None
                    elif kind == _VALUE:
                        try:
                            value = value_from_tree(out[0], out[1])
                        except DecodeError as exc:
                            raise _Refused(str(exc)) from None
                    else:
                        raise AssertionError(kind)  # pragma: no cover - kinds are exhaustive
                    left, kind, depth, out, key, hashes, tag = stack.pop()
                    ctx = _ITEM_CONTEXT[kind]
                else:
                    left -= 1
                    if kind == _MAP:
                        key = _MISSING
                        b = data[pos]
                        if 0x60 <= b < 0x78:  # a short text key
                            end = pos + 1 + b - 0x60
                            if end > size:
                                raise IndexError
                            if not short_strings:
                                self.string(b - 0x60, pos + 1)
                            key = data[pos + 1 : end].decode("utf-8")
                            pos = end
                        elif b < 0x18:  # a small integer key
                            key = b
                            pos += 1
                        elif 0x18 <= b <= 0x1A:  # an integer key below 2**32
                            end = pos + 1 + (1 << (b - 0x18))
                            if end > size:
                                raise IndexError
                            key = int.from_bytes(data[pos + 1 : end], "big")
                            pos = end
                        else:
                            key, pos, hashes = self.key(depth, pos, hashes)
                    elif kind == _VALUE and not out:
                        major, arg, pos = _head(data, pos)
                        if major != 3:
                            raise _Refused("a value type's name must be a text string")
                        end = self.string(arg, pos)
                        out.append(self.text(pos, end))
                        pos = end
                    # One item, in context ctx, at depth.
                    b = data[pos]
                    if b < 0x18:
                        value = b
                        pos += 1
                    elif b <= 0x1B:
                        end = pos + 1 + (1 << (b - 0x18))
                        if end > size:
                            raise IndexError
                        value = int.from_bytes(data[pos + 1 : end], "big")
                        pos = end
                    elif 0x60 <= b < 0x78:
                        end = pos + 1 + b - 0x60
                        if end > size:
                            raise IndexError
                        if not short_strings:
                            self.string(b - 0x60, pos + 1)
                        value = data[pos + 1 : end].decode("utf-8")
                        pos = end
                    elif b == 0xF9:
                        value = unpack_e(data[pos + 1 : pos + 3])[0]
                        pos += 3
                    elif b == 0xFA:
                        value = unpack_f(data[pos + 1 : pos + 5])[0]
                        pos += 5
                    elif b == 0xFB:
                        value = unpack_d(data[pos + 1 : pos + 9])[0]
                        pos += 9
                    elif b == 0xF7:
                        if ctx == _T:
                            raise _Refused("a tuple cannot hold undefined (DELETED)")
                        value = DELETED
                        pos += 1
                    elif 0xF4 <= b <= 0xF6:
                        value = None if b == 0xF6 else b == 0xF5
                        pos += 1
                    else:
                        major, arg, pos = _head(data, pos)
                        if major == 0:
                            value = arg
                        elif major == 1:
                            value = -1 - arg
                        elif major == 3:
                            end = self.string(arg, pos)
                            value = self.text(pos, end)
                            pos = end
                        elif major == 2:
                            end = self.string(arg, pos)
                            value = data[pos:end]
                            pos = end
                        elif major in {4, 5}:
                            if major == 5 and ctx == _T:
                                raise _Refused("a tuple cannot hold a map")
                            self.container(arg, depth, major - 3, pos)
                            stack.append((left, kind, depth, out, key, hashes, tag))
                            if major == 5:
                                left, kind, out, ctx = arg, _MAP, {}, _V
                                hashes = None
                            else:
                                left, kind, out = arg, _RAW if ctx == _R else _TUPLE, []
                                ctx = _ITEM_CONTEXT[kind]
                            depth += 1
                            continue
                        elif major == 7:
                            raise _Refused(f"the simple value {arg} is not part of the protocol")
                        elif arg in {2, 3}:  # a bignum
                            value, pos = self.bignum(arg, pos)
                        else:  # another tag
                            if ctx == _T and arg != TAG_VALUE:
                                raise _Refused(f"a tuple cannot hold tag {arg}")
                            if depth >= max_depth:
                                raise _Refused(
                                    f"the packet nests deeper than {max_depth} levels", True
                                )
                            stack.append((left, kind, depth, out, key, hashes, tag))
                            depth += 1
                            if arg == TAG_LIST:
                                major, arg, pos = _head(data, pos)
                                if major != 4:
                                    raise _Refused("tag 8 (a list) must hold an array")
                                self.container(arg, depth - 1, 1, pos)
                                left, kind, out, ctx = arg, _LIST, [], _V
                            elif arg in MARKERS:
                                left, kind, out, ctx, tag = 1, _MARKER, [], _R, arg
                            elif arg == TAG_VALUE:
                                if data[pos] != 0x82:
                                    raise _Refused(
                                        "tag 27 (a value type) must hold an array [name, tree]"
                                    )
                                pos += 1
                                left, kind, out, ctx = 1, _VALUE, [], _V  # the name, then 1 item
                            else:
                                raise _Refused(f"tag {arg} is not part of the protocol")
                            continue
                    if pos > size:
                        raise IndexError
                # Hand the value to the current container.
                if kind == _MAP:
                    before = len(out)
                    out[key] = value
                    if len(out) == before:
                        raise _Refused(f"the key {key!r:.80} appears twice in one map")
                else:
                    out.append(value)
        except (_Refused, IndexError):
            stack.append((left, kind, depth, out, key, hashes, tag))
            raise

    def bignum(self, tag: int, pos: int) -> tuple[int, int]:
        major, length, pos = _head(self.data, pos)
        if major != 2:
            raise _Refused("a bignum (tag 2 or 3) must hold a byte string")
        end = self.string(length, pos)
        value = int.from_bytes(self.data[pos:end], "big")
        return (value if tag == 2 else -1 - value), end

    def key(self, depth: int, pos: int, hashes: dict[int, int] | None) -> tuple[Any, int, Any]:
        """Read a map key that is not a short text or small integer; count its hash."""
        key, end = self.build_key(depth, pos)
        try:
            hashes = count_key_hash(key, hashes, self.max_collisions, None)
        except LimitError as exc:  # the path comes from where the parser stopped
            raise _Refused(str(exc), True) from None
        return key, end, hashes

    def build_key(self, depth: int, pos: int) -> tuple[Any, int]:
        """Build the key at ``pos`` (checking it) and return it with the offset after it."""
        data = self.data
        b = data[pos]
        major, arg, pos = _head(data, pos)
        if major == 0:
            return arg, pos
        if major == 1:
            return -1 - arg, pos
        if major == 2:
            end = self.string(arg, pos)
            return data[pos:end], end
        if major == 3:
            end = self.string(arg, pos)
            return self.text(pos, end), end
        if major == 4:
            self.container(arg, depth, 1, pos)
            items = []
            for _ in range(arg):
                item, pos = self.build_key(depth + 1, pos)
                items.append(item)
            return tuple(items), pos
        if major == 6 and arg in {2, 3}:
            return self.bignum(arg, pos)
        if b in {0xF4, 0xF5, 0xF6}:
            return (None if b == 0xF6 else b == 0xF5), pos
        if b in _FLOATS:
            value: float = _FLOATS[b](data[pos - (1 << ((b & 31) - 24)) : pos])[0]
            if value != value:
                raise _Refused("a NaN cannot be a map key (it is never equal to itself)")
            return value, pos
        what = {5: "a map", 6: f"tagged (tag {arg})"}.get(major, "this simple value")
        if b == 0xF7:
            what = "undefined (DELETED)"
        raise _Refused(f"a map key cannot be {what}")


def _where(parser: _Parser) -> str:
    """The path inside the packet where the parser stopped."""
    path: list[Any] = []
    for _, kind, _, out, key, _, _ in parser.stack[1:]:
        if kind == _MAP:
            if key is _MISSING:  # it stopped inside a key: the path ends at the map
                break
            path.append(key)
        elif kind in {_TUPLE, _LIST, _RAW}:
            path.append(len(out))
    return format_path(tuple(path))


class CborCodec(Codec):
    """The default codec: compact CBOR (RFC 8949), written by cbor2, read by flatsync.

    The seed's example delta ``{3: {"hp": 6}}`` is 7 bytes:

    >>> import flatsync
    >>> flatsync.CborCodec().encode({3: {"hp": 6}}).hex(" ")
    'a1 03 a1 62 68 70 06'

    Decoding is strict: trailing bytes, duplicate map keys, indefinite-length
    items, tags and simple values outside the protocol, and items where the
    protocol does not allow them raise :class:`~flatsync.DecodeError`; a packet
    beyond the :class:`~flatsync.Limits` raises :class:`~flatsync.LimitError`.
    Both name the path inside the packet. Decoding is one pass over the bytes
    that checks every declared length before it allocates, and every map
    key's hash before the key goes into a dict, so that no packet costs more
    than time in proportion to its size. Decoding changes no state.

    Args:
        limits: Bounds enforced while decoding and encoding.
    """

    name = "cbor"

    def encode(self, tree: Any) -> bytes:
        """Encode a protocol tree as CBOR.

        Raises:
            EncodeError: something in the tree is not part of the protocol (the
                message names its type and its path), or a string is not valid
                Unicode (a lone surrogate).
            LimitError: the tree exceeds one of the limits.

        The tree is not modified, whatever happens.
        """
        limits = self.limits
        native_encode = _hooks.encode
        if native_encode is not None:
            # One pass in C: check_tree's checks and the bytes, for the common trees.
            data = native_encode(tree, limits)
            if data is not _DECLINED:
                return check_packet(tree, data, limits)
        check_tree(tree, limits)
        if native_encode is not None:
            data = native_encode(tree)
            if data is not _DECLINED:
                return check_packet(tree, data, limits)
        try:
            data = cbor2.dumps(tree, encoders=_encoders(), default=_encode_default)
        except (cbor2.CBOREncodeError, TypeError, ValueError) as exc:
            cause = _flatsync_cause(exc)
            if cause is not None:
                raise cause from None
            raise EncodeError(f"cbor2 could not encode the tree: {exc}") from exc
        return check_packet(tree, data, limits)

    def decode(self, data: bytes | bytearray | memoryview) -> Any:
        """Decode one CBOR packet into a protocol tree.

        Raises:
            DecodeError: malformed CBOR, trailing bytes, duplicate keys, or
                something that is not part of the protocol; the message names
                the path inside the packet.
            LimitError: the packet is larger, deeper or longer than the limits,
                or a map has more keys sharing one hash than ``max_hash_collisions``.
            TypeError: ``data`` is not bytes-like.

        Decoding changes no state.
        """
        limits = self.limits
        data = packet_bytes(data, limits)
        if not data:
            raise DecodeError("an empty packet")
        native_decode = _hooks.decode
        if native_decode is not None:
            tree = native_decode(data, limits)
            if tree is not _DECLINED:
                return tree
        parser = _Parser(data, limits)
        try:
            return parser.run()
        except _Refused as exc:
            error = LimitError if exc.limit else DecodeError
            raise error(f"{_where(parser)}: {exc}") from None
        except (IndexError, struct.error):
            raise DecodeError(f"{_where(parser)}: the packet ends inside an item") from None
        except UnicodeDecodeError:
            raise DecodeError(f"{_where(parser)}: a text string that is not valid UTF-8") from None
        except RecursionError:
            # Only reachable with a max_depth above what the interpreter can recurse.
            raise LimitError(
                "a key nests deeper than this interpreter can decode (max_depth is "
                f"{limits.max_depth})"
            ) from None


def _flatsync_cause(exc: BaseException) -> FlatsyncError | None:
    """The FlatsyncError that an encoder hook raised, which cbor2 wraps in its own errors."""
    seen = 0
    cause: BaseException | None = exc
    while cause is not None and seen < 100:
        if isinstance(cause, FlatsyncError):
            return cause
        cause = cause.__cause__ or cause.__context__
        seen += 1
    return None
