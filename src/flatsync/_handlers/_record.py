"""Records: attrs classes whose field writes are tracked like a DataHandler's keys.

The wire layouts (the docs' wire-format page is the specification):

* :class:`~flatsync.protocol.RecordSnapshot`, tag 11: an array ``[id, value, value, ...]``: the
  record's id (an unsigned integer below 65,536, agreed without coordination:
  a hash of the record's name, see :func:`record`), then the field values in
  declaration order.
* :class:`~flatsync.protocol.RecordDelta`, tag 12: a map from field index (declaration order, from
  0) to the change, which reads like a value in a mapping delta.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import inspect
import types
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, TypeAlias, cast, dataclass_transform

import attr
import attrs

from .._tree._errors import DecodeError, PatchError
from .._tree._events import Changed, Event
from .._tree._markers import DELETED, Marker, Replace, TypedDelta, register_marker
from .._tree._values import (
    ATOMS,
    VALUE_TYPES,
    Path,
    check_value,
    describe,
    format_path,
    same_float,
    same_value,
)
from ._base import (
    SNAPSHOT_KINDS,
    Handler,
    adopt,
    build_value,
    check_snapshot_value,
    python_value,
    snapshot_value,
)

__all__ = [
    "Record",
    "RecordDelta",
    "RecordSnapshot",
    "RecordView",
    "add_record_schemas",
    "record",
    "record_schemas",
]

_OBJ_SETATTR = object.__setattr__
_OBJ_GETATTR = object.__getattribute__
_SCALARS = ATOMS | {float}

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


# -- record ids and the registry -----------------------------------------------------------

#: Record ids are unsigned integers below this (at most 3 bytes of CBOR).
ID_LIMIT = 0x1_0000

#: A schema: the record's name and its field names, in declaration order.
Schema: TypeAlias = tuple[str, tuple[str, ...]]

#: Record classes by their wire name.
_CLASSES: dict[str, type[Record]] = {}
#: Schemas by record id: of every registered class, and of those added without one.
_SCHEMAS: dict[int, Schema] = {}

#: The schemas a :class:`~flatsync.Replica` learned from its publisher, while it
#: applies a packet: they come before the process's own (see :func:`_resolve`).
_TABLE: contextvars.ContextVar[Mapping[int, Schema] | None] = contextvars.ContextVar(
    "flatsync_record_schemas", default=None
)


def _cbor_head(length: int) -> int:
    """Bytes of a CBOR head for an unsigned integer, or an array, map or string of ``length``."""
    if length < 24:
        return 1
    if length < 0x100:
        return 2
    if length < 0x1_0000:
        return 3
    return 5 if length < 0x1_0000_0000 else 9


def _id_budget(fields: Sequence[str]) -> int:
    """How many bytes a record's id may take so that its snapshot is no larger than the mapping's.

    A snapshot costs its tag (1 byte), its array head and its id beyond the
    values; the equivalent mapping costs its map head and its keys.
    """
    keys = sum(_cbor_head(len(field.encode())) + len(field.encode()) for field in fields)
    return _cbor_head(len(fields)) + keys - 1 - _cbor_head(len(fields) + 1)


def _id_space(fields: Sequence[str]) -> int:
    """The ids a record with these fields may take by default: 65,536, or 256 or 24 (one field)."""
    budget = _id_budget(fields)
    return ID_LIMIT if budget >= 3 else 0x100 if budget == 2 else 24


def _name_hash(name: str) -> int:
    """The first four bytes of the SHA-256 of the name's UTF-8, big-endian."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big")


def _id_for_name(name: str) -> int:
    """The id of the record known here as ``name``, or the id its name alone hashes to."""
    cls = _CLASSES.get(name)
    if cls is not None:
        return cls.__flatsync_record__.id
    for rid, (known, _) in _SCHEMAS.items():
        if known == name:
            return rid
    return _name_hash(name) % ID_LIMIT


def _name_of(rid: int) -> str | None:
    """The name of record ``rid`` as this process (or the replica being patched) knows it."""
    table = _TABLE.get()
    schema = table.get(rid) if table is not None else None
    if schema is None:
        schema = _SCHEMAS.get(rid)
    return None if schema is None else schema[0]


def record_schemas() -> dict[int, Schema]:
    """Every record this process knows, by id: ``{id: (name, field names)}``.

    The records of every registered class, and those added with
    :func:`~flatsync.protocol.add_record_schemas`. A :class:`~flatsync.Publisher` sends its
    replicas the schemas they need by itself; without a session (a snapshot
    encoded with a codec and decoded elsewhere), send this table once and give
    it to :func:`~flatsync.protocol.add_record_schemas` on the other side, so that records whose
    classes that process lacks can be rebuilt as :class:`~flatsync.RecordView` mappings.

    >>> import flatsync
    >>> @flatsync.record
    ... class Crate:
    ...     item: str
    ...     count: int
    >>> {name: fields for name, fields in flatsync.protocol.record_schemas().values()}["Crate"]
    ('item', 'count')
    """
    return dict(sorted(_SCHEMAS.items()))


def _check_schema(rid: Any, schema: Any, error: type[Exception]) -> Schema:
    """A schema ``(name, fields)`` for id ``rid``, checked; ``error`` for a bad one."""
    if type(rid) is not int or not 0 <= rid < ID_LIMIT:
        raise error(f"a record id is an int from 0 to {ID_LIMIT - 1}, not {rid!r:.40}")
    if not isinstance(schema, tuple | list) or len(schema) != 2:
        raise error(f"the schema of record {rid} must be a pair (name, field names)")
    name, fields = schema
    if type(name) is not str or not name:
        raise error(f"the name of record {rid} must be a non-empty str, not {name!r:.40}")
    if isinstance(fields, str) or not isinstance(fields, Sequence):
        raise error(f"the field names of record {name!r} must be a sequence of str")
    names = tuple(fields)
    if not names or any(type(field) is not str or not field for field in names):
        raise error(f"the field names of record {name!r} must be non-empty str, at least one")
    if len(set(names)) != len(names):
        raise error(f"record {name!r} repeats a field name: {names}")
    return name, names


def _class_mismatch(rid: int, name: str, fields: tuple[str, ...]) -> str | None:
    """Why ``(name, fields)`` contradicts the class registered here under ``name``, or None."""
    cls = _CLASSES.get(name)
    if cls is None or cls.__flatsync_record__.fields == fields:
        return None
    return (
        f"record {name!r} (id {rid}) has the fields {fields}, but the class "
        f"{cls.__module__}.{cls.__qualname__} registered here has {cls.__flatsync_record__.fields}"
    )


def add_record_schemas(schemas: Mapping[int, tuple[str, Sequence[str]]]) -> None:
    """Learn the schemas of records whose classes this process does not have.

    ``schemas`` is what :func:`~flatsync.protocol.record_schemas` gives on the other side:
    ``{id: (name, field names)}``. Replicas built afterwards (without a
    session) hold such records as a :class:`~flatsync.RecordView` keyed by these names; a
    record id that this process knows neither from a class nor from a schema is
    refused with :class:`~flatsync.PatchError`. An id already known with the
    same schema is accepted again. A :class:`~flatsync.Replica` does not need
    this: its publisher sends the schemas along.

    >>> import flatsync
    >>> flatsync.protocol.add_record_schemas({4242: ("Ghost", ("name", "haunts"))})
    >>> flatsync.Record.from_snapshot(flatsync.protocol.RecordSnapshot(4242, ("boo", 3)))
    RecordView('Ghost', {'name': 'boo', 'haunts': 3})

    Raises:
        TypeError: ``schemas`` is not a mapping.
        ValueError: an id that is not an int from 0 to 65,535, a malformed
            schema (an empty name, no fields, repeated field names), an id
            already known with another schema, or a name whose class is
            registered here with other fields. Nothing is added then.
    """
    if not isinstance(schemas, Mapping):
        raise TypeError(
            f"record schemas are a mapping {{id: (name, fields)}}, not {describe(schemas)}"
        )
    staged: dict[int, Schema] = {}
    for rid, given in schemas.items():
        name, fields = _check_schema(rid, given, ValueError)
        known = _SCHEMAS.get(rid, staged.get(rid))
        if known is not None and known != (name, fields):
            raise ValueError(f"record id {rid} is already known as {known}, not {(name, fields)}")
        mismatch = _class_mismatch(rid, name, fields)
        if mismatch is not None:
            raise ValueError(mismatch)
        staged[rid] = (name, fields)
    _SCHEMAS.update(staged)


def _resolve(rid: int, path: Path) -> tuple[str, tuple[str, ...], type[Record] | None]:
    """The name, field names and class (``None``: a view) of record ``rid`` here.

    The schemas a replica learned from its publisher come first, then this
    process's own; the class is the one registered under the record's name.

    Raises:
        PatchError: the id is unknown, or its schema contradicts the class
            registered under its name.
    """
    table = _TABLE.get()
    schema = table.get(rid) if table is not None else None
    if schema is None:
        schema = _SCHEMAS.get(rid)
        if schema is None:
            raise PatchError(
                f"{format_path(path)}: record id {rid} is unknown here: register its class, "
                "add its schema (flatsync.protocol.add_record_schemas), or receive it through a Replica"
            )
    name, fields = schema
    cls = _CLASSES.get(name)
    if cls is not None and cls.__flatsync_record__.fields != fields:
        raise PatchError(f"{format_path(path)}: {_class_mismatch(rid, name, fields)}")
    return name, fields, cls


@contextlib.contextmanager
def schemas_in_use(table: Mapping[int, Schema]) -> Iterator[None]:
    """Resolve record ids through ``table`` first while the block runs (a replica's patch)."""
    token = _TABLE.set(table)
    try:
        yield
    finally:
        _TABLE.reset(token)


def merge_schemas(
    held: dict[int, Schema], received: Iterable[tuple[int, Schema]]
) -> dict[int, Schema]:
    """``held`` updated with a packet's schema table (a new dict; ``held`` is left as it is).

    Raises:
        PatchError: a received schema contradicts the class registered here under
            its name (the two programs declare the record differently).
    """
    table = dict(held)
    for rid, (name, fields) in received:
        mismatch = _class_mismatch(rid, name, fields)
        if mismatch is not None:
            raise PatchError(f"root: the publisher's {mismatch}")
        table[rid] = (name, fields)
    return table


def schema_of(rid: int) -> Schema | None:
    """The schema of record ``rid`` in this process, or ``None``."""
    return _SCHEMAS.get(rid)


def has_records() -> bool:
    """Whether this process knows any record at all (else no tree can hold one it can name)."""
    return bool(_SCHEMAS)


_SKIP_IN_WALK = ATOMS | {float, bytes}


def record_ids(tree: Any) -> set[int]:
    """The ids of every :class:`~flatsync.protocol.RecordSnapshot` in a protocol tree (what its schema table needs)."""
    out: set[int] = set()
    stack = [tree]
    pop = stack.pop
    push = stack.append
    skip = _SKIP_IN_WALK
    while stack:
        node = pop()
        t = type(node)
        if t is dict:
            for value in node.values():
                if type(value) not in skip:
                    push(value)
        elif t is tuple or t is list:
            for value in node:
                if type(value) not in skip:
                    push(value)
        elif t is RecordSnapshot:
            out.add(node.id)
            push(node.values)
        elif t is RecordDelta:
            push(node.changes)
        elif isinstance(node, Marker):
            push(node.content())
    return out


# -- the markers -----------------------------------------------------------------------------


class RecordSnapshot(Marker):
    """The snapshot of a record: its id and its field values in declaration order.

    On the wire it is CBOR tag 11 around ``[id, value, ...]``: neither the
    record's name nor its field names are sent (the receiver knows them from
    the class, from its publisher's schema table, or from
    :func:`~flatsync.protocol.add_record_schemas`), so a record is never larger than the
    equivalent mapping, whose keys are sent in full.

    ``record`` may also be given as a name: the id of the record known in this
    process by that name (for a name unknown here, the id that the name alone
    hashes to, as a class of that name with two or more fields gets by default).

    >>> import flatsync
    >>> @flatsync.record
    ... class Squire:
    ...     name: str
    ...     pos: tuple[int, int]
    ...     hp: int
    >>> snapshot = Squire("notch", (2, 2), 8).snapshot()
    >>> snapshot
    RecordSnapshot('Squire', ('notch', (2, 2), 8))
    >>> snapshot.id == flatsync.protocol.RecordSnapshot("Squire", ()).id
    True

    Attributes:
        id: The record's id (an int from 0 to 65,535).
        values: The field values' snapshots, in declaration order.
    """

    __slots__ = ("id", "values")

    marker_id = 11

    id: int
    values: tuple[Any, ...]

    def __init__(self, record: int | str, values: tuple[Any, ...]) -> None:
        self.id = _id_for_name(record) if isinstance(record, str) else record
        self.values = values

    @property
    def name(self) -> str | None:
        """The record's name as this process knows it (``None`` for an unknown id)."""
        return _name_of(self.id)

    def content(self) -> Any:
        return (self.id, *self.values)

    @classmethod
    def from_content(cls, content: Any) -> RecordSnapshot:
        if type(content) is not tuple or not content:
            raise DecodeError("a record snapshot must be an array [id, value, ...]")
        rid = content[0]
        if type(rid) is not int or not 0 <= rid < ID_LIMIT:
            raise DecodeError(
                f"a record snapshot's id is an int from 0 to {ID_LIMIT - 1}, not {rid!r:.20}"
            )
        for value in content[1:]:
            if type(value) is tuple:
                check_value(value, (rid,), DecodeError)
        return cls(rid, content[1:])

    def __eq__(self, other: object) -> bool:
        if type(other) is not RecordSnapshot:
            return NotImplemented
        return self.id == other.id and self.values == other.values

    def __hash__(self) -> int:
        return hash((RecordSnapshot, self.id, len(self.values)))

    def __repr__(self) -> str:
        name = self.name
        shown: Any = self.id if name is None or _id_for_name(name) != self.id else name
        return f"RecordSnapshot({shown!r}, {self.values!r})"

    def _strict_form(self) -> Any:
        return ("record", self.id, self.values)


class RecordDelta(Marker, TypedDelta):
    """The delta of a record: field index (declaration order, from 0) -> change.

    A change reads like a value in a mapping delta: a new value, a
    :class:`~flatsync.protocol.Replace` or a new handler's snapshot, or the nested delta
    of the handler held in the field. A record's fields cannot be deleted. On the
    wire it is CBOR tag 12 around the map, so a changed field costs its index
    (one byte up to field 23) where a mapping pays the whole key.

    >>> import flatsync
    >>> @flatsync.record
    ... class Spider:
    ...     kind: str
    ...     hp: int
    >>> spider = Spider("cave", 20)
    >>> spider.hp -= 3
    >>> spider.diff()
    RecordDelta({1: 17})
    >>> flatsync.CborCodec().encode(spider.diff()).hex(" ")
    'cc a1 01 11'

    Attributes:
        changes: The changes by field index.
    """

    __slots__ = ("changes",)

    marker_id = 12

    changes: dict[int, Any]

    def __init__(self, changes: dict[int, Any] | None = None) -> None:
        self.changes = {} if changes is None else changes

    def content(self) -> Any:
        return self.changes

    @classmethod
    def from_content(cls, content: Any) -> RecordDelta:
        if type(content) is not dict:
            raise DecodeError(f"a record delta must be a map, not {describe(content)}")
        for index, change in content.items():
            if type(index) is not int or index < 0:
                raise DecodeError(
                    f"a record delta's keys are field indexes (int >= 0), not {index!r:.20}"
                )
            if change is DELETED:
                raise DecodeError("a record delta cannot delete a field")
        return cls(content)

    def __eq__(self, other: object) -> bool:
        if type(other) is not RecordDelta:
            return NotImplemented
        return self.changes == other.changes

    def __hash__(self) -> int:
        return hash((RecordDelta, len(self.changes)))

    def __repr__(self) -> str:
        return f"RecordDelta({self.changes!r})"

    def _strict_form(self) -> Any:
        return ("record delta", self.changes)

    def is_empty(self) -> bool:
        return not self.changes

    def merged(self, later: TypedDelta, path: tuple[Any, ...]) -> TypedDelta:
        """One delta equal to applying this one, then ``later`` (see :func:`~flatsync.merge`).

        Raises:
            PatchError: ``later`` is not a record delta, or it cannot follow this
                one (a nested delta for a field this one set to a scalar).
        """
        from .._tree._merge import _merge_dicts

        if type(later) is not RecordDelta:
            raise PatchError(
                f"{format_path(path)}: cannot merge a record delta with a {describe(later)} delta"
            )
        _check_delta_shape(self, path)
        _check_delta_shape(later, path)
        return RecordDelta(_merge_dicts(self.changes, later.changes, path))

    def applied_to(self, snapshot: Any, path: tuple[Any, ...]) -> Any:
        """A new :class:`~flatsync.protocol.RecordSnapshot`: ``snapshot`` with this delta applied.

        Raises:
            PatchError: ``snapshot`` is not a record snapshot, or the delta does
                not fit it (a field index out of range, a nested delta for a
                field that holds no matching container).
        """
        from .._tree._merge import apply_delta

        if type(snapshot) is not RecordSnapshot or type(snapshot.values) is not tuple:
            raise PatchError(
                f"{format_path(path)}: a record delta needs a record, found {describe(snapshot)}"
            )
        _check_delta_shape(self, path)
        values = list(snapshot.values)
        for index, change in self.changes.items():
            if index >= len(values):
                raise PatchError(
                    f"{format_path(path)}: field index {index} is out of range for record "
                    f"{snapshot.name or snapshot.id!r} of {len(values)} fields"
                )
            if type(change) is Replace:
                values[index] = change.value
            elif _is_nested(change):
                values[index] = apply_delta(values[index], change, (*path, index))
            else:
                values[index] = change
        return RecordSnapshot(snapshot.id, tuple(values))


def _is_nested(change: Any) -> bool:
    t = type(change)
    return t is dict or (t is not Replace and isinstance(change, TypedDelta))


def _check_delta_shape(delta: RecordDelta, path: Path) -> None:
    changes: Any = delta.changes
    if type(changes) is not dict:
        raise PatchError(
            f"{format_path(path)}: a RecordDelta holds a dict of changes, got {describe(changes)}"
        )
    for index, change in changes.items():
        if type(index) is not int or index < 0:
            raise PatchError(
                f"{format_path(path)}: a record delta's keys are field indexes (int >= 0), "
                f"not {index!r:.20}"
            )
        if change is DELETED:
            raise PatchError(f"{format_path((*path, index))}: a record field cannot be deleted")


# -- what typed records and their mapping replicas share -------------------------------------


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
    """

    __slots__ = ("_changes", "_key", "_parent", "_readonly")

    _delta_type = RecordDelta
    _snapshot_type = RecordSnapshot

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

    def diff(self) -> RecordDelta:
        """The delta since the last :meth:`commit`; ``RecordDelta({})`` if nothing changed.

        Only changed fields (and dirty nested handlers) are visited. ``diff``
        forgets nothing: call :meth:`commit` once the delta is sent.
        """
        delta = self._nested_diff()
        return RecordDelta() if delta is None else delta

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

    def patch(self, delta: Any) -> list[Event]:
        """Apply a :class:`~flatsync.protocol.RecordDelta` (from :meth:`diff` on the source); return what changed.

        ``patch`` is atomic: the whole delta is checked first, and a delta that
        does not fit raises before anything changes. Field values are set as
        they come (the source already ran its converters and validators). One
        :class:`~flatsync.Changed` per field set, at the record's path plus the
        field's name, and the nested handlers' events.

        Raises:
            PatchError: the delta does not fit; the message names the path. The
                record is exactly as it was.
        """
        path = self.path
        self._check(delta, path)
        events: list[Event] = []
        self._apply(delta, path, events)
        return events

    def _check(self, delta: Any, path: Path) -> None:
        if type(delta) is not RecordDelta:
            raise PatchError(
                f"{format_path(path)}: expected a record delta (RecordDelta), got {describe(delta)}"
            )
        _check_delta_shape(delta, path)
        count = self._count()
        for index, change in delta.changes.items():
            if index >= count:
                raise PatchError(
                    f"{format_path(path)}: field index {index} is out of range for record "
                    f"{self._name()!r} of {count} fields"
                )
            where = (*path, self._field_key(index))
            t = type(change)
            if _is_nested(change):
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

    def _apply(self, delta: Any, path: Path, events: list[Event]) -> None:
        readonly = self._readonly
        changes = self._changes
        for index, change in delta.changes.items():
            key = self._field_key(index)
            where = (*path, key)
            cur = self._get(index)
            if _is_nested(change):
                cur._apply(change, where, events)
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
            events.append(Changed(path=where, old=cur, new=value))

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
    def from_snapshot(cls, tree: Any) -> Any:
        """Build a read-only replica from a :class:`~flatsync.protocol.RecordSnapshot`.

        The snapshot's id names the record (see :func:`~flatsync.protocol.record_schemas`); the
        replica is an instance of the class registered under that record's
        name, or a :class:`~flatsync.RecordView` when no class is registered under it.
        Called on a record class, it requires that class.

        Raises:
            PatchError: ``tree`` is not a valid record snapshot, its id is not
                known in this process (neither from a class nor from
                :func:`~flatsync.protocol.add_record_schemas`), or, called on a record class, it is
                not one of that class.
        """
        _check_record_snapshot(tree, ())
        if cls is not Record and _resolve(tree.id, ())[2] is not cls:
            raise PatchError(
                f"root: a snapshot of record {tree.name or tree.id!r} is not a {cls.__name__} "
                f"(registered as {cls.__flatsync_record__.name!r})"
            )
        return _build_record(tree, True)

    def copy(self) -> Any:
        """A writable, unattached copy (nested handlers copied too; no converter runs)."""
        return _new_record(type(self), [python_value(v) for v in self._values()], False)

    def to_python(self) -> Any:
        """A writable, unattached copy: a record's plainest Python form is an instance of its class."""
        return self.copy()

    def __copy__(self) -> Any:
        return self.copy()

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return self.copy()

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (type(self), [python_value(v) for v in self._values()]))


def _restore(cls: type[Record], values: list[Any]) -> Record:
    """Unpickle a record."""
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
    scalars = _SCALARS
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
            # The hot path: a scalar overwrites a scalar of the same type.
            if value == old:
                if t is not float or value != 0.0 or same_float(old, value):
                    return
            elif t is float and value != value and same_float(old, value):
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
            record's size. Nothing is registered then.
    """

    def wrap(cls: type) -> type:
        return _make_record_class(cls, name, id, kw_only, on_setattr)

    if maybe_cls is None:
        return wrap
    return wrap(maybe_cls)


def _free_id(rid: int, space: int) -> int | None:
    """The first id after ``rid`` (wrapping around within ``space``) that no record has."""
    for step in range(1, space):
        candidate = (rid + step) % space
        if candidate not in _SCHEMAS:
            return candidate
    return None


def _record_id(wire_name: str, names: tuple[str, ...], given: Any) -> int:
    """The id of a record being declared: ``given``, checked, or the hash of its name."""
    space = _id_space(names)
    if given is None:
        return _name_hash(wire_name) % space
    if type(given) is not int:
        raise TypeError(f"record {wire_name!r}: an id is an int, not {describe(given)}")
    if not 0 <= given < ID_LIMIT:
        raise ValueError(f"record {wire_name!r}: an id is from 0 to {ID_LIMIT - 1}, not {given}")
    if _cbor_head(given) > _id_budget(names):
        raise ValueError(
            f"record {wire_name!r}: the id {given} would make its snapshot larger than the "
            f"equivalent mapping's; give an id below {space}"
        )
    return given


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
    rid = _record_id(wire_name, names, given_id)
    known = _CLASSES.get(wire_name)
    if known is not None and (known.__module__, known.__qualname__) != (
        built.__module__,
        built.__qualname__,
    ):
        raise ValueError(
            f"the record name {wire_name!r} is taken by {known.__module__}.{known.__qualname__}; "
            "give this class another name, e.g. @flatsync.record(name=...)"
        )
    # The same class declared again (a module reloaded) replaces its earlier self.
    previous = None if known is None else known.__flatsync_record__.id
    for other_id, (other_name, other_fields) in _SCHEMAS.items():
        if other_id == previous:
            continue
        if other_name == wire_name and other_fields != names:
            raise ValueError(
                f"record {wire_name!r} is already known with the fields {other_fields}, not {names}"
            )
        if other_id == rid and other_name != wire_name:
            free = _free_id(rid, _id_space(names))
            hint = "" if free is None else f", e.g. @flatsync.record(id={free})"
            raise ValueError(
                f"record {wire_name!r}: its id {rid} is taken by record {other_name!r}; "
                f"give one of them another id{hint} (or another name)"
            )
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
    if previous is not None:
        _SCHEMAS.pop(previous, None)
    _CLASSES[wire_name] = built
    _SCHEMAS[rid] = (wire_name, names)
    return built


# -- replicas of records whose class is not registered -------------------------------------


class RecordView(Mapping[Any, Any], Record):
    """A read-only replica of a record whose class is not registered in this process.

    A mapping from field name to value, whose fields also read as attributes.
    The names come from the record's schema: a :class:`~flatsync.Replica`
    receives it from its publisher; without a session, see
    :func:`~flatsync.protocol.add_record_schemas`. It follows its source through ``patch`` like
    any replica.

    >>> import flatsync
    >>> flatsync.protocol.add_record_schemas({4243: ("Ghost2", ("name", "hp"))})
    >>> view = flatsync.DataHandler.from_snapshot(
    ...     {"p": flatsync.protocol.RecordSnapshot(4243, ("boo", 3))})["p"]
    >>> view
    RecordView('Ghost2', {'name': 'boo', 'hp': 3})
    >>> view["name"], view.hp, view.record_name, view.record_id
    ('boo', 3, 'Ghost2', 4243)
    """

    __slots__ = ("_index", "_keys", "_rid", "_rname", "_vals")

    _rid: int
    _rname: str
    _keys: tuple[Any, ...]
    _index: dict[Any, int]
    _vals: list[Any]

    def _name(self) -> str:
        return self._rname

    def _id(self) -> int:
        return self._rid

    def _count(self) -> int:
        return len(self._vals)

    def _get(self, index: int) -> Any:
        return self._vals[index]

    def _put(self, index: int, value: Any) -> None:
        self._vals[index] = value

    def _field_key(self, index: int) -> Any:
        return self._keys[index]

    def _index_of(self, key: Any) -> int:
        return self._index[key]

    @property
    def record_name(self) -> str:
        """The record's name (of its class on the source)."""
        return self._rname

    @property
    def record_id(self) -> int:
        """The record's id on the wire."""
        return self._rid

    def __getitem__(self, key: Any) -> Any:
        return self._vals[self._index[key]]

    def __getattr__(self, name: str) -> Any:
        # Only for names that are not attributes: the fields. The slots' names
        # start with "_" and are refused here, so that an unset slot cannot recurse.
        if not name.startswith("_"):
            index = self._index.get(name)
            if index is not None:
                return self._vals[index]
        raise AttributeError(f"{type(self).__name__} of {self._rname!r} has no field {name!r}")

    def __iter__(self) -> Iterator[Any]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def __repr__(self) -> str:
        fields = dict(zip(self._keys, self._vals, strict=True))
        return f"RecordView({self._rname!r}, {fields!r})"

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def from_snapshot(cls, tree: Any) -> Any:
        """Build a read-only replica from a :class:`~flatsync.protocol.RecordSnapshot` (see :meth:`Record.from_snapshot`).

        Raises:
            PatchError: ``tree`` is not a valid record snapshot.
        """
        _check_record_snapshot(tree, ())
        return _build_record(tree, True)

    def copy(self) -> RecordView:
        """An unattached copy (nested handlers copied, and writable)."""
        return _new_view(
            self._rid, self._rname, self._keys, [python_value(v) for v in self._vals], False
        )

    def to_python(self) -> RecordView:
        """An unattached copy (see :meth:`copy`)."""
        return self.copy()

    def __copy__(self) -> RecordView:
        return self.copy()

    def __deepcopy__(self, memo: dict[int, Any]) -> RecordView:
        return self.copy()

    def __reduce__(self) -> tuple[Any, ...]:
        values = [python_value(v) for v in self._vals]
        return (_new_view, (self._rid, self._rname, self._keys, values, False))


def _new_view(
    rid: int, name: str, keys: tuple[str, ...], values: list[Any], readonly: bool
) -> RecordView:
    view = RecordView.__new__(RecordView)
    _init_base(view, readonly)
    view._rid = rid
    view._rname = name
    view._keys = keys
    view._index = {key: i for i, key in enumerate(keys)}
    view._vals = []
    for key, given in zip(keys, values, strict=True):
        value = given
        if type(value) not in VALUE_TYPES:
            if readonly:
                value._parent = view
                value._key = key
            else:
                value = adopt(view, key, value)
        view._vals.append(value)
    return view


# -- snapshots in trees ----------------------------------------------------------------------


def _check_record_snapshot(tree: Any, path: Path) -> None:
    if type(tree) is not RecordSnapshot:
        raise PatchError(
            f"{format_path(path)}: expected a record snapshot (RecordSnapshot), "
            f"got {describe(tree)}"
        )
    rid: Any = tree.id
    values: Any = tree.values
    if type(rid) is not int or type(values) is not tuple:
        raise PatchError(f"{format_path(path)}: a malformed record snapshot {tree!r:.80}")
    name, fields, _ = _resolve(rid, path)
    if len(fields) != len(values):
        raise PatchError(
            f"{format_path(path)}: record {name!r} has {len(fields)} fields, "
            f"the snapshot holds {len(values)} values"
        )
    for key, value in zip(fields, values, strict=True):
        t = type(value)
        if t not in ATOMS and t is not float:
            check_snapshot_value(value, (*path, key))


def _build_record(tree: RecordSnapshot, readonly: bool) -> Any:
    name, fields, cls = _resolve(tree.id, ())
    if cls is None:
        values = [build_value(v, readonly) for v in tree.values]
        return _new_view(tree.id, name, fields, values, readonly)
    instance = cls.__new__(cls)
    _init_base(instance, readonly)
    for field, snapshot in zip(cls.__flatsync_record__.fields, tree.values, strict=True):
        value = snapshot
        if type(value) not in VALUE_TYPES:
            value = build_value(value, readonly)
            value._parent = instance
            value._key = field
        _OBJ_SETATTR(instance, field, value)
    return instance


register_marker(RecordSnapshot)
register_marker(RecordDelta)
SNAPSHOT_KINDS[RecordSnapshot] = (_check_record_snapshot, _build_record)
