"""Strategies the test modules share (as attrs keeps ``tests/strategies.py``).

The strategies for everything a handler holds are public, in :mod:`flatsync.testing`
(``keys``, ``values``, ``snapshots``, ``nans``); these build on them for the writes
that the state machines make.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from flatsync.testing import nans, snapshots, values

__all__ = ["containers", "new_values", "same_type_values", "scalar_values"]


@st.composite
def new_values(draw: st.DrawFn) -> Any:
    """What a write puts somewhere: mostly scalars, sometimes a whole new subtree."""
    return draw(
        st.one_of(
            values(),
            values(),
            values(),
            snapshots(max_depth=2, max_size=3),
            st.lists(values(), max_size=3),
            st.lists(snapshots(max_depth=1, max_size=2), max_size=2),
        )
    )


@st.composite
def containers(draw: st.DrawFn) -> Any:
    """A new container: a list of :func:`new_values` or a mapping snapshot."""
    return draw(st.one_of(st.lists(new_values(), max_size=3), snapshots(max_depth=2, max_size=3)))


@st.composite
def scalar_values(draw: st.DrawFn) -> Any:
    """One of :func:`flatsync.testing.values` (a composite: described in one line)."""
    return draw(values())


@st.composite
def same_type_values(draw: st.DrawFn, like: Any) -> Any:
    """A value of the type of ``like``: the common write (``hp -= 1``, a new name)."""
    kind = type(like)
    if kind is float:
        return draw(st.one_of(st.floats(), nans(), st.just(-like)))
    if kind is int:
        return draw(st.one_of(st.integers(like - 2, like + 2), st.integers()))
    if kind is tuple:
        return tuple(draw(same_type_values(item)) for item in like)
    return draw(st.from_type(kind) if kind in (str, bytes, bool) else values())
