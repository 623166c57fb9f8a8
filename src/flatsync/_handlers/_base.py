"""What every handler kind shares: the parent link, the dirty rule, values and keys.

The tracking rule: a mutation records itself in its handler; the first time a
handler becomes dirty since its last commit it registers itself in its
parent's change set (:meth:`Handler._child_dirty`), and so on up, stopping at
the first ancestor that is already dirty. ``diff()`` therefore walks only
dirty branches.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, ClassVar

from .._tree._errors import PatchError, ReadOnlyError
from .._tree._events import Event
from .._tree._values import (
    ATOMS,
    VALUE_TYPES,
    Path,
    check_value,
    describe,
    format_path,
)

__all__ = [
    "SNAPSHOT_KINDS",
    "WRAPPERS",
    "Handler",
    "adopt",
    "build_value",
    "check_snapshot_value",
    "python_value",
    "snapshot_value",
]


class Handler(abc.ABC):
    """Base of every tracked container.

    :class:`~flatsync.DataHandler` and :class:`~flatsync.ListHandler` derive from it.

    A handler sits at most once in a tree: ``parent`` and ``key`` say where.
    """

    __slots__ = ()

    # Declared here for the type checker; each concrete class has the slots.
    _parent: Handler | None
    _key: Any
    _readonly: bool

    #: The type of this kind's nested delta (``dict`` for a mapping, a
    #: :class:`~flatsync.protocol.TypedDelta` subclass otherwise).
    _delta_type: ClassVar[type]
    #: The type of this kind's snapshot.
    _snapshot_type: ClassVar[type]

    # -- where the handler sits -------------------------------------------------

    @property
    def parent(self) -> Handler | None:
        """The handler this one sits in, or ``None`` for a root (or a detached handler)."""
        return self._parent

    @property
    def path(self) -> Path:
        """The keys (and list indices) from the root to this handler."""
        keys = []
        node: Handler = self
        while node._parent is not None:
            keys.append(node._key)
            node = node._parent
        keys.reverse()
        return tuple(keys)

    @property
    def readonly(self) -> bool:
        """Whether this handler is part of a replica (built by ``from_snapshot``).

        A replica changes only through ``patch``; a local write raises
        :class:`~flatsync.ReadOnlyError`.
        """
        return self._readonly

    def _refuse_write(self) -> None:
        raise ReadOnlyError(
            f"{format_path(self.path)}: this {type(self).__name__} is a read-only replica; "
            "it changes only through patch() (use .copy() for a writable copy)"
        )

    def _attach(self, parent: Handler, key: Any) -> None:
        if self._parent is not None:
            raise ValueError(
                f"this {type(self).__name__} already sits at {format_path(self.path)}; a handler "
                "has one parent: remove it there first (pop/del) or assign a copy (.copy())"
            )
        if self._readonly and not parent._readonly:
            raise ValueError(
                f"a read-only replica cannot be put into a tracked tree; assign .copy() instead "
                f"(at {format_path((*parent.path, key))})"
            )
        node: Handler | None = parent
        while node is not None:
            if node is self:
                raise ValueError(
                    f"cannot put a {type(self).__name__} inside itself "
                    f"(at {format_path((*parent.path, key))})"
                )
            node = node._parent
        # The slots live in each concrete class (a dict/list subclass cannot share them).
        self._parent = parent  # type: ignore[misc]
        self._key = key

    def _detach(self) -> None:
        self._parent = None  # type: ignore[misc]
        self._key = None

    def _mark_dirty(self) -> None:
        """Register in the parent's change set (called when this handler turns dirty)."""
        parent = self._parent
        if parent is not None:
            parent._child_dirty(self)

    # -- what each kind implements ------------------------------------------------

    @abc.abstractmethod
    def _child_dirty(self, child: Handler) -> None:
        """Record that ``child``, which sits in this handler, has just turned dirty."""

    @abc.abstractmethod
    def snapshot(self) -> Any:
        """Return the full state as a protocol tree (the seed's "refresh")."""

    @abc.abstractmethod
    def commit(self) -> None:
        """Forget the changes since the last commit (they were sent)."""

    @abc.abstractmethod
    def _nested_diff(self) -> Any:
        """This handler's delta for its parent's delta, or ``None`` if nothing changed."""

    @abc.abstractmethod
    def _as_new_entry(self) -> Any:
        """What a parent's delta holds when this handler newly sits there."""

    @abc.abstractmethod
    def _check(self, delta: Any, path: Path) -> None:
        """Validate ``delta`` against this handler without changing anything."""

    @abc.abstractmethod
    def _apply(self, delta: Any, path: Path, events: list[Event]) -> None:
        """Apply a delta that ``_check`` accepted."""

    @abc.abstractmethod
    def to_python(self) -> Any:
        """Return the contents as plain Python data (``dict``, ``list``, ``tuple``, scalars)."""


# -- the registries that let kinds join without importing each other ------------

#: Plain container type -> tracked handler factory (``dict`` -> DataHandler, ...).
WRAPPERS: dict[type, Callable[[Any], Handler]] = {}
#: Snapshot type -> (checker, builder) for values found in snapshots and deltas.
SNAPSHOT_KINDS: dict[type, tuple[Callable[[Any, Path], None], Callable[[Any, bool], Any]]] = {}


def adopt(parent: Handler, key: Any, value: Any) -> Any:
    """Turn a value written into ``parent[key]`` into what the handler stores.

    Scalars and tuples are stored as they are (tuples are checked); a plain
    ``dict``/``list`` becomes a new tracked handler; a handler is attached.
    Raises ``TypeError``/``ValueError`` before anything changed.
    """
    t = type(value)
    if t in VALUE_TYPES:
        if t is tuple:
            check_value(value, (*parent.path, key))
        return value
    wrap = WRAPPERS.get(t)
    if wrap is not None:
        handler = wrap(value)
        handler._attach(parent, key)
        return handler
    if isinstance(value, Handler):
        value._attach(parent, key)
        # It arrives whole (its snapshot is sent), so changes it had pending while
        # detached are moot; forgetting them lets its next change register again.
        value.commit()
        return value
    check_value(value, (*parent.path, key))  # raises a TypeError naming the type
    raise AssertionError("unreachable")  # pragma: no cover


def check_snapshot_value(value: Any, path: Path) -> None:
    """Check a value found in a snapshot (or as a new value in a delta); raise PatchError."""
    t = type(value)
    if t in ATOMS or t is float:
        return
    if t is tuple:
        check_value(value, path, PatchError)
        return
    if t in VALUE_TYPES:  # a type registered with flatsync.register_type
        return
    kind = SNAPSHOT_KINDS.get(t)
    if kind is None:
        raise PatchError(f"{format_path(path)}: {describe(value)} is not a valid snapshot value")
    kind[0](value, path)


def build_value(value: Any, readonly: bool) -> Any:
    """Build what a handler stores from a snapshot value that ``check_snapshot_value`` accepted."""
    t = type(value)
    if t in VALUE_TYPES:
        return value
    return SNAPSHOT_KINDS[t][1](value, readonly)


def snapshot_value(value: Any) -> Any:
    """The snapshot of a stored value (a handler's snapshot, or the value itself)."""
    if type(value) in VALUE_TYPES:
        return value
    return value.snapshot()


def python_value(value: Any) -> Any:
    """Plain Python data for a stored value."""
    if type(value) in VALUE_TYPES:
        return value
    return value.to_python()
