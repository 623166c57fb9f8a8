"""Events that :meth:`~flatsync.DataHandler.patch` returns.

Events are frozen, slotted, keyword-constructed records (as h11's events are):
values that compare, print, and (when what they hold is hashable) hash.
``path`` is the tuple of keys (and list indices) from the root to the entry.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import attrs

__all__ = ["Added", "Changed", "Event", "Removed"]


@attrs.frozen(kw_only=True)
class Added:
    """An entry appeared at ``path`` with value ``new``."""

    path: tuple[Any, ...]
    new: Any


@attrs.frozen(kw_only=True)
class Removed:
    """The entry at ``path`` was removed; it held ``old``."""

    path: tuple[Any, ...]
    old: Any


@attrs.frozen(kw_only=True)
class Changed:
    """The entry at ``path`` went from ``old`` to ``new``.

    When a whole container is replaced, ``old`` is the detached handler and
    ``new`` the new one.
    """

    path: tuple[Any, ...]
    old: Any
    new: Any


Event: TypeAlias = Added | Removed | Changed
"""Any of the event records."""
