"""The C accelerator against its oracle, the pure-Python path: a differential fuzz.

Same inputs on both paths: decoding gives strictly equal trees or the C path
declines exactly where the Python parser refuses; encoding gives identical bytes;
``patch`` leaves identical replicas and returns equal events, and a refused delta
leaves both as they were. The check runs it briefly (the ``ci`` profile); to hunt
for a long time::

    HYPOTHESIS_PROFILE=long pytest tests/test_native.py

The whole suite also runs on each path in scripts/check.sh (``FLATSYNC_PURE=1``
forces the pure one); where ``FLATSYNC_EXPECT_NATIVE=1`` the accelerator must be
built and active, so that a build that silently fell back fails the check.
"""

from __future__ import annotations

import contextlib
import gc
import os
import struct
import sys
import tracemalloc
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import flatsync
import flatsync.debug
from _user_types import user_values
from flatsync import CborCodec, DataHandler, FlatsyncError, Limits, PatchError
from flatsync._native import PURE_FORCED, compiled, hooks
from flatsync.testing import (
    _conformance,
    assert_strict_equal,
    colliding_keys,
    hostile_packets,
    permissive_twin,
    protocol_trees,
    snapshots,
    strict_equal,
    values,
)

# Skipped only on a machine without a compiler, and never in CI (CI=true) or
# where the accelerator is expected: there a missing build fails these tests.
pytestmark = pytest.mark.skipif(
    compiled is None
    and os.environ.get("FLATSYNC_EXPECT_NATIVE") != "1"
    and os.environ.get("CI") != "true",
    reason="the C accelerator was not built here (no compiler at install time)",
)
NATIVE: Any = compiled
LIMITS = [
    Limits(),
    Limits(max_depth=5, max_container_items=16, max_total_items=40),
    Limits(max_hash_collisions=2),
]
SLOW = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def test_the_active_path_is_reported() -> None:
    if os.environ.get("FLATSYNC_EXPECT_NATIVE") == "1":
        assert compiled is not None, "the C accelerator was not built"
    active = compiled is not None and not PURE_FORCED
    assert flatsync.debug.accelerated() is active
    assert (hooks.decode is not None) is active
    assert (hooks.patch is not None) is active
    with flatsync.debug.pure_python():
        assert not flatsync.debug.accelerated()
        assert hooks.decode is hooks.encode is hooks.patch is None
    assert flatsync.debug.accelerated() is active


_pure = flatsync.debug.pure_python


def _pure_decode(codec: CborCodec, packet: bytes) -> tuple[Any, type[BaseException] | None]:
    with _pure():
        try:
            return codec.decode(packet), None
        except FlatsyncError as exc:
            return None, type(exc)


def _decode_both(limits: Limits, packet: bytes) -> None:
    """The C decoder declines exactly where the Python parser refuses, else the same tree."""
    codec = CborCodec(limits=limits)
    native = NATIVE.decode(packet, limits)
    pure, error = _pure_decode(codec, packet)
    if native is NATIVE.DECLINED:
        assert error is not None, f"C declined {packet.hex(' ')}, which Python accepts"
    else:
        assert error is None, f"C accepted {packet.hex(' ')}, which Python refuses ({error})"
        assert_strict_equal(native, pure)


#: Hostile packets by hand: each head, length and rule the parser checks, at its edge.
CRAFTED = [
    "a2 01 01 01 02",  # a duplicate key
    "a2 01 01 f9 3c 00 02",  # 1 and 1.0: one key
    "a2 f5 01 01 02",  # True and 1: one key
    "a2 82 01 02 01 82 01 02 02",  # a duplicate tuple key
    "a1 f9 7e 00 01",  # a NaN key
    "a1 f7 01",  # undefined as a key
    "a1 a0 01",  # a map as a key
    "a1 c8 80 01",  # a tagged key
    "a1 f8 20 01",  # a simple value as a key
    "82 a0 01",  # a tuple holding a map
    "81 f7",  # a tuple holding undefined
    "81 c8 80",  # a tuple holding a list
    "81 c2 41 01",  # a tuple holding a bignum: allowed
    "c2 49 01 00 00 00 00 00 00 00 00",  # a bignum
    "c3 49 01 00 00 00 00 00 00 00 00",  # a negative bignum
    "c3 40",  # an empty negative bignum: -1
    "c2 01",  # a bignum of an int
    "3b ff ff ff ff ff ff ff ff",  # -2**64
    "1b ff ff ff ff ff ff ff ff",  # 2**64 - 1
    "9f ff",  # indefinite
    "7f ff",  # indefinite text
    "1c",  # reserved
    "fc",  # reserved simple
    "f8 ff",  # a simple value
    "e0",  # a simple value
    "01 01",  # trailing bytes
    "9b 00 00 00 00 00 00 00 10 01",  # a declared length over the bytes left
    "bb ff ff ff ff ff ff ff ff",  # a huge map
    "9b ff ff ff ff ff ff ff ff",  # a huge array
    "7b ff ff ff ff ff ff ff ff",  # a huge text
    "5b 7f ff ff ff ff ff ff ff",  # huge bytes
    "c8 9b ff ff ff ff ff ff ff ff",  # a huge list
    "c8 a0",  # a list tag on a map
    "c8 81 f7",  # a list may hold DELETED
    "62 c3 28",  # invalid UTF-8
    "a1 62 c3 28 01",  # an invalid UTF-8 key
    "a1 62 ed a0 80 01",  # a surrogate key
    "f9 7c",  # a truncated half
    "fa 00 00 00",  # a truncated single
    "fb 7f f8 00 00 00 00 00 01",  # a NaN with a payload
    "f9 7e 01",  # a half NaN with a payload
    "d8 1b 82 63 61 62 63 01",  # an unknown value type
    "d8 1b 81 63 61 62 63",  # a value type of one item
    "d8 1b 82 01 01",  # a value type whose name is not text
    "d8 1b",  # a truncated value type
    "c6 01",  # a marker with a bad content
    "d9 01 00 01",  # an unknown tag
    "db 80 00 00 00 00 00 00 00 01",  # a huge tag
    "cc a1 01 02",  # a record delta
    "cc a1 01 f7",  # a record delta deleting a field
    "c7 81 82 01 01",  # a marker's content: raw arrays
    "a1 1b 20 00 00 00 00 00 00 00 01",  # a key at HASH_MODULUS's edge
    "a1 3b 1f ff ff ff ff ff ff fe 01",  # a negative key at the edge
    "81 " * 70 + "01",  # too deep
    "c8 81 " * 40 + "01",  # lists, too deep
    "a1 " + "81 " * 70 + "01 01",  # a key too deep
]


@pytest.mark.parametrize("limits", LIMITS, ids=["default", "small", "collisions"])
@pytest.mark.parametrize("packet", CRAFTED)
def test_decode_crafted_packets(limits: Limits, packet: str) -> None:
    _decode_both(limits, bytes.fromhex(packet))


@pytest.mark.parametrize("limits", LIMITS, ids=["default", "small", "collisions"])
def test_decode_the_conformance_suites_crafted_packets(limits: Limits) -> None:
    codec = CborCodec(limits=limits)
    for _, packet, _ in _conformance._crafted_cached(codec):
        _decode_both(limits, packet)
    for kind in ("int", "tuple", "float"):
        packet = permissive_twin(codec).encode(dict.fromkeys(colliding_keys(12, kind), 1))
        _decode_both(limits, packet)
        _decode_both(Limits(max_hash_collisions=12), packet)


@pytest.mark.parametrize("limits", LIMITS, ids=["default", "small", "collisions"])
@given(data=st.data())
@settings(
    max_examples=10 * settings().max_examples,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
def test_decode_agrees_with_the_python_parser(limits: Limits, data: st.DataObject) -> None:
    # Packets hostile to the default limits, decoded under each set: the crafted
    # packets over small limits come from the conformance suite's (above).
    packet = data.draw(hostile_packets(CborCodec(), values=user_values), label="packet")
    if not packet:
        return
    _decode_both(limits, packet)
    # Through the codec, on the active path: the same outcome.
    codec = CborCodec(limits=limits)
    pure, error = _pure_decode(codec, packet)
    if error is None:
        assert_strict_equal(codec.decode(packet), pure)
    else:
        with pytest.raises(error):
            codec.decode(packet)


@given(tree=protocol_trees(values=user_values))
@SLOW
def test_encode_writes_the_same_bytes(tree: Any) -> None:
    codec = CborCodec()
    with _pure():
        try:
            expected = codec.encode(tree)
        except FlatsyncError:
            return
    native = NATIVE.encode(tree)
    assert native is not NATIVE.DECLINED
    assert native == expected
    assert codec.encode(tree) == expected


@pytest.mark.parametrize("limits", LIMITS, ids=["default", "small", "collisions"])
@given(tree=protocol_trees(max_depth=6, values=user_values))
@SLOW
def test_encode_checks_the_limits_as_check_tree_does(limits: Limits, tree: Any) -> None:
    codec = CborCodec(limits=limits)
    with _pure():
        try:
            expected: bytes | None = codec.encode(tree)
        except FlatsyncError:
            expected = None
    native = NATIVE.encode(tree, limits)
    if expected is None:
        assert native is NATIVE.DECLINED, "the C encoder wrote a tree that check_tree refuses"
        with pytest.raises(FlatsyncError):
            codec.encode(tree)
        return
    if native is not NATIVE.DECLINED:  # declined: a marker or a value type, left to Python
        assert native == expected
    assert codec.encode(tree) == expected


SMALL = Limits(max_depth=5, max_container_items=16, max_total_items=40)


@pytest.mark.parametrize(
    "tree",
    [
        {"a": [tuple(range(10))] * 5},  # too many items in all
        {"a": tuple(range(17))},  # too many in one tuple
        dict.fromkeys(range(17), 0),  # too many in one map
        [[[[[[1]]]]]],  # too deep (lists)
        {1: {2: {3: {4: {5: {}}}}}},  # too deep (maps)
        (((((((1,),),),),),),),  # too deep (tuples)
        {"a": ([1],)},  # a tuple holding a list
        {"a": (flatsync.DELETED,)},  # a tuple holding DELETED
        {2**61: 1, 2**62: 2},  # keys that check_tree counts: declined, then Python
        {(1, 2): 1},  # a tuple key
        {True: 1},  # a bool key
        {"a": object()},  # not part of the protocol
        {"a": flatsync.protocol.Replace({1: 2})},  # a marker: declined, then Python
    ],
)
def test_encode_checks_crafted_trees(tree: Any) -> None:
    for limits in (SMALL, Limits()):
        codec = CborCodec(limits=limits)
        with _pure():
            try:
                expected: Any = codec.encode(tree)
            except FlatsyncError as exc:
                expected = type(exc)
        native = NATIVE.encode(tree, limits)
        if isinstance(expected, bytes):
            assert native in (expected, NATIVE.DECLINED)
            assert codec.encode(tree) == expected
        else:
            assert native is NATIVE.DECLINED
            with pytest.raises(expected):
                codec.encode(tree)


@given(value=values())
def test_encode_scalars_and_tuples(value: Any) -> None:
    with _pure():
        expected = CborCodec().encode({"v": value, "t": (1, value), "l": [value]})
    assert NATIVE.encode({"v": value, "t": (1, value), "l": [value]}) == expected


@pytest.mark.parametrize(
    "value",
    [2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, -(2**64), -(2**64) - 1, 10**40, -(10**40)],
)
def test_encode_integers_at_the_boundaries(value: int) -> None:
    with _pure():
        expected = CborCodec().encode(value)
    assert NATIVE.encode(value) == expected
    assert NATIVE.decode(expected, Limits()) == value


@pytest.mark.parametrize(
    "packet",
    [
        "a1 63 61 62 63 01",
        "a1 01 63 61 62 63",
        "a1 78 03 61 62 63 01",
        "43 61 62 63",
        "a1 01 64 61 62 63 64",
    ],
)
def test_decode_short_strings_under_a_small_limit(packet: str) -> None:
    limits = Limits(max_string_length=3)
    data = bytes.fromhex(packet)
    native = NATIVE.decode(data, limits)
    pure, error = _pure_decode(CborCodec(limits=limits), data)
    if error is None:
        assert_strict_equal(native, pure)
    else:
        assert native is NATIVE.DECLINED


def test_encode_declines_what_it_leaves_to_cbor2() -> None:
    assert NATIVE.encode("\udc80") is NATIVE.DECLINED  # a lone surrogate: cbor2's error
    assert NATIVE.encode(object()) is NATIVE.DECLINED
    with pytest.raises(FlatsyncError):
        CborCodec().encode({"bad": "\udc80"})


def _mutated(source: DataHandler, data: st.DataObject) -> None:
    """Scalar writes, inserts and deletes at every level of ``source``."""
    draw = data.draw
    handlers = [source]
    for handler in handlers:
        handlers.extend(v for v in handler.values() if type(v) is DataHandler)
    for _ in range(draw(st.integers(0, 12))):
        handler = draw(st.sampled_from(handlers))
        keys = list(handler)
        existing: bool = draw(st.booleans())
        if keys and existing:
            key = draw(st.sampled_from(keys))
            if type(handler[key]) is DataHandler:
                continue
            if draw(st.integers(0, 4)) == 0:
                del handler[key]
                continue
        else:
            key = draw(st.one_of(st.integers(-5, 40), st.text(max_size=3)))
            if type(handler.get(key)) is DataHandler:
                continue
        handler[key] = draw(values())


@given(data=st.data(), events=st.booleans())
@SLOW
def test_patch_leaves_the_same_replica(data: st.DataObject, events: bool) -> None:
    tree = data.draw(snapshots(max_depth=3, lists=False), label="snapshot")
    source = DataHandler(tree)
    source.commit()
    _mutated(source, data)
    delta = source.diff()
    native, pure = DataHandler.from_snapshot(tree), DataHandler.from_snapshot(tree)
    told = native.patch(delta, events=events)
    with _pure():
        expected = pure.patch(delta, events=events)
    assert strict_equal(native.snapshot(), pure.snapshot())
    assert strict_equal(native.snapshot(), source.snapshot())
    assert told == expected
    assert [type(event) for event in told] == [type(event) for event in expected]


@given(data=st.data())
@SLOW
def test_a_refused_delta_changes_nothing_on_either_path(data: st.DataObject) -> None:
    codec = CborCodec()
    packet = data.draw(hostile_packets(codec), label="packet")
    try:
        delta = codec.decode(packet)
    except FlatsyncError:
        return
    base = {1: {"name": "notch", "hp": 8, "pos": (2, 2)}, "x": 1.5, "tags": {"a": 1}}
    native, pure = DataHandler.from_snapshot(base), DataHandler.from_snapshot(base)
    outcome: list[type[PatchError] | None] = []
    for replica, context in ((native, None), (pure, _pure)):
        try:
            if context is None:
                replica.patch(delta)
            else:
                with context():
                    replica.patch(delta)
            outcome.append(None)
        except PatchError:
            outcome.append(PatchError)
            assert_strict_equal(replica.snapshot(), base)
    assert outcome[0] is outcome[1]
    assert strict_equal(native.snapshot(), pure.snapshot())


@flatsync.record
class _Mob:
    name: str
    hp: int
    pos: tuple[float, float] = (0.0, 0.0)
    tags: Any = attrs.field(factory=dict)


def test_patch_of_records_on_both_paths() -> None:
    source = DataHandler({1: _Mob("rat", 3), 2: _Mob("bat", 4)})
    tree = source.snapshot()
    source.commit()
    source[1].hp = 2
    source[2].name = "big bat"
    source[2].pos = (1.0, 2.5)  # a tuple: the C path declines, Python applies
    delta = source.diff()
    for events in (True, False):
        native, pure = DataHandler.from_snapshot(tree), DataHandler.from_snapshot(tree)
        told = native.patch(delta, events=events)
        with _pure():
            assert told == pure.patch(delta, events=events)
        assert strict_equal(native.snapshot(), pure.snapshot())
    # A record's own delta of scalars: the C path applies it.
    record = source[1]
    record.commit()
    record.hp = 1
    replica = DataHandler.from_snapshot(tree)[1]
    assert NATIVE.patch(replica, record.diff(), (1,), None) is True
    assert replica.hp == 1
    # Out of range: declined, then refused by Python, nothing changed.
    bad = flatsync.protocol.RecordDelta({7: 1})
    assert NATIVE.patch(replica, bad, (1,), None) is False
    with pytest.raises(PatchError):
        replica.patch(bad)
    assert replica.hp == 1


def test_patch_declines_writable_handlers_and_other_shapes() -> None:
    writable = DataHandler({"a": 1})
    assert NATIVE.patch(writable, {"a": 2}, (), None) is False
    replica = DataHandler.from_snapshot({"a": 1, "b": {"c": 1}, "t": (1, 2)})
    for delta in ({"b": 1}, {"t": 3}, {"a": {"x": 1}}, {1.5: 1}, {"a": (1,)}, [1], {"b": [1]}):
        assert NATIVE.patch(replica, delta, (), None) is False
    assert replica.snapshot() == {"a": 1, "b": {"c": 1}, "t": (1, 2)}
    assert NATIVE.patch(replica, {"b": {"c": 2, "d": None}, "z": flatsync.DELETED}, (), None)
    assert replica.snapshot() == {"a": 1, "b": {"c": 2, "d": None}, "t": (1, 2)}


def test_no_reference_leaks() -> None:
    """Decoding, encoding and patching, accepted and declined, keep every count right."""
    limits = Limits()
    good = CborCodec().encode(
        {1: {"name": "rat", "pos": (1.5, 2.0), "hp": 3}, "big": -(2**70), 2.5: [b"x", None]}
    )
    packets = [good, *(bytes.fromhex(packet) for packet in CRAFTED)]
    trees = [{"a": 1.5, "b": ("x", 2**80)}, {"a": flatsync.protocol.Replace({1: 2})}, {1: object()}]
    delta = {1: {"hp": 2, "name": "bat"}, "x": flatsync.DELETED, "y": 7}
    watched = [flatsync.DELETED, flatsync.protocol.Replace, flatsync.protocol.RecordDelta, None]

    def work() -> None:
        for packet in packets:
            tree = NATIVE.decode(packet, limits)
            if tree is not NATIVE.DECLINED:
                NATIVE.encode(tree)
                NATIVE.encode(tree, limits)
        for tree in trees:
            NATIVE.encode(tree)
            NATIVE.encode(tree, limits)
        replica = DataHandler.from_snapshot({1: {"name": "rat", "hp": 3}, "x": 1})
        NATIVE.patch(replica, delta, (), [])
        NATIVE.patch(replica, {1: {"hp": (1,)}}, (), None)
        writable = DataHandler({"a": 1.5, "b": "x", 1: 2})
        writable.commit()
        writable["a"] = 2.5
        writable["b"] = "y"
        writable[1] = 3
        writable["c"] = None
        del writable["c"]

    for _ in range(20):
        work()
    gc.collect()  # replicas hold cycles (parent links): count after they are gone
    counts = [sys.getrefcount(obj) for obj in watched]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(300):
            work()
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert [sys.getrefcount(obj) for obj in watched] == counts
    assert grown < 32 * 1024, f"{grown} bytes more after 300 rounds"


@given(data=st.data())
@SLOW
def test_writes_track_the_same_changes_on_both_paths(data: st.DataObject) -> None:
    """The C store (DataHandler's write hot path) against the Python __setitem__."""
    tree = data.draw(snapshots(max_depth=2, lists=False), label="snapshot")
    native, pure = DataHandler(tree), DataHandler(tree)
    native.commit()
    pure.commit()
    for _ in range(data.draw(st.integers(1, 20), label="writes")):
        key = data.draw(st.one_of(st.integers(-3, 5), st.sampled_from(["a", "b"]), st.floats()))
        value = data.draw(st.one_of(values(), st.dictionaries(st.integers(0, 3), values())))
        delete = data.draw(st.integers(0, 5)) == 0
        outcome: list[type[Exception] | None] = []
        for handler, context in ((native, None), (pure, _pure)):
            with context() if context is not None else contextlib.nullcontext():
                try:
                    if delete:
                        del handler[key]
                    else:
                        handler[key] = value
                    outcome.append(None)
                except (KeyError, TypeError, ValueError) as exc:
                    outcome.append(type(exc))
        assert outcome[0] is outcome[1]
        assert strict_equal(native.diff(), pure.diff())
        assert strict_equal(native.snapshot(), pure.snapshot())
        if data.draw(st.integers(0, 6)) == 0:
            native.commit()
            pure.commit()


def test_the_c_store_is_in_use_only_on_the_native_path() -> None:
    assert ("__setitem__" in DataHandler.__dict__) is not flatsync.debug.accelerated()
    with flatsync.debug.pure_python():
        assert "__setitem__" in DataHandler.__dict__
    replica = DataHandler.from_snapshot({"a": 1})
    with pytest.raises(flatsync.ReadOnlyError):
        replica["a"] = 2
    with pytest.raises(flatsync.ReadOnlyError):
        del replica["a"]


_NAN = float("nan")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (0.0, -0.0),
        (-0.0, 0.0),
        (0.0, 0.0),
        (_NAN, _NAN),
        (_NAN, struct.unpack(">d", bytes.fromhex("7ff8000000000001"))[0]),
        (1.5, 1.5),
        (1, True),
        (True, 1),
        (1, 1.0),
        (True, False),
        (None, None),
        ("a", "a"),
        ("a", "b"),
        (b"x", b"x"),
        (2**80, 2**80),
        (2**80, 2**80 + 1),
    ],
)
def test_the_c_store_follows_the_unchanged_value_rule(old: Any, new: Any) -> None:
    diffs = []
    for context in (contextlib.nullcontext, _pure):
        with context():
            handler = DataHandler({"k": old, 3: old})
            handler.commit()
            handler["k"] = new
            handler[3] = new
            diffs.append(handler.diff())
    assert strict_equal(diffs[0], diffs[1])
