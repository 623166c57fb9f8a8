"""The proof: random mutation sequences on a tracked tree, shipped through the codec.

A hypothesis state machine drives every mutation a user can make on a
:class:`~flatsync.DataHandler` tree (and on the :class:`~flatsync.ListHandler`
lists inside it) at every depth, with keys and values of every supported type.
A plain-Python model (dicts and lists) gets the same operation, so a tracking
bug that also corrupts the source is caught. Each tick ships the delta through
:class:`~flatsync.CborCodec` to

* a replica that gets every tick,
* a late joiner built from a snapshot at a random tick,
* a replica that gets only ``merge(d1, d2)`` of each pair of ticks,

and checks that they all strictly equal the source (types, float bits, tuple
vs list, key types), that ``apply_delta(old snapshot, delta)`` is the new
snapshot, that ``diff()`` is ``{}`` after ``commit()``, and that the snapshot
round-trips through the codec (:class:`~flatsync.testing.ConvergenceMachine`
and its :class:`~flatsync.testing.Convergence`). Every operation is a rule of
its own, so that a failure names it and hypothesis's swarm testing can switch
it off.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Callable, Iterator
from typing import Any

from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, precondition, rule

from flatsync import CborCodec, DataHandler, Handler, ListHandler
from flatsync.testing import ConvergenceMachine, assert_strict_equal, keys, snapshots
from strategies import new_values, same_type_values, scalar_values

CODEC = CborCodec()

#: Containers are added only above this depth, so trees stay far from Limits.max_depth.
MAX_NEST = 10
#: Growth (extend, *=, nested adds) stops above this many nodes.
MAX_NODES = 120

Path = tuple[Any, ...]

SEED: dict[Any, Any] = {
    1: {"name": "notch", "pos": (2, 2), "hp": 8, "speed": 1.5, "angle": -0.0, 0.5: 2.5e-8},
    "board": [0, 1.0, "x", b"y", None, True, (1, 2.5)],
    "nested": {"list": [{"k": -0.0}, [1, 2]], 2.5: {"deep": {"n": 1}}},
}


# -- plain-Python helpers ----------------------------------------------------------------


def plain(tree: Any) -> Any:
    """A deep plain copy: handlers become dicts and lists; immutable values are shared."""
    if isinstance(tree, dict):
        return {key: plain(value) for key, value in tree.items()}
    if isinstance(tree, list):
        return [plain(item) for item in tree]
    return tree


def resolve(root: Any, path: Path) -> Any:
    node = root
    for key in path:
        node = node[key]
    return node


def reachable(root: DataHandler, handler: Handler) -> bool:
    """Whether ``handler`` sits in the tree of ``root`` (its path may lead elsewhere)."""
    try:
        return resolve(root, handler.path) is handler
    except (KeyError, IndexError, TypeError):
        return False


def containers(root: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every container in ``root`` (itself included) with its path."""
    yield path, root
    items = root.items() if isinstance(root, dict) else enumerate(root)
    for key, value in items:
        if isinstance(value, dict | list):
            yield from containers(value, (*path, key))


def count_nodes(root: Any) -> int:
    if isinstance(root, dict):
        return 1 + sum(count_nodes(value) for value in root.values())
    if isinstance(root, list):
        return 1 + sum(count_nodes(item) for item in root)
    return 1


def equal_copy(value: Any) -> Any:
    """A new object strictly equal to ``value`` (same types, same float bits)."""
    if type(value) is float:
        copied: float = struct.unpack("<d", struct.pack("<d", value))[0]
        return copied
    if type(value) is tuple:
        return tuple(equal_copy(item) for item in value)
    if type(value) is int:
        return int(str(value))
    if type(value) is bytes:
        return bytes(bytearray(value))
    if type(value) is str:
        return "".join(list(value))
    return value


def aliases(key: Any) -> list[Any]:
    """Objects that are the same dict key as ``key`` but of other types (1, 1.0, True)."""
    out: list[Any] = []
    if type(key) in (int, float, bool):
        candidates: list[Any] = [bool(key)] if key in (0, 1) else []
        with contextlib.suppress(OverflowError, ValueError):
            candidates += [int(key), float(key), -0.0 if key == 0 else float(key)]
        out = [c for c in candidates if c == key and not _same_key(c, key)]
    elif type(key) is tuple and key:
        for first in aliases(key[0]):
            out.append((first, *key[1:]))
    return out


def _same_key(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if type(a) is float:
        return struct.pack("<d", a) == struct.pack("<d", b)
    return bool(a == b)


def variants(value: Any) -> list[Any]:
    """Values ``==`` to ``value`` that are still a change: 1 -> 1.0 -> True, 0.0 -> -0.0."""
    out: list[Any] = []
    if type(value) in (int, bool, float):
        with contextlib.suppress(OverflowError, ValueError):
            out += [int(value), float(value), -float(value)]
        if value in (0, 1):
            out.append(bool(value))
    elif type(value) is tuple:
        out.append(list(value))
        if value:
            firsts = [v for v in variants(value[0]) if type(v) is not list]
            out += [(first, *value[1:]) for first in firsts]
    return [v for v in out if type(v) is not type(value) or not _same_key(v, value)]


def sort_key(item: Any) -> str:
    """The same order for a source item and its model (handlers sort as plain data)."""
    return repr(plain(item))


# -- the machine -----------------------------------------------------------------------------


class SyncMachine(ConvergenceMachine):
    """A tracked source, its plain model, and three replicas fed through the codec.

    One rule per operation; the ticks, the invariants ``source_matches_model`` and
    ``diff_explains_every_change`` and the settling teardown come from
    :class:`~flatsync.testing.ConvergenceMachine`.
    """

    codec = CODEC

    def __init__(self) -> None:
        super().__init__()
        self.source = DataHandler()
        self.model: dict[Any, Any] = {}
        #: Detached subtrees (handler, model), edited while out of the tree, attached later.
        self.limbo: list[tuple[Handler, Any]] = []
        self.moved: list[Handler] = []

    @initialize(drawn=snapshots(max_depth=3, max_size=4), seeded=st.integers(0, 3))
    def setup(self, drawn: dict[Any, Any], seeded: int) -> None:
        # Most runs start from a small tree that holds every kind of slot, so that the
        # common writes (a float over a float, an item of a nested list) are exercised
        # even when the drawn tree is tiny.
        tree = {**SEED, **drawn} if seeded else drawn
        self.source = DataHandler(tree)
        self.model = plain(tree)
        assert self.source.diff() == {}
        self.start(self.source)

    # -- choosing where to act ----------------------------------------------------------------

    def pick(self, data: st.DataObject, kind: type, *, grow: bool = False) -> Path | None:
        """Draw the path of a container of ``kind`` in the model (``None`` if there is none)."""
        paths = [
            path
            for path, node in containers(self.model)
            if isinstance(node, kind) and (not grow or len(path) < MAX_NEST)
        ]
        if not paths:
            return None
        return paths[data.draw(st.integers(0, len(paths) - 1), label="container")]

    def pick_key(self, data: st.DataObject, node: dict[Any, Any]) -> Any:
        """An existing key, an alias of one (1 for 1.0), or a new key."""
        existing = list(node)
        choice = data.draw(st.integers(0, 3), label="key kind")
        if existing and choice <= 1:
            key = existing[data.draw(st.integers(0, len(existing) - 1), label="key index")]
            if choice == 1:
                others = aliases(key)
                if others:
                    return others[data.draw(st.integers(0, len(others) - 1), label="alias")]
            return key
        return data.draw(keys(), label="new key")

    def new_value(self, data: st.DataObject) -> Any:
        if count_nodes(self.model) > MAX_NODES:
            return data.draw(scalar_values(), label="value")
        return data.draw(new_values(), label="value")

    def both(self, path: Path, op: Callable[[Any, bool], Any]) -> tuple[Any, Any]:
        """Apply ``op(node, is_model)`` to the source and the model; they must agree.

        Returns what the source's and the model's operation returned.
        """
        results: list[tuple[Any, type[Exception] | None]] = []
        for root, is_model in ((self.source, False), (self.model, True)):
            node = resolve(root, path)
            try:
                results.append((op(node, is_model), None))
            except (KeyError, IndexError, ValueError) as exc:
                results.append((None, type(exc)))
        (got, error), (expected, model_error) = results
        assert error is model_error, (error, model_error)
        assert_strict_equal(got, expected)
        return got, expected

    def unchanged_diff(self, action: Callable[[], object]) -> None:
        """Run ``action`` and check that the pending delta did not change."""
        before = self.source.diff()
        action()
        assert_strict_equal(self.source.diff(), before)

    # -- mapping mutations ---------------------------------------------------------------------

    @rule(data=st.data())
    def set_item(self, data: st.DataObject) -> None:
        path = self.pick(data, dict, grow=True)
        assert path is not None
        key = self.pick_key(data, resolve(self.model, path))
        value = self.new_value(data)
        self.both(path, lambda node, m: node.__setitem__(key, plain(value) if m else value))

    @rule(data=st.data())
    def set_same_type(self, data: st.DataObject) -> None:
        """Overwrite a scalar with another of its type (the hot path of every write)."""
        slots = [
            (path, key)
            for path, node in containers(self.model)
            for key, value in (node.items() if type(node) is dict else enumerate(node))
            if not isinstance(value, dict | list)
        ]
        if not slots:
            return
        path, key = slots[data.draw(st.integers(0, len(slots) - 1), label="slot")]
        value = data.draw(same_type_values(resolve(self.model, path)[key]), label="value")
        self.both(path, lambda n, m: n.__setitem__(key, value))

    @rule(data=st.data())
    def set_equal_value(self, data: st.DataObject) -> None:
        """A write of a value strictly equal to the current one is not a change."""
        path = self.pick(data, dict)
        assert path is not None
        node = resolve(self.model, path)
        scalars = [key for key, value in node.items() if not isinstance(value, dict | list)]
        if not scalars:
            return
        key = scalars[data.draw(st.integers(0, len(scalars) - 1), label="key index")]
        value = equal_copy(node[key])
        self.unchanged_diff(lambda: self.both(path, lambda n, m: n.__setitem__(key, value)))

    @rule(data=st.data())
    def set_variant(self, data: st.DataObject) -> None:
        """1 -> 1.0 -> True, 0.0 -> -0.0, (1,) -> [1]: equal with ``==``, still changes."""
        path = self.pick(data, dict)
        assert path is not None
        node = resolve(self.model, path)
        options = [(key, v) for key, value in node.items() for v in variants(value)]
        if not options:
            return
        key, value = options[data.draw(st.integers(0, len(options) - 1), label="variant")]
        self.both(path, lambda n, m: n.__setitem__(key, plain(value) if m else value))

    @rule(data=st.data())
    def set_a_container_through_an_alias(self, data: st.DataObject) -> None:
        """``h[1.0] = {...}`` over the key ``1``: the dict keeps ``1``, so must the replica."""
        path = self.pick(data, dict, grow=True)
        assert path is not None
        node = resolve(self.model, path)
        options = [(key, alias) for key in node for alias in aliases(key)]
        if not options:
            return
        _, alias = options[data.draw(st.integers(0, len(options) - 1), label="alias")]
        tree = data.draw(snapshots(max_depth=2, max_size=2), label="new child")
        self.both(path, lambda n, m: n.__setitem__(alias, plain(tree)))

    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        path = self.pick(data, dict)
        assert path is not None
        key = self.pick_key(data, resolve(self.model, path))
        self.both(path, lambda node, m: node.__delitem__(key))

    @rule(data=st.data())
    def delete_and_reinsert_with_an_alias(self, data: st.DataObject) -> None:
        """The key type trap: ``del h[1]; h[1.0] = v`` must leave the replica holding 1.0."""
        path = self.pick(data, dict)
        assert path is not None
        node = resolve(self.model, path)
        options = [(key, alias) for key in node for alias in aliases(key)]
        if not options:
            return
        key, alias = options[data.draw(st.integers(0, len(options) - 1), label="alias")]
        keep = data.draw(st.booleans(), label="same value")
        value = node[key] if keep else self.new_value(data)

        def op(n: Any, m: bool) -> None:
            old = n.pop(key)
            n[alias] = plain(value) if m else (old if keep else value)

        self.both(path, op)

    @rule(data=st.data())
    def set_then_delete_a_new_key(self, data: st.DataObject) -> None:
        path = self.pick(data, dict, grow=True)
        assert path is not None
        node = resolve(self.model, path)
        key = data.draw(keys(), label="new key")
        if key in node:
            return
        value = self.new_value(data)

        def op(n: Any, m: bool) -> None:
            n[key] = plain(value) if m else value
            del n[key]

        self.unchanged_diff(lambda: self.both(path, op))

    @rule(data=st.data())
    def pop(self, data: st.DataObject) -> None:
        path = self.pick(data, dict)
        assert path is not None
        key = self.pick_key(data, resolve(self.model, path))
        if data.draw(st.booleans(), label="with default"):
            self.both(path, lambda node, m: node.pop(key, "default"))
        else:
            self.both(path, lambda node, m: node.pop(key))

    @rule(data=st.data())
    def popitem(self, data: st.DataObject) -> None:
        path = self.pick(data, dict)
        assert path is not None
        self.both(path, lambda node, m: node.popitem())

    @rule(data=st.data())
    def clear(self, data: st.DataObject) -> None:
        path = self.pick(data, dict)
        assert path is not None
        self.both(path, lambda node, m: node.clear())

    @rule(data=st.data())
    def setdefault(self, data: st.DataObject) -> None:
        path = self.pick(data, dict, grow=True)
        assert path is not None
        key = self.pick_key(data, resolve(self.model, path))
        value = self.new_value(data)
        self.both(path, lambda node, m: node.setdefault(key, plain(value) if m else value))

    def update_pairs(self, data: st.DataObject) -> tuple[Path, list[tuple[Any, Any]]]:
        """A mapping to update, and 0 to 3 (key, value) pairs for it."""
        path = self.pick(data, dict, grow=True)
        assert path is not None
        node = resolve(self.model, path)
        size = data.draw(st.integers(0, 3), label="size")
        return path, [(self.pick_key(data, node), self.new_value(data)) for _ in range(size)]

    @rule(data=st.data())
    def update_with_a_mapping(self, data: st.DataObject) -> None:
        path, pairs = self.update_pairs(data)
        mapping = dict(pairs)
        self.both(path, lambda n, m: n.update(plain(mapping) if m else mapping))

    @rule(data=st.data())
    def update_with_pairs(self, data: st.DataObject) -> None:
        path, pairs = self.update_pairs(data)
        self.both(path, lambda n, m: n.update(plain(pairs) if m else pairs))

    @rule(data=st.data())
    def update_with_keywords(self, data: st.DataObject) -> None:
        path, pairs = self.update_pairs(data)
        kwargs = {str(key): value for key, value in pairs}
        self.both(path, lambda n, m: n.update(**(plain(kwargs) if m else kwargs)))

    @rule(data=st.data())
    def update_in_place(self, data: st.DataObject) -> None:
        """``h |= mapping``."""
        path, pairs = self.update_pairs(data)
        mapping = dict(pairs)
        self.both(path, lambda n, m: n.__ior__(plain(mapping) if m else mapping))

    @rule(data=st.data())
    def update_with_a_handler(self, data: st.DataObject) -> None:
        """``h.update(other)`` where ``other`` is a tracked mapping of the same tree."""
        path = self.pick(data, dict, grow=True)
        other_path = self.pick(data, dict)
        assert path is not None
        assert other_path is not None
        self.both(
            path,
            lambda n, m: n.update(
                plain(resolve(self.model, other_path)) if m else resolve(self.source, other_path)
            ),
        )

    @rule(data=st.data())
    def replace_a_child(self, data: st.DataObject) -> None:
        path = self.pick(data, dict, grow=True)
        assert path is not None
        node = resolve(self.model, path)
        children = [key for key, value in node.items() if isinstance(value, dict | list)]
        if not children:
            return
        key = children[data.draw(st.integers(0, len(children) - 1), label="child")]
        tree = data.draw(snapshots(max_depth=2, max_size=3), label="new child")
        self.both(path, lambda n, m: n.__setitem__(key, plain(tree)))

    @rule(data=st.data())
    def copy_a_subtree(self, data: st.DataObject) -> None:
        """``h[k] = other.copy()``: a copy of a tracked subtree goes in fresh."""
        path = self.pick(data, dict, grow=True)
        other = self.pick(data, dict)
        assert path is not None
        assert other is not None
        if count_nodes(self.model) > MAX_NODES:
            return
        key = self.pick_key(data, resolve(self.model, path))
        copy_model = plain(resolve(self.model, other))
        copy_source = resolve(self.source, other).copy()
        self.both(path, lambda n, m: n.__setitem__(key, copy_model if m else copy_source))

    # -- moving handlers around ------------------------------------------------------------------

    def take_child(self, data: st.DataObject) -> tuple[Handler, Any] | None:
        """Remove a container from the tree: the detached handler and its model."""
        parents = [
            (path, node)
            for path, node in containers(self.model)
            if any(
                isinstance(v, dict | list) for v in (node.values() if type(node) is dict else node)
            )
        ]
        if not parents:
            return None
        path, node = parents[data.draw(st.integers(0, len(parents) - 1), label="parent")]
        slots = [
            key
            for key, value in (node.items() if type(node) is dict else enumerate(node))
            if isinstance(value, dict | list)
        ]
        key = slots[data.draw(st.integers(0, len(slots) - 1), label="slot")]
        handler, model = self.both(path, lambda n, m: n.pop(key))
        assert isinstance(handler, Handler)
        assert handler.parent is None
        return handler, model

    def put(self, data: st.DataObject, handler: Handler, model: Any) -> None:
        """Put a detached handler (and its model) somewhere, maybe inside a new container."""
        wrap = data.draw(st.sampled_from(["bare", "dict", "list"]), label="wrap")
        source_value: Any = handler
        model_value: Any = model
        if wrap == "dict":
            source_value, model_value = {"inner": handler, "n": 1}, {"inner": model, "n": 1}
        elif wrap == "list":
            source_value, model_value = [0, handler], [0, model]
        if data.draw(st.booleans(), label="into a list"):
            path = self.pick(data, list, grow=True)
            if path is not None:
                length = len(resolve(self.model, path))
                index = data.draw(st.integers(0, length), label="index")
                self.both(path, lambda n, m: n.insert(index, model_value if m else source_value))
                return
        path = self.pick(data, dict, grow=True)
        if path is None:
            path = ()
        key = self.pick_key(data, resolve(self.model, path))
        self.both(path, lambda n, m: n.__setitem__(key, model_value if m else source_value))
        self.moved = [*self.moved[-2:], handler]

    @rule(data=st.data())
    def edit_a_moved_handler(self, data: st.DataObject) -> None:
        """Edit a handler that was moved (maybe ticks ago): its writes must still be tracked."""
        attached = [h for h in self.moved if reachable(self.source, h)]
        if not attached:
            return
        handler = attached[data.draw(st.integers(0, len(attached) - 1), label="moved")]
        model = resolve(self.model, handler.path)
        self.edit_detached(data, handler, model, always=True)

    @rule(data=st.data())
    def move(self, data: st.DataObject) -> None:
        """Pop a subtree (after maybe editing it) and put it elsewhere in the same tick."""
        taken = self.take_child(data)
        if taken is None:
            return
        handler, model = taken
        self.edit_detached(data, handler, model)
        self.put(data, handler, model)

    @precondition(lambda self: len(self.limbo) < 3)
    @rule(data=st.data())
    def detach_to_limbo(self, data: st.DataObject) -> None:
        """Detach a subtree and keep it out of the tree for a while (see ``edit_in_limbo``)."""
        taken = self.take_child(data)
        if taken is not None:
            self.limbo.append(taken)

    @precondition(lambda self: self.limbo)
    @rule(data=st.data())
    def edit_in_limbo(self, data: st.DataObject) -> None:
        """Writes to a detached handler go nowhere, until it is attached again."""
        handler, model = self.limbo[data.draw(st.integers(0, len(self.limbo) - 1))]
        before = self.source.diff()
        self.edit_detached(data, handler, model)
        assert_strict_equal(self.source.diff(), before)

    @precondition(lambda self: self.limbo)
    @rule(data=st.data())
    def attach_from_limbo(self, data: st.DataObject) -> None:
        """Attach a detached subtree again (maybe in a new container)."""
        handler, model = self.limbo.pop(data.draw(st.integers(0, len(self.limbo) - 1)))
        self.put(data, handler, model)

    def edit_detached(
        self, data: st.DataObject, handler: Handler, model: Any, *, always: bool = False
    ) -> None:
        if not always and not data.draw(st.booleans(), label="edit"):
            return
        value = data.draw(scalar_values(), label="value")
        if isinstance(handler, DataHandler):
            key = self.pick_key(data, model)
            handler[key] = value
            model[key] = value
        else:
            assert isinstance(handler, ListHandler)
            handler.append(value)
            model.append(value)
        assert_strict_equal(handler, model)

    @rule(data=st.data())
    def illegal_attach(self, data: st.DataObject) -> None:
        """Attaching an attached handler, or a handler into itself: ValueError, no change."""
        paths = [path for path, _ in containers(self.model) if path]
        if not paths:
            return
        path = paths[data.draw(st.integers(0, len(paths) - 1), label="handler")]
        handler = resolve(self.source, path)
        target_path = path if data.draw(st.booleans(), label="into itself") else ()
        target = resolve(self.source, target_path)
        before = self.source.diff()
        try:
            if isinstance(target, DataHandler):
                target["illegal"] = handler if target_path else {"x": [handler]}
            else:
                target.append(handler)
        except ValueError:
            pass
        else:
            raise AssertionError("attaching an attached handler must fail")
        assert_strict_equal(self.source.diff(), before)

    # -- list mutations --------------------------------------------------------------------------

    @rule(data=st.data())
    def list_append(self, data: st.DataObject) -> None:
        path = self.pick(data, list, grow=True)
        if path is None:
            return
        value = self.new_value(data)
        self.both(path, lambda n, m: n.append(plain(value) if m else value))

    @rule(data=st.data())
    def list_insert(self, data: st.DataObject) -> None:
        path = self.pick(data, list, grow=True)
        if path is None:
            return
        value = self.new_value(data)
        length = len(resolve(self.model, path))
        index = data.draw(st.integers(-length - 2, length + 2), label="index")
        self.both(path, lambda n, m: n.insert(index, plain(value) if m else value))

    def list_items(self, data: st.DataObject) -> tuple[Path, list[Any]] | None:
        """A list to grow, and 0 to 3 new items for it (``None`` when it should not grow)."""
        path = self.pick(data, list, grow=True)
        if path is None or count_nodes(self.model) > MAX_NODES:
            return None
        return path, data.draw(st.lists(new_values(), max_size=3), label="items")

    @rule(data=st.data())
    def list_extend(self, data: st.DataObject) -> None:
        found = self.list_items(data)
        if found is not None:
            path, items = found
            self.both(path, lambda n, m: n.extend(plain(items) if m else items))

    @rule(data=st.data())
    def list_iadd(self, data: st.DataObject) -> None:
        """``l += items``."""
        found = self.list_items(data)
        if found is not None:
            path, items = found
            self.both(path, lambda n, m: n.__iadd__(plain(items) if m else items))

    @rule(data=st.data())
    def list_set(self, data: st.DataObject) -> None:
        path = self.pick(data, list, grow=True)
        if path is None:
            return
        model = resolve(self.model, path)
        index = data.draw(st.integers(-len(model) - 1, len(model)), label="index")
        kind = data.draw(st.sampled_from(["new", "equal", "variant"]), label="kind")
        value: Any
        if kind == "new" or not -len(model) <= index < len(model):
            value = self.new_value(data)
        else:
            old = model[index]
            if isinstance(old, dict | list):
                value = plain(old)
            elif kind == "equal":
                value = equal_copy(old)
            else:
                options = variants(old) or [self.new_value(data)]
                value = options[data.draw(st.integers(0, len(options) - 1), label="variant")]
        self.both(path, lambda n, m: n.__setitem__(index, plain(value) if m else value))

    @rule(data=st.data())
    def list_slice_assign(self, data: st.DataObject) -> None:
        path = self.pick(data, list, grow=True)
        if path is None:
            return
        length = len(resolve(self.model, path))
        start = data.draw(st.integers(-length - 1, length + 1), label="start")
        stop = data.draw(st.integers(-length - 1, length + 1), label="stop")
        step = data.draw(st.sampled_from([None, 1, 2, -1, -2]), label="step")
        window = slice(start, stop, step)
        size = len(range(*window.indices(length)))
        if step not in (None, 1) and data.draw(st.booleans(), label="right size"):
            count = size
        else:
            count = data.draw(st.integers(0, 3), label="count")
        items = [self.new_value(data) for _ in range(count)]
        self.both(path, lambda n, m: n.__setitem__(window, plain(items) if m else items))

    def pick_list(self, data: st.DataObject) -> tuple[Path, int] | None:
        """A list of the tree and its length (``None`` if the tree has none)."""
        path = self.pick(data, list)
        if path is None:
            return None
        return path, len(resolve(self.model, path))

    @rule(data=st.data())
    def list_delitem(self, data: st.DataObject) -> None:
        """``del l[index]``, the index maybe out of range (IndexError on both sides)."""
        found = self.pick_list(data)
        if found is None:
            return
        path, length = found
        index = data.draw(st.integers(-length - 1, length), label="index")
        self.both(path, lambda n, m: n.__delitem__(index))

    @rule(data=st.data())
    def list_pop(self, data: st.DataObject) -> None:
        found = self.pick_list(data)
        if found is None:
            return
        path, length = found
        index = data.draw(st.integers(-length - 1, length), label="index")
        self.both(path, lambda n, m: n.pop(index))

    @rule(data=st.data())
    def list_pop_last(self, data: st.DataObject) -> None:
        found = self.pick_list(data)
        if found is not None:
            self.both(found[0], lambda n, m: n.pop())

    @rule(data=st.data())
    def list_delete_a_slice(self, data: st.DataObject) -> None:
        found = self.pick_list(data)
        if found is None:
            return
        path, length = found
        start = data.draw(st.integers(-length - 1, length), label="start")
        stop = data.draw(st.integers(-length - 1, length + 1), label="stop")
        step = data.draw(st.sampled_from([None, 1, 2, -1, 3]), label="step")
        self.both(path, lambda n, m: n.__delitem__(slice(start, stop, step)))

    @rule(data=st.data())
    def list_remove(self, data: st.DataObject) -> None:
        """``l.remove(x)`` of an item it holds, or of one it lacks (ValueError on both sides)."""
        found = self.pick_list(data)
        if found is None:
            return
        path, length = found
        model = resolve(self.model, path)
        if model and data.draw(st.booleans(), label="present"):
            target = plain(model[data.draw(st.integers(0, length - 1), label="item")])
        else:
            target = data.draw(scalar_values(), label="absent")
        self.both(path, lambda n, m: n.remove(target))

    @rule(data=st.data())
    def list_clear(self, data: st.DataObject) -> None:
        found = self.pick_list(data)
        if found is not None:
            self.both(found[0], lambda n, m: n.clear())

    @rule(data=st.data())
    def list_sort(self, data: st.DataObject) -> None:
        path = self.pick(data, list)
        if path is None:
            return
        reverse = data.draw(st.booleans(), label="reverse")
        self.both(path, lambda n, m: n.sort(key=sort_key, reverse=reverse))

    @rule(data=st.data())
    def list_reverse(self, data: st.DataObject) -> None:
        path = self.pick(data, list)
        if path is not None:
            self.both(path, lambda n, m: n.reverse())

    @rule(data=st.data())
    def list_imul(self, data: st.DataObject) -> None:
        """``l *= times`` (-1 to 2 times; at most once for a long list or a large tree)."""
        path = self.pick(data, list)
        if path is None:
            return
        model = resolve(self.model, path)
        times = data.draw(st.integers(-1, 2), label="times")
        if len(model) > 4 or count_nodes(self.model) > MAX_NODES:
            times = min(times, 1)

        def imul(n: Any, m: bool) -> None:
            if m:  # a plain list would repeat references to the same dicts
                original = plain(n)
                if times <= 0:
                    n.clear()
                for _ in range(times - 1):
                    n.extend(plain(original))
            else:
                n.__imul__(times)

        self.both(path, imul)

    # -- the checks (the ticks, the settling teardown and diff_explains_every_change: the base)

    def check_model(self) -> None:
        assert_strict_equal(self.source, self.model)

    def after_tick(self, delta: Any) -> None:
        """The snapshot is the model; every handler knows where it sits; those in limbo nowhere."""
        assert_strict_equal(self.sync.previous, self.model)
        assert self.source.parent is None
        for path, node in containers(self.source):
            assert isinstance(node, DataHandler | ListHandler), path
            assert node.path == path, (node.path, path)
            assert not node.readonly
        for handler, _ in self.limbo:
            assert handler.parent is None


# 40 steps a run; the explain phase is skipped: on a failure it would re-run the long
# sequences for a minute only to list the lines the failing cases ran.
SyncMachine.TestCase.settings = settings(
    stateful_step_count=40,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)
TestSync = SyncMachine.TestCase
