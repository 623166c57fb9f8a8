"""User value types: one registration teaches every handler and every codec."""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from typing import Any

import pytest

import flatsync
import flatsync.protocol
from _user_types import Color, Vec2
from flatsync import (
    CborCodec,
    Codec,
    DataHandler,
    DecodeError,
    EncodeError,
    JsonCodec,
    ListHandler,
    MsgpackCodec,
    register_type,
)
from flatsync.testing import SyncPair, assert_strict_equal

CODECS: list[Codec] = [CborCodec(), JsonCodec(), MsgpackCodec()]
IDS = [codec.name for codec in CODECS]
WHEN = datetime.datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=datetime.UTC)
ID = uuid.UUID("12345678-1234-5678-1234-567812345678")


@pytest.mark.parametrize("codec", CODECS, ids=IDS)
def test_user_values_travel_through_every_codec_and_handler(codec: Codec) -> None:
    pair = SyncPair(DataHandler({"pos": Vec2(1.0, 2.0), "when": WHEN, "id": ID}), codec)
    pair.source["pos"] = Vec2(1.5, 2.0)
    pair.source["team"] = (Color.RED, Vec2(0.0, -0.0))
    pair.source["log"] = [WHEN, ID, Color.GREEN]
    pair.source["pos"] = Vec2(1.5, 2.0)  # the same value again: still one change
    pair.tick()
    pair.assert_synced()
    assert [type(event).__name__ for event in pair.events] == ["Changed", "Added", "Added"]
    pair.source["log"][0] = WHEN  # equal: no change
    assert pair.source.diff() == {}


def test_the_cbor_form_of_a_user_value() -> None:
    assert CborCodec().encode(Color.RED).hex(" ") == "d8 1b 82 65 43 6f 6c 6f 72 63 72 65 64"
    assert JsonCodec().encode(Color.RED) == b'{"~v":["Color","red"]}'
    assert MsgpackCodec().encode(Color.RED).hex(" ") == "c7 0b 1b 92 a5 43 6f 6c 6f 72 a3 72 65 64"


@pytest.mark.parametrize("codec", CODECS, ids=IDS)
def test_an_unknown_type_fails_at_encode_time_naming_type_and_path(codec: Codec) -> None:
    @dataclasses.dataclass(frozen=True)
    class Secret:
        code: int

    with pytest.raises(EncodeError, match=r"root\['a'\]\[1\]: cannot encode .*Secret; "):
        codec.encode({"a": [1, Secret(1)]})
    with pytest.raises(EncodeError, match=r"root\['a'\]\[0\]: a tuple may hold only"):
        codec.encode({"a": (Secret(1),)})
    with pytest.raises(TypeError, match="unsupported value type Secret"):
        DataHandler()["a"] = Secret(1)
    with pytest.raises(TypeError, match="unsupported value type Secret"):
        ListHandler([Secret(1)])


@pytest.mark.parametrize("codec", CODECS, ids=IDS)
def test_a_peer_cannot_make_from_tree_misbehave(codec: Codec) -> None:
    forged = {
        "cbor": bytes.fromhex("d8 1b 82 64 56 65 63 32 83 01 02 03"),  # Vec2 of three items
        "json": b'{"~v":["Vec2","xy"]}',
        "msgpack": bytes.fromhex("c7 07 1b 92 a4 56 65 63 32 01"),
    }[codec.name]
    with pytest.raises(DecodeError, match="the value type 'Vec2' refused its tree"):
        codec.decode(forged)


def test_from_tree_must_build_the_registered_class() -> None:
    class Odd:
        pass

    register_type(Odd, name="test.Odd", to_tree=lambda v: 1, from_tree=lambda t: "not odd")
    packet = CborCodec().encode(Odd())
    with pytest.raises(DecodeError, match="built a str, not a Odd"):
        CborCodec().decode(packet)


def test_registration_rules() -> None:
    for builtin in (int, str, tuple, dict, list, float, DataHandler, flatsync.protocol.Replace):
        with pytest.raises(TypeError):
            register_type(builtin, name="x", to_tree=repr, from_tree=repr)
    with pytest.raises(TypeError):
        register_type("Vec2", name="x", to_tree=repr, from_tree=repr)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="already registered as 'Vec2'"):
        register_type(Vec2, name="Other", to_tree=repr, from_tree=repr)
    with pytest.raises(ValueError, match="already taken by Vec2"):
        register_type(type("T", (), {}), name="Vec2", to_tree=repr, from_tree=repr)
    with pytest.raises(ValueError, match="1 to 255 characters"):
        register_type(type("T", (), {}), name="", to_tree=repr, from_tree=repr)
    with pytest.raises(TypeError, match="callables"):
        register_type(type("T", (), {}), name="t", to_tree=1, from_tree=repr)  # type: ignore[arg-type]
    again = register_type(
        Vec2, name="Vec2", to_tree=lambda v: (v.x, v.y), from_tree=lambda t: Vec2(*t)
    )
    assert again == flatsync.protocol.ValueType(Vec2, "Vec2", again.to_tree, again.from_tree)


def test_user_values_are_values_not_keys() -> None:
    with pytest.raises(TypeError, match="unsupported key type"):
        DataHandler()[Color.RED] = 1
    with pytest.raises(EncodeError, match="cannot encode the key"):
        CborCodec().encode({Color.RED: 1})


def test_a_failing_to_tree_is_an_encode_error() -> None:
    class Broken:
        pass

    def explode(value: Any) -> Any:
        raise RuntimeError("boom")

    register_type(Broken, name="test.Broken", to_tree=explode, from_tree=lambda t: Broken())
    with pytest.raises(EncodeError, match=r"root\['b'\]: to_tree of .*Broken raised RuntimeError"):
        CborCodec().encode({"b": Broken()})
    assert_strict_equal(DataHandler({"b": Broken()})["b"].__class__, Broken)
