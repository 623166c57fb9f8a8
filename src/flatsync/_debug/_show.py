"""Debugging printers over state trees: a type overview and a folding printer.

Everything here works on any *state tree*: a handler, plain data, a snapshot or
a delta. It knows only the shapes every kind shares: a mapping (a ``dict`` or a
mapping handler), a sequence (a ``list`` or a list handler), a
:class:`~flatsync.protocol.Marker` (shown as its class name and its content), and leaves
(scalars, ``bytes``, tuples, :data:`~flatsync.DELETED`). A record reads as
the mapping of its fields; any other handler that is neither a mapping nor a
sequence (a board) is shown as its snapshot.

A mapping is a *collection* (its keys are entity ids, folded as ``[*]``) when
one of its keys is not a string or it has more than :data:`FIELDS` keys;
otherwise it is a *record* (its keys are field names, shown one by one).
Nothing here does I/O: the functions take trees and return strings.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from typing import Any

import attrs

from .._handlers._base import Handler
from .._tree._markers import DELETED, Marker

__all__ = ["FIELDS", "dig", "overview"]

#: A mapping with more keys than this (or with a key that is not a ``str``) is a collection.
FIELDS = 12

_ELLIPSIS = "…"


# -- what every tool shares -----------------------------------------------------------------


def node(value: Any) -> Any:
    """The value as the tools walk it.

    A handler that is neither a mapping, a sequence nor an attrs class (a
    board) is walked as its snapshot.
    """
    if (
        isinstance(value, Handler)
        and not isinstance(value, dict | list | Mapping)
        and not attrs.has(type(value))
    ):
        return value.snapshot()
    return value


def mapping_of(value: Any) -> dict[Any, Any] | None:
    """A mapping's entries as a ``dict``: a dict, any other mapping, or a record's fields.

    A record (an attrs-class handler) reads as the mapping of its field names to
    its values; anything else gives ``None``.
    """
    if isinstance(value, dict):
        return value
    if isinstance(value, Mapping):
        return dict(value.items())
    cls: Any = type(value)
    if isinstance(value, Handler) and attrs.has(cls):
        return {field.name: getattr(value, field.name) for field in attrs.fields(cls)}
    return None


def is_collection_of(value: Any) -> bool:
    """Whether ``value`` is a sequence or a collection mapping (whose children fold)."""
    if isinstance(value, list):
        return True
    mapping = mapping_of(value)
    return mapping is not None and is_collection(mapping)


def is_collection(mapping: dict[Any, Any]) -> bool:
    """Whether a mapping's keys are ids (folded) rather than field names."""
    if len(mapping) > FIELDS:
        return True
    return any(type(key) is not str for key in mapping)


def children(value: Any) -> list[tuple[Any, Any]] | None:
    """The (key, child) pairs of a container, or ``None`` for a leaf.

    A marker's only child is its content, under the key ``Marker``'s class
    (a :class:`type` object, which no protocol-tree key can be).
    """
    mapping = mapping_of(value)
    if mapping is not None:
        return list(mapping.items())
    if isinstance(value, list):
        return list(enumerate(value))
    if isinstance(value, Marker):
        return [(type(value), value.content())]
    return None


def segment(key: Any, collection: bool) -> str:
    """One step of a path: ``.name`` for a field, ``[3]`` for an id, ``()`` into a marker."""
    if isinstance(key, type):
        return "()"
    if not collection and type(key) is str and key.isidentifier():
        return f".{key}"
    return f"[{key!r}]"


def join(prefix: str, step: str) -> str:
    """Append a step to a rendered path (the root is the empty string)."""
    if not prefix and step.startswith("."):
        return step[1:]
    return prefix + step


def leaf_type(value: Any) -> str:
    """A leaf's type as the tools print it: ``int``, ``tuple[int, int]``, ``DELETED``."""
    if value is DELETED:
        return "DELETED"
    if type(value) is tuple:
        inner = [
            leaf_type(node(item)) if children(node(item)) is None else type_label(item)
            for item in value
        ]
        if len(inner) > 4 and len(set(inner)) == 1:
            return f"tuple[{inner[0]}, ...]"
        return f"tuple[{', '.join(inner)}]"
    return type(value).__name__


def type_label(value: Any) -> str:
    """A container's or leaf's type, with the keys of a record and the key types of a collection."""
    value = node(value)
    mapping = mapping_of(value)
    if mapping is not None:
        name = type(value).__name__
        if is_collection(mapping):
            keys = sorted({type(key).__name__ for key in mapping})
            return f"{name}[{' | '.join(keys)}]"
        return f"{name}{{{', '.join(str(key) for key in mapping)}}}"
    if isinstance(value, list):
        return type(value).__name__
    if isinstance(value, Marker):
        return type(value).__name__
    return leaf_type(value)


def _items(count: int) -> str:
    return "1 item" if count == 1 else f"{count:,} items"


def fit(line: str, width: int) -> str:
    """Cut ``line`` to ``width`` characters, ending with an ellipsis when cut."""
    if len(line) <= width:
        return line
    return line[: max(width - 1, 0)] + _ELLIPSIS


# -- overview ---------------------------------------------------------------------------------


@attrs.define
class _Pattern:
    labels: Counter[str] = attrs.field(factory=Counter)
    examples: dict[str, list[str]] = attrs.field(factory=dict)
    sizes: list[int] = attrs.field(factory=list)


def overview(tree: Any, *, samples: int = 3, width: int = 100) -> str:
    """A type overview of a state tree: one line per path pattern, with types and counts.

    Entities of a collection share the pattern ``[*]``, so a path pattern sums
    up every entity's field at once. Each line reads
    ``pattern: type × count | other type × count``; where siblings disagree
    (another type, another set of fields), one line per less common type
    follows, ``odd <type>:``, naming up to ``samples`` of its concrete paths:
    that is often where the bug is. Collections and sequences also show how
    many items they hold.

    >>> state = {1: {"hp": 8, "pos": (2, 2)}, 2: {"hp": 1, "pos": (2, 3)}, 3: {"hp": 0.5, "pos": (2, 4)}}
    >>> print(overview({"players": state}))
    <root>: dict{players} × 1
    players: dict[int] × 1 (3 items)
    players[*]: dict{hp, pos} × 3
    players[*].hp: int × 2 | float × 1
      odd float: players[3].hp
    players[*].pos: tuple[int, int] × 3

    Args:
        tree: A handler, plain data, a snapshot or a delta.
        samples: How many concrete paths to name per odd type.
        width: The longest line (longer ones end with an ellipsis).

    Raises:
        ValueError: ``samples`` is negative or ``width`` is below 10.
    """
    if samples < 0 or width < 10:
        raise ValueError("samples must be at least 0 and width at least 10")
    patterns: dict[str, _Pattern] = {}
    stack: list[tuple[str, str, Any]] = [("", "", tree)]
    while stack:
        pattern, path, value = stack.pop()
        value = node(value)
        label = type_label(value)
        stat = patterns.get(pattern)
        if stat is None:
            stat = patterns[pattern] = _Pattern()
        stat.labels[label] += 1
        examples = stat.examples.setdefault(label, [])
        if len(examples) < samples:
            examples.append(path)
        items = children(value)
        if items is None:
            continue
        collection = is_collection_of(value)
        if collection:
            stat.sizes.append(len(items))
        for key, child in reversed(items):
            step = segment(key, collection)
            stack.append((join(pattern, "[*]" if collection else step), join(path, step), child))
    lines = []
    for pattern, stat in patterns.items():
        ranked = stat.labels.most_common()
        text = " | ".join(f"{label} × {count:,}" for label, count in ranked)
        if stat.sizes:
            low, high = min(stat.sizes), max(stat.sizes)
            text += f" ({_items(low)})" if low == high else f" ({low:,}..{high:,} items)"
        lines.append(fit(f"{pattern or '<root>'}: {text}", width))
        for label, _ in ranked[1:]:
            odd = ", ".join(path or "<root>" for path in stat.examples[label])
            lines.append(fit(f"  odd {label}: {odd}", width))
    return "\n".join(lines)


# -- dig ------------------------------------------------------------------------------------


def signature(value: Any) -> str:
    """What two siblings must share to fold into one line: their shape, not their values.

    A record's signature lists its fields' signatures; a collection's or a
    sequence's only its type and key types (so entities with inventories of
    different sizes still fold); a leaf's is its type.
    """
    value = node(value)
    mapping = mapping_of(value)
    if mapping is not None and not is_collection(mapping):
        inner = ", ".join(f"{key}: {signature(child)}" for key, child in mapping.items())
        return f"{type(value).__name__}{{{inner}}}"
    if isinstance(value, Marker):
        fields = _marker_fields(value)
        if fields is not None:
            inner = ", ".join(f"{key}: {signature(child)}" for key, child in fields.items())
            return f"{type(value).__name__}{{{inner}}}"
        return f"{type(value).__name__}({signature(value.content())})"
    return type_label(value)


def _marker_fields(marker: Marker) -> dict[Any, Any] | None:
    """A marker's content when it is a small mapping, read as fields (a record's delta).

    Its keys may be ints (field indexes), so the collection rule for plain
    mappings does not apply: two record deltas fold only when they change the
    same fields.
    """
    content = marker.content()
    if type(content) is dict and len(content) <= FIELDS:
        return content
    return None


def _key_ranges(keys: list[Any]) -> str:
    """``1..16, 18, 20..99``: runs of consecutive ints folded, other keys as they are."""
    parts: list[str] = []
    i = 0
    while i < len(keys):
        key = keys[i]
        j = i
        if type(key) is int:
            while j + 1 < len(keys) and type(keys[j + 1]) is int and keys[j + 1] == keys[j] + 1:
                j += 1
        parts.append(repr(key) if j == i else f"{key!r}..{keys[j]!r}")
        i = j + 1
    return ", ".join(parts)


def _short(value: Any, limit: int = 24) -> str:
    return fit(repr(value), limit)


def summary(values: list[Any]) -> str:
    """One line for many values of one signature: shared values as they are, the rest as ranges.

    Numbers that differ become ``low..high``, strings the first one and how
    many distinct there are, records and tuples are summarised field by field,
    collections and sequences by their size range.
    """
    values = [node(value) for value in values]
    first = values[0]
    if all(type(v) is type(first) and repr(v) == repr(first) for v in values):
        return _inline(first)
    first_mapping = mapping_of(first)
    if first_mapping is not None and not is_collection(first_mapping):
        maps = [mapping_of(v) or {} for v in values]
        fields = ", ".join(f"{key}: {summary([m[key] for m in maps])}" for key in first_mapping)
        return f"{{{fields}}}"
    if first_mapping is not None or isinstance(first, list):
        sizes = [len(v) for v in values]
        inner = sorted({signature(child) for v in values for _, child in children(v) or ()})
        shown = " | ".join(inner) if len(inner) <= 3 else " | ".join(inner[:3]) + " | …"
        return f"{type(first).__name__}[{shown}] len {min(sizes)}..{max(sizes)}"
    if isinstance(first, Marker):
        first_fields = _marker_fields(first)
        if first_fields is not None:
            maps = [_marker_fields(v) or {} for v in values]
            fields = ", ".join(f"{key}: {summary([m[key] for m in maps])}" for key in first_fields)
            return f"{type(first).__name__}{{{fields}}}"
        return f"{type(first).__name__}({summary([v.content() for v in values])})"
    if type(first) is tuple:
        return "(" + ", ".join(summary([v[i] for v in values]) for i in range(len(first))) + ")"
    if type(first) in (int, float) and all(type(v) is type(first) for v in values):
        finite = [v for v in values if not math.isnan(v)]
        low, high = (min(finite), max(finite)) if finite else (first, first)
        nan = " | nan" if len(finite) < len(values) else ""
        return f"{low!r}..{high!r}{nan}"
    distinct = len({repr(v) for v in values})
    return f"{_short(first)} … ({distinct:,} distinct)"


class _TooLong(Exception):
    """Raised inside :func:`_inline` once the text passes its limit."""


def _inline(value: Any, limit: int | None = None) -> str:
    """The whole value on one line (a repr without the handler class names).

    With ``limit``, raises :class:`_TooLong` as soon as the text would be
    longer, so that a huge container costs no more than ``limit`` characters.
    """
    parts: list[str] = []
    room = [-1 if limit is None else max(limit, 0)]

    def put(text: str) -> None:
        parts.append(text)
        if room[0] >= 0:
            room[0] -= len(text)
            if room[0] < 0:
                raise _TooLong

    def walk(value: Any) -> None:
        value = node(value)
        mapping = mapping_of(value)
        if mapping is not None:
            put("{")
            for i, (key, child) in enumerate(mapping.items()):
                put(f"{', ' if i else ''}{key!r}: ")
                walk(child)
            put("}")
        elif isinstance(value, list | tuple):
            put("(" if type(value) is tuple else "[")
            for i, child in enumerate(value):
                if i:
                    put(", ")
                walk(child)
            put(
                ",)"
                if type(value) is tuple and len(value) == 1
                else ")"
                if type(value) is tuple
                else "]"
            )
        elif isinstance(value, Marker):
            put(f"{type(value).__name__}(")
            walk(value.content())
            put(")")
        else:
            put(repr(value))

    walk(value)
    return "".join(parts)


class _Digger:
    def __init__(self, width: int, depth: int, fold: int) -> None:
        self.width = width
        self.depth = depth
        self.fold = fold
        self.lines: list[str] = []

    def emit(self, level: int, text: str) -> None:
        self.lines.append(fit("  " * level + text, self.width))

    def value(self, label: str, value: Any, level: int) -> None:
        value = node(value)
        items = children(value)
        head = f"{label}: " if label else ""
        if items is None:
            self.emit(level, head + _inline(value))
            return
        try:
            inline = _inline(value, self.width - 2 * level - len(head))
        except _TooLong:
            pass
        else:
            self.emit(level, head + inline)
            return
        wrapper = ""
        if isinstance(value, Marker):
            content = node(value.content())
            inner = children(content)
            if inner is None or type(content) is tuple:
                self.emit(level, head + _inline(value))
                return
            wrapper = f"{type(value).__name__} "
            value, items = content, inner
        size = f" ({_items(len(items))})"
        if level >= self.depth:
            self.emit(level, f"{head}{wrapper}{signature(value)}{size}")
            return
        self.emit(level, f"{head}{wrapper}{type(value).__name__}{size}")
        collection = is_collection_of(value)
        if not collection:
            for key, child in items:
                self.value(segment(key, False).lstrip("."), child, level + 1)
            return
        groups: dict[str, list[tuple[Any, Any]]] = {}
        for key, child in items:
            groups.setdefault(signature(child), []).append((key, child))
        for members in groups.values():
            if len(members) < self.fold:
                for key, child in members:
                    self.value(repr(key), child, level + 1)
                continue
            keys = _key_ranges([key for key, _ in members])
            text = f"[{keys}] × {len(members):,}: "
            if len(text) > self.width // 2:
                cut = keys.rfind(", ", 0, self.width // 2 - 12)
                keys = fit(keys, self.width // 2 - 12) if cut < 0 else keys[:cut] + ", …"
                text = f"[{keys}] × {len(members):,}: "
            values = [node(child) for _, child in members]
            line = text + summary(values)
            maps = [mapping_of(value) or {} for value in values]
            if len("  " * (level + 1) + line) <= self.width or is_collection_of(values[0]):
                self.emit(level + 1, line)
                continue
            self.emit(level + 1, text.rstrip())
            for key in maps[0]:
                field = segment(key, False).lstrip(".")
                self.emit(level + 2, f"{field}: {summary([m[key] for m in maps])}")


def dig(tree: Any, *, width: int = 100, depth: int = 6, lines: int = 40, fold: int = 4) -> str:
    """Print a state tree, a snapshot or a delta, folding runs of alike siblings into one line.

    The children of a collection (or a sequence) are grouped by their
    signature (their shape: fields and types, not values); a group of at least ``fold`` members prints as one line
    ``[keys] × count: summary`` whose summary shows shared values as they are
    and differing ones as ranges or samples; a smaller group (an odd one out)
    prints each member with its key. A value that fits on its line prints
    inline. Deeper than ``depth`` a container shows its signature only; when
    A folded group whose summary does not fit on its line shows one line per
    field under its ``[keys] × count:`` line. When
    the result is longer than ``lines``, the depth shrinks until it fits, and
    what still does not fit is cut with a last line saying how many lines
    were left out. No line is longer than ``width``.

    >>> players = {i: {"hp": 8, "pos": (i, 0)} for i in range(1, 7)}
    >>> players[4]["hp"] = 2.5
    >>> print(dig({"tick": 9, "players": players}, width=60))
    tick: 9
    players: dict (6 items)
      [1..3, 5..6] × 5: {hp: 8, pos: (1..6, 0)}
      4: {'hp': 2.5, 'pos': (4, 0)}

    Args:
        tree: A handler, plain data, a snapshot or a delta.
        width: The longest line.
        depth: How many levels to open.
        lines: The most lines to return.
        fold: The smallest group of alike siblings that folds into one line.

    Raises:
        ValueError: ``width`` is below 20, or ``depth``, ``lines`` or ``fold``
            is below 1.
    """
    if width < 20 or depth < 1 or lines < 1 or fold < 1:
        raise ValueError("width must be at least 20, and depth, lines and fold at least 1")
    out: list[str] = []
    for level in range(depth, 0, -1):
        digger = _Digger(width, level, fold)
        root = node(tree)
        items = children(root)
        if mapping_of(root) is not None and items and not is_collection_of(root):
            for key, child in items:
                digger.value(segment(key, False).lstrip("."), child, 0)
        else:
            digger.value("", root, 0)
        out = digger.lines
        if len(out) <= lines:
            break
    if len(out) > lines:
        out = [*out[: lines - 1], f"… {len(out) - lines + 1:,} more lines"]
    return "\n".join(out)
