"""Clear errors where issue 14 found them weak: garbage, a codec mismatch, a tuple holding a list."""

from __future__ import annotations

import itertools

import pytest

import flatsync
from flatsync import DataHandler, DecodeError, FrameError, ListHandler, Publisher, Replica

CODECS = [flatsync.CborCodec(), flatsync.JsonCodec(), flatsync.MsgpackCodec()]


@pytest.mark.parametrize(
    "garbage",
    [b"GET / HTTP/1.1\r\n", b"\x00\x01\x02", b'{"hp": 8}', b"\xff" * 9, b"hello"],
)
def test_garbage_is_not_a_flatsync_packet(garbage: bytes) -> None:
    replica = Replica()
    with pytest.raises(FrameError, match="not a flatsync packet"):
        replica.receive(garbage)
    pub = Publisher(DataHandler())
    pub.add_client("c")
    with pytest.raises(FrameError, match="not a flatsync packet"):
        pub.receive("c", garbage)
    assert replica.frame is None
    assert replica.state == {}


@pytest.mark.parametrize(
    ("sender", "receiver"),
    list(itertools.permutations(CODECS, 2)),
    ids=lambda codec: codec.name,
)
def test_a_codec_mismatch_says_so(sender: flatsync.Codec, receiver: flatsync.Codec) -> None:
    pub = Publisher(DataHandler({"hp": 8, "pos": (1, 2)}), codec=sender)
    pub.add_client("c")
    pub.tick()
    [snapshot] = pub.packets_for("c")
    replica = Replica(receiver)
    with pytest.raises(DecodeError, match=f"codec mismatch: the payload is {sender.name}, but"):
        replica.receive(snapshot)
    assert replica.frame is None
    # A damaged packet in the replica's own codec is not called a mismatch.
    own = Publisher(DataHandler({"hp": 8}), codec=receiver)
    own.add_client("c")
    own.tick()
    [good] = own.packets_for("c")
    with pytest.raises(DecodeError) as damaged:
        Replica(receiver).receive(good[:-1])
    assert "mismatch" not in str(damaged.value)


def test_a_tuple_holding_a_list_names_the_tuple() -> None:
    message = r"root\['t'\]: unsupported value type list at index 1 of a tuple; .* \(use a list"
    with pytest.raises(TypeError, match=message):
        DataHandler({"t": (1, [2])})
    state = DataHandler()
    with pytest.raises(TypeError, match=message):
        state["t"] = (1, [2])
    with pytest.raises(TypeError, match=r"root\['t'\]\[0\]: .* dict at index 1 of a tuple"):
        state["t"] = ((1, {}), 2)
    with pytest.raises(TypeError, match=r"root\[0\]: .* set at index 2 of a tuple"):
        ListHandler([(1, 2, {3})])
    assert state == {}
