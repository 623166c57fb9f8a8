"""Composing deltas: ``merge`` and applying a delta to a snapshot tree.

These functions work on protocol trees only (no handlers), so that a session
can merge frames for a lagging client and build catch-up snapshots without
touching the live state.
"""

from __future__ import annotations

from typing import Any

from ._errors import PatchError
from ._markers import DELETED, Replace, TypedDelta, is_nested
from ._values import ABSENT, Delta, Path, Snapshot, describe, format_path

__all__ = ["apply_delta", "merge"]


def merge(first: Delta, second: Delta) -> Delta:
    """Compose two deltas of the same handler into one.

    Applying ``merge(first, second)`` to a replica has the same result as
    applying ``first`` and then ``second``, for every handler kind and every
    marker. Neither argument is modified.

    >>> from flatsync import DELETED, merge
    >>> merge({3: {"hp": 6}}, {3: {"hp": 5}, 2: DELETED})
    {3: {'hp': 5}, 2: flatsync.DELETED}

    Raises:
        PatchError: ``second`` cannot follow ``first`` (for example a nested
            delta for a key that ``first`` set to a scalar); the message names
            the path.
    """
    return _merge_deltas(first, second, ())


def _merge_deltas(first: Any, second: Any, path: Path) -> Any:
    if type(first) is dict and type(second) is dict:
        return _merge_dicts(first, second, path)
    if isinstance(first, TypedDelta) and type(second) is type(first):
        return first.merged(second, path)
    raise PatchError(
        f"{format_path(path)}: cannot merge a {describe(first)} delta "
        f"with a {describe(second)} delta"
    )


def _merge_dicts(first: dict[Any, Any], second: dict[Any, Any], path: Path) -> dict[Any, Any]:
    out = dict(first)
    for key, later in second.items():
        earlier = out.get(key, ABSENT)
        if earlier is ABSENT:
            out[key] = later
        elif is_nested(later):
            out[key] = _merge_nested(earlier, later, (*path, key))
        elif later is DELETED:
            out[key] = DELETED
        elif type(later) is Replace or earlier is DELETED:
            # The entry is dropped and inserted again: the later key object wins.
            del out[key]
            out[key] = later if type(later) is Replace else Replace(later)
        elif type(earlier) is Replace:
            out[key] = Replace(later)
        else:
            out[key] = later
    return out


def _merge_nested(earlier: Any, later: Any, path: Path) -> Any:
    if type(earlier) is Replace:
        return Replace(apply_delta(earlier.value, later, path))
    if is_nested(earlier):
        return _merge_deltas(earlier, later, path)
    if earlier is DELETED or type(later) is dict:
        raise PatchError(
            f"{format_path(path)}: a nested delta cannot follow {describe(earlier)} "
            "set by the earlier delta"
        )
    return apply_delta(earlier, later, path)


def apply_delta(snapshot: Snapshot, delta: Delta, path: Path = ()) -> Snapshot:
    """Return a new snapshot: ``snapshot`` with ``delta`` applied (neither is modified).

    Raises:
        PatchError: the delta does not fit the snapshot.
    """
    if type(delta) is not dict:
        if isinstance(delta, TypedDelta):
            return delta.applied_to(snapshot, path)
        raise PatchError(f"{format_path(path)}: {describe(delta)} is not a delta")
    if type(snapshot) is not dict:
        raise PatchError(
            f"{format_path(path)}: a mapping delta needs a mapping, found {describe(snapshot)}"
        )
    out = dict(snapshot)
    for key, change in delta.items():
        if change is DELETED:
            out.pop(key, None)
        elif type(change) is Replace:
            out.pop(key, None)
            out[key] = change.value
        elif is_nested(change):
            out[key] = apply_delta(out.get(key, ABSENT), change, (*path, key))
        else:
            out[key] = change
    return out
