"""Which built-in codec a payload is in, when it is not in the one expected.

Used on the error path only (a payload that the receiver's codec refused), to
tell a codec mismatch (a JSON publisher, a CBOR replica) from a damaged packet.
"""

from __future__ import annotations

from ._cbor import CborCodec
from ._codec import Codec
from ._json import JsonCodec
from ._msgpack import MsgpackCodec

__all__ = ["other_codec"]

_BUILT_IN: tuple[type[Codec], ...] = (CborCodec, JsonCodec, MsgpackCodec)


def other_codec(payload: bytes | bytearray | memoryview, expected: Codec) -> str | None:
    """The name of a built-in codec other than ``expected``'s that decodes ``payload``, or None.

    Each candidate decodes with its default limits; one whose dependency is not
    installed is skipped. Nothing raises.
    """
    for cls in _BUILT_IN:
        if cls.name == expected.name:
            continue
        try:
            codec = cls()
            codec.decode(payload)
        except Exception:
            continue
        return cls.name
    return None
