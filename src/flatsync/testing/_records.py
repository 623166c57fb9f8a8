"""Tests that declare or forget record classes, without writing into the registry by hand.

Re-exported by :mod:`flatsync.testing`; no hypothesis needed. This module is the
one place outside the handlers that touches the process's registry of record
classes and schemas.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

from .._handlers._record import Record
from .._tree._records import _CLASSES, _SCHEMAS  # the registry: only here

__all__ = ["forget_records", "record_registry"]


@contextlib.contextmanager
def record_registry() -> Iterator[Mapping[str, type[Record]]]:
    """Save the registry of record classes and schemas; put it back as it was on exit.

    Record classes declared inside the block, and schemas added with
    :func:`~flatsync.protocol.add_record_schemas`, are forgotten afterwards;
    records forgotten inside (:func:`forget_records`) are known again. The
    block gets a read-only live view of the registered classes by record name.
    As a pytest fixture::

        @pytest.fixture
        def records():
            with flatsync.testing.record_registry() as classes:
                yield classes

    >>> import flatsync
    >>> with record_registry() as classes:
    ...     @flatsync.record(name="Scratch")
    ...     class Scratch:
    ...         x: int
    ...     "Scratch" in classes
    True
    >>> with record_registry() as classes:
    ...     "Scratch" in classes
    False
    """
    classes = dict(_CLASSES)
    schemas = dict(_SCHEMAS)
    try:
        yield MappingProxyType(_CLASSES)
    finally:
        _CLASSES.clear()
        _CLASSES.update(classes)
        _SCHEMAS.clear()
        _SCHEMAS.update(schemas)


@contextlib.contextmanager
def forget_records(*records: type[Record] | str, keep_schemas: bool = False) -> Iterator[None]:
    """Act as a process that lacks some record classes, inside the block.

    A replica built or patched inside the block holds those records as
    :class:`~flatsync.RecordView` mappings when their schemas stay known
    (``keep_schemas=True``, as if added with
    :func:`~flatsync.protocol.add_record_schemas`), and refuses them with
    :class:`~flatsync.PatchError` otherwise. The registry is put back on exit
    (see :func:`record_registry`).

    Args:
        records: Record classes, or their record names.
        keep_schemas: Keep the records' schemas (forget only the classes).

    Raises:
        KeyError: a name that no registered record class has.

    >>> import flatsync
    >>> codec = flatsync.CborCodec()
    >>> with record_registry():  # Wisp is forgotten afterwards
    ...     @flatsync.record(name="Wisp")
    ...     class Wisp:
    ...         hp: int
    ...     packet = codec.encode({"w": Wisp(3).snapshot()})
    ...     with forget_records(Wisp, keep_schemas=True):
    ...         replica = flatsync.DataHandler.from_snapshot(codec.decode(packet))
    >>> replica["w"]
    RecordView('Wisp', {'hp': 3})
    """
    with record_registry():
        for record in records:
            name = record if isinstance(record, str) else _record_name(record)
            cls = _CLASSES.pop(name)
            if not keep_schemas:
                _SCHEMAS.pop(_record_id(cls), None)
        yield


def _record_name(cls: type[Record]) -> str:
    spec: Any = getattr(cls, "__flatsync_record__", None)
    if spec is None:
        raise KeyError(f"{cls.__name__} is not a record class")
    name: str = spec.name
    return name


def _record_id(cls: type[Record]) -> int:
    spec: Any = cls.__flatsync_record__
    record_id: int = spec.id
    return record_id
