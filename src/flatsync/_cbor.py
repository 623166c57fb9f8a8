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
``Replace(v)``         tag 6 + ``v``
``ListDelta(ops)``     tag 7 + array of arrays
=====================  ===============================================

Tags 6 to 15 have a one-byte head. IANA keeps them unassigned (reserved for
Standards Action); flatsync uses 6, 7 and 8 privately inside its own packets,
which no generic CBOR tool is expected to interpret, because the byte budgets
of the common cases (a new entity in 32 bytes, a board cell in 6) leave no
room for the three-byte heads of the first-come-first-served range.
"""

from __future__ import annotations

import io
import struct
from typing import Any

import cbor2

from ._base import ATOMS, key_ok
from ._codec import Codec, check_tree
from ._errors import DecodeError, EncodeError, LimitError
from ._limits import Limits
from ._markers import DELETED, MARKERS, Deleted, Marker

__all__ = ["TAG_LIST", "CborCodec"]

#: The tag of a list's snapshot; the markers' tags are their ``marker_id``.
TAG_LIST = 8

_pack_e = struct.Struct(">e").pack
_unpack_e = struct.Struct(">e").unpack
_pack_f = struct.Struct(">f").pack
_unpack_f = struct.Struct(">f").unpack
_pack_d = struct.Struct(">d").pack


def _encode_float(encoder: cbor2.CBOREncoder, value: float) -> None:
    if value == value:
        try:
            half = _pack_e(value)
        except OverflowError:
            pass
        else:
            if _unpack_e(half)[0] == value:
                encoder.write(b"\xf9" + half)
                return
        try:
            single = _pack_f(value)
        except OverflowError:
            pass
        else:
            if _unpack_f(single)[0] == value:
                encoder.write(b"\xfa" + single)
                return
    encoder.write(b"\xfb" + _pack_d(value))


def _encode_list(encoder: cbor2.CBOREncoder, value: list[Any]) -> None:
    encoder.write(b"\xc8")  # tag 8
    encoder.encode_array(value)


def _encode_marker(encoder: cbor2.CBOREncoder, value: Marker) -> None:
    encoder.write(bytes((0xC0 | value.marker_id,)))  # a tag in 6..15: a one-byte head
    encoder.encode(value.content())


def _encode_deleted(encoder: cbor2.CBOREncoder, value: Deleted) -> None:
    encoder.write(b"\xf7")  # undefined


_BASE_ENCODERS: dict[type, Any] = {
    float: _encode_float,
    list: _encode_list,
    Deleted: _encode_deleted,
}


def _encoders() -> dict[type, Any]:
    # Markers register when their module is imported; look them up each time so
    # that a kind of handler added later is encoded too.
    encoders = dict(_BASE_ENCODERS)
    for cls in MARKERS.values():
        encoders[cls] = _encode_marker
    return encoders


def _reject_tag(decoder: Any) -> Any:
    raise DecodeError("a CBOR tag that flatsync does not use")


# cbor2 decodes these tags itself (dates, decimals, regexes, sets, shared
# references, ...). None of them is part of the protocol, and some cost more
# to decode than their size suggests, so they are refused before cbor2 builds
# anything. Tags 2 and 3 (bignums) are how CBOR spells integers beyond 64 bits.
_REJECTED_TAGS: tuple[int, ...] = (0, 1, 4, 5, 25, 28, 29, 30, 35, 36, 37, 52, 54, 100)
_REJECTED_TAGS += (256, 258, 260, 261, 1004, 43000, 55799)
_SEMANTIC = dict.fromkeys(_REJECTED_TAGS, _reject_tag)

_ARRAYS = (list, tuple)
_MAPS = (dict, cbor2.frozendict)


class CborCodec(Codec):
    """The default codec: compact CBOR (RFC 8949) through cbor2.

    The seed's example delta ``{3: {"hp": 6}}`` is 7 bytes:

    >>> import flatsync
    >>> flatsync.CborCodec().encode({3: {"hp": 6}}).hex(" ")
    'a1 03 a1 62 68 70 06'

    Decoding is strict: trailing bytes, duplicate map keys, indefinite-length
    items, tags outside the protocol and values outside the protocol raise
    :class:`~flatsync.DecodeError`; a packet beyond the :class:`~flatsync.Limits`
    raises :class:`~flatsync.LimitError`. Decoding changes no state.
    """

    name = "cbor"

    def encode(self, tree: Any) -> bytes:
        """Encode a protocol tree as CBOR.

        Raises:
            EncodeError: something in the tree is not part of the protocol.
            LimitError: the tree nests too deep, or the packet is too large.
        """
        limits = self.limits
        check_tree(tree, limits)
        try:
            data = cbor2.dumps(tree, encoders=_encoders())
        except (cbor2.CBOREncodeError, TypeError, ValueError) as exc:  # pragma: no cover
            raise EncodeError(f"cbor2 could not encode the tree: {exc}") from exc
        if len(data) > limits.max_packet_size:
            raise LimitError(
                f"the packet would be {len(data)} bytes, over the limit of {limits.max_packet_size}"
            )
        return data

    def decode(self, data: bytes | bytearray | memoryview) -> Any:
        """Decode one CBOR packet into a protocol tree.

        Raises:
            DecodeError: malformed CBOR, trailing bytes, duplicate keys, or
                something that is not part of the protocol.
            LimitError: the packet is larger, deeper or longer than the limits.
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"decode() takes bytes, not {type(data).__name__}")
        limits = self.limits
        size = len(data)
        if size > limits.max_packet_size:
            raise LimitError(
                f"a packet of {size} bytes is over the limit of {limits.max_packet_size}"
            )
        if size == 0:
            raise DecodeError("an empty packet")
        stream = io.BytesIO(data)
        try:
            decoder = cbor2.CBORDecoder(
                stream,
                # cbor2 counts a tag as a level of its own: a list (tag 8 + array)
                # is two of its levels and one of ours. _Reader checks ours.
                max_depth=2 * limits.max_depth + 2,
                allow_indefinite=False,
                allow_duplicate_keys=False,
                semantic_decoders=_SEMANTIC,
            )
            obj = decoder.decode()
        except DecodeError:
            raise
        except cbor2.CBORDecodeError as exc:
            if "maximum container nesting depth" in str(exc):
                raise LimitError(f"the packet nests deeper than {limits.max_depth}") from None
            raise DecodeError(f"malformed CBOR: {exc}") from None
        except (ValueError, TypeError, OverflowError, RecursionError, MemoryError) as exc:
            raise DecodeError(f"malformed CBOR: {type(exc).__name__}: {exc}") from None
        end = stream.tell()
        if end != size:
            raise DecodeError(f"{size - end} trailing bytes after the packet")
        try:
            return _Reader(limits).tree(obj, 0)
        except RecursionError:
            # Only reachable with a max_depth above what the interpreter can recurse.
            raise LimitError(
                f"the packet nests deeper than this interpreter can decode (max_depth is "
                f"{limits.max_depth})"
            ) from None


class _Reader:
    """Turns what cbor2 built into a protocol tree, checking it on the way."""

    __slots__ = ("max_depth", "max_items", "max_string", "total_left")

    def __init__(self, limits: Limits) -> None:
        self.max_depth = limits.max_depth
        self.max_items = limits.max_container_items
        self.max_string = limits.max_string_length
        self.total_left = limits.max_total_items

    def tree(self, obj: Any, depth: int) -> Any:
        t = type(obj)
        if t in ATOMS or t is float:
            if (t is str or t is bytes) and len(obj) > self.max_string:
                raise LimitError(f"a string of {len(obj)} characters is over the limit")
            return obj
        if obj is cbor2.undefined:  # a leaf, as check_tree counts it
            return DELETED
        if depth >= self.max_depth:
            raise LimitError(f"the packet nests deeper than {self.max_depth}")
        depth += 1
        if t in _ARRAYS:
            self._count(obj)
            return tuple(self.tuple_item(item, depth) for item in obj)
        if t in _MAPS:
            self._count(obj)
            out = {}
            for key, value in obj.items():
                if not key_ok(key):
                    raise DecodeError(f"a map key of type {type(key).__name__} is not allowed")
                if type(key) is not int:
                    self.key_strings(key)
                out[key] = self.tree(value, depth)
            return out
        if t is cbor2.CBORTag:
            return self.tagged(obj.tag, obj.value, depth)
        raise DecodeError(f"{t.__name__} is not part of the protocol")

    def key_strings(self, key: Any) -> None:
        t = type(key)
        if t is str or t is bytes:
            if len(key) > self.max_string:
                raise LimitError(f"a string of {len(key)} characters is over the limit")
        elif t is tuple:
            for item in key:
                self.key_strings(item)

    def tuple_item(self, obj: Any, depth: int) -> Any:
        t = type(obj)
        if t in ATOMS or t is float:
            return self.tree(obj, depth)
        if t in _ARRAYS:
            if depth >= self.max_depth:
                raise LimitError(f"the packet nests deeper than {self.max_depth}")
            self._count(obj)
            return tuple(self.tuple_item(item, depth + 1) for item in obj)
        raise DecodeError(f"a tuple may hold only scalars, bytes and tuples, not {t.__name__}")

    def tagged(self, tag: int, value: Any, depth: int) -> Any:
        if tag == TAG_LIST:
            if type(value) not in _ARRAYS:
                raise DecodeError("tag 8 (list) must hold an array")
            self._count(value)
            return [self.tree(item, depth) for item in value]
        cls = MARKERS.get(tag)
        if cls is None:
            raise DecodeError(f"unknown marker tag {tag}")
        return cls.from_content(self.raw(value, depth))

    def raw(self, obj: Any, depth: int) -> Any:
        """A marker's content: arrays become tuples that may hold any trees."""
        if type(obj) not in _ARRAYS:
            return self.tree(obj, depth)
        if depth >= self.max_depth:
            raise LimitError(f"the packet nests deeper than {self.max_depth}")
        self._count(obj)
        return tuple(self.raw(item, depth + 1) for item in obj)

    def _count(self, container: Any) -> None:
        size = len(container)
        if size > self.max_items:
            raise LimitError(f"a container of {size} items is over the limit of {self.max_items}")
        self.total_left -= size
        if self.total_left < 0:
            raise LimitError("the packet holds more items than the limit (max_total_items)")
