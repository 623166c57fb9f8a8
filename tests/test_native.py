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

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import flatsync
import flatsync.debug
from _user_types import user_values
from flatsync import CborCodec, DataHandler, FlatsyncError, Limits, PatchError
from flatsync._codecs import _cbor
from flatsync._handlers import _base
from flatsync._native import PURE_FORCED, compiled
from flatsync.testing import (
    assert_strict_equal,
    hostile_packets,
    protocol_trees,
    snapshots,
    strict_equal,
    values,
)

pytestmark = pytest.mark.skipif(
    compiled is None and os.environ.get("FLATSYNC_EXPECT_NATIVE") != "1",
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
    assert flatsync.debug.accelerated is (compiled is not None and not PURE_FORCED)
    assert (_cbor._native_decode is not None) is flatsync.debug.accelerated
    assert (_base._native_patch is not None) is flatsync.debug.accelerated


@contextmanager
def _pure() -> Iterator[None]:
    """The pure-Python path, whatever is active."""
    saved = _cbor._native_decode, _cbor._native_encode, _base._native_patch
    _cbor._native_decode = _cbor._native_encode = _base._native_patch = None
    try:
        yield
    finally:
        _cbor._native_decode, _cbor._native_encode, _base._native_patch = saved


def _pure_decode(codec: CborCodec, packet: bytes) -> tuple[Any, type[BaseException] | None]:
    with _pure():
        try:
            return codec.decode(packet), None
        except FlatsyncError as exc:
            return None, type(exc)


@pytest.mark.parametrize("limits", LIMITS, ids=["default", "small", "collisions"])
@given(data=st.data())
@SLOW
def test_decode_agrees_with_the_python_parser(limits: Limits, data: st.DataObject) -> None:
    codec = CborCodec(limits=limits)
    packet = data.draw(hostile_packets(codec, values=user_values), label="packet")
    if not packet:
        return
    native = NATIVE.decode(packet, limits)
    pure, error = _pure_decode(codec, packet)
    if native is NATIVE.DECLINED:
        assert error is not None, "the C decoder declined a packet the Python parser accepts"
        return
    assert error is None, f"the C decoder accepted a packet the Python parser refuses ({error})"
    assert_strict_equal(native, pure)
    # Through the codec on the active path, an error is the Python parser's.
    try:
        assert_strict_equal(codec.decode(packet), pure)
    except FlatsyncError:  # pragma: no cover - the assertion above says why
        pytest.fail("the codec refused what both parsers accept")


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
