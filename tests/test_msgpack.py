"""MsgpackCodec: the optional extra, exact bytes, strict decoding."""

from __future__ import annotations

import builtins
import math
from typing import Any

import pytest

from flatsync import DELETED, DecodeError, EncodeError, LimitError, Limits, MsgpackCodec
from flatsync.protocol import ListDelta, Replace
from flatsync.testing import assert_strict_equal

CODEC = MsgpackCodec()


@pytest.mark.parametrize(
    ("tree", "hex_"),
    [
        ({3: {"hp": 6}}, "81 03 81 a2 68 70 06"),
        ({2: DELETED}, "81 02 c7 00 00"),
        ({"pos": (2, 3)}, "81 a3 70 6f 73 92 02 03"),
        (["axe"], "c7 05 08 91 a3 61 78 65"),
        (Replace(1), "d4 06 01"),
        (ListDelta(((1, 1, "a"),)), "c7 06 07 91 93 01 01 a1 61"),
        (2**64, "c7 09 02 01 00 00 00 00 00 00 00 00"),
        (-(2**64) - 1, "c7 09 03 01 00 00 00 00 00 00 00 00"),
        (2**64 - 1, "cf ff ff ff ff ff ff ff ff"),
        (-0.0, "cb 80 00 00 00 00 00 00 00"),
        (b"\x00", "c4 01 00"),
        ({(1, 2): True}, "81 92 01 02 c3"),
    ],
)
def test_exact_msgpack_bytes(tree: Any, hex_: str) -> None:
    assert CODEC.encode(tree).hex(" ") == hex_
    assert_strict_equal(CODEC.decode(bytes.fromhex(hex_)), tree)


@pytest.mark.parametrize(
    ("packet", "error", "message"),
    [
        ("81 01 01 01", DecodeError, "trailing bytes"),
        ("82 01 01 01 02", DecodeError, "appears twice"),
        ("81 00 c7 00 05", DecodeError, "ext 5 is not part of the protocol"),
        ("d6 ff 00 00 00 00", DecodeError, "not part of the protocol"),
        ("c7 01 00 00", DecodeError, "ext 0 \\(DELETED\\) must be empty"),
        ("91 c7 00 00", DecodeError, "a tuple may not hold ext 0"),
        ("91 80", DecodeError, "a tuple may not hold a map"),
        ("81 80 01", DecodeError, "a key cannot be a map"),
        ("81 cb 7f f8 00 00 00 00 00 00 01", DecodeError, "a NaN cannot be a key"),
        ("d4 08 01", DecodeError, "ext 8 \\(a list\\) must hold an array"),
        ("c1", DecodeError, "malformed"),
        ("dd ff ff ff ff", DecodeError, "malformed"),
        ("", DecodeError, "an empty packet"),
    ],
)
def test_malformed_msgpack_is_refused(packet: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        CODEC.decode(bytes.fromhex(packet))


def test_msgpack_limits() -> None:
    small = MsgpackCodec(limits=Limits(max_container_items=2, max_string_length=3))
    with pytest.raises(LimitError):
        small.decode(CODEC.encode((1, 2, 3)))
    with pytest.raises(LimitError):
        small.decode(CODEC.encode("abcd"))
    with pytest.raises(LimitError):
        small.decode(CODEC.encode(2**100))
    assert small.decode(CODEC.encode((1, "abc"))) == (1, "abc")


def test_msgpack_refuses_what_it_cannot_carry() -> None:
    with pytest.raises(EncodeError, match=r"root\['a'\]"):
        CODEC.encode({"a": {1}})
    with pytest.raises(EncodeError):
        CODEC.encode("\ud800")
    assert math.isnan(CODEC.decode(CODEC.encode(math.nan)))


def test_flatsync_imports_without_msgpack(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_msgpack(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "msgpack":
            raise ImportError("no msgpack here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_msgpack)
    with pytest.raises(ImportError, match=r"pip install 'flatsync\[msgpack\]'"):
        MsgpackCodec()
