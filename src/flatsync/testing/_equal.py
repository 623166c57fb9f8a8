"""Strict equality: the comparison flatsync promises to keep (no hypothesis needed).

:func:`strict_equal` and :func:`assert_strict_equal` are re-exported by
:mod:`flatsync.testing`; they import nothing beyond flatsync itself, so that
``from flatsync.testing import strict_equal`` works without hypothesis.
"""

from __future__ import annotations

import struct
from typing import Any

from .._handlers._data import DataHandler
from .._handlers._list import ListHandler
from .._tree._list_ops import ListDelta
from .._tree._markers import DELETED, Replace

__all__ = ["assert_strict_equal", "strict_equal"]

_pack_double = struct.Struct("<d").pack

# -- strict equality --------------------------------------------------------------


_ATOMS = frozenset({int, str, bytes, bool, type(None)})


#: Exact types whose kind needs no ``isinstance`` and no ``_strict_form`` lookup.
_PLAIN_KINDS: dict[type, type] = {
    dict: dict,
    DataHandler: dict,
    list: list,
    ListHandler: list,
    tuple: tuple,
    float: float,
}


def _kind(value: Any) -> Any:
    """The type that strict equality compares: handlers count as their plain container."""
    t = type(value)
    if t is dict or isinstance(value, DataHandler):
        return dict
    if t is list or isinstance(value, ListHandler):
        return list
    return t


def _kind_name(value: Any) -> str:
    return type(value).__name__


def _path_text(path: tuple[Any, ...]) -> str:
    return "root" + "".join(f"[{key!r}]" for key in path)


def _strict_form(value: Any) -> Any:
    """``(kind, ...)`` for a value that compares by a form of its own (boards, records), or None."""
    form = getattr(type(value), "_strict_form", None)
    return None if form is None else form(value)


def _first_difference(a: Any, b: Any, path: tuple[Any, ...]) -> str | None:
    """Describe the first place where ``a`` and ``b`` differ strictly, or return ``None``."""
    t = type(a)
    if t is type(b) and t in _ATOMS:  # the common case, first and fast
        return None if a == b else f"{_path_text(path)}: {a!r} vs {b!r}"
    kind = _PLAIN_KINDS.get(t)
    if kind is not None and kind is _PLAIN_KINDS.get(type(b)):
        return _compare(kind, a, b, path)  # containers and floats, without the lookups below
    form_a, form_b = _strict_form(a), _strict_form(b)
    if form_a is not None or form_b is not None:
        if form_a is None or form_b is None or form_a[0] != form_b[0]:
            return (
                f"{_path_text(path)}: {_kind_name(a)} {a!r:.80} vs {_kind_name(b)} {b!r:.80} "
                "(types differ)"
            )
        return _first_difference(form_a[1:], form_b[1:], path)
    kind = _kind(a)
    if kind is not _kind(b):
        return f"{_path_text(path)}: {_kind_name(a)} {a!r} vs {_kind_name(b)} {b!r} (types differ)"
    return _compare(kind, a, b, path)


def _compare(kind: Any, a: Any, b: Any, path: tuple[Any, ...]) -> str | None:
    """:func:`_first_difference` for two values of one ``kind`` (as :func:`_kind` says)."""
    if kind is float:
        if _pack_double(a) != _pack_double(b):
            return f"{_path_text(path)}: float {a!r} vs {b!r} (bits differ)"
        return None
    if kind is dict:
        if len(a) != len(b):
            return (
                f"{_path_text(path)}: {len(a)} entries vs {len(b)} entries "
                f"(keys {sorted(map(repr, a))} vs {sorted(map(repr, b))})"
            )
        # Map each key of ``b`` to itself: looking up a key of ``a`` then yields the
        # key object that ``b`` holds (1, 1.0 and True are one dict key).
        b_keys = {key: key for key in b}
        for key_a, value_a in a.items():
            if key_a not in b_keys:
                return f"{_path_text(path)}: key {key_a!r} missing on the right"
            key_b = b_keys[key_a]
            problem = _first_difference(key_a, key_b, path)
            if problem is not None:
                return f"{_path_text(path)}: key {key_a!r} vs key {key_b!r}: {problem}"
            problem = _first_difference(value_a, b[key_b], (*path, key_a))
            if problem is not None:
                return problem
        return None
    if kind is list or kind is tuple:
        if len(a) != len(b):
            return f"{_path_text(path)}: {kind.__name__} of {len(a)} items vs {len(b)} items"
        for index, (item_a, item_b) in enumerate(zip(a, b, strict=True)):
            problem = _first_difference(item_a, item_b, (*path, index))
            if problem is not None:
                return problem
        return None
    if kind is Replace:
        return _first_difference(a.value, b.value, (*path, "<Replace>"))
    if kind is ListDelta:
        return _first_difference(a.ops, b.ops, (*path, "<ListDelta>"))
    if a is DELETED or b is DELETED:
        return None if a is b else f"{_path_text(path)}: {a!r} vs {b!r}"
    if a != b:
        return f"{_path_text(path)}: {a!r} vs {b!r}"
    return None


def strict_equal(a: Any, b: Any) -> bool:
    """Whether two states or protocol trees are equal in every detail flatsync keeps.

    Stricter than ``==``: types must match at every level, so ``1``, ``1.0`` and
    ``True`` differ (also as dict keys), a tuple differs from a list, and floats
    are compared by their bits (``0.0`` differs from ``-0.0``, and a NaN equals a
    NaN with the same bits). A :class:`~flatsync.DataHandler` counts as a
    ``dict`` and a :class:`~flatsync.ListHandler` as a ``list``, so that a
    replica compares with its source or with a snapshot. A
    :class:`~flatsync.ByteHandler` compares with its
    :class:`~flatsync.protocol.BoardSnapshot` (item type, shape and packed bytes), and a
    record with its :class:`~flatsync.protocol.RecordSnapshot` or its read-only mapping
    replica (record name and field values). Markers
    (:data:`~flatsync.DELETED`, :class:`~flatsync.protocol.Replace`,
    :class:`~flatsync.protocol.ListDelta`, :class:`~flatsync.protocol.BoardDelta`, ...) compare by
    content. The insertion order of mappings is not compared.

    >>> strict_equal({1: (2.0, b"x")}, {1: (2.0, b"x")})
    True
    >>> strict_equal({1: "a"}, {1.0: "a"}), {1: "a"} == {1.0: "a"}
    (False, True)
    >>> strict_equal(0.0, -0.0), strict_equal(float("nan"), float("nan"))
    (False, True)
    """
    return _first_difference(a, b, ()) is None


def assert_strict_equal(a: Any, b: Any) -> None:
    """Assert :func:`strict_equal`; the message names the first path that differs.

    >>> assert_strict_equal({"pos": (2, 3)}, {"pos": [2, 3]})
    Traceback (most recent call last):
    ...
    AssertionError: root['pos']: tuple (2, 3) vs list [2, 3] (types differ)

    Raises:
        AssertionError: ``a`` and ``b`` differ.
    """
    problem = _first_difference(a, b, ())
    if problem is not None:
        raise AssertionError(problem)
