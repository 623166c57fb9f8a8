"""Records on the wire: ids, the registry of record classes and schemas, and the markers.

* :class:`~flatsync.protocol.RecordSnapshot`, tag 11: an array ``[id, value, value, ...]``: the
  record's id (an unsigned integer below 65,536, agreed without coordination:
  a hash of the record's name, see :func:`flatsync.record`), then the field values in
  declaration order.
* :class:`~flatsync.protocol.RecordDelta`, tag 12: a map from field index (declaration order, from
  0) to the change, which reads like a value in a mapping delta.

The registry (record classes by name, schemas by id, and the schemas a
replica learned from its publisher while it applies a packet) lives here,
below the handlers, because the markers name records through it. The record
classes themselves are built in ``flatsync._handlers._record``.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeAlias

from ._errors import DecodeError, PatchError
from ._markers import (
    DELETED,
    Marker,
    Replace,
    TypedDelta,
    is_nested,
    register_marker,
    snapshot_item,
)
from ._merge import _merge_dicts, apply_delta
from ._values import ATOMS, SCALARS, Path, Snapshot, cbor_head_size, describe, format_path

__all__ = [
    "ID_LIMIT",
    "RecordDelta",
    "RecordSnapshot",
    "Schema",
    "add_record_schemas",
    "check_delta_shape",
    "claim_record",
    "has_records",
    "merge_schemas",
    "record_ids",
    "record_schemas",
    "register_record_class",
    "resolve_record",
    "schema_of",
    "schemas_in_use",
]


# -- record ids and the registry -----------------------------------------------------------

#: Record ids are unsigned integers below this (at most 3 bytes of CBOR).
ID_LIMIT = 0x1_0000

#: A schema: the record's name and its field names, in declaration order.
Schema: TypeAlias = tuple[str, tuple[str, ...]]

#: Record classes by their wire name.
_CLASSES: dict[str, type[Any]] = {}
#: Schemas by record id: of every registered class, and of those added without one.
_SCHEMAS: dict[int, Schema] = {}

#: The schemas a :class:`~flatsync.Replica` learned from its publisher, while it
#: applies a packet: they come before the process's own (see :func:`_resolve`).
_TABLE: contextvars.ContextVar[Mapping[int, Schema] | None] = contextvars.ContextVar(
    "flatsync_record_schemas", default=None
)


def _id_budget(fields: Sequence[str]) -> int:
    """How many bytes a record's id may take so that its snapshot is no larger than the mapping's.

    A snapshot costs its tag (1 byte), its array head and its id beyond the
    values; the equivalent mapping costs its map head and its keys.
    """
    keys = sum(cbor_head_size(len(field.encode())) + len(field.encode()) for field in fields)
    return cbor_head_size(len(fields)) + keys - 1 - cbor_head_size(len(fields) + 1)


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
        return int(cls.__flatsync_record__.id)
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


def resolve_record(rid: int, path: Path) -> tuple[str, tuple[str, ...], type[Any] | None]:
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
    if cbor_head_size(given) > _id_budget(names):
        raise ValueError(
            f"record {wire_name!r}: the id {given} would make its snapshot larger than the "
            f"equivalent mapping's; give an id below {space}"
        )
    return given


def claim_record(wire_name: str, names: tuple[str, ...], given_id: Any, cls: type) -> int:
    """Check that ``cls`` may be registered as record ``wire_name``; return its id.

    Raises:
        TypeError, ValueError: see :func:`flatsync.record`. Nothing is registered.
    """
    rid = _record_id(wire_name, names, given_id)
    known = _CLASSES.get(wire_name)
    if known is not None and (known.__module__, known.__qualname__) != (
        cls.__module__,
        cls.__qualname__,
    ):
        raise ValueError(
            f"the record name {wire_name!r} is taken by {known.__module__}.{known.__qualname__}; "
            "give this class another name, e.g. @flatsync.record(name=...)"
        )
    # The same class declared again (a module reloaded, a notebook cell run again)
    # replaces its earlier self, if its shape on the wire is the same: with other
    # fields, the instances made before would reach replicas with their values
    # under the new field names, by position.
    if known is not None:
        spec = known.__flatsync_record__
        old_names = tuple(spec.fields)
        if old_names != names or spec.id != rid:
            was = f"the fields {old_names}" if old_names != names else f"the id {spec.id}"
            now = f"{names}" if old_names != names else f"{rid}"
            raise ValueError(
                f"record {wire_name!r} is already declared in this process with {was}, "
                f"not {now}: a record's fields and id cannot change while it runs (the "
                "instances made before would arrive with their fields renamed); restart "
                "the process, or give the new class another name"
            )
    previous = _previous_id(wire_name)
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
    return rid


def _previous_id(wire_name: str) -> int | None:
    known = _CLASSES.get(wire_name)
    return None if known is None else int(known.__flatsync_record__.id)


def register_record_class(cls: type, wire_name: str, rid: int, names: tuple[str, ...]) -> None:
    """Register ``cls`` (checked by :func:`claim_record`) as record ``wire_name``, id ``rid``."""
    previous = _previous_id(wire_name)
    if previous is not None:
        _SCHEMAS.pop(previous, None)
    _CLASSES[wire_name] = cls
    _SCHEMAS[rid] = (wire_name, names)


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
        values = content[1:]
        for value in values:
            if type(value) not in SCALARS:  # scalars are snapshot values: skip the call
                snapshot_item(value, "a record snapshot")
        return cls(rid, values)

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
        if type(later) is not RecordDelta:
            raise PatchError(
                f"{format_path(path)}: cannot merge a record delta with a {describe(later)} delta"
            )
        check_delta_shape(self, path)
        check_delta_shape(later, path)
        return RecordDelta(_merge_dicts(self.changes, later.changes, path))

    def applied_to(self, snapshot: Snapshot, path: tuple[Any, ...]) -> Snapshot:
        """A new :class:`~flatsync.protocol.RecordSnapshot`: ``snapshot`` with this delta applied.

        Raises:
            PatchError: ``snapshot`` is not a record snapshot, or the delta does
                not fit it (a field index out of range, a nested delta for a
                field that holds no matching container).
        """
        if type(snapshot) is not RecordSnapshot or type(snapshot.values) is not tuple:
            raise PatchError(
                f"{format_path(path)}: a record delta needs a record, found {describe(snapshot)}"
            )
        check_delta_shape(self, path)
        values = list(snapshot.values)
        for index, change in self.changes.items():
            if index >= len(values):
                raise PatchError(
                    f"{format_path(path)}: field index {index} is out of range for record "
                    f"{snapshot.name or snapshot.id!r} of {len(values)} fields"
                )
            if type(change) is Replace:
                values[index] = change.value
            elif is_nested(change):
                values[index] = apply_delta(values[index], change, (*path, index))
            else:
                values[index] = change
        return RecordSnapshot(snapshot.id, tuple(values))


def check_delta_shape(delta: RecordDelta, path: Path) -> None:
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


register_marker(RecordSnapshot)
register_marker(RecordDelta)
