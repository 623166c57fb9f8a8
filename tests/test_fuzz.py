"""The fuzz target: hypothesis over packet bytes, for every codec.

The check runs it briefly (the ``ci`` profile). To hunt for a long time::

    HYPOTHESIS_PROFILE=long pytest tests/test_fuzz.py

(5,000 examples per test; raise ``max_examples`` in tests/conftest.py for longer.)
Each packet is a valid packet mutated (truncated, bits flipped, bytes inserted,
deleted, duplicated or set to interesting heads), random bytes, two packets in
one, or a crafted packet over a limit. Whatever it is, decoding must give a tree
that round-trips, or raise a FlatsyncError; and a decoded delta must either
apply to a replica or leave it exactly as it was.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _user_types import user_values
from flatsync import (
    ByteHandler,
    CborCodec,
    Codec,
    DataHandler,
    FlatsyncError,
    JsonCodec,
    Limits,
    MsgpackCodec,
    PatchError,
)
from flatsync.testing import assert_strict_equal, hostile_packets

CODECS: list[Codec] = [
    CborCodec(),
    JsonCodec(),
    MsgpackCodec(),
    CborCodec(limits=Limits(max_depth=5, max_container_items=16, max_total_items=40)),
]
IDS = ["cbor", "json", "msgpack", "cbor-small"]


def _replica(codec: Codec) -> DataHandler:
    source = DataHandler(
        {
            1: {"name": "notch", "pos": (2, 2), "hp": 8},
            "bag": ["axe"],
            "board": ByteHandler("u8", 8),
        }
    )
    return DataHandler.from_snapshot(codec.decode(codec.encode(source.snapshot())))


@pytest.mark.parametrize("codec", CODECS, ids=IDS)
@given(data=st.data())
@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_fuzz_decode_and_patch(codec: Codec, data: st.DataObject) -> None:
    packet = data.draw(hostile_packets(codec, values=user_values), label="packet")
    try:
        tree: Any = codec.decode(packet)
    except FlatsyncError:
        return
    assert_strict_equal(codec.decode(codec.encode(tree)), tree)
    if type(tree) is dict:
        replica = _replica(codec)
        before = codec.encode(replica.snapshot())
        try:
            replica.patch(tree)
        except PatchError:
            assert codec.encode(replica.snapshot()) == before
