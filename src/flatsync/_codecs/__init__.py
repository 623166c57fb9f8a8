"""Layer 3: codecs, which turn protocol trees into bytes and back, within limits.

``_codec`` (the base class and the rules every codec shares: what may be
encoded, the limits while decoding, the hash-flood guard, the decode
preamble), ``_limits``, ``_cbor``, ``_json``, ``_msgpack``, and ``_varint``
(the LEB128 pair that the frame headers and the recording format use).
"""
