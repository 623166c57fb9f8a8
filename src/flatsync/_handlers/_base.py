"""What every handler kind shares: the protocol, the parent link, the dirty rule, values.

The public protocol (``diff``, ``patch``, ``from_snapshot``,
``initial_events``, ``copy`` and the copy and pickle dunders) is written once,
here; a kind provides hooks (``_nested_diff``, ``_check``, ``_apply``,
``_entries``, ``_recipe``, ...) and registers how its snapshots are checked
and built in :data:`SNAPSHOT_KINDS`.

The tracking rule: a mutation records itself in its handler; the first time a
handler becomes dirty since its last commit it registers itself in its
parent's change set (:meth:`Handler._child_dirty`), and so on up, stopping at
the first ancestor that is already dirty. ``diff()`` therefore walks only
dirty branches.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Self

from .._native import hooks as _hooks
from .._tree._errors import PatchError, ReadOnlyError
from .._tree._events import Added, Event
from .._tree._types import PROTOCOL_TYPES
from .._tree._values import (
    ATOMS,
    VALUE_TYPES,
    Delta,
    Path,
    Snapshot,
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
    """Base of every tracked container, and the protocol every kind speaks.

    :class:`~flatsync.DataHandler`, :class:`~flatsync.ListHandler`,
    :class:`~flatsync.ByteHandler` and :class:`~flatsync.Record` (with
    :class:`~flatsync.RecordView`) derive from it, so code written against
    ``Handler`` works with every kind::

        def ship(h: flatsync.Handler, codec: flatsync.Codec) -> bytes:
            packet = codec.encode(h.diff())
            h.commit()
            return packet

    A handler sits at most once in a tree: :attr:`parent` and :attr:`path` say
    where. Each kind's snapshot and delta (:data:`~flatsync.Snapshot`,
    :data:`~flatsync.Delta`):

    * :class:`~flatsync.DataHandler` (a mapping): a ``dict``, and a ``dict``;
    * :class:`~flatsync.ListHandler`: a ``list``, and a
      :class:`~flatsync.protocol.ListDelta`;
    * :class:`~flatsync.ByteHandler` (a board): a
      :class:`~flatsync.protocol.BoardSnapshot`, and a
      :class:`~flatsync.protocol.BoardDelta`;
    * :class:`~flatsync.Record` and :class:`~flatsync.RecordView`: a
      :class:`~flatsync.protocol.RecordSnapshot`, and a
      :class:`~flatsync.protocol.RecordDelta`.

    A :class:`~flatsync.TiledWorld` is not a kind of its own: it addresses a
    :class:`~flatsync.DataHandler` of boards, which is what syncs.

    Errors and the state left behind, for every kind: :meth:`patch` and
    :meth:`from_snapshot` raise :class:`~flatsync.PatchError` (its message
    names the path) for a delta or snapshot that does not fit, and then leave
    the handler exactly as it was (nothing is built); a write to a replica
    raises :class:`~flatsync.ReadOnlyError` and changes nothing; a write of an
    unsupported key or value raises ``TypeError`` (``ValueError`` for a NaN
    key or a handler that already sits in a tree) before anything changed.
    The other protocol methods do not raise.
    """

    __slots__ = ()

    # Declared here for the type checker; each concrete class has the slots.
    _parent: Handler | None
    _key: Any
    _readonly: bool

    #: The type of this kind's nested delta (``dict`` for a mapping, a
    #: :class:`~flatsync.protocol.TypedDelta` subclass otherwise); called
    #: without arguments, it gives the empty delta.
    _delta_type: ClassVar[type]
    #: The type of this kind's snapshot (a key of :data:`SNAPSHOT_KINDS`).
    _snapshot_type: ClassVar[type]
    #: What messages call this kind ("mapping", "list", "board", "record").
    _kind: ClassVar[str]

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

    # -- the protocol, once for every kind ------------------------------------------

    @abc.abstractmethod
    def snapshot(self) -> Snapshot:
        """The full state as a protocol tree (the seed's "refresh").

        The cost follows the size of the state; nested handlers contribute their
        own snapshots.
        """

    def diff(self) -> Delta:
        """The delta since the last :meth:`commit` (the seed's "update").

        The kind's empty delta (``{}``, ``ListDelta(())``, ``BoardDelta(b"")``,
        ``RecordDelta({})``) if nothing changed. Only dirty branches are
        visited, so the cost follows the size of the change, not of the state.
        ``diff`` forgets nothing: call :meth:`commit` once the delta is sent.
        """
        delta = self._nested_diff()
        return self._delta_type() if delta is None else delta

    @abc.abstractmethod
    def commit(self) -> None:
        """Forget the changes since the last commit (they were sent), here and in every dirty child."""

    def patch(self, delta: Delta, *, events: bool = True) -> list[Event]:
        """Apply a delta (from :meth:`diff` on the source) and return what changed.

        ``patch`` is atomic: it checks the delta's type, then validates the
        whole delta against this handler's structure, and only then applies
        it; a delta that does not fit raises before anything changes. Events:
        an :class:`~flatsync.Added`, :class:`~flatsync.Removed` or
        :class:`~flatsync.Changed` per entry of a mapping, item of a list or
        field of a record (a list's come in the order of its operations, a
        deleted run last item first, and opcode 3 as one ``Changed`` of the
        whole list); one :class:`~flatsync.CellsChanged` per board that
        changed; then the nested handlers' events. A delete of a key that is
        already absent changes nothing.

        With ``events=False`` the state changes exactly as with events on, but
        no event is built and the list returned is empty: for a replica whose
        events nobody reads (it saves about a quarter of a small delta's
        ``patch``).

        Raises:
            PatchError: the delta is not of this kind, or does not fit; the
                message names the path. The handler is exactly as it was.
        """
        path = self.path
        native_patch = _hooks.patch
        if native_patch is not None:
            # The C fast path (read-only replicas, deltas of scalars): it applies the
            # whole delta, or declines having changed nothing (configured in _record_view).
            told: list[Event] = []
            if native_patch(self, delta, path, told if events else None):
                return told
        delta_type = self._delta_type
        if type(delta) is not delta_type:
            raise PatchError(
                f"{format_path(path)}: expected a {self._kind} delta ({delta_type.__name__}), "
                f"got {describe(delta)}"
            )
        self._check(delta, path)
        told = []
        self._apply(delta, path, told if events else None)
        return told

    @classmethod
    def from_snapshot(cls, tree: Snapshot) -> Self:
        """Build a read-only replica from a snapshot of this kind.

        A record snapshot called on :class:`~flatsync.Record` gives an
        instance of the class registered under the record's name, or a
        :class:`~flatsync.RecordView` where none is; called on a record class,
        it requires that class.

        Raises:
            PatchError: ``tree`` is not a valid snapshot of this kind (or, for a
                record, its id is unknown here, or it is not of the class it is
                called on); the message names the path of the first problem.
                Nothing is built.
        """
        snapshot_type = cls._snapshot_type
        if type(tree) is not snapshot_type:
            raise PatchError(
                f"root: expected a {cls._kind} snapshot ({snapshot_type.__name__}), "
                f"got {describe(tree)}"
            )
        check, build = SNAPSHOT_KINDS[snapshot_type]
        check(tree, ())
        cls._check_root(tree)
        replica: Self = build(tree, True)
        return replica

    def initial_events(self) -> list[Event]:
        """The contents told as events, as if patched into an empty handler of this kind.

        One :class:`~flatsync.Added` per entry of a mapping, item of a list (in
        order) or field of a record; for a board, one
        :class:`~flatsync.CellsChanged` of the items whose bits are not zero
        (``old`` all zeros), none for a board of zeros. A client that builds
        its replica with :meth:`from_snapshot` can feed these to the same code
        that handles the events :meth:`patch` returns.
        """
        return self._initial_events(self.path)

    @abc.abstractmethod
    def to_python(self) -> Any:
        """The contents as plain Python data (``dict``, ``list``, ``tuple``, scalars).

        A board or a record has no plainer form: it gives a writable copy of itself.
        """

    def copy(self) -> Self:
        """A deep, writable, unattached copy (also of a read-only replica)."""
        factory, args = self._recipe()
        copied: Self = factory(*args)
        return copied

    def __copy__(self) -> Self:
        return self.copy()

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return self.copy()

    def __reduce__(self) -> tuple[Any, ...]:
        return self._recipe()

    # -- the hooks each kind provides ------------------------------------------------

    @abc.abstractmethod
    def _child_dirty(self, child: Handler) -> None:
        """Record that ``child``, which sits in this handler, has just turned dirty."""

    @abc.abstractmethod
    def _nested_diff(self) -> Any:
        """This handler's delta for its parent's delta, or ``None`` if nothing changed."""

    @abc.abstractmethod
    def _as_new_entry(self) -> Any:
        """What a parent's delta holds when this handler newly sits there."""

    @abc.abstractmethod
    def _check(self, delta: Any, path: Path) -> None:
        """Validate ``delta`` (of this kind's delta type) without changing anything."""

    @abc.abstractmethod
    def _apply(self, delta: Any, path: Path, events: list[Event] | None) -> None:
        """Apply a delta that ``_check`` accepted; append its events to ``events`` unless ``None``.

        ``path`` is only for the events: with ``events`` ``None``, a kind may
        hand its children any path.
        """

    @abc.abstractmethod
    def _recipe(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        """A factory and its arguments that build a writable copy (for copies and pickling)."""

    def _entries(self) -> Iterable[tuple[Any, Any]]:
        """The ``(key, stored value)`` pairs that :meth:`initial_events` tells."""
        raise NotImplementedError  # pragma: no cover - every kind overrides this or the next

    def _initial_events(self, path: Path) -> list[Event]:
        return [Added(path=(*path, key), new=value) for key, value in self._entries()]

    @classmethod  # noqa: B027 - a hook that most kinds leave empty
    def _check_root(cls, tree: Any) -> None:
        """Further checks of a snapshot given to :meth:`from_snapshot` (none by default)."""


PROTOCOL_TYPES.append(Handler)


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
    raise AssertionError("unreachable")  # pragma: no cover - check_value raised above


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
