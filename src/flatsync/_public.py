"""How the public namespaces name what they re-export from the private layers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["publish"]


def publish(namespace: str, scope: dict[str, Any], names: Iterable[str]) -> None:
    """Give each re-exported class and function the public module it is documented in.

    cbor2 5.x does this in its ``__init__``: tracebacks, ``repr`` and the API
    docs then say ``flatsync.DataHandler`` where the class is defined in
    ``flatsync._handlers._data``. An object that several namespaces re-export
    keeps the first name it was given: the root, which every namespace imports first.
    """
    for name in names:
        obj = scope[name]
        module = getattr(obj, "__module__", None)
        if (
            (isinstance(obj, type) or callable(obj))
            and isinstance(module, str)
            and module.startswith("flatsync._")
        ):
            obj.__module__ = namespace
