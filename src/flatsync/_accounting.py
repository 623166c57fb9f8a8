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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from ._base import Handler
from ._codec import Codec
from ._debug import children, fit, is_collection, join, node, segment
from ._errors import FlatsyncError

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
    A handler is accounted as its snapshot.

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
    rows: list[PathCost] = []
    _account(tree, len(codec.encode(tree)), codec.encode, "", "", 0, rows)
    return rows


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
