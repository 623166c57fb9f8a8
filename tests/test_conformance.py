"""Every codec against the shared contract: flatsync.testing.check_codec."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cbor2
import pytest

import flatsync
from _user_types import user_values
from flatsync import CborCodec, Codec, DecodeError, JsonCodec, Limits, MsgpackCodec
from flatsync.testing import check_codec

SMALL = Limits(
    max_packet_size=3000,
    max_depth=6,
    max_container_items=20,
    max_string_length=30,
    max_total_items=60,
    max_hash_collisions=4,
)


def _orjson(limits: Limits | None = None) -> Codec:
    return JsonCodec(limits=limits, use_orjson=True)


def _stdlib_json(limits: Limits | None = None) -> Codec:
    return JsonCodec(limits=limits, use_orjson=False)


CODECS: dict[str, Callable[..., Codec]] = {
    "cbor": CborCodec,
    "json-orjson": _orjson,
    "json-stdlib": _stdlib_json,
    "msgpack": MsgpackCodec,
}


@pytest.mark.parametrize("name", CODECS)
def test_every_codec_keeps_the_contract(name: str) -> None:
    check_codec(CODECS[name](), values=user_values, max_examples=60)


@pytest.mark.parametrize("name", CODECS)
def test_every_codec_keeps_the_contract_under_small_limits(name: str) -> None:
    check_codec(CODECS[name](limits=SMALL), max_examples=30)


class _Lossy(Codec):
    """A broken codec: it turns tuples into lists (CBOR without flatsync's tags)."""

    def encode(self, tree: Any) -> bytes:
        return cbor2.dumps(tree, default=lambda encoder, value: encoder.encode(None))

    def decode(self, data: bytes | bytearray | memoryview) -> Any:
        try:
            return cbor2.loads(data)
        except Exception as exc:
            raise DecodeError(str(exc)) from exc


class _Leaky(CborCodec):
    """A broken codec: it lets a non-flatsync exception out of decode."""

    def decode(self, data: bytes | bytearray | memoryview) -> Any:
        if bytes(data)[:1] == b"\xa1":
            raise KeyError("oops")
        return super().decode(data)


@pytest.mark.parametrize("broken", [_Lossy, _Leaky])
def test_check_codec_catches_a_broken_codec(broken: type[Codec]) -> None:
    with pytest.raises(AssertionError):
        check_codec(broken(), max_examples=30)


def test_the_codecs_are_public_and_pluggable() -> None:
    for name in ("CborCodec", "JsonCodec", "MsgpackCodec"):
        codec = getattr(flatsync, name)()
        assert isinstance(codec, Codec)
        assert repr(codec).startswith(f"{name}(limits=Limits(")
