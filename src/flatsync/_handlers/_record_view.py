"""RecordView, the replica of a record whose class is not registered here; records from snapshots.

Building a record from its snapshot needs both the registered classes and
:class:`RecordView`, so it lives here, beside the view.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .._native import compiled as _compiled
from .._tree._errors import PatchError
from .._tree._events import Added, Changed, Removed
from .._tree._markers import DELETED
from .._tree._records import RecordDelta, RecordSnapshot, resolve_record
from .._tree._values import ATOMS, VALUE_TYPES, Path, format_path
from ._base import SNAPSHOT_KINDS, adopt, build_value, check_snapshot_value, python_value
from ._data import DataHandler
from ._record import _OBJ_SETATTR, Record, _init_base

__all__ = ["RecordView", "new_view"]


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
    def _check_root(cls, tree: Any) -> None:
        # Any record snapshot: built as its registered class or as a view (as Record does).
        return

    def _recipe(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        values = [python_value(v) for v in self._vals]
        return new_view, (self._rid, self._rname, self._keys, values, False)

    def to_python(self) -> RecordView:
        """An unattached, writable copy (see :meth:`~flatsync.Handler.copy`)."""
        return self.copy()


def new_view(
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


def _check_record_snapshot(tree: RecordSnapshot, path: Path) -> None:
    rid: Any = tree.id
    values: Any = tree.values
    if type(rid) is not int or type(values) is not tuple:
        raise PatchError(f"{format_path(path)}: a malformed record snapshot {tree!r:.80}")
    name, fields, _ = resolve_record(rid, path)
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
    name, fields, cls = resolve_record(tree.id, ())
    if cls is None:
        values = [build_value(v, readonly) for v in tree.values]
        return new_view(tree.id, name, fields, values, readonly)
    record_cls: type[Record] = cls
    instance = record_cls.__new__(record_cls)
    _init_base(instance, readonly)
    for field, snapshot in zip(cls.__flatsync_record__.fields, tree.values, strict=True):
        value = snapshot
        if type(value) not in VALUE_TYPES:
            value = build_value(value, readonly)
            value._parent = instance
            value._key = field
        _OBJ_SETATTR(instance, field, value)
    return instance


SNAPSHOT_KINDS[RecordSnapshot] = (_check_record_snapshot, _build_record)


# The C accelerator's patch fast path handles DataHandlers and records (not views).
if _compiled is not None:
    _compiled.configure_handlers(
        DataHandler, Record, RecordView, RecordDelta, Changed, Added, Removed, DELETED
    )
