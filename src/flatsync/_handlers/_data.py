"""DataHandler: a change-tracking ``dict``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, overload

from .._native import compiled as _compiled
from .._native import hooks as _hooks
from .._tree._errors import CommitError, PatchError
from .._tree._events import Added, Changed, Event, Removed, new_event
from .._tree._markers import DELETED, NESTED_DELTAS, Replace
from .._tree._values import (
    ABSENT,
    ATOMS,
    SCALARS,
    VALUE_TYPES,
    Path,
    check_key,
    describe,
    format_path,
    key_ok,
    same_scalar,
    same_value,
)
from ._base import (
    SNAPSHOT_KINDS,
    WRAPPERS,
    Handler,
    adopt,
    build_value,
    check_snapshot_value,
    python_value,
    snapshot_value,
)

__all__ = ["DataHandler", "stored_key"]

_dget = dict.get
_dset = dict.__setitem__
_ddel = dict.__delitem__
_ditems = dict.items
_SIMPLE_KEYS = frozenset({int, str})
_MISSING: Any = object()
#: The change set of every clean handler, shared, and never written to: a
#: handler's first change gives it a dict of its own, and commit() puts this
#: one back. An entity of three scalars then costs 1.2x a plain dict's memory
#: instead of 1.4x, at no cost to writes.
_CLEAN: dict[Any, Any] = {}


# Where the C accelerator was built, DataHandler derives from its TrackedDict, a
# dict whose store runs the write hot path of __setitem__ below in C (see
# _use_native_writes at the end); otherwise from dict. Reads are dict's either way.
if TYPE_CHECKING:
    _DictBase = dict
else:
    _DictBase = dict if _compiled is None else _compiled.TrackedDict


class DataHandler(_DictBase[Any, Any], Handler):
    """A ``dict`` that records what changed since its last :meth:`commit`.

    It is a real ``dict`` subclass: reads (``h[k]``, ``get``, ``in``, iteration,
    ``len``, ``==`` with plain dicts, ``json.dumps``) run at the speed of a plain
    dict, and every mutating method is tracked. A plain ``dict`` or ``list``
    assigned in (at any depth) becomes a :class:`DataHandler` or
    :class:`~flatsync.ListHandler`, so that edits deep inside are never missed.

    Keys are ``int``, ``str``, ``bytes``, ``bool``, ``float`` (not NaN), ``None``
    and tuples of those. Values are those scalars, tuples of them, containers,
    and handlers.

    >>> players = DataHandler({1: {"name": "notch", "hp": 8}})
    >>> players[1]["hp"] -= 1
    >>> players.diff()
    {1: {'hp': 7}}
    >>> players.commit()
    >>> players.diff()
    {}

    Raises:
        TypeError: a key or value of an unsupported type (nothing is changed).
        ValueError: a NaN key, or a handler that already sits in a tree.
        ReadOnlyError: any write to a replica built by :meth:`from_snapshot`.
    """

    __slots__ = ("_changes", "_key", "_owner", "_parent", "_readonly", "_reinserted")

    _delta_type = dict
    _snapshot_type = dict
    _kind = "mapping"

    _changes: dict[Any, Any]
    _reinserted: dict[Any, Any] | None
    #: The Publisher that owns this root (only it commits, through ``_commit``), or None.
    _owner: object | None

    def __init__(
        self, initial: Mapping[Any, Any] | Iterable[tuple[Any, Any]] = (), /, **kwargs: Any
    ) -> None:
        dict.__init__(self)
        self._parent = None
        self._key = None
        self._readonly = False
        self._owner = None
        self._changes = _CLEAN
        self._reinserted = None
        if isinstance(initial, Handler):
            initial = initial.to_python()
        items = dict(initial, **kwargs)
        try:
            for key, value in items.items():
                if type(key) not in _SIMPLE_KEYS:
                    check_key(key, (key,))
                _dset(self, key, adopt(self, key, value))
        except BaseException:
            for value in dict.values(self):
                if type(value) not in VALUE_TYPES:
                    value._detach()
            raise

    # -- writes ---------------------------------------------------------------

    def __setitem__(self, key: Any, value: Any) -> None:
        if self._readonly:
            self._refuse_write()
        old = _dget(self, key, ABSENT)
        t = type(value)
        if t is type(old) and t in SCALARS:
            # The hot path: a scalar overwrites a scalar of the same type, so there
            # is nothing to wrap and nothing to detach. The rule's one home is
            # _tree/_values.py: for ATOMS an equal value is no change, for floats
            # same_scalar decides (by bits); the same object is no change and a
            # different value that is not a NaN is one, under any such rule.
            if value is old or (
                (value == old or value != value) and (t in ATOMS or same_scalar(old, value))
            ):
                return
            changes = self._changes
            if key not in changes:
                if type(key) not in _SIMPLE_KEYS and not key_ok(key):
                    check_key(key, self.path)
                if changes:
                    changes[key] = old
                else:  # the first change: a dict of its own (see _CLEAN)
                    self._changes = {key: old}
                    self._mark_dirty()
            _dset(self, key, value)
            return
        self._set_other(key, value, old)

    _py_setitem = __setitem__  # for the C store, which hands it what it does not handle

    def _set_other(self, key: Any, value: Any, old: Any) -> None:
        # Everything but the hot path: inserts, type changes, tuples, containers.
        if type(key) not in _SIMPLE_KEYS and not key_ok(key):
            check_key(key, self.path)
        t = type(value)
        if value is old or (t is tuple and type(old) is tuple and same_value(old, value)):
            return
        if t not in ATOMS and t is not float:
            value = adopt(self, key, value)
        changes = self._changes
        if key in changes:
            if old is ABSENT:
                self._note_reinsert(key)
        elif changes:
            changes[key] = old
        else:  # the first change: a dict of its own (see _CLEAN)
            self._changes = {key: old}
            self._mark_dirty()
        if old is not ABSENT and type(old) not in VALUE_TYPES:
            old._detach()
        _dset(self, key, value)

    def _note_reinsert(self, key: Any) -> None:
        # A key changed earlier in this tick is inserted afresh: the dict now holds
        # this key object, which the replica must get too (1 and 1.0 are one key).
        reinserted = self._reinserted
        if reinserted is None:
            reinserted = self._reinserted = {}
        reinserted[key] = key

    def _record_removal(self, key: Any, old: Any) -> None:
        changes = self._changes
        if key not in changes:
            if changes:
                changes[key] = old
            else:  # the first change: a dict of its own (see _CLEAN)
                self._changes = {key: old}
                self._mark_dirty()
        if type(old) not in VALUE_TYPES:
            old._detach()

    def __delitem__(self, key: Any) -> None:
        if self._readonly:
            self._refuse_write()
        old = dict.pop(self, key)
        self._record_removal(key, old)

    _py_delitem = __delitem__  # for the C store

    @overload
    def pop(self, key: Any, /) -> Any: ...
    @overload
    def pop(self, key: Any, default: Any, /) -> Any: ...

    def pop(self, key: Any, default: Any = _MISSING, /) -> Any:
        """Remove ``key`` and return its value (a removed container comes back detached)."""
        if self._readonly:
            self._refuse_write()
        old = dict.pop(self, key, ABSENT)
        if old is ABSENT:
            if default is _MISSING:
                raise KeyError(key)
            return default
        self._record_removal(key, old)
        return old

    def popitem(self) -> tuple[Any, Any]:
        """Remove and return the last inserted ``(key, value)`` pair."""
        if self._readonly:
            self._refuse_write()
        key, old = dict.popitem(self)
        self._record_removal(key, old)
        return key, old

    def clear(self) -> None:
        """Remove every entry."""
        if self._readonly:
            self._refuse_write()
        for key, old in list(_ditems(self)):
            _ddel(self, key)
            self._record_removal(key, old)

    def setdefault(self, key: Any, default: Any = None, /) -> Any:
        """Return ``self[key]``, first setting it to ``default`` if it is missing."""
        if key not in self:
            self[key] = default
        return dict.__getitem__(self, key)

    def update(self, other: Any = (), /, **kwargs: Any) -> None:
        """Set every pair of ``other`` (a mapping or pairs) and ``kwargs``, tracked."""
        if isinstance(other, Handler):
            other = other.to_python()
        if hasattr(other, "keys"):
            for key in other.keys():  # noqa: SIM118 - a mapping protocol, not iteration
                self[key] = other[key]
        else:
            for key, value in other:
                self[key] = value
        for key, value in kwargs.items():
            self[key] = value

    def __ior__(self, other: Any) -> DataHandler:
        self.update(other)
        return self

    def __or__(self, other: Any) -> dict[Any, Any]:
        """``handler | mapping`` is a plain ``dict``: a copy of the contents, updated."""
        if not isinstance(other, Mapping):
            return NotImplemented
        result: dict[Any, Any] = self.to_python()
        result.update(other.to_python() if isinstance(other, Handler) else other)
        return result

    def __ror__(self, other: Any) -> dict[Any, Any]:
        if not isinstance(other, Mapping):
            return NotImplemented
        result = dict(other)
        result.update(self.to_python())
        return result

    @classmethod
    def fromkeys(cls, iterable: Iterable[Any], value: Any = None, /) -> DataHandler:
        """A new handler with every key of ``iterable`` set to ``value`` (containers are copied)."""
        return cls((key, value) for key in iterable)

    # -- copies and plain data ----------------------------------------------------

    # dict's own copy() (shallow, untracked) would come first in the MRO.
    copy = Handler.copy

    def _recipe(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return DataHandler, (self.to_python(),)

    def to_python(self) -> dict[Any, Any]:
        """The contents as plain Python data: nested ``dict``, ``list``, ``tuple`` and scalars."""
        return {
            key: value if type(value) in VALUE_TYPES else python_value(value)
            for key, value in _ditems(self)
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict.__repr__(self)})"

    # -- the protocol -------------------------------------------------------------

    def snapshot(self) -> dict[Any, Any]:
        """The full state as a protocol tree (the seed's "refresh").

        For a mapping of plain data this is a plain ``dict``; nested handlers
        contribute their own snapshots. The cost follows the size of the state.
        """
        return {
            key: value if type(value) in VALUE_TYPES else snapshot_value(value)
            for key, value in _ditems(self)
        }

    def _nested_diff(self) -> dict[Any, Any] | None:
        changes = self._changes
        if not changes:
            return None
        out: dict[Any, Any] = {}
        reinserted = self._reinserted
        for key, orig in changes.items():
            cur = _dget(self, key, ABSENT)
            if cur is ABSENT:
                if orig is not ABSENT:
                    out[key] = DELETED
                continue
            if reinserted is not None and key in reinserted:
                if orig is ABSENT:
                    out[reinserted[key]] = cur if type(cur) in VALUE_TYPES else cur._as_new_entry()
                else:
                    out[reinserted[key]] = Replace(snapshot_value(cur))
                continue
            t = type(cur)
            if t in VALUE_TYPES:
                if cur is orig:
                    continue
                # A scalar that differs from a scalar of its type and is not a NaN is
                # plainly a change (same_value's rule without the calls); anything
                # else asks the rule.
                if (
                    t is type(orig)
                    and (t not in SCALARS or cur == orig or cur != cur)
                    and same_value(cur, orig)
                ):
                    continue
                out[key] = cur
            elif cur is orig:
                sub = cur._nested_diff()
                if sub is not None:
                    out[key] = sub
            else:
                entry = cur._as_new_entry()
                if orig is not ABSENT and type(entry) is Replace:
                    # A Replace makes the replica take this key object, and the key
                    # object in ``changes`` is the one the write used: ship the one
                    # this dict holds (``h[1.0] = {}`` keeps the key ``1``).
                    out[stored_key(self, key)] = entry
                else:
                    out[key] = entry
        return out or None

    def _as_new_entry(self) -> Replace:
        return Replace(self.snapshot())

    def commit(self) -> None:
        """Forget the changes since the last commit, here and in every dirty child.

        Raises:
            CommitError: this is the root of a :class:`~flatsync.Publisher`,
                which commits it at each :meth:`~flatsync.Publisher.tick`
                (nothing changes: call ``tick()`` instead).
        """
        if self._owner is not None:
            raise CommitError(
                "this root belongs to a Publisher, which commits it at every tick: call "
                "Publisher.tick() instead of root.commit() (a commit here would throw away "
                "changes no client has received)"
            )
        self._commit()

    def _commit(self) -> None:
        """:meth:`commit`, for the publisher that owns this root."""
        changes = self._changes
        if not changes:
            return
        for key in changes:
            cur = _dget(self, key, ABSENT)
            if cur is not ABSENT and type(cur) not in VALUE_TYPES:
                cur.commit()
        self._changes = _CLEAN
        self._reinserted = None

    def _child_dirty(self, child: Handler) -> None:
        changes = self._changes
        key = child._key
        if key not in changes:
            if changes:
                changes[key] = child
            else:  # the first change: a dict of its own (see _CLEAN)
                self._changes = {key: child}
                self._mark_dirty()

    def _entries(self) -> Iterable[tuple[Any, Any]]:
        return _ditems(self)

    def _check(self, delta: Any, path: Path) -> None:
        for key, change in delta.items():
            if type(key) not in _SIMPLE_KEYS and not key_ok(key):
                check_key(key, path, PatchError)
            t = type(change)
            if t in SCALARS:
                continue  # the common case: a scalar fits anywhere, with nothing to check
            if t in NESTED_DELTAS:
                cur = _dget(self, key, ABSENT)
                if type(cur) in VALUE_TYPES or cur is ABSENT or cur._delta_type is not t:
                    expected = "a mapping" if t is dict else f"a {t.__name__}"
                    raise PatchError(
                        f"{format_path((*path, key))}: {expected} delta needs a matching "
                        f"container here, found {describe(cur)}"
                    )
                cur._check(change, (*path, key))
            elif change is DELETED:
                continue
            elif t is Replace:
                check_snapshot_value(change.value, (*path, key))
            else:
                check_snapshot_value(change, (*path, key))

    def _apply(self, delta: Any, path: Path, events: list[Event] | None) -> None:
        readonly = self._readonly
        for key, change in delta.items():
            cur = _dget(self, key, ABSENT)
            t = type(change)
            if readonly and t in SCALARS and type(cur) in SCALARS:
                # The common case on a replica: a scalar over a scalar, nothing to
                # build, detach or record (what the general path below does for it).
                _dset(self, key, change)
                if events is not None:
                    events.append(new_event(Changed, ((*path, key), cur, change)))
                continue
            if t in NESTED_DELTAS:
                cur._apply(change, path if events is None else (*path, key), events)
                continue
            if change is DELETED:
                if cur is ABSENT:
                    continue
                _ddel(self, key)
                self._removed(key, cur, readonly)
                if events is not None:
                    events.append(new_event(Removed, ((*path, key), cur)))
                continue
            if t is Replace:
                value = build_value(change.value, readonly)
                if cur is not ABSENT:
                    _ddel(self, key)
                    self._removed(key, cur, readonly)
                    if not readonly:
                        self._note_reinsert(key)
            else:
                value = build_value(change, readonly)
                if cur is not ABSENT:
                    self._removed(key, cur, readonly)
                elif not readonly:
                    self._record_insert(key)
            if type(value) not in VALUE_TYPES:
                value._parent = self
                value._key = key
            _dset(self, key, value)
            if events is None:
                continue
            if cur is ABSENT:
                events.append(new_event(Added, ((*path, key), value)))
            else:
                events.append(new_event(Changed, ((*path, key), cur, value)))

    def _removed(self, key: Any, old: Any, readonly: bool) -> None:
        if readonly:
            if type(old) not in VALUE_TYPES:
                old._detach()
        else:
            self._record_removal(key, old)

    def _record_insert(self, key: Any) -> None:
        changes = self._changes
        if key in changes:
            self._note_reinsert(key)
        elif changes:
            changes[key] = ABSENT
        else:  # the first change: a dict of its own (see _CLEAN)
            self._changes = {key: ABSENT}
            self._mark_dirty()


class _KeyProbe:
    """Equal to ``key``, and remembers the key object it was found equal to."""

    __slots__ = ("found", "key")

    def __init__(self, key: Any) -> None:
        self.key = key
        self.found = key

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        if self.key == other:
            self.found = other
            return True
        return False


def stored_key(mapping: dict[Any, Any], key: Any) -> Any:
    """The key object that ``mapping`` holds for ``key`` (``1``, ``1.0`` and ``True`` are one key).

    O(1): the dict compares its stored key with a probe, which records it.
    """
    t = type(key)
    if t is str or t is bytes or key is None:
        return key  # equal only to keys of its own type
    probe = _KeyProbe(key)
    dict.__contains__(mapping, probe)
    return probe.found


def _check_dict_snapshot(tree: dict[Any, Any], path: Path) -> None:
    for key, value in tree.items():
        if type(key) not in _SIMPLE_KEYS and not key_ok(key):
            check_key(key, path, PatchError)
        t = type(value)
        if t not in ATOMS and t is not float:
            check_snapshot_value(value, (*path, key))


def _build_dict(tree: dict[Any, Any], readonly: bool) -> DataHandler:
    handler = DataHandler.__new__(DataHandler)
    handler._parent = None
    handler._key = None
    handler._readonly = readonly
    handler._owner = None
    handler._changes = _CLEAN
    handler._reinserted = None
    for key, value in tree.items():
        if type(value) in VALUE_TYPES:
            _dset(handler, key, value)
        else:
            child = build_value(value, readonly)
            child._parent = handler
            child._key = key
            _dset(handler, key, child)
    return handler


WRAPPERS[dict] = DataHandler
SNAPSHOT_KINDS[dict] = (_check_dict_snapshot, _build_dict)


def _use_native_writes(native: bool) -> None:
    """Let the C store of TrackedDict take ``h[k] = v`` and ``del h[k]``, or give them back.

    With the Python methods out of the class, CPython calls the base's C store
    directly; it runs the hot path and calls ``_py_setitem`` / ``_py_delitem``
    (the same functions) for everything else.
    """
    if native:
        if "__setitem__" in DataHandler.__dict__:
            del DataHandler.__setitem__
            del DataHandler.__delitem__
    elif "__setitem__" not in DataHandler.__dict__:
        DataHandler.__setitem__ = DataHandler._py_setitem  # type: ignore[method-assign]
        DataHandler.__delitem__ = DataHandler._py_delitem  # type: ignore[method-assign]


if _compiled is not None:
    _compiled.configure_writes(DataHandler)
    _hooks.on_switch.append(_use_native_writes)
    _use_native_writes(_hooks.active)
