"""TypeScript declarations for record classes, as the JavaScript package reads them.

``flatsync types MODULE`` (see :mod:`._cli`) imports a module and writes a
``.d.ts`` file that declares each record class registered by it (and each
record its fields name, wherever it is declared) as a ``RecordOf`` of the
``flatsync`` npm package, its fields typed by their annotations: an ``int`` is
``number | bigint``, a ``float`` is ``number | Float``, a ``dict[K, V]`` a
``MapOf<K, V>``, and so on (the JavaScript page of the docs has the table).
"""

from __future__ import annotations

import collections.abc
import importlib
import json
import sys
import types
import typing
from collections.abc import Iterable
from typing import Any, cast

import attrs

from .._handlers._board import ByteHandler
from .._handlers._data import DataHandler
from .._handlers._list import ListHandler
from .._handlers._record import Record
from .._tree._records import _CLASSES
from .._tree._types import TYPES_BY_CLASS

__all__ = ["declarations", "records_of"]

#: Scalars, by Python class (``bool`` before ``int``: it is a subclass).
_SCALARS: dict[type, str] = {
    bool: "boolean",
    int: "number | bigint",
    float: "number | Float",
    str: "string",
    bytes: "Uint8Array",
    type(None): "null",
    bytearray: "Board",
    ByteHandler: "Board",
}

#: What the JavaScript package names, by the names the declarations use.
_IMPORTS = (
    "Board",
    "Float",
    "Key",
    "List",
    "ListOf",
    "MapOf",
    "PyMap",
    "Record",
    "RecordOf",
    "Tree",
    "TypedValueOf",
)
#: Names a record's declaration may not take (the imports, and what TypeScript has).
_RESERVED = {*_IMPORTS, "Map", "Array", "Uint8Array", "Object", "String", "Number"}


def records_of(module_name: str) -> list[type[Record]]:
    """Import ``module_name``; return the record classes it declares, in declaration order.

    A record counts when its class's module is ``module_name`` or one of its
    submodules (imported by it).

    Raises:
        ImportError: the module cannot be imported.
        ValueError: it declares no record.
    """
    module = importlib.import_module(module_name)
    prefix = module.__name__ + "."
    found: dict[type[Record], None] = {}
    for cls in _registered():
        if cls.__module__ == module.__name__ or cls.__module__.startswith(prefix):
            found[cls] = None
    if not found:
        raise ValueError(f"module {module_name!r} declares no record class")
    return list(found)


def _registered() -> list[type[Record]]:
    """Every record class this process registered, in declaration order within a module."""
    classes: list[type[Record]] = list(_CLASSES.values())
    return sorted(classes, key=_source_line)


def _source_line(cls: type) -> tuple[str, int]:
    code = getattr(vars(cls).get("__init__"), "__code__", None)
    return cls.__module__, getattr(code, "co_firstlineno", 0)


class _Writer:
    """Turns annotations into TypeScript types; collects the records they name."""

    def __init__(self, small_ints: bool) -> None:
        self.int = "number" if small_ints else "number | bigint"
        self.names: dict[type[Record], str] = {}
        self.pending: list[type[Record]] = []

    def name(self, cls: type[Record]) -> str:
        known = self.names.get(cls)
        if known is None:
            base = _identifier(cls.__flatsync_record__.name)
            taken = {*self.names.values(), *_RESERVED}
            known, n = base, 2
            while known in taken:
                known, n = f"{base}{n}", n + 1
            self.names[cls] = known
            self.pending.append(cls)
        return known

    def type(self, hint: Any) -> str:
        if hint is Any or hint is object:
            return "Tree"
        if hint is None or hint is type(None):
            return "null"
        origin = typing.get_origin(hint)
        args = typing.get_args(hint)
        if origin is typing.Annotated:
            return self.type(args[0])
        if origin is typing.Union or origin is types.UnionType:
            return " | ".join(_unique(self.type(arg) for arg in args))
        if origin is typing.Literal:
            return " | ".join(_unique(_literal(arg) for arg in args))
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                return f"readonly ({self.type(args[0])})[]"
            if args == ((),):
                return "readonly []"
            return "readonly [" + ", ".join(self.type(arg) for arg in args) + "]"
        if origin in (dict, collections.abc.Mapping, collections.abc.MutableMapping):
            key, value = (self.type(arg) for arg in args) if args else ("Key", "Tree")
            return f"MapOf<{key}, {value}>"
        if origin in (list, collections.abc.Sequence, collections.abc.MutableSequence):
            return f"ListOf<{self.type(args[0]) if args else 'Tree'}>"
        if origin is not None:
            return "Tree"
        if isinstance(hint, typing.NewType):
            return self.type(hint.__supertype__)
        if not isinstance(hint, type):
            return "Tree"
        if hint is int:
            return self.int
        if hint in _SCALARS:
            return _SCALARS[hint]
        if hint is tuple:
            return "readonly Tree[]"
        if hint is dict or issubclass(hint, DataHandler):
            return "PyMap"
        if hint is list or issubclass(hint, ListHandler):
            return "List"
        value_type = TYPES_BY_CLASS.get(hint)
        if value_type is not None:
            return f"TypedValueOf<{json.dumps(value_type.name)}>"
        if issubclass(hint, Record):
            if "__flatsync_record__" in vars(hint):
                return self.name(hint)
            return "Record"
        return "Tree"


def _unique(items: Iterable[str]) -> list[str]:
    out: list[str] = []
    for item in items:
        for part in item.split(" | "):
            if part not in out:
                out.append(part)
    return out


def _literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and abs(value) < 2**53:
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    return "Tree"


def _identifier(name: str) -> str:
    """A TypeScript identifier for a record name (``arena.Player`` gives ``ArenaPlayer``)."""
    parts = [part for part in "".join(c if c.isalnum() else " " for c in name).split() if part]
    text = "".join(part[:1].upper() + part[1:] for part in parts) or "Record"
    return "_" + text if text[0].isdigit() else text


def _hints(cls: type[Record]) -> dict[str, Any]:
    """The fields' annotations, resolved; a field whose annotation does not resolve is ``Any``."""
    out: dict[str, Any] = {}
    for field in attrs.fields(cast(Any, cls)):
        out[field.name] = _resolve(cls, field.name, field.type)
    return out


def _resolve(cls: type, name: str, hint: Any) -> Any:
    """A field's annotation; a string one evaluated in the module of the class that declares it."""
    if not isinstance(hint, str):
        return Any if hint is None else hint
    for owner in cls.__mro__:
        if name in vars(owner).get("__annotations__", {}):
            break
    else:  # pragma: no cover - attrs found the field in some class of the MRO
        owner = cls
    module = sys.modules.get(owner.__module__)
    namespace = dict(vars(module)) if module is not None else {}
    namespace.setdefault(owner.__name__, owner)
    try:
        return eval(hint, namespace)
    except Exception:
        return Any


def declarations(classes: Iterable[type[Record]], *, small_ints: bool = False, title: str) -> str:
    """The ``.d.ts`` text that declares ``classes`` (and the records their fields name).

    Args:
        classes: Record classes (see :func:`records_of`).
        small_ints: Declare ``int`` as ``number`` (for states whose ints stay
            within 2**53 - 1 in magnitude; beyond, the package reads a ``bigint``).
        title: What the header comment says the file was made from.
    """
    writer = _Writer(small_ints)
    for cls in classes:
        writer.name(cls)
    blocks: list[str] = []
    done = 0
    while done < len(writer.pending):
        cls = writer.pending[done]
        done += 1
        spec = cls.__flatsync_record__
        name = writer.names[cls]
        hints = _hints(cls)
        fields = "".join(
            f"  readonly {_property(field)}: {writer.type(hints[field])};\n"
            for field in spec.fields
        )
        blocks.append(
            f"/** The record {json.dumps(spec.name)} (id {spec.id}): "
            f"{cls.__module__}.{cls.__qualname__}. */\n"
            f"export type {name}Fields = {{\n{fields}}};\n"
            f"export interface {name} extends RecordOf<{json.dumps(spec.name)}, {name}Fields> {{\n"
            f"  readonly id: {spec.id};\n}}\n"
        )
    body = "\n".join(blocks)
    used = [name for name in _IMPORTS if _mentions(body, name)]
    head = (
        f"// Written by `flatsync types` from {title}: do not edit (run it again).\n"
        "// The record classes as the flatsync npm package reads them.\n"
    )
    if used:
        head += f'import type {{ {", ".join(sorted(used))} }} from "flatsync";\n'
    return head + "\n" + body


def _property(name: str) -> str:
    return name if name.isascii() and name.isidentifier() else json.dumps(name)


def _mentions(text: str, name: str) -> bool:
    index = text.find(name)
    while index >= 0:
        before = text[index - 1] if index else " "
        after = text[index + len(name)] if index + len(name) < len(text) else " "
        if not (before.isalnum() or before == "_") and not (after.isalnum() or after == "_"):
            return True
        index = text.find(name, index + 1)
    return False
