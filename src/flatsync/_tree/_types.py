"""User value types: teaching every codec and every handler a type of your own.

A value type is an immutable class of yours (a frozen dataclass, an
``enum.Enum``, a ``datetime``, a ``uuid.UUID``) that a handler stores as it
is, like a tuple, and that every codec carries as a *named* protocol tree:
``to_tree`` turns a value into a tree, ``from_tree`` turns that tree back
into an equal value. One call to :func:`~flatsync.register_type` teaches the handlers
and every codec, including the codecs of other packages that build on
:class:`~flatsync.Codec`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from ._errors import DecodeError
from ._markers import Deleted, Marker
from ._values import ATOMS, VALUE_TYPES

__all__ = [
    "PROTOCOL_TYPES",
    "TYPES_BY_CLASS",
    "TYPES_BY_NAME",
    "ValueType",
    "register_type",
    "value_from_tree",
]

#: The longest name a value type may have (in characters).
MAX_NAME_LENGTH = 255


@attrs.frozen
class ValueType:
    """How one class of immutable values travels: a name and two functions.

    Build it with :func:`~flatsync.register_type`, which also makes it known to every
    handler and codec.

    Attributes:
        cls: The class. Only its exact instances are matched (as with the
            builtins: a subclass needs a registration of its own).
        name: The name that identifies the type on the wire; it must be the
            same on both sides, and it is what a peer sees.
        to_tree: Turns a value into a protocol tree (scalars, ``bytes``,
            tuples, ``dict`` and ``list``, and other registered values).
        from_tree: Turns such a tree back into a value equal to the original.
            On a receiver it runs on what a possibly hostile peer sent: it
            should check the shape of what it gets. Any exception it raises
            becomes a :class:`~flatsync.DecodeError`.
    """

    cls: type
    name: str
    to_tree: Callable[[Any], Any]
    from_tree: Callable[[Any], Any]


#: Every registered value type by class and by name.
TYPES_BY_CLASS: dict[type, ValueType] = {}
TYPES_BY_NAME: dict[str, ValueType] = {}

#: The classes that are part of the protocol: neither they nor their subclasses
#: can be registered as value types. The handler layer adds its base class
#: (``Handler``) when it is imported, so that this layer need not import it.
PROTOCOL_TYPES: list[type] = [Marker, Deleted, dict, list]


def register_type(
    cls: type,
    *,
    name: str,
    to_tree: Callable[[Any], Any],
    from_tree: Callable[[Any], Any],
) -> ValueType:
    """Teach flatsync an immutable value type of your own, for every handler and codec.

    After the call, handlers store instances of ``cls`` as values (like
    tuples: as they are, compared with ``==``), and every codec encodes them
    as ``name`` with the tree ``to_tree(value)``, and decodes them with
    ``from_tree(tree)``. Both sides of a connection must register the type
    under the same name.

    >>> import dataclasses, flatsync
    >>> @dataclasses.dataclass(frozen=True)
    ... class Vec2:
    ...     x: float
    ...     y: float
    >>> _ = flatsync.register_type(
    ...     Vec2, name="geo.Vec2", to_tree=lambda v: (v.x, v.y), from_tree=lambda t: Vec2(*t)
    ... )
    >>> codec = flatsync.CborCodec()
    >>> packet = codec.encode({"pos": Vec2(0.5, 2.0)})
    >>> codec.decode(packet)
    {'pos': Vec2(x=0.5, y=2.0)}

    The values must be immutable (a frozen dataclass, an ``Enum``, a
    ``datetime``, a ``UUID``): a handler does not see a change made inside
    one. They are values, not keys: a mapping key stays a scalar or a tuple
    of scalars. Registering the same class under the same name again
    replaces its functions.

    Args:
        cls: The class of the values; only its exact instances are matched.
        name: The type's name on the wire (1 to 255 characters).
        to_tree: Turns a value into a protocol tree.
        from_tree: Turns that tree back into an equal value; it runs on what
            a peer sent, so it should check the tree's shape.

    Returns:
        The registered :class:`~flatsync.protocol.ValueType`.

    Raises:
        TypeError: ``cls`` is not a class, or is a type flatsync already
            carries (``int``, ``tuple``, ``dict``, a handler, a marker, ...).
        ValueError: ``name`` is empty or too long, or the class or the name is
            already registered with another name or class. Nothing is
            registered then.
    """
    if not isinstance(cls, type):
        raise TypeError(f"register_type() needs a class, not {type(cls).__name__}")
    if cls in ATOMS or cls in (float, tuple) or issubclass(cls, tuple(PROTOCOL_TYPES)):
        raise TypeError(f"{cls.__name__} is already part of the protocol; it cannot be registered")
    if type(name) is not str or not 1 <= len(name) <= MAX_NAME_LENGTH:
        raise ValueError(f"a value type's name must be a str of 1 to {MAX_NAME_LENGTH} characters")
    if not callable(to_tree) or not callable(from_tree):
        raise TypeError("to_tree and from_tree must be callables")
    by_class = TYPES_BY_CLASS.get(cls)
    if by_class is not None and by_class.name != name:
        raise ValueError(f"{cls.__qualname__} is already registered as {by_class.name!r}")
    by_name = TYPES_BY_NAME.get(name)
    if by_name is not None and by_name.cls is not cls:
        raise ValueError(f"the name {name!r} is already taken by {by_name.cls.__qualname__}")
    value_type = ValueType(cls, name, to_tree, from_tree)
    TYPES_BY_CLASS[cls] = value_type
    TYPES_BY_NAME[name] = value_type
    VALUE_TYPES.add(cls)
    return value_type


def value_from_tree(name: Any, tree: Any) -> Any:
    """Rebuild a registered value from its decoded name and tree (for codecs).

    Raises:
        DecodeError: the name is not registered, or ``from_tree`` raised, or it
            returned something other than an instance of the registered class.
    """
    value_type = TYPES_BY_NAME.get(name) if type(name) is str else None
    if value_type is None:
        raise DecodeError(f"an unknown value type {name!r:.80}")
    try:
        value = value_type.from_tree(tree)
    except DecodeError:
        raise
    except Exception as exc:
        raise DecodeError(
            f"the value type {name!r} refused its tree: {type(exc).__name__}: {exc}"
        ) from exc
    if type(value) is not value_type.cls:
        raise DecodeError(
            f"the value type {name!r} built a {type(value).__name__}, "
            f"not a {value_type.cls.__name__}"
        )
    return value
