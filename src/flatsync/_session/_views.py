"""Views: which parts of the state a client sees, and the trees each view gets.

A :class:`View` is a set of rules; a rule is a path pattern. A pattern's item
matches the keys of one level of nested mappings: a literal key, :data:`ANY`,
a set of keys, or a predicate on the key. A rule shows the whole subtree at
every path it matches, together with the mappings on the way there (holding
only what is shown). Views descend into mappings only: a list, or any other
value, is shown whole or not at all.

Visibility is a function of the keys (and of which values are mappings), never
of the other values. So a view turns a protocol tree into its projection
without any memory of the past, and the projection of a frame's delta is
computed from the delta alone: the work follows the size of the change.

This module works on protocol trees and on the live root (for the snapshots of
subtrees that enter a view); the :class:`~flatsync.Publisher` holds the
per-client state (which view each client has, since which frame).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from .._handlers._base import snapshot_value
from .._handlers._data import DataHandler, stored_key
from .._tree._markers import DELETED, Replace, TypedDelta
from .._tree._values import VALUE_TYPES, key_ok

__all__ = [
    "ANY",
    "AnyKey",
    "Node",
    "View",
    "ViewCompiler",
    "filter_delta",
    "project_snapshot",
    "project_state",
    "transition",
]


class AnyKey(enum.Enum):
    """The type of :data:`ANY` (an enum, so that mypy narrows it with ``is``)."""

    ANY = "ANY"

    def __repr__(self) -> str:
        return "flatsync.ANY"


ANY = AnyKey.ANY
"""In a :class:`View` rule: any key at this level (the ``*`` of ``players/*/pos``)."""

Rule = tuple[Any, ...]


def _normalize_item(item: Any, rule: Any) -> Any:
    if item is ANY:
        return ANY
    if isinstance(item, set | frozenset):
        for key in item:
            if not key_ok(key):
                raise TypeError(f"view rule {rule!r}: {key!r} cannot be a key")
        return frozenset(item)
    if callable(item):
        return item
    if not key_ok(item):
        raise TypeError(
            f"view rule {rule!r}: {item!r} is neither a key, ANY, a set of keys nor a predicate"
        )
    return item


def _normalize(rule: Any) -> Rule:
    if type(rule) is not tuple:
        raise TypeError(
            f"a view rule is a tuple of path items (keys, ANY, sets, predicates), "
            f"not {type(rule).__name__}: {rule!r}"
        )
    return tuple(_normalize_item(item, rule) for item in rule)


@attrs.frozen(init=False, repr=False)
class View:
    """Which parts of the state a client sees: a set of path rules.

    Each rule is a tuple of path items, one per level of nested mappings:

    * a key (``"players"``, ``7``, ``(0, 1)``), matched as a ``dict`` would
      look it up;
    * :data:`ANY`, any key;
    * a ``set`` or ``frozenset`` of keys, any one of them;
    * a callable ``predicate(key) -> bool``, the escape hatch (it must be a pure
      function of the key; views that use the same function object share
      their frames, a new ``lambda`` per client does not).

    A rule shows the whole subtree at each path it matches, and the mappings on
    the way to it, which hold only what the rules show. ``View(())`` shows
    everything, ``View()`` nothing. Views descend into mappings only: a value
    that is not a mapping (a list too) where a rule needs to go deeper is
    hidden.

    Views are values: equal rules make equal views (whatever their order), and
    clients with equal views share the bytes of every frame. ``|`` joins two
    views.

    >>> from flatsync import ANY, View
    >>> public = View(("players", ANY, "pos"), ("players", ANY, "name"))
    >>> mine = public | View(("players", 7, "inventory"))
    >>> state = {"players": {7: {"name": "a", "pos": (1, 2), "inventory": ["axe"]},
    ...                      8: {"name": "b", "pos": (3, 4), "inventory": []}},
    ...          "secret": 42}
    >>> public.project(state)
    {'players': {7: {'name': 'a', 'pos': (1, 2)}, 8: {'name': 'b', 'pos': (3, 4)}}}
    >>> mine.project(state)["players"][7]
    {'name': 'a', 'pos': (1, 2), 'inventory': ['axe']}

    Raises:
        TypeError: a rule is not a tuple, or one of its items is neither a key,
            :data:`ANY`, a set of keys nor a callable.

    Attributes:
        rules: The rules, as a set (order does not matter).
    """

    rules: frozenset[tuple[Any, ...]]
    _given: tuple[Rule, ...] = attrs.field(eq=False)

    def __init__(self, *rules: tuple[Any, ...]) -> None:
        given = tuple(dict.fromkeys(_normalize(rule) for rule in rules))
        self.__attrs_init__(rules=frozenset(given), given=given)

    def __repr__(self) -> str:
        return f"View({', '.join(map(repr, self._given))})"

    def __or__(self, other: object) -> View:
        if not isinstance(other, View):
            return NotImplemented
        return View(*self._given, *other._given)

    def project(self, snapshot: dict[Any, Any]) -> dict[Any, Any]:
        """What a client with this view holds of ``snapshot`` (a mapping snapshot).

        The result shares unchanged subtrees with ``snapshot``; neither is to
        be modified afterwards.

        Raises:
            TypeError: ``snapshot`` is not a ``dict``.
        """
        if type(snapshot) is not dict:
            raise TypeError(f"project() takes a mapping snapshot (dict), not {type(snapshot)}")
        return project_snapshot(snapshot, ViewCompiler().root(self))


# -- compiled views ---------------------------------------------------------------------


class Node:
    """A compiled position in a view: the rules' remaining items at one place in the tree.

    Nodes are interned by their remaining rules, so two places (in one view or
    in two views) that show the same below them are the same object; every
    position where everything is shown is :attr:`ViewCompiler.everything`.
    """

    __slots__ = ("any_tails", "compiler", "covered", "default", "enumerable", "fixed", "preds")

    covered: bool
    #: For each literal key: the node of that key's child (the ANY rules included).
    fixed: dict[Any, Node | None]
    #: The node of any other key (None: hidden), predicates aside.
    default: Node | None
    #: ``(predicate, remaining rule)`` pairs; ``None`` when there are none.
    preds: tuple[tuple[Callable[[Any], bool], Rule], ...] | None
    any_tails: tuple[Rule, ...]
    #: Only the keys of ``fixed`` can be shown below.
    enumerable: bool
    compiler: ViewCompiler

    def child(self, key: Any) -> Node | None:
        """The node of ``key``'s child, or ``None`` when nothing of it is shown."""
        if self.preds is None:
            return self.fixed.get(key, self.default)
        return self.compiler._child_with_predicates(self, key)


class ViewCompiler:
    """Compiles views into interned nodes (one compiler per publisher)."""

    def __init__(self) -> None:
        self._nodes: dict[frozenset[Rule], Node] = {}
        self._tails: dict[int, dict[Any, tuple[Rule, ...]]] = {}
        everything = self.everything = self._new(covered=True)
        everything.default = everything
        nothing = self.nothing = self._new(covered=False)
        nothing.enumerable = True

    def _new(self, *, covered: bool) -> Node:
        node = Node()
        node.covered = covered
        node.fixed = {}
        node.default = None
        node.preds = None
        node.any_tails = ()
        node.enumerable = False
        node.compiler = self
        return node

    def root(self, view: View | None) -> Node:
        """The node of the root under ``view`` (``None``: everything)."""
        if view is None:
            return self.everything
        node = self._node(view._given)
        return self.nothing if node is None else node

    def _node(self, tails: tuple[Rule, ...]) -> Node | None:
        # ``tails`` in a stable order (the rules' order, sets sorted by repr), so
        # that the keys of projections come in the same order in every process.
        if not tails:
            return None
        ident = frozenset(tails)
        node = self._nodes.get(ident)
        if node is not None:
            return node
        if () in ident:
            return self.everything
        node = self._new(covered=False)
        self._nodes[ident] = node
        literal: dict[Any, list[Rule]] = {}
        any_tails: list[Rule] = []
        preds: list[tuple[Callable[[Any], bool], Rule]] = []
        for tail in tails:
            head, rest = tail[0], tail[1:]
            if head is ANY:
                any_tails.append(rest)
            elif type(head) is frozenset:
                for key in sorted(head, key=repr):
                    literal.setdefault(key, []).append(rest)
            elif callable(head):
                preds.append((head, rest))
            else:
                literal.setdefault(head, []).append(rest)
        node.any_tails = tuple(dict.fromkeys(any_tails))
        fixed_tails = {
            key: tuple(dict.fromkeys(rests + any_tails)) for key, rests in literal.items()
        }
        self._tails[id(node)] = fixed_tails
        node.fixed = {key: self._node(rests) for key, rests in fixed_tails.items()}
        node.default = self._node(node.any_tails)
        node.preds = tuple(preds) if preds else None
        node.enumerable = node.default is None and node.preds is None
        return node

    @property
    def size(self) -> int:
        """How many nodes are compiled (interned) now."""
        return len(self._nodes)

    def release(self, roots: Iterable[Node]) -> int:
        """Forget every compiled node that ``roots`` do not reach; return how many are kept.

        The nodes that ``roots`` reach through literal keys and "any other key"
        stay the same objects; those computed for predicate matches are
        compiled again when asked for (an equal node, another object).
        """
        live: set[int] = {id(self.everything), id(self.nothing)}
        stack = [node for node in roots if node is not None]
        while stack:
            node = stack.pop()
            if id(node) in live:
                continue
            live.add(id(node))
            stack.extend(child for child in node.fixed.values() if child is not None)
            if node.default is not None:
                stack.append(node.default)
        self._nodes = {ident: node for ident, node in self._nodes.items() if id(node) in live}
        self._tails = {ident: tails for ident, tails in self._tails.items() if ident in live}
        return len(self._nodes)

    def _child_with_predicates(self, node: Node, key: Any) -> Node | None:
        tails = list(self._tails[id(node)].get(key, node.any_tails))
        assert node.preds is not None
        for predicate, rest in node.preds:
            if predicate(key):
                tails.append(rest)
        return self._node(tuple(dict.fromkeys(tails)))


# -- the trees a view gets ----------------------------------------------------------------


def _keys_to_visit(mapping: dict[Any, Any], node: Node) -> Iterable[tuple[Any, Any]]:
    """The (stored key, value) pairs of ``mapping`` that ``node`` may show.

    A small mapping is walked in its own order; a large one with only a few
    keys to show is looked up (in the rules' order).
    """
    if node.enumerable and 4 * len(node.fixed) + 8 < len(mapping):
        return [
            (stored_key(mapping, key), dict.__getitem__(mapping, key))
            for key in node.fixed
            if dict.__contains__(mapping, key)
        ]
    return dict.items(mapping)


def project_snapshot(tree: dict[Any, Any], node: Node) -> dict[Any, Any]:
    """The part of a mapping snapshot that ``node`` shows (subtrees are shared, not copied)."""
    if node.covered:
        return tree
    out: dict[Any, Any] = {}
    for key, value in _keys_to_visit(tree, node):
        child = node.child(key)
        if child is None:
            continue
        if child.covered:
            out[key] = value
        elif type(value) is dict:
            out[key] = project_snapshot(value, child)
    return out


def project_state(mapping: DataHandler, node: Node) -> dict[Any, Any]:
    """The snapshot of the part of a live mapping that ``node`` shows."""
    if node.covered:
        return mapping.snapshot()
    out: dict[Any, Any] = {}
    for key, value in _keys_to_visit(mapping, node):
        child = node.child(key)
        if child is None:
            continue
        if child.covered:
            out[key] = snapshot_value(value)
        elif isinstance(value, DataHandler):
            out[key] = project_state(value, child)
    return out


def filter_delta(delta: dict[Any, Any], node: Node) -> dict[Any, Any]:
    """The delta a client under ``node`` gets for ``delta`` (a mapping delta).

    Applying the result to the projection of the old state gives the
    projection of the new state. A value that stops being a mapping where the
    view goes deeper (or is set there) reaches the client as a delete, which is
    harmless when the client never had it.
    """
    if node.covered:
        return delta
    return _filter(delta, node)


def _filter(delta: dict[Any, Any], node: Node) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for key, change in delta.items():
        child = node.child(key)
        if child is None:
            continue
        if child.covered:
            out[key] = change
            continue
        t = type(change)
        if t is dict:
            sub = _filter(change, child)
            if sub:
                out[key] = sub
        elif change is DELETED:
            out[key] = DELETED
        elif t is Replace:
            value = change.value
            out[key] = Replace(project_snapshot(value, child)) if type(value) is dict else DELETED
        elif isinstance(change, TypedDelta):
            continue  # the delta of a list (or another non-mapping kind): hidden here
        else:
            out[key] = DELETED  # a value that is not a mapping: hidden here
    return out


def _new_entry(value: Any) -> Any:
    return value if type(value) in VALUE_TYPES else value._as_new_entry()


def transition(mapping: DataHandler, old: Node, new: Node) -> dict[Any, Any]:
    """The delta from what ``old`` shows of ``mapping`` to what ``new`` shows of it.

    ``mapping`` is the live root (or a mapping inside it). Subtrees that enter
    the view come as their current snapshots, subtrees that leave as deletes.
    Only the places where the two views differ are visited.
    """
    out: dict[Any, Any] = {}
    if old is new:
        return out
    if old.enumerable and new.enumerable:
        keys = dict.fromkeys(old.fixed)
        keys.update(dict.fromkeys(new.fixed))
        items: Iterable[tuple[Any, Any]] = [
            (stored_key(mapping, key), dict.__getitem__(mapping, key))
            for key in keys
            if dict.__contains__(mapping, key)
        ]
    else:
        items = dict.items(mapping)
    for key, value in items:
        was = old.child(key)
        now = new.child(key)
        if was is now:
            continue
        is_map = isinstance(value, DataHandler)
        held = was is not None and (was.covered or is_map)
        if now is None or not (now.covered or is_map):
            if held:
                out[key] = DELETED
        elif now.covered:
            out[key] = _new_entry(value)
        elif held and was is not None and not was.covered:
            sub = transition(value, was, now)
            if sub:
                out[key] = sub
        else:
            out[key] = Replace(project_state(value, now))
    return out
