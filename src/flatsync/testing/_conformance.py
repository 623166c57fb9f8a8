"""The codec conformance suite, exported by :mod:`flatsync.testing`.

:func:`check_codec` holds every codec, flatsync's and a user's, to one
contract: exact round trips of every protocol tree, and on hostile input
either the correct result or a :class:`~flatsync.FlatsyncError`, never
another exception, a crash, or time beyond proportion.
"""

from __future__ import annotations

import functools
import math
import struct
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .._codecs._codec import HASH_MODULUS, Codec
from .._codecs._limits import Limits
from .._handlers._board import ByteHandler
from .._tree._boards import ITEM_TYPES, BoardSnapshot
from .._tree._errors import DecodeError, EncodeError, FlatsyncError, LimitError
from .._tree._list_ops import ListDelta
from .._tree._markers import DELETED, MARKERS, Marker, Replace
from .._tree._records import RecordDelta, RecordSnapshot
from . import _strategies
from ._equal import assert_strict_equal

__all__ = [
    "check_codec",
    "colliding_keys",
    "hostile_packets",
    "permissive_twin",
    "protocol_trees",
]


# -- protocol trees ---------------------------------------------------------------------------


def _board_markers() -> list[st.SearchStrategy[Any]]:
    def board_snapshot(item: str, shape: tuple[int, ...], seed: bytes) -> Any:
        size = math.prod(shape) * ITEM_TYPES[item].size
        return BoardSnapshot(item, shape, (seed * (size // max(len(seed), 1) + 1))[:size])

    def board_delta(count: int, writes: list[tuple[int, int]]) -> Any:
        board = ByteHandler("u8", count)
        for index, value in writes:
            board[index % count] = value
        return board.diff()

    return [
        st.builds(
            board_snapshot,
            st.sampled_from(sorted(ITEM_TYPES)),
            st.lists(st.integers(0, 3), min_size=1, max_size=2).map(tuple),
            st.binary(min_size=1, max_size=8),
        ),
        st.builds(
            board_delta,
            st.integers(1, 40),
            st.lists(st.tuples(st.integers(0, 39), st.integers(0, 255)), max_size=6),
        ),
    ]


def _record_markers(inner: st.SearchStrategy[Any]) -> list[st.SearchStrategy[Any]]:
    return [
        st.builds(
            RecordSnapshot,
            st.text(min_size=1, max_size=6),
            st.lists(_strategies.values(), max_size=3).map(tuple),
        ),
        st.builds(
            RecordDelta,
            st.dictionaries(
                st.integers(0, 30), inner.filter(lambda v: v is not DELETED), max_size=3
            ),
        ),
    ]


@functools.cache
def _delta_node(depth: int, extra: st.SearchStrategy[Any] | None) -> st.SearchStrategy[Any]:
    keys, snapshots, values = _strategies.keys, _strategies.snapshots, _strategies.values
    plain = values() if extra is None else st.one_of(values(), extra)
    leaf = st.one_of(plain, st.just(DELETED))
    if depth <= 0:
        return leaf
    inner = _delta_node(depth - 1, extra)
    snapshot = snapshots(max_depth=min(depth, 2), max_size=3)
    if extra is not None:
        snapshot = st.one_of(snapshot, st.dictionaries(keys(), extra, max_size=3))
    new = st.one_of(plain, snapshot, st.lists(plain, max_size=3))
    index = st.integers(0, 9)
    # Each operation in one of its four forms (the wire-format page's shape rule).
    op = st.one_of(
        st.tuples(st.just(0), index, inner.filter(lambda v: v is not DELETED)),
        st.builds(lambda i, items: (1, i, *items), index, st.lists(new, min_size=1, max_size=3)),
        st.tuples(st.just(2), index, st.integers(1, 4)),
        st.lists(new, max_size=3).map(lambda items: (3, *items)),
    )
    return st.one_of(
        leaf,
        st.dictionaries(keys(), inner, max_size=3),
        st.lists(inner, max_size=3),
        st.builds(Replace, new),
        st.lists(op, max_size=3).map(lambda ops: ListDelta(tuple(ops))),
        *_board_markers(),
        *_record_markers(inner),
    )


@st.composite
def _protocol_trees(draw: st.DrawFn, max_depth: int, extra: st.SearchStrategy[Any] | None) -> Any:
    return draw(
        st.one_of(
            _strategies.snapshots(max_depth=max_depth),
            st.dictionaries(_strategies.keys(), _delta_node(max_depth, extra), max_size=4),
            _delta_node(max_depth, extra),
        )
    )


def protocol_trees(
    max_depth: int = 3, *, values: st.SearchStrategy[Any] | None = None
) -> st.SearchStrategy[Any]:
    """Every kind of protocol tree a codec must carry: snapshots and deltas, every marker.

    Nested ``dict`` and ``list``, tuples, every scalar (bigints, NaNs with any
    payload, ``-0.0``, keys that Python confuses such as ``1``, ``1.0`` and
    ``True``), :data:`~flatsync.DELETED`, :class:`~flatsync.protocol.Replace`,
    :class:`~flatsync.protocol.ListDelta`, board and record markers.

    Args:
        max_depth: How deep containers nest.
        values: More leaf values to mix in, e.g. a strategy of your
            registered value types' instances.

    >>> from hypothesis import given
    >>> from flatsync import CborCodec
    >>> from flatsync.testing import assert_strict_equal
    >>> @given(protocol_trees())
    ... def test_round_trip(tree):
    ...     codec = CborCodec()
    ...     assert_strict_equal(codec.decode(codec.encode(tree)), tree)
    >>> test_round_trip()
    """
    return _protocol_trees(max_depth, values)


# -- hostile input ------------------------------------------------------------------------------


def permissive_twin(codec: Codec) -> Codec:
    """A codec of the same class with limits far beyond ``codec``'s, to craft packets over them.

    The class must accept ``limits=`` as :class:`~flatsync.Codec` does.
    """
    limits = Limits(
        max_packet_size=1 << 40,
        max_depth=max(codec.limits.max_depth * 2 + 8, 200),
        max_container_items=1 << 40,
        max_string_length=1 << 40,
        max_total_items=1 << 40,
        max_hash_collisions=1 << 40,
    )
    return type(codec)(limits=limits)


def colliding_keys(count: int, kind: str = "int") -> list[Any]:
    """``count`` distinct keys that share one CPython hash value (a hash flooding attack).

    Args:
        count: How many keys.
        kind: ``"int"`` (multiples of ``2**61 - 1``, big integers),
            ``"tuple"`` (pairs of integers found through CPython's tuple hash),
            or ``"float"`` (powers of two whose exponents differ by 61).

    Raises:
        ValueError: an unknown kind, or more floats than exist (about 30).
    """
    if kind == "int":
        return [HASH_MODULUS * index for index in range(1, count + 1)]
    if kind == "float":
        found = [2.0 ** (61 * index) for index in range(-17, 17)]
        if count > len(found):
            raise ValueError(f"only {len(found)} floats share one hash")
        return found[:count]
    if kind == "tuple":
        return _colliding_pairs(count)
    raise ValueError(f"unknown kind {kind!r}")


_MASK = (1 << 64) - 1
_PRIME_1 = 11400714785074694791
_PRIME_2 = 14029467366897019727
_PRIME_5 = 2870177450012600261
_INVERSE_2 = pow(_PRIME_2, -1, 1 << 64)


def _rotate(value: int) -> int:
    return ((value << 31) | (value >> 33)) & _MASK


def _colliding_pairs(count: int) -> list[tuple[int, int]]:
    """Pairs ``(a, b)`` of ints whose tuple hashes are equal (CPython's xxHash-based tuple hash)."""
    target = hash((0, 0))
    pairs: list[tuple[int, int]] = []
    first = 0
    # The state after the first item, then the second item's hash that reaches the
    # same state as (0, 0); it is the hash of an int when it is small enough.
    zero_state = (_rotate((_PRIME_5 + 0 * _PRIME_2) & _MASK) * _PRIME_1) & _MASK
    goal = (zero_state + 0 * _PRIME_2) & _MASK
    while len(pairs) < count:
        state = (_rotate((_PRIME_5 + first * _PRIME_2) & _MASK) * _PRIME_1) & _MASK
        lane = ((goal - state) * _INVERSE_2) & _MASK
        second = lane - (1 << 64) if lane >= 1 << 63 else lane
        if (
            -HASH_MODULUS < second < HASH_MODULUS
            and second != -1
            and hash((first, second)) == target
        ):
            pairs.append((first, second))
        first += 1
    return pairs


class _Forged(Marker):
    """A marker with another marker's number and any content (to forge wrong payloads)."""

    __slots__ = ("forged",)

    marker_id = 0

    def __init__(self, forged: Any) -> None:
        self.forged = forged

    def content(self) -> Any:
        return self.forged

    @classmethod
    def from_content(cls, content: Any) -> _Forged:
        return cls(content)


@functools.cache
def _forged_class(marker_id: int) -> type[_Forged]:
    return type(f"Forged{marker_id}", (_Forged,), {"__slots__": (), "marker_id": marker_id})


_WRONG_PAYLOADS: tuple[Any, ...] = (
    None,
    1,
    -1,
    "x",
    b"\x00\xff",
    (),
    (1,),
    ("x", 1),
    (None, (), b""),
    ((1, 2), (3,)),
    {},
    {"a": 1},
    {1: DELETED},
    [1],
    DELETED,
)


def nested(kind: str, depth: int) -> Any:
    """A tree of ``depth`` nested containers of one kind (dict, list, replace or tuple).

    ``"replace"`` alternates :class:`~flatsync.protocol.Replace` markers and
    mappings (a Replace directly inside a Replace is malformed).
    """
    tree: Any = {} if kind in {"dict", "replace"} else [] if kind == "list" else ()
    for level in range(depth - 1):
        if kind == "dict":
            tree = {0: tree}
        elif kind == "list":
            tree = [tree]
        elif kind == "replace":
            tree = Replace(tree) if level % 2 == 0 else {0: tree}
        else:
            tree = (tree,)
    return tree


def _crafted(codec: Codec) -> list[tuple[str, bytes, type[FlatsyncError] | None]]:
    """Packets over ``codec``'s limits or with wrong payloads, and the error each must raise.

    ``None`` as the error: the packet may also be accepted (a payload that happens
    to fit its marker).
    """
    twin = permissive_twin(codec)
    limits = codec.limits
    out: list[tuple[str, bytes, type[FlatsyncError] | None]] = []
    for kind in ("dict", "list", "tuple", "replace"):
        out.append(
            (f"{kind} too deep", twin.encode(nested(kind, limits.max_depth + 1)), LimitError)
        )
    collisions = limits.max_hash_collisions + 1
    for key_kind in ("int", "tuple", "float"):
        if key_kind == "float" and collisions > 30:
            continue
        tree = dict.fromkeys(colliding_keys(collisions, key_kind), 0)
        out.append((f"{collisions} colliding {key_kind} keys", twin.encode(tree), LimitError))
    if limits.max_container_items <= 10_000:
        wide = limits.max_container_items + 1
        out.append(("too many entries", twin.encode(dict.fromkeys(range(wide), 0)), LimitError))
        out.append(("too many items", twin.encode({"a": tuple(range(wide))}), LimitError))
    if limits.max_total_items <= 10_000:
        many = tuple(range(min(limits.max_container_items, 1000)))
        rows = limits.max_total_items // max(len(many), 1) + 2
        out.append(("too many in all", twin.encode({"a": [many] * rows}), LimitError))
    if limits.max_string_length <= 1_000_000:
        long = limits.max_string_length + 1
        out.append(("a long string", twin.encode({"a": "x" * long}), LimitError))
        out.append(("a long key", twin.encode({"x" * long: 1}), LimitError))
        out.append(("long bytes", twin.encode({"a": b"x" * long}), LimitError))
    if limits.max_packet_size <= 1_000_000:
        out.append(
            ("a large packet", twin.encode({"a": b"x" * limits.max_packet_size}), LimitError)
        )
    for marker_id in sorted(MARKERS):
        forged = _forged_class(marker_id)
        for index, payload in enumerate(_WRONG_PAYLOADS):
            try:
                packet = twin.encode({"m": forged(payload)})
            except EncodeError:  # pragma: no cover - a codec that cannot carry this payload
                continue
            out.append((f"marker {marker_id} payload {index}", packet, None))
    return out


_MUTATIONS = ("truncate", "flip", "set", "insert", "delete", "duplicate")


def _mutate(packet: bytes, draw: st.DrawFn) -> bytes:
    data = bytearray(packet)
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(_MUTATIONS))
        at = draw(st.integers(0, len(data)))
        if how == "truncate":
            del data[at:]
        elif how == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=9))
        elif not data:
            continue
        elif how == "flip":
            at %= len(data)
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif how == "set":
            at %= len(data)
            data[at] = draw(st.sampled_from([0x00, 0x17, 0x18, 0x1B, 0x5B, 0x7B, 0x9B, 0xBB, 0xFF]))
        elif how == "delete":
            del data[at : at + draw(st.integers(1, 4))]
        else:
            end = draw(st.integers(at, len(data)))
            data[end:end] = data[at:end]
    return bytes(data)


@st.composite
def _hostile(draw: st.DrawFn, codec: Codec, values: st.SearchStrategy[Any] | None) -> bytes:
    how = draw(st.sampled_from(("mutated", "garbage", "two packets", "crafted", "mutated crafted")))
    if how == "garbage":
        return draw(st.binary(max_size=64))
    if how in {"crafted", "mutated crafted"}:
        crafted = _crafted_cached(codec)
        packet = draw(st.sampled_from(crafted))[1]
        return packet if how == "crafted" else _mutate(packet, draw)
    packet = _encoded_within(codec, draw(protocol_trees(values=values)))
    if how == "two packets":
        second = _encoded_within(codec, draw(protocol_trees(max_depth=1, values=values)))
        return packet + second
    return _mutate(packet, draw)


def _encoded_within(codec: Codec, tree: Any) -> bytes:
    """``tree`` encoded, or, past a codec's small limits, an empty mapping (or no bytes).

    A drawn tree's markers nest their content a level or two deeper than its
    ``max_depth`` says, so any tree may be over a small ``max_depth``.
    """
    candidates: tuple[Any, ...] = (tree, {})
    for candidate in candidates:
        try:
            return codec.encode(candidate)
        except LimitError:
            continue
    return b""


_CRAFTED: dict[Any, list[tuple[str, bytes, type[FlatsyncError] | None]]] = {}


def _crafted_cached(codec: Codec) -> list[tuple[str, bytes, type[FlatsyncError] | None]]:
    key = (type(codec), codec.limits, len(MARKERS))
    if key not in _CRAFTED:
        _CRAFTED[key] = _crafted(codec)
    return _CRAFTED[key]


def hostile_packets(
    codec: Codec, *, values: st.SearchStrategy[Any] | None = None
) -> st.SearchStrategy[bytes]:
    """Packets a hostile peer could send to ``codec``.

    Valid packets mutated (truncated, bits flipped, bytes set to lengths and
    heads, inserted, deleted, duplicated), random garbage, two packets in one
    (trailing bytes), and crafted packets: nesting, containers, strings and
    packets over ``codec``'s limits, keys that collide in CPython's hash, and
    markers with wrong payloads (all encoded with :func:`permissive_twin`).

    Args:
        codec: The codec under test; its limits decide what "over" means.
        values: More leaf values for the valid packets (e.g. registered value types).
    """
    return _hostile(codec, values)


# -- the suite ------------------------------------------------------------------------------------


def _run(test: Callable[[], None], max_examples: int) -> None:
    try:
        settings(
            max_examples=max_examples,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )(test)()
    except AssertionError:
        raise
    except Exception as exc:
        raise AssertionError(
            f"{test.__name__}: the codec raised {type(exc).__name__}: {exc}"
        ) from exc


def _decode_or_refuse(codec: Codec, packet: bytes, what: str) -> Any:
    """Decode ``packet``; an accepted tree must round-trip. Returns it, or the error raised."""
    try:
        tree = codec.decode(packet)
    except FlatsyncError as exc:
        return exc
    except Exception as exc:
        raise AssertionError(
            f"{what}: decode raised {type(exc).__name__} ({exc}), not a FlatsyncError"
        ) from exc
    again = codec.decode(codec.encode(tree))
    assert_strict_equal(again, tree)
    return tree


def check_codec(
    codec: Codec,
    *,
    values: st.SearchStrategy[Any] | None = None,
    max_examples: int = 100,
) -> None:
    """Check that ``codec`` keeps the codec contract; raise ``AssertionError`` where it does not.

    * Every tree :func:`protocol_trees` generates round-trips exactly.
    * Every packet :func:`hostile_packets` generates decodes to a tree that
      round-trips, or raises a :class:`~flatsync.FlatsyncError`; every crafted
      packet over a limit raises :class:`~flatsync.LimitError`.
    * Every proper prefix of a packet raises a FlatsyncError, and so do two
      packets in one, and an empty packet.
    * Encoding refuses a type outside the protocol with
      :class:`~flatsync.EncodeError` naming the type and the path, and a tree
      over a limit with :class:`~flatsync.LimitError`; ``decode`` of something
      that is not bytes raises ``TypeError``.

    Run it from a test, once per codec (and once more with small
    :class:`~flatsync.Limits`, which makes the limit checks cheap)::

        def test_my_codec():
            flatsync.testing.check_codec(MyCodec())
            flatsync.testing.check_codec(MyCodec(limits=flatsync.Limits(max_depth=8)))

    Args:
        codec: The codec under test. Its class must accept ``limits=``.
        values: More leaf values, e.g. ``st.builds(Vec2, ...)`` for your
            registered value types.
        max_examples: Examples per property (hypothesis).

    Raises:
        AssertionError: the first broken promise, described.
    """

    @given(protocol_trees(values=values))
    def round_trip(tree: Any) -> None:
        try:
            packet = codec.encode(tree)
        except LimitError:
            return  # a codec with small limits
        assert_strict_equal(codec.decode(packet), tree)
        assert codec.encode(codec.decode(packet)) == packet, "encoding is not deterministic"

    _run(round_trip, max_examples)

    @given(hostile_packets(codec, values=values))
    def hostile(packet: bytes) -> None:
        _decode_or_refuse(codec, packet, f"the packet {packet[:40].hex(' ')}")

    _run(hostile, max_examples)

    for name, packet, error in _crafted_cached(codec):
        result = _decode_or_refuse(codec, packet, name)
        if error is not None and not isinstance(result, error):
            raise AssertionError(f"{name}: decode gave {result!r:.200}, not {error.__name__}")

    samples = [
        {1: {"name": "notch", "pos": (2, 2), "hp": 8, "inv": ["axe", 1.5]}},
        {(1, 2): [DELETED, Replace({"a": b"\x00"})], "x": ListDelta(((1, 0, "a"),))},
        {"big": 2**70, "nan": struct.unpack("<d", struct.pack("<Q", 0x7FF0_0000_0000_0001))[0]},
    ]
    for sample in samples:
        packet = codec.encode(sample)
        assert_strict_equal(codec.decode(packet), sample)
        for end in range(len(packet)):
            result = _decode_or_refuse(codec, packet[:end], f"{end} bytes of {packet.hex(' ')}")
            if not isinstance(result, FlatsyncError):
                raise AssertionError(f"a prefix of {end} bytes was accepted: {result!r:.200}")
        doubled = _decode_or_refuse(codec, packet + packet, "two packets in one")
        if not isinstance(doubled, DecodeError):
            raise AssertionError(f"two packets in one gave {doubled!r:.200}, not DecodeError")
    empty = _decode_or_refuse(codec, b"", "an empty packet")
    if not isinstance(empty, DecodeError):
        raise AssertionError(f"an empty packet gave {empty!r:.200}, not DecodeError")

    class Unknown:
        """A type no codec knows."""

    for tree, path in (({"a": [1, Unknown()]}, "root['a'][1]"), ({"a": (1, {2})}, "root['a'][1]")):
        try:
            codec.encode(tree)
        except EncodeError as exc:
            if path not in str(exc):
                raise AssertionError(f"EncodeError {exc} does not name the path {path}") from exc
        else:
            raise AssertionError(f"encoding {tree!r} did not raise EncodeError")
    try:
        codec.encode(nested("dict", codec.limits.max_depth + 1))
    except LimitError:
        pass
    else:
        raise AssertionError("encoding a tree deeper than max_depth did not raise LimitError")
    try:
        codec.decode("{}")  # type: ignore[arg-type]
    except TypeError:
        pass
    else:
        raise AssertionError("decode of a str did not raise TypeError")
