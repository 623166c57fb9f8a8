"""Byte accounting: which paths of a snapshot or a delta cost the encoded bytes, for any codec.

The cost of a path is measured with the codec itself, by encoding subtrees:

* the **total** of the root is the size of the whole packet;
* the total of a mapping's entry is the encoded size of its key plus the
  encoded size of its value; of a sequence's item, the encoded size of the item;
* the **own** cost of a path is its total minus its children's totals: what
  the entry itself costs (for CBOR exactly its key, if it has one, and its
  head and tag bytes; for a text codec its key, brackets and separators).

So the children's totals plus the container's own cost always add up to its
total, and the totals of a path prefix count everything under it. A marker is
accounted as its content (its tag is part of its own cost); a subtree that
the codec cannot encode on its own (a marker's content mixing trees in a
tuple, for instance) is accounted as one leaf.

Encoding every subtree costs the size of the tree times its depth, so that is
only the definition (:func:`_encoded_costs`, what a codec of your own gets).
The built-in codecs get the same numbers from one walk (:func:`_measured_costs`):
sizes computed from the tree for CBOR and MessagePack, and for JSON each leaf
and each container's brackets encoded once.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

import attrs

from .._codecs._cbor import CborCodec, _float_bytes
from .._codecs._codec import Codec, user_tree
from .._codecs._json import JsonCodec
from .._codecs._msgpack import MsgpackCodec
from .._handlers._base import Handler
from .._tree._errors import FlatsyncError
from .._tree._markers import DELETED, Marker
from .._tree._types import TYPES_BY_CLASS
from .._tree._values import ATOMS, cbor_head_size
from ._show import children, fit, is_collection, join, node, segment

__all__ = ["PathCost", "byte_costs", "cost_report"]


@attrs.frozen(kw_only=True)
class PathCost:
    """What one path of a packet costs.

    Attributes:
        path: The path, rendered (``players[3].hp``; ``""`` for the root).
        pattern: The same path with every collection key as ``[*]``
            (``players[*].hp``), to add up the cost of one field over all entities.
        total: The bytes of the entry under this path: its key and its value.
        own: ``total`` minus the children's totals (the entry's key and head).
        items: How many entries share this row (1, or more in a pattern report).
    """

    path: str
    pattern: str
    total: int
    own: int
    items: int = 1


def byte_costs(tree: Any, codec: Codec) -> list[PathCost]:
    """The cost of every path of a packet, root first, in the tree's order.

    The first row is the root, whose ``total`` is ``len(codec.encode(tree))``.
    A handler is accounted as its snapshot. The time it takes follows the size
    of the tree (see the module's notes for codecs of your own).

    >>> import flatsync
    >>> for row in byte_costs({3: {"hp": 6}}, flatsync.CborCodec()):
    ...     print(repr(row.path), row.total, row.own)
    '' 7 1
    '[3]' 6 2
    '[3].hp' 4 4

    Args:
        tree: A snapshot, a delta or a handler.
        codec: The codec that would send it.

    Raises:
        EncodeError: ``tree`` is not a protocol tree.
        LimitError: ``tree`` exceeds the codec's limits.
    """
    if isinstance(tree, Handler):
        tree = tree.snapshot()
    whole = len(codec.encode(tree))
    rows = _measured_costs(tree, codec, whole)
    if rows is None:
        rows = _encoded_costs(tree, codec, whole)
    return rows


def _encoded_costs(tree: Any, codec: Codec, whole: int) -> list[PathCost]:
    """The costs by the definition: every subtree encoded on its own (size × depth)."""
    rows: list[PathCost] = []
    _account(tree, whole, codec.encode, "", "", 0, rows)
    return rows


def _measured_costs(tree: Any, codec: Codec, whole: int) -> list[PathCost] | None:
    """The same costs in one walk, each size found once (``None``: not for this codec).

    CborCodec's and MsgpackCodec's sizes are computed from the tree, exactly.
    JsonCodec's are measured: each leaf encoded on its own, and each container
    with its children replaced by ``None``, which gives the container's size
    because JSON writes a container as brackets and separators around its
    children's own encodings (the tests hold this path to the definition). A
    codec that does not (a compressing one, or MessagePack's extension types
    measured this way) can make the root add up by chance while its parts do
    not, so no other codec takes this path; should the root not add up even
    so, this gives ``None`` too.
    """
    sizes: _Sizes
    if type(codec) is CborCodec:
        sizes = _CborSizes()
    elif type(codec) is MsgpackCodec:
        sizes = _MsgpackSizes()
    elif type(codec) is JsonCodec:
        sizes = _EncodedSizes(codec)
    else:
        return None
    walk = _Walk(sizes)
    size = walk.value(tree, 0, "", "")
    if size != whole:
        return None
    return [
        PathCost(path=path, pattern=pattern, total=total, own=own)
        for path, pattern, total, own in walk.rows
    ]


def _size(encode: Callable[[Any], bytes], value: Any) -> int | None:
    try:
        return len(encode(value))
    except FlatsyncError:
        return None


def _account(
    value: Any,
    size: int,
    encode: Callable[[Any], bytes],
    path: str,
    pattern: str,
    key_size: int,
    rows: list[PathCost],
) -> int:
    total = key_size + size
    index = len(rows)
    rows.append(PathCost(path=path, pattern=pattern, total=total, own=total))
    value = node(value)
    items = children(value)
    if not items or type(value) is tuple:
        return total
    if len(items) == 1 and isinstance(items[0][0], type):
        # A marker: account for its content's children directly under the marker's path.
        content = items[0][1]
        if _size(encode, content) is None or children(content) is None:
            return total
        value, items = content, children(content) or []
    collection = isinstance(value, list) or (isinstance(value, dict) and is_collection(value))
    is_map = isinstance(value, dict)
    sizes: list[tuple[Any, Any, int, int]] = []
    for key, child in items:
        key_cost = _size(encode, key) if is_map else 0
        child_size = _size(encode, child)
        if key_cost is None or child_size is None:
            return total
        sizes.append((key, child, child_size, key_cost))
    inner = 0
    for key, child, child_size, key_cost in sizes:
        step = segment(key, collection)
        inner += _account(
            child,
            child_size,
            encode,
            join(path, step),
            join(pattern, "[*]" if collection else step),
            key_cost,
            rows,
        )
    rows[index] = attrs.evolve(rows[index], own=total - inner)
    return total


#: Types that are leaves of a tree, whatever their value.
_LEAVES = frozenset({*ATOMS, float, tuple})


class _Walk:
    """One walk over a tree: the rows, pre-order, as ``[path, pattern, total, own]``."""

    __slots__ = ("rows", "sizes")

    def __init__(self, sizes: _Sizes) -> None:
        self.sizes = sizes
        self.rows: list[list[Any]] = []

    def value(self, value: Any, key_size: int, path: str, pattern: str) -> int | None:
        """Account ``value`` under ``path``; return its size on its own (``None``: it has none).

        Mirrors :func:`_account`: a leaf, a tuple, a marker whose content is a
        leaf, and a container with a child that cannot be encoded on its own
        are one row each; any other container has its children's rows.
        """
        rows = self.rows
        index = len(rows)
        row = [path, pattern, 0, 0]
        rows.append(row)
        t = type(value)
        items: list[tuple[Any, Any]] | None
        if t is dict:
            items = list(value.items())
        elif t in _LEAVES:
            items = None
        else:
            value = node(value)
            items = children(value)
        inner = 0
        size: int | None = None
        if items and type(value) is not tuple:
            found = self.container(value, items, path, pattern)
            if found is not None:
                size, inner = found
            else:
                del rows[index + 1 :]
        if size is None:
            size = self.sizes.leaf(value)
            if size is None:
                return None
        total = key_size + size
        row[2] = total
        row[3] = total - inner
        return size

    def container(
        self, value: Any, items: list[tuple[Any, Any]], path: str, pattern: str
    ) -> tuple[int, int] | None:
        """The size of a container and its children's totals (``None``: account it as a leaf)."""
        sizes = self.sizes
        marker = None
        if len(items) == 1 and isinstance(items[0][0], type):
            # A marker: account for its content's children directly under the marker's path.
            content = items[0][1]
            nested = children(content)
            if nested is None:
                return None
            marker = value
            value, items = content, nested
        collection = isinstance(value, list) or (isinstance(value, dict) and is_collection(value))
        is_map = isinstance(value, dict)
        inner = 0
        child_sizes: list[int] = []
        for key, child in items:
            key_size = sizes.leaf(key) if is_map else 0
            if key_size is None:  # pragma: no cover - every key encodes on its own
                return None
            step = segment(key, collection)
            child_size = self.value(
                child, key_size, join(path, step), join(pattern, "[*]" if collection else step)
            )
            if child_size is None:
                return None
            inner += key_size + child_size
            child_sizes.append(child_size)
        size = sizes.container(value, inner, child_sizes)
        if marker is not None and size is not None:
            size = sizes.marker(marker, size)
        return None if size is None else (size, inner)


class _Sizes(abc.ABC):
    """Encoded sizes for one codec: of a whole value, and of a container from its children's."""

    @abc.abstractmethod
    def leaf(self, value: Any) -> int | None:
        """The size of ``value`` encoded on its own (``None``: it cannot be)."""

    @abc.abstractmethod
    def container(self, value: Any, inner: int, child_sizes: list[int]) -> int | None:
        """The size of a mapping, sequence or marker whose keys and children weigh ``inner``."""

    @abc.abstractmethod
    def marker(self, marker: Any, content_size: int) -> int | None:
        """The size of ``marker``, whose content weighs ``content_size``."""


class _EncodedSizes(_Sizes):
    """Sizes measured with a codec that composes: leaves on their own, containers with ``None``."""

    def __init__(self, codec: Codec) -> None:
        self.encode = codec.encode
        self.cache: dict[tuple[type, Any], int] = {}
        self.placeholder = len(codec.encode(None))

    def leaf(self, value: Any) -> int | None:
        t = type(value)
        cacheable = t is str or t is int or t is bytes or t is bool or value is None
        if cacheable:
            found = self.cache.get((t, value))
            if found is not None:
                return found
        try:
            size = len(self.encode(value))
        except FlatsyncError:
            return None
        if cacheable:
            self.cache[t, value] = size
        return size

    def container(self, value: Any, inner: int, child_sizes: list[int]) -> int | None:
        t = type(value)
        if t is dict:
            skeleton: Any = dict.fromkeys(value)
            children_size = inner - sum(self.leaf(key) or 0 for key in value)
        elif t is list:
            skeleton = [None] * len(value)
            children_size = inner
        else:
            return self.leaf(value)
        head = self.leaf(skeleton)
        if head is None:
            return self.leaf(value)
        return head - self.placeholder * len(value) + children_size

    def marker(self, marker: Any, content_size: int) -> int | None:
        return self.leaf(marker)


def _utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


class _CborSizes(_Sizes):
    """CborCodec's sizes, computed from the tree (the mapping in ``_cbor``'s docstring)."""

    def leaf(self, value: Any) -> int | None:
        t = type(value)
        if t is str:
            n = _utf8_size(value)
            return cbor_head_size(n) + n
        if t is int:
            magnitude: int = value if value >= 0 else -1 - value
            if magnitude < 1 << 64:
                return cbor_head_size(magnitude)
            n = (magnitude.bit_length() + 7) // 8
            return 1 + cbor_head_size(n) + n  # tag 2 or 3 and a byte string
        if t is bool or value is None or value is DELETED:
            return 1
        if t is float:
            return len(_float_bytes(value))
        if t is bytes:
            return cbor_head_size(len(value)) + len(value)
        if t is tuple:
            total = cbor_head_size(len(value))
            for item in value:
                size = self.leaf(item)
                if size is None or not _in_tuple(item):
                    return None
                total += size
            return total
        return self.whole(value)

    def whole(self, value: Any) -> int:
        """The size of any tree, in any context (a tuple in a marker's content holds trees)."""
        t = type(value)
        if t is dict:
            return cbor_head_size(len(value)) + sum(
                self.whole(key) + self.whole(item) for key, item in value.items()
            )
        if t is list:
            return 1 + cbor_head_size(len(value)) + sum(self.whole(item) for item in value)
        if t is tuple:
            return cbor_head_size(len(value)) + sum(self.whole(item) for item in value)
        if t in TYPES_BY_CLASS:
            name = TYPES_BY_CLASS[t].name
            return 3 + self.whole(name) + self.whole(user_tree(value, ()))
        if isinstance(value, Marker):
            return 1 + self.whole(value.content())
        size = self.leaf(value)
        assert size is not None
        return size

    def container(self, value: Any, inner: int, child_sizes: list[int]) -> int | None:
        t = type(value)
        if t is dict:
            return cbor_head_size(len(value)) + inner
        if t is list:
            return 1 + cbor_head_size(len(value)) + inner
        if isinstance(value, Marker) and t not in TYPES_BY_CLASS:
            return 1 + inner
        return self.leaf(value)

    def marker(self, marker: Any, content_size: int) -> int | None:
        return 1 + content_size


def _in_tuple(item: Any) -> bool:
    """Whether a tuple may hold ``item`` outside a marker's content (check_tree's rule)."""
    t = type(item)
    return t in ATOMS or t is float or t is tuple or t in TYPES_BY_CLASS


def _msgpack_head(count: int, small: int) -> int:
    """The bytes of a MessagePack array, map or str head (``small``: the fix form's limit)."""
    if count < small:
        return 1
    if count < 0x1_0000:
        return 3
    return 5


def _msgpack_ext(length: int) -> int:
    """The bytes of a MessagePack ext head for ``length`` bytes of data."""
    if length in (1, 2, 4, 8, 16):
        return 2
    if length < 0x100:
        return 3
    if length < 0x1_0000:
        return 4
    return 6


class _MsgpackSizes(_Sizes):
    """MsgpackCodec's sizes, computed from the tree (the mapping in ``_msgpack``'s docstring)."""

    def leaf(self, value: Any) -> int | None:
        t = type(value)
        if t is str:
            n = _utf8_size(value)
            return (1 if n < 32 else 2 if n < 0x100 else 3 if n < 0x1_0000 else 5) + n
        if t is int:
            if 0 <= value < 128 or -32 <= value < 0:
                return 1
            if value >= 0:
                return (
                    2
                    if value < 1 << 8
                    else 3
                    if value < 1 << 16
                    else 5
                    if value < 1 << 32
                    else (9 if value < 1 << 64 else self.bignum(value))
                )
            return (
                2
                if value >= -(1 << 7)
                else 3
                if value >= -(1 << 15)
                else 5
                if value >= -(1 << 31)
                else (9 if value >= -(1 << 63) else self.bignum(-1 - value))
            )
        if t is bool or value is None:
            return 1
        if value is DELETED:
            return 3
        if t is float:
            return 9
        if t is bytes:
            n = len(value)
            return (2 if n < 0x100 else 3 if n < 0x1_0000 else 5) + n
        if t is tuple:
            total = _msgpack_head(len(value), 16)
            for item in value:
                size = self.leaf(item)
                if size is None or not _in_tuple(item):
                    return None
                total += size
            return total
        return self.whole(value)

    @staticmethod
    def bignum(magnitude: int) -> int:
        n = (magnitude.bit_length() + 7) // 8
        return _msgpack_ext(n) + n

    def whole(self, value: Any) -> int:
        """The size of any tree, in any context (a tuple in a marker's content holds trees)."""
        t = type(value)
        if t is dict:
            return _msgpack_head(len(value), 16) + sum(
                self.whole(key) + self.whole(item) for key, item in value.items()
            )
        if t is list or t is tuple:
            data = _msgpack_head(len(value), 16) + sum(self.whole(item) for item in value)
            return data if t is tuple else _msgpack_ext(data) + data
        if t in TYPES_BY_CLASS:
            name = TYPES_BY_CLASS[t].name
            data = 1 + self.whole(name) + self.whole(user_tree(value, ()))
            return _msgpack_ext(data) + data
        if isinstance(value, Marker):
            data = self.whole(value.content())
            return _msgpack_ext(data) + data
        size = self.leaf(value)
        assert size is not None
        return size

    def container(self, value: Any, inner: int, child_sizes: list[int]) -> int | None:
        t = type(value)
        if t is dict:
            return _msgpack_head(len(value), 16) + inner
        if t is list:
            data = _msgpack_head(len(value), 16) + inner
            return _msgpack_ext(data) + data
        if isinstance(value, Marker) and t not in TYPES_BY_CLASS:
            return _msgpack_ext(inner) + inner
        return self.leaf(value)

    def marker(self, marker: Any, content_size: int) -> int | None:
        return _msgpack_ext(content_size) + content_size


def cost_report(
    tree: Any, codec: Codec, *, top: int = 10, by: str = "pattern", width: int = 100
) -> str:
    """The paths that cost the most bytes, top ``top`` first, as a table.

    ``by="pattern"`` adds up the rows of one pattern (``players[*].hp`` over
    all players), ``by="path"`` lists single paths. Each row shows the total
    (the subtree with its keys), its share of the packet, the own bytes and
    how many entries it adds up. The root is not a row; the header gives the
    packet's size.

    >>> import flatsync
    >>> players = {i: {"hp": 8, "name": f"p{i}"} for i in range(1, 4)}
    >>> print(cost_report({"players": players}, flatsync.CborCodec(), top=3))
    52 bytes (cbor)
    total  share    own  items  path
       51   98%      9      1  players
       42   80%      6      3  players[*]
       24   46%     24      3  players[*].name

    Args:
        tree: A snapshot, a delta or a handler.
        codec: The codec that would send it.
        top: How many rows to show.
        by: ``"pattern"`` or ``"path"``.
        width: The longest line.

    Raises:
        ValueError: ``by`` is neither ``"pattern"`` nor ``"path"``, or ``top`` is below 1.
        EncodeError: ``tree`` is not a protocol tree.
        LimitError: ``tree`` exceeds the codec's limits.
    """
    if by not in ("pattern", "path") or top < 1:
        raise ValueError("by is 'pattern' or 'path', and top at least 1")
    rows = byte_costs(tree, codec)
    whole = rows[0].total
    if by == "pattern":
        merged: dict[str, PathCost] = {}
        for row in rows[1:]:
            known = merged.get(row.pattern)
            merged[row.pattern] = (
                attrs.evolve(row, path=row.pattern)
                if known is None
                else attrs.evolve(
                    known,
                    total=known.total + row.total,
                    own=known.own + row.own,
                    items=known.items + 1,
                )
            )
        ranked = list(merged.values())
    else:
        ranked = rows[1:]
    ranked.sort(key=lambda row: -row.total)
    lines = [f"{whole:,} bytes ({codec.name})", "  total  share     own   items  path"]
    for row in ranked[:top]:
        share = f"{100 * row.total // max(whole, 1)}%"
        line = f"{row.total:>7,} {share:>6} {row.own:>7,} {row.items:>7,}  {row.path}"
        lines.append(fit(line, width))
    return "\n".join(lines)
