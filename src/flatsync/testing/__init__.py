"""Helpers for testing code built on flatsync: strict equality, strategies, a source/replica pair.

The strategies, the codec conformance suite and :class:`ConvergenceMachine`
need `hypothesis <https://hypothesis.readthedocs.io>`_, which flatsync itself
does not depend on: install the optional extra ``flatsync[testing]``
(``pip install "flatsync[testing]"``). The rest (strict equality, the sync
harnesses, the record registry helpers) works without it, and importing this
module does not import hypothesis until one of those names is used.

* :func:`strict_equal` and :func:`assert_strict_equal` compare two states or
  protocol trees the way flatsync promises to keep them: same types at every
  level (``1``, ``1.0`` and ``True`` differ, as values *and* as keys), floats
  bit for bit, tuples apart from lists.
* :func:`keys`, :func:`values` and :func:`snapshots` are hypothesis strategies
  for everything a :class:`~flatsync.DataHandler` may hold.
* :class:`SyncPair` keeps a source and a replica connected through a codec, so
  that a sync test is three lines long; :class:`Convergence` keeps three
  replicas in step with a source and checks every tick strictly, and
  :class:`ConvergenceMachine` is the base of a hypothesis state machine built
  on it (the one flatsync's own machines share).
* :func:`record_registry` and :func:`forget_records` let a test declare or
  forget record classes and put the registry back afterwards.
* :func:`check_codec` holds a codec (flatsync's or your own) to the codec
  contract: exact round trips of every tree :func:`protocol_trees` generates,
  and on every packet :func:`hostile_packets` generates either a tree that
  round-trips or a :class:`~flatsync.FlatsyncError`.

>>> from flatsync import DataHandler
>>> from flatsync.testing import SyncPair
>>> pair = SyncPair(DataHandler({"hp": 8}))
>>> pair.source["hp"] = 7
>>> pair.tick().hex(" ")
'a1 62 68 70 07'
>>> pair.assert_synced()
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._equal import assert_strict_equal, strict_equal
from ._harness import Convergence, SyncPair
from ._records import forget_records, record_registry

if TYPE_CHECKING:
    from ._conformance import (
        check_codec,
        colliding_keys,
        hostile_packets,
        permissive_twin,
        protocol_trees,
    )
    from ._machine import ConvergenceMachine
    from ._strategies import keys, nans, snapshots, values

__all__ = [
    "Convergence",
    "ConvergenceMachine",
    "SyncPair",
    "assert_strict_equal",
    "check_codec",
    "colliding_keys",
    "forget_records",
    "hostile_packets",
    "keys",
    "nans",
    "permissive_twin",
    "protocol_trees",
    "record_registry",
    "snapshots",
    "strict_equal",
    "values",
]

#: The names that need hypothesis, and the private module of each: imported on first use.
_WITH_HYPOTHESIS = {
    "ConvergenceMachine": "_machine",
    "check_codec": "_conformance",
    "colliding_keys": "_conformance",
    "hostile_packets": "_conformance",
    "permissive_twin": "_conformance",
    "protocol_trees": "_conformance",
    "keys": "_strategies",
    "nans": "_strategies",
    "snapshots": "_strategies",
    "values": "_strategies",
}


def _publish(scope: dict[str, Any]) -> None:
    """Name ``flatsync.testing`` as the module of what it re-exports (as ``flatsync`` does)."""
    for obj in scope.values():
        module = getattr(obj, "__module__", None)
        if isinstance(module, str) and module.startswith(f"{__name__}._"):
            obj.__module__ = __name__


_publish({name: globals()[name] for name in __all__ if name not in _WITH_HYPOTHESIS})


# Hidden from type checkers, which see the imports above instead: a module-level
# __getattr__ would make every misspelt name of this module an Any to them.
if not TYPE_CHECKING:

    def __getattr__(name: str) -> Any:
        """Import a name that needs hypothesis on first use (PEP 562)."""
        module_name = _WITH_HYPOTHESIS.get(name)
        if module_name is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        try:
            module = importlib.import_module(f"{__name__}.{module_name}")
        except ImportError as exc:
            if exc.name is None or exc.name.partition(".")[0] != "hypothesis":
                raise
            raise ImportError(
                f"flatsync.testing.{name} needs hypothesis: "
                'install the extra flatsync[testing] (pip install "flatsync[testing]")',
                name=exc.name,
            ) from exc
        scope = {key: getattr(module, key) for key in module.__all__}
        _publish(scope)
        globals().update(scope)
        return scope[name]

    def __dir__() -> list[str]:
        return sorted({*globals(), *__all__})
