"""Helpers for testing code built on flatsync: strict equality, strategies, a source/replica pair.

This module needs `hypothesis <https://hypothesis.readthedocs.io>`_, which
flatsync itself does not depend on: install the optional extra
``flatsync[testing]`` (``pip install "flatsync[testing]"``).

* :func:`strict_equal` and :func:`assert_strict_equal` compare two states or
  protocol trees the way flatsync promises to keep them: same types at every
  level (``1``, ``1.0`` and ``True`` differ, as values *and* as keys), floats
  bit for bit, tuples apart from lists.
* :func:`keys`, :func:`values` and :func:`snapshots` are hypothesis strategies
  for everything a :class:`~flatsync.DataHandler` may hold.
* :class:`SyncPair` keeps a source and a replica connected through a codec, so
  that a sync test is three lines long.
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

import functools
import math
import struct
from typing import Any

from hypothesis import strategies as st

from .._codecs._cbor import CborCodec
from .._codecs._codec import Codec
from .._handlers._data import DataHandler
from .._handlers._list import ListHandler
from .._tree._events import Event
from .._tree._list_ops import ListDelta
from .._tree._markers import DELETED, Replace
from .._tree._merge import apply_delta, merge
from ._conformance import (
    check_codec,
    colliding_keys,
    hostile_packets,
    permissive_twin,
    protocol_trees,
)

__all__ = [
    "Convergence",
    "SyncPair",
    "assert_strict_equal",
    "check_codec",
    "colliding_keys",
    "hostile_packets",
    "keys",
    "nans",
    "permissive_twin",
    "protocol_trees",
    "snapshots",
    "strict_equal",
    "values",
]

_pack_double = struct.Struct("<d").pack
_float_from_bits = struct.Struct("<d").unpack
_pack_bits = struct.Struct("<Q").pack
_unpack_half = struct.Struct(">e").unpack
_unpack_single = struct.Struct(">f").unpack


# -- strict equality --------------------------------------------------------------


_ATOMS = frozenset({int, str, bytes, bool, type(None)})


#: Exact types whose kind needs no ``isinstance`` and no ``_strict_form`` lookup.
_PLAIN_KINDS: dict[type, type] = {
    dict: dict,
    DataHandler: dict,
    list: list,
    ListHandler: list,
    tuple: tuple,
    float: float,
}


def _kind(value: Any) -> Any:
    """The type that strict equality compares: handlers count as their plain container."""
    t = type(value)
    if t is dict or isinstance(value, DataHandler):
        return dict
    if t is list or isinstance(value, ListHandler):
        return list
    return t


def _kind_name(value: Any) -> str:
    return type(value).__name__


def _path_text(path: tuple[Any, ...]) -> str:
    return "root" + "".join(f"[{key!r}]" for key in path)


def _strict_form(value: Any) -> Any:
    """``(kind, ...)`` for a value that compares by a form of its own (boards, records), or None."""
    form = getattr(type(value), "_strict_form", None)
    return None if form is None else form(value)


def _first_difference(a: Any, b: Any, path: tuple[Any, ...]) -> str | None:
    """Describe the first place where ``a`` and ``b`` differ strictly, or return ``None``."""
    t = type(a)
    if t is type(b) and t in _ATOMS:  # the common case, first and fast
        return None if a == b else f"{_path_text(path)}: {a!r} vs {b!r}"
    kind = _PLAIN_KINDS.get(t)
    if kind is not None and kind is _PLAIN_KINDS.get(type(b)):
        return _compare(kind, a, b, path)  # containers and floats, without the lookups below
    form_a, form_b = _strict_form(a), _strict_form(b)
    if form_a is not None or form_b is not None:
        if form_a is None or form_b is None or form_a[0] != form_b[0]:
            return (
                f"{_path_text(path)}: {_kind_name(a)} {a!r:.80} vs {_kind_name(b)} {b!r:.80} "
                "(types differ)"
            )
        return _first_difference(form_a[1:], form_b[1:], path)
    kind = _kind(a)
    if kind is not _kind(b):
        return f"{_path_text(path)}: {_kind_name(a)} {a!r} vs {_kind_name(b)} {b!r} (types differ)"
    return _compare(kind, a, b, path)


def _compare(kind: Any, a: Any, b: Any, path: tuple[Any, ...]) -> str | None:
    """:func:`_first_difference` for two values of one ``kind`` (as :func:`_kind` says)."""
    if kind is float:
        if _pack_double(a) != _pack_double(b):
            return f"{_path_text(path)}: float {a!r} vs {b!r} (bits differ)"
        return None
    if kind is dict:
        if len(a) != len(b):
            return (
                f"{_path_text(path)}: {len(a)} entries vs {len(b)} entries "
                f"(keys {sorted(map(repr, a))} vs {sorted(map(repr, b))})"
            )
        # Map each key of ``b`` to itself: looking up a key of ``a`` then yields the
        # key object that ``b`` holds (1, 1.0 and True are one dict key).
        b_keys = {key: key for key in b}
        for key_a, value_a in a.items():
            if key_a not in b_keys:
                return f"{_path_text(path)}: key {key_a!r} missing on the right"
            key_b = b_keys[key_a]
            problem = _first_difference(key_a, key_b, path)
            if problem is not None:
                return f"{_path_text(path)}: key {key_a!r} vs key {key_b!r}: {problem}"
            problem = _first_difference(value_a, b[key_b], (*path, key_a))
            if problem is not None:
                return problem
        return None
    if kind is list or kind is tuple:
        if len(a) != len(b):
            return f"{_path_text(path)}: {kind.__name__} of {len(a)} items vs {len(b)} items"
        for index, (item_a, item_b) in enumerate(zip(a, b, strict=True)):
            problem = _first_difference(item_a, item_b, (*path, index))
            if problem is not None:
                return problem
        return None
    if kind is Replace:
        return _first_difference(a.value, b.value, (*path, "<Replace>"))
    if kind is ListDelta:
        return _first_difference(a.ops, b.ops, (*path, "<ListDelta>"))
    if a is DELETED or b is DELETED:
        return None if a is b else f"{_path_text(path)}: {a!r} vs {b!r}"
    if a != b:
        return f"{_path_text(path)}: {a!r} vs {b!r}"
    return None


def strict_equal(a: Any, b: Any) -> bool:
    """Whether two states or protocol trees are equal in every detail flatsync keeps.

    Stricter than ``==``: types must match at every level, so ``1``, ``1.0`` and
    ``True`` differ (also as dict keys), a tuple differs from a list, and floats
    are compared by their bits (``0.0`` differs from ``-0.0``, and a NaN equals a
    NaN with the same bits). A :class:`~flatsync.DataHandler` counts as a
    ``dict`` and a :class:`~flatsync.ListHandler` as a ``list``, so that a
    replica compares with its source or with a snapshot. A
    :class:`~flatsync.ByteHandler` compares with its
    :class:`~flatsync.protocol.BoardSnapshot` (item type, shape and packed bytes), and a
    record with its :class:`~flatsync.protocol.RecordSnapshot` or its read-only mapping
    replica (record name and field values). Markers
    (:data:`~flatsync.DELETED`, :class:`~flatsync.protocol.Replace`,
    :class:`~flatsync.protocol.ListDelta`, :class:`~flatsync.protocol.BoardDelta`, ...) compare by
    content. The insertion order of mappings is not compared.

    >>> strict_equal({1: (2.0, b"x")}, {1: (2.0, b"x")})
    True
    >>> strict_equal({1: "a"}, {1.0: "a"}), {1: "a"} == {1.0: "a"}
    (False, True)
    >>> strict_equal(0.0, -0.0), strict_equal(float("nan"), float("nan"))
    (False, True)
    """
    return _first_difference(a, b, ()) is None


def assert_strict_equal(a: Any, b: Any) -> None:
    """Assert :func:`strict_equal`; the message names the first path that differs.

    >>> assert_strict_equal({"pos": (2, 3)}, {"pos": [2, 3]})
    Traceback (most recent call last):
    ...
    AssertionError: root['pos']: tuple (2, 3) vs list [2, 3] (types differ)

    Raises:
        AssertionError: ``a`` and ``b`` differ.
    """
    problem = _first_difference(a, b, ())
    if problem is not None:
        raise AssertionError(problem)


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
    >>> @given(snapshots(max_depth=2))
    ... def test_snapshot_is_stable(tree):
    ...     assert_strict_equal(DataHandler.from_snapshot(tree).snapshot(), tree)
    >>> test_snapshot_is_stable()
    """
    return _snapshots(max_depth, max_size, lists)


# -- a source and a replica over a codec ----------------------------------------------


class SyncPair:
    """A source :class:`~flatsync.DataHandler` and a replica that follows it through a codec.

    The replica is built from the encoded snapshot of ``source``, which is then
    committed (its pending changes are part of that snapshot). Mutate
    :attr:`source`, call :meth:`tick`, check with :meth:`assert_synced` (this is
    h11's ``ConnectionPair`` for state):

    >>> from flatsync import DataHandler
    >>> pair = SyncPair(DataHandler({1: {"name": "notch", "hp": 8}}))
    >>> pair.source[1]["hp"] -= 1
    >>> len(pair.tick()), pair.events
    (7, [Changed(path=(1, 'hp'), old=8, new=7)])
    >>> pair.assert_synced()

    Args:
        source: The state to follow.
        codec: The codec between the two (a :class:`~flatsync.CborCodec` by default).

    Attributes:
        source: The tracked state.
        replica: The read-only replica.
        codec: The codec every packet goes through.
        events: The events that the last :meth:`tick` returned from ``patch``.
    """

    def __init__(self, source: DataHandler, codec: Codec | None = None) -> None:
        self.source = source
        self.codec: Codec = CborCodec() if codec is None else codec
        self.replica = DataHandler.from_snapshot(self.codec.decode(self.snapshot_packet()))
        source.commit()
        self.events: list[Event] = []

    def snapshot_packet(self) -> bytes:
        """The encoded snapshot of the source (what a new client would receive)."""
        return self.codec.encode(self.source.snapshot())

    def tick(self) -> bytes:
        """Ship ``source.diff()`` through the codec to the replica, commit, return the packet.

        Raises:
            FlatsyncError: what encoding, decoding or ``patch`` raised; the source is
                then not committed.
        """
        packet = self.codec.encode(self.source.diff())
        self.events = self.replica.patch(self.codec.decode(packet))
        self.source.commit()
        return packet

    def assert_synced(self) -> None:
        """Assert that the replica strictly equals the source (see :func:`strict_equal`).

        Raises:
            AssertionError: they differ; the message names the first path.
        """
        assert_strict_equal(self.replica, self.source)
        assert_strict_equal(self.replica.snapshot(), self.source.snapshot())


class Convergence:
    """A source and three replicas that must converge with it, tick after tick.

    The harness that flatsync's own state machines share: each :meth:`tick`
    ships ``source.diff()`` through the codec to

    * :attr:`replica`, which gets every tick;
    * :attr:`late`, a late joiner built from the snapshot of a tick that asked
      for one (``tick(join=True)``), which gets every tick after it;
    * :attr:`merged`, which gets only ``merge()`` of each pair of ticks;

    and asserts, strictly (:func:`assert_strict_equal`): that ``diff()``
    forgets nothing and survives the codec; that ``apply_delta`` of the last
    snapshot and the delta (or of the merge) gives the new snapshot; that after
    ``commit()`` the diff is empty and every replica equals the source; and that
    the snapshot survives the codec.

    >>> from flatsync import DataHandler
    >>> sync = Convergence(DataHandler({"hp": 8}))
    >>> sync.source["hp"] = 7
    >>> sync.tick(join=True)
    {'hp': 7}
    >>> sync.source["hp"] = 6
    >>> sync.tick()
    {'hp': 6}
    >>> sync.merged["hp"]
    6

    Args:
        source: The state to follow; it is committed first.
        codec: The codec every packet goes through (a :class:`~flatsync.CborCodec`
            by default).

    Attributes:
        source: The tracked state.
        replica: The replica that gets every tick.
        late: The late joiner, or ``None`` until a tick asked for one.
        merged: The replica that gets merged pairs of ticks.
        previous: The snapshot at the last tick.
    """

    def __init__(self, source: DataHandler, codec: Codec | None = None) -> None:
        self.source = source
        self.codec: Codec = CborCodec() if codec is None else codec
        snapshot = source.snapshot()
        source.commit()
        self.replica = DataHandler.from_snapshot(self.wire(snapshot))
        self.merged = DataHandler.from_snapshot(self.wire(snapshot))
        self.late: DataHandler | None = None
        self.previous: Any = snapshot
        self._pending: Any = None
        self._pending_base: Any = None

    def wire(self, tree: Any) -> Any:
        """``tree`` after a trip through the codec."""
        return self.codec.decode(self.codec.encode(tree))

    @property
    def replicas(self) -> list[DataHandler]:
        """The replicas that are in step after every tick (every-tick and late joiner)."""
        return [self.replica] if self.late is None else [self.replica, self.late]

    def tick(self, join: bool = False) -> Any:
        """Ship one tick to the replicas, commit, check them; return the decoded delta.

        Args:
            join: Build a new late joiner from this tick's snapshot afterwards.

        Raises:
            AssertionError: a replica, a merge or a round trip disagrees; the
                message names the first path that differs.
        """
        source = self.source
        delta = source.diff()
        assert_strict_equal(source.diff(), delta)  # diff() forgets nothing
        decoded = self.wire(delta)
        assert_strict_equal(decoded, delta)
        snapshot = source.snapshot()
        assert_strict_equal(apply_delta(self.previous, decoded), snapshot)
        for replica in self.replicas:
            replica.patch(decoded)
        if self._pending is None:
            self._pending = decoded
            self._pending_base = self.previous
        else:
            merged = self.wire(merge(self._pending, decoded))
            assert_strict_equal(apply_delta(self._pending_base, merged), snapshot)
            self.merged.patch(merged)
            assert_strict_equal(self.merged, source)
            self._pending = None
        source.commit()
        assert source.diff() == {}, "diff() is not empty right after commit()"
        for replica in self.replicas:
            assert_strict_equal(replica, source)
            assert_strict_equal(replica.snapshot(), snapshot)
        assert_strict_equal(self.wire(snapshot), snapshot)
        self.previous = snapshot
        if join:
            self.late = DataHandler.from_snapshot(self.wire(snapshot))
        return decoded

    def settle(self) -> None:
        """Tick twice, so that the merged replica is in step too, and check it."""
        self.tick()
        self.tick()
        assert_strict_equal(self.merged, self.source)
