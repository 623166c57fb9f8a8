"""Records: attrs classes whose field writes are tracked like a DataHandler's keys.

This module holds :class:`Record` (the handler) and :func:`record` (the class
factory). The wire layer (ids, the registry of classes and schemas, the
:class:`~flatsync.protocol.RecordSnapshot` and
:class:`~flatsync.protocol.RecordDelta` markers) is ``flatsync._tree._records``;
:class:`~flatsync.RecordView`, the replica of a record whose class is not
registered, and the building of records from snapshots are in
``flatsync._handlers._record_view``.
"""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, cast, dataclass_transform

import attr
import attrs

from .._tree._errors import PatchError
from .._tree._events import Changed, Event, new_event
from .._tree._markers import NESTED_DELTAS, Replace
from .._tree._records import (
    RecordDelta,
    RecordSnapshot,
    check_delta_shape,
    claim_record,
    register_record_class,
    resolve_record,
)
from .._tree._values import (
    ATOMS,
    SCALARS,
    VALUE_TYPES,
    Path,
    describe,
    format_path,
    same_scalar,
    same_value,
)
from ._base import (
    Handler,
    adopt,
    build_value,
    check_snapshot_value,
    python_value,
    snapshot_value,
)

__all__ = ["Record", "record"]

_OBJ_SETATTR = object.__setattr__
_OBJ_GETATTR = object.__getattribute__

#: The attrs ``on_setattr`` that records use unless told otherwise: what
#: ``attrs.define`` does (run the converter, then the validator).
_DEFAULT_ON_SETATTR = attrs.setters.pipe(attrs.setters.convert, attrs.setters.validate)

#: Names a field may not take: the handler API and the base's slots.
_RESERVED = frozenset(
    {
        "commit",
        "copy",
        "diff",
        "from_snapshot",
        "initial_events",
        "parent",
        "patch",
        "path",
        "readonly",
        "snapshot",
        "to_python",
        "_changes",
        "_key",
        "_parent",
        "_readonly",
    }
)


# -- typed records -------------------------------------------------------------------------


class _Spec:
    """What a record class knows about itself."""

    __slots__ = ("fields", "id", "index", "name", "setters")

    def __init__(
        self, name: str, rid: int, fields: tuple[attrs.Attribute[Any], ...], hook: Any
    ) -> None:
        self.name = name
        self.id = rid
        self.fields = tuple(field.name for field in fields)
        self.index = {field: i for i, field in enumerate(self.fields)}
        #: field name -> (index, on_setattr hook or None, attrs Attribute, slot store)
        self.setters: dict[str, tuple[int, Any, attrs.Attribute[Any], Any]] = {}
        for i, field in enumerate(fields):
            field_hook: Any = field.on_setattr if field.on_setattr is not None else hook
            if field_hook is _DEFAULT_ON_SETATTR:
                # The default pipe, cut to what the field needs: one call fewer per
                # write, or none (attrs' own setters, so attrs' switches still apply).
                if field.converter is None:
                    field_hook = None if field.validator is None else attrs.setters.validate
                elif field.validator is None:
                    field_hook = attrs.setters.convert
            elif field_hook is attrs.setters.NO_OP:
                field_hook = None
            self.setters[field.name] = (i, field_hook, field, _OBJ_SETATTR)


class Record(Handler):
    """Base of every :func:`record` class: a handler whose fields are its entries.

    A record class is an attrs class (slotted) whose field writes are tracked
    like a :class:`~flatsync.DataHandler`'s keys: writing a field records it and,
    the first time since the last commit, registers the record in its parent's
    change set. The record's snapshot is a :class:`~flatsync.protocol.RecordSnapshot`, its delta a
    :class:`~flatsync.protocol.RecordDelta`. Subclass it explicitly (``class Player(flatsync.Record)``)
    when you want a type checker to see the handler methods; :func:`record` adds
    it to any class it decorates. :class:`~flatsync.RecordView`, the replica of a record
    whose class is not registered, derives from it too.

    :meth:`patch` sets field values as they come (the source already ran its
    converters and validators) and returns one :class:`~flatsync.Changed` per
    field set, at the record's path plus the field's name, then the nested
    handlers' events; :meth:`initial_events` gives one :class:`~flatsync.Added`
    per field.
    """

    __slots__ = ("_changes", "_key", "_parent", "_readonly")

    _delta_type = RecordDelta
    _snapshot_type = RecordSnapshot
    _kind = "record"

    _changes: dict[int, Any]
    __flatsync_record__: ClassVar[_Spec]

    # How the fields are stored: slots named after them (RecordView overrides these).

    def _name(self) -> str:
        return type(self).__flatsync_record__.name

    def _id(self) -> int:
        return type(self).__flatsync_record__.id

    def _count(self) -> int:
        return len(type(self).__flatsync_record__.fields)

    def _get(self, index: int) -> Any:
        return _OBJ_GETATTR(self, type(self).__flatsync_record__.fields[index])

    def _put(self, index: int, value: Any) -> None:
        _OBJ_SETATTR(self, type(self).__flatsync_record__.fields[index], value)

    def _field_key(self, index: int) -> Any:
        return type(self).__flatsync_record__.fields[index]

    def _index_of(self, key: Any) -> int:
        return type(self).__flatsync_record__.index[key]

    def _values(self) -> list[Any]:
        return [self._get(i) for i in range(self._count())]

    # -- tracking ---------------------------------------------------------------------------

    def _child_dirty(self, child: Handler) -> None:
        changes = self._changes
        index = self._index_of(child._key)
        if index not in changes:
            changes[index] = child
            if len(changes) == 1:
                self._mark_dirty()

    # -- the protocol -------------------------------------------------------------------------

    def snapshot(self) -> RecordSnapshot:
        """The full state: a :class:`~flatsync.protocol.RecordSnapshot` (the name and the field values)."""
        return RecordSnapshot(self._id(), tuple(snapshot_value(v) for v in self._values()))

    def _as_new_entry(self) -> RecordSnapshot:
        return self.snapshot()

    def _nested_diff(self) -> RecordDelta | None:
        changes = self._changes
        if not changes:
            return None
        out: dict[int, Any] = {}
        for index, orig in changes.items():
            cur = self._get(index)
            if type(cur) in VALUE_TYPES:
                if cur is orig or (type(orig) in VALUE_TYPES and same_value(cur, orig)):
                    continue
                out[index] = cur
            elif cur is orig:
                sub = cur._nested_diff()
                if sub is not None:
                    out[index] = sub
            else:
                out[index] = cur._as_new_entry()
        if not out:
            return None
        return RecordDelta(dict(sorted(out.items())))

    def commit(self) -> None:
        """Forget the changes since the last commit, here and in every changed child."""
        changes = self._changes
        if not changes:
            return
        for index in changes:
            cur = self._get(index)
            if type(cur) not in VALUE_TYPES:
                cur.commit()
        _OBJ_SETATTR(self, "_changes", {})

    def _entries(self) -> Iterable[tuple[Any, Any]]:
        return [(self._field_key(i), self._get(i)) for i in range(self._count())]

    def _check(self, delta: Any, path: Path) -> None:
        check_delta_shape(delta, path)
        count = self._count()
        for index, change in delta.changes.items():
            if index >= count:
                raise PatchError(
                    f"{format_path(path)}: field index {index} is out of range for record "
                    f"{self._name()!r} of {count} fields"
                )
            t = type(change)
            if t in SCALARS:
                continue  # the common case: a scalar fits any field, with nothing to check
            where = (*path, self._field_key(index))
            if t in NESTED_DELTAS:
                cur = self._get(index)
                if type(cur) in VALUE_TYPES or cur._delta_type is not t:
                    expected = "a mapping" if t is dict else f"a {t.__name__}"
                    raise PatchError(
                        f"{format_path(where)}: {expected} delta needs a matching "
                        f"container here, found {describe(cur)}"
                    )
                cur._check(change, where)
            elif t is Replace:
                check_snapshot_value(change.value, where)
            else:
                check_snapshot_value(change, where)

    def _apply(self, delta: Any, path: Path, events: list[Event] | None) -> None:
        readonly = self._readonly
        changes = self._changes
        for index, change in delta.changes.items():
            key = self._field_key(index)
            cur = self._get(index)
            if type(change) in NESTED_DELTAS:
                cur._apply(change, path if events is None else (*path, key), events)
                continue
            value = build_value(change.value if type(change) is Replace else change, readonly)
            if type(value) not in VALUE_TYPES:
                value._parent = self
                value._key = key
            if type(cur) not in VALUE_TYPES:
                cur._detach()
            if not readonly and index not in changes:
                changes[index] = cur
                if len(changes) == 1:
                    self._mark_dirty()
            self._put(index, value)
            if events is not None:
                events.append(new_event(Changed, ((*path, key), cur, value)))

    def _strict_form(self) -> Any:
        return ("record", self._id(), tuple(self._values()))

    def _set_other(self, index: int, name: str, value: Any, old: Any) -> None:
        # Everything but the hot path: type changes, tuples, containers.
        t = type(value)
        if value is old or (t is tuple and type(old) is tuple and same_value(old, value)):
            return
        if t not in ATOMS and t is not float:
            value = adopt(self, name, value)
        changes = self._changes
        if index not in changes:
            changes[index] = old
            if len(changes) == 1:
                self._mark_dirty()
        if type(old) not in VALUE_TYPES:
            old._detach()
        _OBJ_SETATTR(self, name, value)

    @classmethod
    def _check_root(cls, tree: Any) -> None:
        # Called on a record class, from_snapshot requires that class.
        if cls is not Record and resolve_record(tree.id, ())[2] is not cls:
            raise PatchError(
                f"root: a snapshot of record {tree.name or tree.id!r} is not a {cls.__name__} "
                f"(registered as {cls.__flatsync_record__.name!r})"
            )

    def _recipe(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return _restore, (type(self), [python_value(v) for v in self._values()])

    def to_python(self) -> Any:
        """A writable, unattached copy: a record's plainest Python form is an instance of its class."""
        return self.copy()


def _restore(cls: type[Record], values: list[Any]) -> Record:
    """A writable record of class ``cls`` holding ``values`` (copies, and unpickling)."""
    record: Record = _new_record(cls, values, False)
    return record


def _init_base(instance: Any, readonly: bool) -> None:
    _OBJ_SETATTR(instance, "_parent", None)
    _OBJ_SETATTR(instance, "_key", None)
    _OBJ_SETATTR(instance, "_readonly", readonly)
    _OBJ_SETATTR(instance, "_changes", {})


def _new_record(cls: type[Record], values: list[Any], readonly: bool) -> Any:
    """An instance of ``cls`` holding ``values`` as they are (no converter, no validator)."""
    instance = cls.__new__(cls)
    _init_base(instance, readonly)
    names = cls.__flatsync_record__.fields
    adopted: list[Handler] = []
    try:
        for name, given in zip(names, values, strict=True):
            value = given
            if type(value) not in VALUE_TYPES:
                value = adopt(instance, name, value)
                adopted.append(value)
            _OBJ_SETATTR(instance, name, value)
    except BaseException:
        for handler in adopted:
            handler._detach()
        raise
    return instance


def _adopt_fields(instance: Record, names: tuple[str, ...]) -> None:
    """After attrs' ``__init__``: check the values, wrap containers, attach handlers."""
    adopted: list[Handler] = []
    try:
        for name in names:
            value = _OBJ_GETATTR(instance, name)
            t = type(value)
            if t in VALUE_TYPES and t is not tuple:
                continue
            if isinstance(value, Handler) and value._parent is instance:
                continue  # assigned (tracked) by __attrs_post_init__
            value = adopt(instance, name, value)
            if type(value) not in VALUE_TYPES:
                adopted.append(value)
            _OBJ_SETATTR(instance, name, value)
    except BaseException:
        for handler in adopted:
            handler._detach()
        raise
    for name in names:
        value = _OBJ_GETATTR(instance, name)
        if type(value) not in VALUE_TYPES:
            value.commit()  # its current state is part of this record's baseline
    _OBJ_SETATTR(instance, "_changes", {})


def _make_setattr(spec: _Spec) -> Callable[[Any, str, Any], None]:
    """The class's ``__setattr__``: hooks, then tracking, for the fields; plain for the rest.

    Measured choices (CPython 3.11): ``getattr`` reads the old value about twice
    as fast as ``object.__getattribute__``, and the slot's own descriptor stores
    a third faster than ``object.__setattr__``.
    """
    setters_get = spec.setters.get
    scalars = SCALARS
    atoms = ATOMS
    same = same_scalar
    read = getattr

    def __setattr__(self: Any, name: str, value: Any) -> None:
        entry = setters_get(name)
        if entry is None:
            _OBJ_SETATTR(self, name, value)
            return
        if self._readonly:
            self._refuse_write()
        index, hook, attribute, store = entry
        if hook is not None:
            value = hook(self, attribute, value)
        try:
            old = read(self, name)
        except AttributeError:
            # The first value of a field (attrs' __init__ without on_setattr hooks).
            t = type(value)
            if t not in VALUE_TYPES or t is tuple:
                value = adopt(self, name, value)
            store(self, value)
            return
        t = type(value)
        if t is type(old) and t in scalars:
            # The hot path: a scalar overwrites a scalar of the same type. The
            # rule's one home is _tree/_values.py: for ATOMS an equal value is no
            # change, for floats same_scalar decides (by bits); the same object
            # is no change and a different value that is not a NaN is one.
            if value is old or (
                (value == old or value != value) and (t in atoms or same(old, value))
            ):
                return
            changes = self._changes
            if index not in changes:
                changes[index] = old
                if len(changes) == 1:
                    self._mark_dirty()
            store(self, value)
            return
        self._set_other(index, name, value, old)

    return __setattr__


def _slot_store(name: str) -> Callable[[Any, Any], None]:
    """A store for a field that is not a slot of its own (an inherited non-slotted base)."""

    def store(instance: Any, value: Any) -> None:
        _OBJ_SETATTR(instance, name, value)

    return store


def _fix_class_cells(new: type, old: type) -> None:
    """Point methods' ``__class__`` cells (``super()``) from ``old`` to ``new`` (as attrs does)."""
    for item in new.__dict__.values():
        if isinstance(item, classmethod | staticmethod):
            cells = getattr(item.__func__, "__closure__", None)
        elif isinstance(item, property):
            cells = getattr(item.fget, "__closure__", None)
        else:
            cells = getattr(item, "__closure__", None)
        for cell in cells or ():
            try:
                match = cell.cell_contents is old
            except ValueError:  # an empty cell
                continue
            if match:
                cell.cell_contents = new


def _with_record_base(cls: type) -> type:
    """A copy of ``cls`` that also derives from :class:`Record` (for its slots and methods)."""
    namespace = {k: v for k, v in cls.__dict__.items() if k not in ("__dict__", "__weakref__")}
    bases = (*(base for base in cls.__bases__ if base is not object), Record)
    meta = type(Record) if type(cls) is type else type(cls)
    rebuilt: type = types.new_class(
        cls.__name__, bases, {"metaclass": meta}, lambda ns: ns.update(namespace)
    )
    return rebuilt


@dataclass_transform(field_specifiers=(attrs.field, attr.ib, attr.attrib))
def record(
    maybe_cls: type | None = None,
    /,
    *,
    name: str | None = None,
    id: int | None = None,
    kw_only: bool = False,
    on_setattr: Any = None,
) -> Any:
    """Declare a record class: an attrs class whose field writes are tracked.

    Use it as ``@flatsync.record`` or ``@flatsync.record(name="P")``. The class
    becomes a slotted attrs class (fields from annotations or
    :func:`attrs.field`, with validators, converters, defaults and factories as
    attrs has them) that derives from :class:`Record`. Writing a field runs its
    converter and validator (attrs' ``on_setattr`` rules: converter then
    validator unless ``on_setattr`` says otherwise, for example
    :func:`attrs.setters.frozen` on a field that must not change), then records
    the change as a :class:`~flatsync.DataHandler` write would: an equal value
    (same type, floats by bits) is not a change. Fields hold what a
    DataHandler's values may be: scalars, ``bytes``, tuples of those, and
    handlers (a plain ``dict`` or ``list`` becomes a DataHandler or ListHandler,
    a ``bytearray`` a :class:`~flatsync.ByteHandler`, and a record, board or
    other handler is attached; a handler sits in one place only, so
    ``attrs.evolve`` of a record holding handlers needs copies of them).

    The class is registered under ``name`` (by default its ``__name__``) and an
    id: a small number that stands for the record on the wire, so that its
    snapshot sends neither the name nor the field names and is never larger
    than the equivalent mapping's, whatever the name. Two processes that
    declare the class agree on the id without talking: it is a hash of the
    name (the wire-format page gives the exact rule), taken below 65,536, or
    below 256 or 24 for a record of one field whose name is one or two
    characters long (its mapping is that small). A replica is built as an
    instance of the class registered under the record's name, or as a
    read-only :class:`~flatsync.RecordView` mapping where none is.

    >>> import flatsync
    >>> @flatsync.record
    ... class Knight:
    ...     name: str
    ...     pos: tuple[int, int]
    ...     hp: int = 10
    >>> players = flatsync.DataHandler({1: Knight("notch", (2, 2))})
    >>> players[1].hp -= 1
    >>> players.diff()
    {1: RecordDelta({2: 9})}

    Args:
        name: The record's name (in the registry, in schema tables and in
            replicas), by default the class's ``__name__``.
        id: The record's id on the wire, instead of the hash of its name: an
            int from 0 to 65,535 (below 24 or 256 for the small records above).
            Give one when two records' ids collide (the error says which ids
            are free).
        kw_only: Make every field keyword-only in ``__init__`` (as attrs does).
        on_setattr: attrs' ``on_setattr`` for the class (default: run the
            converter, then the validator).

    Raises:
        TypeError: a field name that the handler API uses (``path``, ``diff``,
            ``commit``, ...), a class without fields, or a name or id of the
            wrong type.
        ValueError: the name is taken by another class or known with other
            fields (from :func:`~flatsync.protocol.add_record_schemas`), the id is taken by
            another record, or an ``id`` out of range or too large for the
            record's size. Also when the same class (same module and qualified
            name: a module reloaded, a notebook cell run again) was declared
            before with other fields or another id: instances made before would
            arrive with their fields renamed. Declared again with the same
            fields and id, it replaces its earlier self. Nothing is registered
            when it raises.
    """

    def wrap(cls: type) -> type:
        return _make_record_class(cls, name, id, kw_only, on_setattr)

    if maybe_cls is None:
        return wrap
    return wrap(maybe_cls)


def _make_record_class(
    cls: type, name: str | None, given_id: Any, kw_only: bool, on_setattr: Any
) -> type:
    original = cls
    if not issubclass(cls, Record):
        cls = _with_record_base(cls)
    hook = _DEFAULT_ON_SETATTR if on_setattr is None else on_setattr
    built: type[Record] = attrs.define(cls, slots=True, kw_only=kw_only, on_setattr=hook)
    if built is not original:
        _fix_class_cells(built, original)
    fields: tuple[attrs.Attribute[Any], ...] = attrs.fields(cast(Any, built))
    names = tuple(field.name for field in fields)
    wire_name = built.__name__ if name is None else name
    if type(wire_name) is not str or not wire_name:
        raise TypeError(f"a record's name is a non-empty str, not {wire_name!r}")
    if not names:
        raise TypeError(f"record {wire_name!r} has no fields")
    clashes = sorted(_RESERVED.intersection(names))
    if clashes:
        raise TypeError(
            f"record {wire_name!r}: the field names {clashes} are taken by the handler API"
        )
    rid = claim_record(wire_name, names, given_id, built)
    spec = _Spec(wire_name, rid, fields, hook)
    for field_name, (index, field_hook, field, _) in spec.setters.items():
        slot = inspect.getattr_static(built, field_name, None)
        store = (
            slot.__set__ if type(slot) is types.MemberDescriptorType else _slot_store(field_name)
        )
        spec.setters[field_name] = (index, field_hook, field, store)
    built.__flatsync_record__ = spec
    attrs_init = built.__init__

    @functools.wraps(attrs_init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        _init_base(self, False)
        attrs_init(self, *args, **kwargs)
        _adopt_fields(self, spec.fields)

    setattr(built, "__init__", __init__)  # noqa: B010 - mypy refuses assigning a method
    setattr(built, "__setattr__", _make_setattr(spec))  # noqa: B010
    register_record_class(built, wire_name, rid, names)
    return built
