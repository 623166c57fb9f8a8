"""MsgpackCodec: the protocol tree in MessagePack, an optional extra (``flatsync[msgpack]``).

It is built on the :class:`~flatsync.Codec` base class and the helpers every
codec shares, like a codec a user would write: flatsync imports without
msgpack, and only constructing a :class:`MsgpackCodec` needs it.

The mapping: scalars, ``str``, ``bytes`` (bin), tuples (arrays) and ``dict``
(maps) are MessagePack's own; everything else is an extension type whose
number is the CBOR codec's tag for it, holding a MessagePack item:

========================  ============================================
protocol tree             MessagePack
========================  ============================================
``DELETED``               ext 0, empty
``int`` beyond 64 bits    ext 2 (positive ``n``) or 3 (``-1 - n``), ``n`` big-endian
``list``                  ext 8 holding an array
a marker                  ext ``marker_id`` holding its content
a registered value        ext 27 holding the array ``[name, tree]``
========================  ============================================
"""

from __future__ import annotations

import re
from typing import Any

from .._tree._errors import DecodeError, EncodeError, LimitError
from .._tree._markers import DELETED, MARKERS, Marker
from .._tree._types import TYPES_BY_CLASS, value_from_tree
from .._tree._values import Path, format_path
from ._codec import Budget, Codec, check_packet, check_tree, packet_bytes, user_tree
from ._limits import Limits

__all__ = ["MsgpackCodec"]

EXT_DELETED = 0
EXT_BIGNUM = 2
EXT_NEGATIVE_BIGNUM = 3
EXT_LIST = 8
EXT_VALUE = 27
_OVER = re.compile(r"(\d+) exceeds max_")
_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1


def _msgpack() -> Any:
    try:
        import msgpack  # type: ignore[import-untyped]  # noqa: PLC0415 - an optional dependency
    except ImportError:
        raise ImportError("MsgpackCodec needs msgpack: pip install 'flatsync[msgpack]'") from None
    return msgpack


class MsgpackCodec(Codec):
    """A codec for MessagePack peers, in the optional extra ``flatsync[msgpack]``.

    It carries exactly what :class:`~flatsync.CborCodec` carries (the tests
    hold both to :func:`flatsync.testing.check_codec`), a little less
    compactly (floats are always 8 bytes, and ``DELETED`` is 3):

    >>> import flatsync
    >>> codec = flatsync.MsgpackCodec()
    >>> codec.encode({3: {"hp": 6}}).hex(" ")
    '81 03 81 a2 68 70 06'
    >>> codec.decode(bytes.fromhex("81 03 81 a2 68 70 06"))
    {3: {'hp': 6}}

    The wire-format page of the docs gives the whole mapping. Decoding is
    strict (trailing bytes, duplicate keys, extension types outside the
    protocol raise :class:`~flatsync.DecodeError`) and bounded by the
    :class:`~flatsync.Limits`, which msgpack also applies before it allocates
    for a declared length. Decoding changes no state.

    Args:
        limits: Bounds enforced while decoding and encoding.

    Raises:
        ImportError: msgpack is not installed.
    """

    name = "msgpack"

    def __init__(self, *, limits: Limits | None = None) -> None:
        super().__init__(limits=limits)
        self._msgpack = _msgpack()

    # -- encoding -----------------------------------------------------------------------

    def encode(self, tree: Any) -> bytes:
        """Encode a protocol tree as MessagePack.

        Raises:
            EncodeError: something in the tree is not part of the protocol (the
                message names its type and its path), or a string is not valid
                Unicode.
            LimitError: the tree exceeds one of the limits.

        The tree is not modified, whatever happens.
        """
        limits = self.limits
        check_tree(tree, limits)
        try:
            data: bytes = self._pack(self._ready(tree))
        except (ValueError, TypeError, OverflowError) as exc:  # lone surrogates, mostly
            raise EncodeError(f"the tree cannot be written as MessagePack: {exc}") from None
        return check_packet(tree, data, limits)

    def _pack(self, ready: Any) -> bytes:
        data: bytes = self._msgpack.packb(ready, use_bin_type=True, datetime=False)
        return data

    def _ext(self, code: int, ready: Any) -> Any:
        return self._msgpack.ExtType(code, self._pack(ready))

    def _ready(self, tree: Any) -> Any:
        """What msgpack packs for a tree that check_tree accepted."""
        t = type(tree)
        if t is dict:
            return {self._ready(key): self._ready(value) for key, value in tree.items()}
        if t is str or t is bytes or t is bool or tree is None or t is float:
            return tree
        if t is int:
            if _INT_MIN <= tree <= _INT_MAX:
                return tree
            magnitude = tree if tree >= 0 else -1 - tree
            code = EXT_BIGNUM if tree >= 0 else EXT_NEGATIVE_BIGNUM
            return self._msgpack.ExtType(
                code, magnitude.to_bytes((magnitude.bit_length() + 7) // 8, "big")
            )
        if t is tuple:
            return tuple(self._ready(item) for item in tree)
        if t is list:
            return self._ext(EXT_LIST, tuple(self._ready(item) for item in tree))
        if tree is DELETED:
            return self._msgpack.ExtType(EXT_DELETED, b"")
        if t in TYPES_BY_CLASS:
            content = self._ready(user_tree(tree, ()))
            return self._ext(EXT_VALUE, (TYPES_BY_CLASS[t].name, content))
        if isinstance(tree, Marker):
            return self._ext(tree.marker_id, self._ready(tree.content()))
        raise EncodeError(f"cannot encode {t.__name__}")  # pragma: no cover - check_tree refused it

    # -- decoding -----------------------------------------------------------------------

    def decode(self, data: bytes | bytearray | memoryview) -> Any:
        """Decode one MessagePack packet into a protocol tree.

        Raises:
            DecodeError: malformed MessagePack, trailing bytes, duplicate keys,
                or something that is not part of the protocol; the message
                names the path inside the packet.
            LimitError: the packet is larger, deeper or longer than the limits,
                or a map has more keys sharing one hash than ``max_hash_collisions``.
            TypeError: ``data`` is not bytes-like.

        Decoding changes no state.
        """
        limits = self.limits
        data = packet_bytes(data, limits)
        reader = _Reader(self._msgpack, limits)
        return reader.tree(reader.unpack(data, ()), 0, (), "v")


class _Reader:
    """Unpacks (the packet, then each extension's payload) and checks what it reads."""

    __slots__ = ("budget", "limits", "msgpack")

    def __init__(self, msgpack: Any, limits: Limits) -> None:
        self.msgpack = msgpack
        self.limits = limits
        self.budget = Budget(limits)

    def unpack(self, data: bytes, path: Path) -> Any:
        limits = self.limits
        msgpack = self.msgpack
        if not data:
            raise DecodeError(f"{format_path(path)}: an empty packet")
        size = len(data)
        try:
            return msgpack.unpackb(
                data,
                raw=False,
                use_list=False,
                strict_map_key=False,
                object_pairs_hook=list,
                timestamp=0,
                # Each is checked before msgpack allocates; an item takes a byte at least.
                max_str_len=min(limits.max_string_length, size),
                max_bin_len=min(limits.max_string_length, size),
                max_array_len=min(limits.max_container_items, size),
                max_map_len=min(limits.max_container_items, size // 2),
                max_ext_len=size,
            )
        except msgpack.ExtraData:
            raise DecodeError(f"{format_path(path)}: trailing bytes after the packet") from None
        except (ValueError, TypeError, OverflowError, msgpack.UnpackException) as exc:
            text = str(exc)
            over = _OVER.search(text)
            if over is not None and int(over[1]) <= size:
                raise LimitError(f"{format_path(path)}: {text}") from None
            raise DecodeError(f"{format_path(path)}: malformed MessagePack: {text}") from None
        except RecursionError:  # pragma: no cover - msgpack has its own stack limit
            raise LimitError(f"{format_path(path)}: the packet nests too deep") from None

    def tree(self, node: Any, depth: int, path: Path, ctx: str) -> Any:
        """``ctx``: "v" a value, "t" inside a tuple, "r" inside a marker's content."""
        t = type(node)
        budget = self.budget
        if t is str or t is bytes:
            if len(node) > budget.max_string // 4:
                budget.string(node, path)
            return node
        if t is int or t is bool or node is None:
            return node
        if t is float:
            return node
        if t is tuple:  # an array
            budget.container(len(node), depth, path)
            inner = "r" if ctx == "r" else "t"
            return tuple(
                self.tree(item, depth + 1, (*path, index), inner) for index, item in enumerate(node)
            )
        if t is list:  # a map's pairs
            if ctx == "t":
                raise DecodeError(f"{format_path(path)}: a tuple may not hold a map")
            budget.container(len(node), depth, path)
            out: dict[Any, Any] = {}
            hashes = None
            for key, value in node:
                key = self.key(key, depth + 1, path)  # noqa: PLW2901
                hashes = budget.key(key, hashes, path)
                before = len(out)
                out[key] = None
                if len(out) == before:
                    raise DecodeError(f"{format_path(path)}: the key {key!r:.80} appears twice")
                out[key] = self.tree(value, depth + 1, (*path, key), "v")
            return out
        if t is self.msgpack.ExtType:
            return self.ext(node.code, node.data, depth, path, ctx)
        raise DecodeError(f"{format_path(path)}: {t.__name__} is not part of the protocol")

    def ext(self, code: int, data: bytes, depth: int, path: Path, ctx: str) -> Any:
        if code in {EXT_BIGNUM, EXT_NEGATIVE_BIGNUM}:
            self.budget.string(data, path)
            magnitude = int.from_bytes(data, "big")
            return magnitude if code == EXT_BIGNUM else -1 - magnitude
        if code == EXT_VALUE:
            if depth >= self.budget.max_depth:
                raise LimitError(
                    f"{format_path(path)}: the packet nests deeper than {self.budget.max_depth}"
                )
            pair = self.unpack(data, path)
            if type(pair) is not tuple or len(pair) != 2 or type(pair[0]) is not str:
                raise DecodeError(f"{format_path(path)}: ext 27 must hold [name, tree]")
            self.budget.string(pair[0], path)
            tree = self.tree(pair[1], depth + 1, path, "v")
            try:
                return value_from_tree(pair[0], tree)
            except DecodeError as exc:
                raise DecodeError(f"{format_path(path)}: {exc}") from None
        if ctx == "t":
            raise DecodeError(f"{format_path(path)}: a tuple may not hold ext {code}")
        if code == EXT_DELETED:
            if data:
                raise DecodeError(f"{format_path(path)}: ext 0 (DELETED) must be empty")
            return DELETED
        if code == EXT_LIST:
            if depth >= self.budget.max_depth:
                raise LimitError(
                    f"{format_path(path)}: the packet nests deeper than {self.budget.max_depth}"
                )
            items = self.unpack(data, path)
            if type(items) is not tuple:
                raise DecodeError(f"{format_path(path)}: ext 8 (a list) must hold an array")
            self.budget.container(len(items), depth, path)
            return [
                self.tree(item, depth + 1, (*path, index), "v") for index, item in enumerate(items)
            ]
        cls = MARKERS.get(code)
        if cls is None:
            raise DecodeError(f"{format_path(path)}: ext {code} is not part of the protocol")
        if depth >= self.budget.max_depth:
            raise LimitError(
                f"{format_path(path)}: the packet nests deeper than {self.budget.max_depth}"
            )
        content = self.tree(self.unpack(data, path), depth + 1, path, "r")
        try:
            return cls.from_content(content)
        except DecodeError as exc:
            raise DecodeError(f"{format_path(path)}: {exc}") from None

    def key(self, node: Any, depth: int, path: Path) -> Any:
        t = type(node)
        if t is tuple:
            self.budget.container(len(node), depth, path)
            return tuple(self.key(item, depth + 1, path) for item in node)
        if t is float and node != node:
            raise DecodeError(f"{format_path(path)}: a NaN cannot be a key")
        if t is list or (t is self.msgpack.ExtType and node.code not in {2, 3}):
            raise DecodeError(f"{format_path(path)}: a key cannot be a map or an extension")
        return self.tree(node, depth, path, "t")
