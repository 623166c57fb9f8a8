"""The codec contract: protocol trees to bytes and back, and nothing else.

Also the rules every codec shares: :func:`check_tree` (what may be encoded,
under which :class:`~flatsync.Limits`) and :class:`Budget` (the same limits,
counted while a decoder builds a tree), so that every codec accepts and
refuses exactly the same trees.
"""

from __future__ import annotations

import abc
import sys
from typing import Any

from .._tree._errors import DecodeError, EncodeError, FlatsyncError, LimitError
from .._tree._markers import DELETED, Marker
from .._tree._types import TYPES_BY_CLASS
from .._tree._values import ATOMS, Path, format_path, key_ok
from ._limits import Limits

__all__ = [
    "HASH_MODULUS",
    "Budget",
    "Codec",
    "check_packet",
    "check_tree",
    "count_key_hash",
    "depth_cap",
    "packet_bytes",
    "user_tree",
]

#: CPython hashes numbers modulo this prime; keys are grouped by ``hash(key) % HASH_MODULUS``.
HASH_MODULUS = (1 << 61) - 1


def count_key_hash(
    key: Any, hashes: dict[int, int] | None, max_collisions: int, path: Path | None
) -> dict[int, int] | None:
    """The hash-flood guard: count ``key``'s hash among the keys of one map; return the counts.

    The one home of the rule, for encoders and decoders alike. Keys that are
    strings, bytes or integers below ``HASH_MODULUS`` in magnitude are not
    counted (their hashes cannot be made to collide); any other key is counted
    in its group ``hash(key) % HASH_MODULUS``. Start each map with ``hashes =
    None``, call it before the key goes into a dict, and keep what it returns.

    Raises:
        LimitError: more than ``max_collisions`` keys of the map share one
            hash. The message starts with ``path`` (the map's), or, when
            ``path`` is ``None``, with nothing (the caller names the place).
    """
    tk = type(key)
    if tk is str or tk is bytes or (tk is int and -HASH_MODULUS < key < HASH_MODULUS):
        return hashes
    if hashes is None:
        hashes = {}
    group = hash(key) % HASH_MODULUS
    seen = hashes.get(group, 0) + 1
    if seen > max_collisions:
        message = (
            f"more than {max_collisions} keys of this map share one hash value "
            "(max_hash_collisions, a guard against hash flooding)"
        )
        raise LimitError(message if path is None else f"{format_path(path)}: {message}")
    hashes[group] = seen
    return hashes


def packet_bytes(data: Any, limits: Limits) -> bytes:
    """The preamble of every decoder: ``data`` as ``bytes``, within ``limits.max_packet_size``.

    What comes after it (an empty packet, trailing bytes) depends on the format.

    Raises:
        TypeError: ``data`` is not bytes-like (a local misuse).
        LimitError: ``data`` is larger than ``limits.max_packet_size``.
    """
    packet: bytes
    if type(data) is bytes:
        packet = data
    elif isinstance(data, bytes | bytearray | memoryview):
        packet = bytes(data)
    else:
        raise TypeError(f"decode() takes bytes, not {type(data).__name__}")
    if len(packet) > limits.max_packet_size:
        raise LimitError(
            f"a packet of {len(packet)} bytes is over the limit of {limits.max_packet_size}"
        )
    return packet


class Codec(abc.ABC):
    """Base class of every codec.

    A codec turns a protocol tree (what ``snapshot()`` and ``diff()`` return)
    into bytes and back. It must round-trip every tree exactly: ``int`` keys
    stay ``int``, tuples stay tuples and lists stay lists, ``bytes`` stay
    ``bytes``, ``bool`` stays ``bool``, floats keep their bits, every marker
    (:data:`~flatsync.DELETED`, :class:`~flatsync.protocol.Replace`,
    :class:`~flatsync.protocol.ListDelta`, ...) survives, and so does every value of a
    type registered with :func:`~flatsync.register_type`.

    Subclasses implement :meth:`encode` and :meth:`decode`, enforce
    ``limits`` in both, and raise only the errors below.
    :func:`flatsync.testing.check_codec` checks all of it for any codec.

    Args:
        limits: Bounds enforced while decoding and encoding (the defaults of
            :class:`~flatsync.Limits` when omitted).

    Attributes:
        name: A short name for the codec (used in messages and by tools).
    """

    name: str = "codec"

    def __init__(self, *, limits: Limits | None = None) -> None:
        self.limits = Limits() if limits is None else limits

    def __repr__(self) -> str:
        return f"{type(self).__name__}(limits={self.limits!r})"

    @abc.abstractmethod
    def encode(self, tree: Any) -> bytes:
        """Encode a protocol tree.

        Raises:
            EncodeError: the tree holds something that is not part of the
                protocol; the message names the type and the path.
            LimitError: the tree exceeds one of ``limits`` (nesting,
                items, string length, keys sharing one hash, packet size).

        The tree is not modified, whatever happens.
        """

    @abc.abstractmethod
    def decode(self, data: bytes | bytearray | memoryview) -> Any:
        """Decode one packet into a protocol tree.

        Raises:
            DecodeError: the packet is malformed (including trailing bytes,
                duplicate map keys and unknown markers).
            LimitError: the packet exceeds one of ``limits``.
            TypeError: ``data`` is not bytes-like (a local misuse).

        Decoding changes no state.
        """


def depth_cap(limits: Limits) -> int:
    """The deepest nesting a decoder accepts: ``max_depth``, or less if the interpreter needs it.

    Whatever reads a decoded tree (``patch``, ``merge``, :func:`check_tree`)
    recurses once per level, so no decoder returns a tree deeper than half the
    interpreter's recursion limit, whatever ``max_depth`` says.
    """
    return min(limits.max_depth, sys.getrecursionlimit() // 2)


def user_tree(value: Any, path: Path) -> Any:
    """The tree that a registered value type gives for ``value`` (for encoders).

    Raises:
        EncodeError: ``to_tree`` raised; the message names the path.
    """
    try:
        return TYPES_BY_CLASS[type(value)].to_tree(value)
    except FlatsyncError:
        raise
    except Exception as exc:
        raise EncodeError(
            f"{format_path(path)}: to_tree of {type(value).__qualname__} raised "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def _type_name(t: type) -> str:
    module = t.__module__
    return t.__qualname__ if module == "builtins" else f"{module}.{t.__qualname__}"


def check_tree(tree: Any, limits: Limits) -> None:
    """Check that ``tree`` is a protocol tree a codec may encode under ``limits``.

    Checks every rule a decoder checks, except the length of strings and the
    packet's size, which :func:`check_packet` checks on the encoded bytes.

    Raises:
        EncodeError: a type outside the protocol (the message names it and the
            path), a key of an unsupported type, a marker with a malformed content.
        LimitError: nesting deeper than ``limits.max_depth``, a container with
            more than ``limits.max_container_items`` items, more than
            ``limits.max_total_items`` in all, or more than
            ``limits.max_hash_collisions`` keys of one map sharing one hash.
    """
    checker = _Checker(limits)
    try:
        checker.tree(tree, 0, ())
    except RecursionError:
        # Only reachable with a max_depth above what the interpreter can recurse.
        raise LimitError(
            f"the tree nests deeper than this interpreter can check (max_depth is "
            f"{limits.max_depth})"
        ) from None


class _Checker:
    __slots__ = ("max_collisions", "max_depth", "max_items", "total_left")

    def __init__(self, limits: Limits) -> None:
        self.max_depth = limits.max_depth
        self.max_items = limits.max_container_items
        self.total_left = limits.max_total_items
        self.max_collisions = limits.max_hash_collisions

    def count(self, size: int, path: Path) -> None:
        if size > self.max_items:
            raise LimitError(
                f"{format_path(path)}: a container of {size} items is over the limit of "
                f"{self.max_items}"
            )
        self.total_left -= size
        if self.total_left < 0:
            raise LimitError(f"{format_path(path)}: the tree holds more items than max_total_items")

    def deeper(self, depth: int, path: Path) -> None:
        if depth >= self.max_depth:
            raise LimitError(
                f"{format_path(path)}: the tree nests deeper than {self.max_depth} levels"
            )

    def tree(self, tree: Any, depth: int, path: Path) -> None:
        t = type(tree)
        if t in ATOMS or t is float or tree is DELETED:
            return
        if depth >= self.max_depth:
            self.deeper(depth, path)  # raises
        depth += 1
        if t is dict:
            size = len(tree)
            left = self.total_left - size
            if size > self.max_items or left < 0:
                self.count(size, path)  # raises
            self.total_left = left
            hashes: dict[int, int] | None = None
            for key, value in tree.items():
                tk = type(key)
                # Strings, bytes and small ints are valid keys that count_key_hash
                # does not count: the common keys skip the call.
                if (
                    tk is not str
                    and (tk is not int or not -HASH_MODULUS < key < HASH_MODULUS)
                    and tk is not bytes
                ):
                    hashes = self.key(key, depth, path, hashes)
                if type(value) not in ATOMS and type(value) is not float:
                    self.tree(value, depth, (*path, key))
        elif t is tuple:
            self.count(len(tree), path)
            for index, value in enumerate(tree):
                tv = type(value)
                if tv not in ATOMS and tv is not float:
                    if tv is not tuple and tv not in TYPES_BY_CLASS:
                        raise EncodeError(
                            f"{format_path((*path, index))}: a tuple may hold only scalars, bytes, "
                            f"tuples and registered value types, not {_type_name(tv)}"
                        )
                    self.tree(value, depth, (*path, index))
        elif t is list:
            self.count(len(tree), path)
            for index, value in enumerate(tree):
                self.tree(value, depth, (*path, index))
        elif t in TYPES_BY_CLASS:
            self.tree(user_tree(tree, path), depth, path)
        elif isinstance(tree, Marker):
            content = tree.content()
            self.content(content, depth, path)
            try:
                t.from_content(content)
            except DecodeError as exc:
                raise EncodeError(f"{format_path(path)}: {exc}") from None
        else:
            hint = " (encode its .snapshot() or .diff())" if isinstance(tree, dict | list) else ""
            if not hint:
                hint = "; teach flatsync a value type with flatsync.register_type()"
            raise EncodeError(f"{format_path(path)}: cannot encode {_type_name(t)}{hint}")

    def content(self, content: Any, depth: int, path: Path) -> None:
        # A marker's content: a tuple here may hold any trees (not only values).
        if type(content) is tuple:
            self.deeper(depth, path)
            self.count(len(content), path)
            for item in content:
                self.content(item, depth + 1, path)
        else:
            self.tree(content, depth, path)

    def key(
        self, key: Any, depth: int, path: Path, hashes: dict[int, int] | None
    ) -> dict[int, int] | None:
        if not key_ok(key):
            raise EncodeError(
                f"{format_path(path)}: cannot encode the key {key!r:.80} of type "
                f"{_type_name(type(key))}"
            )
        if type(key) is tuple:
            self.key_tuple(key, depth, path)
        return count_key_hash(key, hashes, self.max_collisions, path)

    def key_tuple(self, key: tuple[Any, ...], depth: int, path: Path) -> None:
        self.deeper(depth, path)
        self.count(len(key), path)
        for item in key:
            if type(item) is tuple:
                self.key_tuple(item, depth + 1, path)


def check_packet(tree: Any, data: bytes, limits: Limits) -> bytes:
    """Check an encoded packet against the limits that depend on its bytes; return it.

    The packet's size, and the length of every string in ``tree`` (which
    cannot exceed the limit while the whole packet is shorter than it).

    Raises:
        LimitError: the packet is larger than ``limits.max_packet_size``, or a
            string of the tree is longer than ``limits.max_string_length``.
    """
    if len(data) > limits.max_packet_size:
        raise LimitError(
            f"the packet would be {len(data)} bytes, over the limit of {limits.max_packet_size}"
        )
    if len(data) > limits.max_string_length:
        _check_strings(tree, limits.max_string_length, ())
    return data


def string_size(value: str | bytes) -> int:
    """The length that ``max_string_length`` bounds: UTF-8 bytes for text."""
    if type(value) is str:
        return len(value.encode("utf-8", "surrogatepass"))
    return len(value)


def _check_strings(tree: Any, limit: int, path: Path) -> None:
    t = type(tree)
    if t is int:
        if (tree.bit_length() + 7) // 8 > limit:  # a bignum's bytes
            raise LimitError(f"{format_path(path)}: an integer of more than {limit} bytes")
    elif t is str or t is bytes:
        if len(tree) > limit // 4 and string_size(tree) > limit:
            raise LimitError(
                f"{format_path(path)}: a string of {string_size(tree)} bytes is over the limit "
                f"of {limit}"
            )
    elif t is dict:
        for key, value in tree.items():
            _check_strings(key, limit, path)
            _check_strings(value, limit, (*path, key))
    elif t is tuple or t is list:
        for index, item in enumerate(tree):
            _check_strings(item, limit, (*path, index))
    elif t in TYPES_BY_CLASS:
        _check_strings(user_tree(tree, path), limit, path)
    elif isinstance(tree, Marker):
        _check_strings(tree.content(), limit, path)


class Budget:
    """The limits, counted while a decoder builds a tree (for codecs that build their own).

    A decoder calls :meth:`container` for every map or array it reads (with
    its depth: the root container is at depth 0), :meth:`string` for every
    string, and :meth:`key` for every map key it is about to insert, before it
    inserts it. The counting is the same as :func:`check_tree`'s, so that
    every tree that encodes also decodes.
    """

    __slots__ = ("max_collisions", "max_depth", "max_items", "max_string", "total_left")

    def __init__(self, limits: Limits) -> None:
        self.max_depth = depth_cap(limits)
        self.max_items = limits.max_container_items
        self.max_string = limits.max_string_length
        self.total_left = limits.max_total_items
        self.max_collisions = limits.max_hash_collisions

    def container(self, size: int, depth: int, path: Path) -> None:
        """Count a container of ``size`` items at ``depth``.

        Raises:
            LimitError: too deep, too many items in it or in the whole packet.
        """
        if depth >= self.max_depth:
            raise LimitError(
                f"{format_path(path)}: the packet nests deeper than {self.max_depth} levels"
            )
        if size > self.max_items:
            raise LimitError(
                f"{format_path(path)}: a container of {size} items is over the limit of "
                f"{self.max_items}"
            )
        self.total_left -= size
        if self.total_left < 0:
            raise LimitError(
                f"{format_path(path)}: the packet holds more items than max_total_items"
            )

    def string(self, value: str | bytes, path: Path) -> None:
        """Check one string's length.

        Raises:
            LimitError: it is longer than ``max_string_length``.
        """
        if len(value) > self.max_string // 4 and string_size(value) > self.max_string:
            raise LimitError(
                f"{format_path(path)}: a string of {string_size(value)} bytes is over the "
                f"limit of {self.max_string}"
            )

    def key(self, key: Any, hashes: dict[int, int] | None, path: Path) -> dict[int, int] | None:
        """Count ``key``'s hash among the keys of one map; return the updated counts.

        Start each map with ``hashes = None``. Call it before the key goes into a dict.

        Raises:
            LimitError: more than ``max_hash_collisions`` keys share one hash.
        """
        return count_key_hash(key, hashes, self.max_collisions, path)
