"""JsonCodec: the escaping scheme byte for byte, both JSON libraries, strict decoding."""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest
from hypothesis import given

import flatsync._codecs._json
from flatsync import DELETED, DecodeError, EncodeError, JsonCodec, LimitError, Limits
from flatsync.protocol import ListDelta, Replace
from flatsync.testing import assert_strict_equal, protocol_trees

ORJSON = JsonCodec(use_orjson=True)
STDLIB = JsonCodec(use_orjson=False)


def nan_with_bits(bits: int) -> float:
    value: float = struct.unpack(">d", bits.to_bytes(8, "big"))[0]
    return value


@pytest.mark.parametrize(
    ("tree", "text"),
    [
        ({3: {"hp": 6}}, '{"3":{"hp":6}}'),
        ({"name": "notch", "pos": (2, 2)}, '{"name":"notch","pos":[2,2]}'),
        ({1: DELETED}, '{"1":{"~d":0}}'),
        ({"bag": ["axe", 1.5]}, '{"bag":{"~l":["axe",1.5]}}'),
        ({4: Replace({"hp": 10})}, '{"4":{"~6":{"hp":10}}}'),
        ({"l": ListDelta(((1, 1, "rope"),))}, '{"l":{"~7":[[1,1,"rope"]]}}'),
        ({"b": b"\x00\xff"}, '{"b":{"~b":"AP8="}}'),
        (
            {"i": 2**53 - 1, "j": 2**53, "k": -(2**64)},
            '{"i":9007199254740991,"j":{"~i":"9007199254740992"},"k":{"~i":"-18446744073709551616"}}',
        ),
        ({"f": -0.0, "g": 0.1}, '{"f":-0.0,"g":0.1}'),
        (
            {"inf": math.inf, "ninf": -math.inf, "nan": math.nan},
            '{"inf":{"~f":"inf"},"ninf":{"~f":"-inf"},"nan":{"~f":"nan"}}',
        ),
        ({"x": nan_with_bits(0xFFF0_0000_0000_0001)}, '{"x":{"~f":"fff0000000000001"}}'),
        ({"3": 1, "-1": 2, "03": 3, "": 4}, '{"~\\"3\\"":1,"~\\"-1\\"":2,"03":3,"":4}'),
        ({"~x": 1, "a~": 2}, '{"~\\"~x\\"":1,"a~":2}'),
        (
            {True: 1, None: 2, 1.5: 3, (1, "a"): 4},
            '{"~true":1,"~null":2,"~1.5":3,"~[1,\\"a\\"]":4}',
        ),
        ({b"k": 1, math.inf: 2}, '{"~{\\"~b\\":\\"aw==\\"}":1,"~{\\"~f\\":\\"inf\\"}":2}'),
        ({2**64: 1, -5: 2}, '{"18446744073709551616":1,"-5":2}'),
        ({"é": "ü"}, '{"é":"ü"}'),
    ],
)
def test_the_json_scheme(tree: Any, text: str) -> None:
    for codec in (ORJSON, STDLIB):
        assert codec.encode(tree).decode("utf-8") == text
        assert_strict_equal(codec.decode(text.encode()), tree)


@given(protocol_trees())
def test_both_json_libraries_read_each_other(tree: Any) -> None:
    for writer in (ORJSON, STDLIB):
        packet = writer.encode(tree)
        for reader in (ORJSON, STDLIB):
            assert_strict_equal(reader.decode(packet), tree)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a":1,"a":2}', "appears twice"),
        ('{"1":1,"~1.0":2}', "appears twice"),
        ('{"~true":1,"1":2}', "appears twice"),
        ("{} {}", "Extra data"),
        ('{"a":NaN}', "NaN is not JSON"),
        ('{"a":Infinity}', "Infinity is not JSON"),
        ('{"a":1e400}', "too large for a float"),
        ('{"a":9007199254740992}', "beyond 2**53 - 1"),
        ('{"a":{"~i":"5"}}', "a plain JSON number"),
        ('{"a":{"~i":"05"}}', "decimal digits"),
        ('{"a":{"~b":"AP8"}}', "malformed base64"),
        ('{"a":{"~b":"AP9="}}', "non-canonical base64"),
        ('{"a":{"~f":"7ff0000000000000"}}', "'~f' must hold"),
        ('{"a":{"~f":"7ff8000000000000"}}', "'~f' must hold"),
        ('{"a":{"~d":1}}', "'~d' (DELETED) must hold 0"),
        ('{"a":{"~z":1}}', "unknown tag"),
        ('{"a":{"~99":1}}', "unknown marker"),
        ('{"a":{"~06":1}}', "unknown marker"),
        ('{"a":{"~l":1}}', "must hold an array"),
        ('{"a":[{"b":1}]}', "a tuple may not hold a mapping"),
        ('{"a":[{"~d":0}]}', "a tuple may not hold '~d'"),
        ('{"~5":1,"a":2}', "not canonical"),
        ('{"~5":1}', "unknown marker"),
        ('{"~\\"hp\\"":1}', "not canonical"),
        ('{"~[{\\"a\\":1}]":1}', "cannot hold a mapping"),
        ('{"~{\\"~f\\":\\"nan\\"}":1}', "a NaN cannot be a key"),
        ('{"~[1,":1}', "is malformed"),
        ('{"a":{"~7":1}}', "a list delta must hold an array of arrays"),
        ('{"a":{"~v":["Nope",1]}}', "an unknown value type"),
    ],
)
def test_malformed_json_is_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(
        DecodeError, match=message.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")
    ):
        STDLIB.decode(text.encode())


def test_not_utf8_and_not_bytes() -> None:
    with pytest.raises(DecodeError, match="not UTF-8"):
        STDLIB.decode(b'{"a":"\xff"}')
    with pytest.raises(TypeError):
        STDLIB.decode('{"a":1}')  # type: ignore[arg-type]


def test_limits_in_json() -> None:
    small = JsonCodec(limits=Limits(max_string_length=4, max_depth=3))
    assert_strict_equal(small.decode(small.encode({"abcd": b"1234"})), {"abcd": b"1234"})
    for bad in ('{"abcde":1}', '{"a":"abcde"}', '{"a":{"~b":"MTIzNDU="}}', '{"a":{"a":{"a":{}}}}'):
        with pytest.raises(LimitError):
            small.decode(bad.encode())
    with pytest.raises(LimitError):
        JsonCodec(limits=Limits(max_packet_size=5)).decode(b'{"a":1}')


def test_encode_refuses_what_json_cannot_carry() -> None:
    with pytest.raises(EncodeError, match=r"root\['a'\]: cannot encode set"):
        STDLIB.encode({"a": {1}})
    for codec in (ORJSON, STDLIB):
        with pytest.raises(EncodeError):
            codec.encode({"a": "\ud800"})


def test_use_orjson_needs_orjson(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flatsync._codecs._json, "orjson", None)
    with pytest.raises(ImportError, match="orjson"):
        JsonCodec(use_orjson=True)
    assert JsonCodec().use_orjson is False
    assert JsonCodec().encode({3: {"hp": 6}}) == b'{"3":{"hp":6}}'
