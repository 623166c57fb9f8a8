"""Hypothesis strategies for everything a handler holds: keys, values, snapshots, NaNs.

Re-exported by :mod:`flatsync.testing`; this module needs hypothesis.
"""

from __future__ import annotations

import functools
import math
import struct
from typing import Any

from hypothesis import strategies as st

__all__ = ["keys", "nans", "snapshots", "values"]

_float_from_bits = struct.Struct("<d").unpack
_pack_bits = struct.Struct("<Q").pack
_unpack_half = struct.Struct(">e").unpack
_unpack_single = struct.Struct(">f").unpack

# -- hypothesis strategies -----------------------------------------------------------
#
# The strategies are built once. The public functions hand them out through small
# ``st.composite`` wrappers, whose repr is one short call: hypothesis describes the
# strategy of a failing draw, and the repr of the whole tree of strategies would be
# tens of kilobytes (which hypothesis warns about).

#: Keys that are one dict key but different objects: the classic type traps.
_CONFUSABLE_KEYS = (0, 0.0, -0.0, False, 1, 1.0, True, (1,), (1.0,), (True,), 2, 2.0)


def _nan_from_bits(sign: bool, quiet: bool, payload: int) -> float:
    bits = 0x7FF0_0000_0000_0000 | (0x0008_0000_0000_0000 if quiet else 0) | payload
    if bits & 0x000F_FFFF_FFFF_FFFF == 0:  # that would be an infinity
        bits |= 1
    if sign:
        bits |= 1 << 63
    value: float = _float_from_bits(_pack_bits(bits))[0]
    return value


_NANS = st.builds(
    _nan_from_bits, st.booleans(), st.booleans(), st.integers(0, 0x0007_FFFF_FFFF_FFFF)
)

_INTEGERS = st.one_of(
    st.integers(-1000, 1000),
    st.integers(),
    # Around the CBOR boundaries: 1, 2, 4 and 8 byte heads, then bignums.
    st.sampled_from([23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**64 - 1, 2**64]).flatmap(
        lambda n: st.sampled_from([n, -n, -n - 1])
    ),
    st.integers(min_value=2**64, max_value=2**200),
    st.integers(min_value=-(2**200), max_value=-(2**64) - 1),
)


def _from_half(bits: int) -> float:
    value: float = _unpack_half(bits.to_bytes(2, "big"))[0]
    return value


def _from_single(bits: int) -> float:
    value: float = _unpack_single(bits.to_bytes(4, "big"))[0]
    return value


_FLOATS = st.one_of(
    st.floats(allow_nan=False),
    st.sampled_from([0.0, -0.0, 1.0, 1.5, -2.5, 65504.0, 1e300, math.inf, -math.inf]),
    # Values that half and single precision hold exactly (the short encodings). Built
    # from bits: st.floats(width=16) rejects draws, which costs examples.
    st.integers(0, 0xFFFF).map(_from_half).filter(lambda x: x == x),
    st.integers(0, 0xFFFF_FFFF).map(_from_single).filter(lambda x: x == x),
)

_SCALAR_KEYS = st.one_of(
    st.sampled_from(_CONFUSABLE_KEYS[:7]),
    _INTEGERS,
    st.text(max_size=6),
    st.binary(max_size=6),
    st.booleans(),
    st.none(),
    _FLOATS,
)

_KEYS = st.one_of(
    st.sampled_from(_CONFUSABLE_KEYS),
    _SCALAR_KEYS,
    st.lists(_SCALAR_KEYS, max_size=3).map(tuple),
    st.lists(st.lists(_SCALAR_KEYS, max_size=2).map(tuple), min_size=1, max_size=2).map(tuple),
)

_SCALARS = st.one_of(
    _INTEGERS,
    _FLOATS,
    _NANS,
    st.text(max_size=10),
    st.binary(max_size=10),
    st.booleans(),
    st.none(),
)

_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3).map(tuple), max_leaves=6)


@st.composite
def _nans(draw: st.DrawFn) -> float:
    return draw(_NANS)


@st.composite
def _keys(draw: st.DrawFn) -> Any:
    return draw(_KEYS)


@st.composite
def _values(draw: st.DrawFn) -> Any:
    return draw(_VALUES)


@st.composite
def _snapshots(draw: st.DrawFn, max_depth: int, max_size: int, lists: bool) -> dict[Any, Any]:
    return draw(_mapping(max_depth, max_size, lists))


def nans() -> st.SearchStrategy[float]:
    """NaNs of either sign with every payload, quiet and signalling, each with its own bits."""
    return _nans()


def keys() -> st.SearchStrategy[Any]:
    """Every kind of mapping key: ``int`` (bigints too), ``str``, ``bytes``, ``bool``,
    ``float`` (infinities and ``-0.0``, never NaN), ``None`` and tuples of those.

    Keys that Python treats as one (``1``, ``1.0``, ``True``; ``(1,)``, ``(1.0,)``)
    come often, so that tests meet the key-type traps.

    >>> from hypothesis import given
    >>> from flatsync import DataHandler
    >>> @given(keys())
    ... def test_any_key_is_accepted(key):
    ...     DataHandler()[key] = 1
    >>> test_any_key_is_accepted()
    """
    return _keys()


def values() -> st.SearchStrategy[Any]:
    """Every immutable value a handler stores as is.

    Scalars: ``int`` (bigints around the 64-bit boundaries too), ``float``
    (``-0.0``, infinities, half- and single-precision values, NaNs with every
    sign and payload), ``str``, ``bytes``, ``bool``, ``None``; and tuples of
    those, nested.

    >>> from hypothesis import given
    >>> from flatsync import CborCodec
    >>> from flatsync.testing import assert_strict_equal
    >>> @given(values())
    ... def test_round_trip(value):
    ...     codec = CborCodec()
    ...     assert_strict_equal(codec.decode(codec.encode({"v": value})), {"v": value})
    >>> test_round_trip()
    """
    return _values()


@functools.cache
def _node(depth: int, max_size: int, lists: bool) -> st.SearchStrategy[Any]:
    if depth <= 0:
        return _VALUES
    options = [_VALUES, _mapping(depth, max_size, lists)]
    if lists:
        options.append(st.lists(_node(depth - 1, max_size, lists), max_size=max_size))
    return st.one_of(options)


@functools.cache
def _mapping(depth: int, max_size: int, lists: bool) -> st.SearchStrategy[dict[Any, Any]]:
    return st.dictionaries(_KEYS, _node(depth - 1, max_size, lists), max_size=max_size)


def snapshots(
    max_depth: int = 3, *, max_size: int = 4, lists: bool = True
) -> st.SearchStrategy[dict[Any, Any]]:
    """Trees valid as a :class:`~flatsync.DataHandler` snapshot (or as its constructor's input).

    A ``dict`` of :func:`keys` to :func:`values`, nested ``dict`` and (with
    ``lists``) ``list`` snapshots.

    Args:
        max_depth: How many levels of containers a tree may have, the root
            included (``1`` is a flat mapping of values).
        max_size: Most entries in one container.
        lists: Whether lists (:class:`~flatsync.ListHandler` snapshots) appear.

    >>> from hypothesis import given
    >>> from flatsync import DataHandler
    >>> from flatsync.testing import assert_strict_equal
    >>> @given(snapshots(max_depth=2))
    ... def test_snapshot_is_stable(tree):
    ...     assert_strict_equal(DataHandler.from_snapshot(tree).snapshot(), tree)
    >>> test_snapshot_is_stable()
    """
    return _snapshots(max_depth, max_size, lists)
