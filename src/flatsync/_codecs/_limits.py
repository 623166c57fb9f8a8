"""Limits that bound what decoding (and encoding) may cost."""

from __future__ import annotations

import attrs

__all__ = ["Limits"]

_positive = [attrs.validators.instance_of(int), attrs.validators.ge(1)]


@attrs.frozen(kw_only=True)
class Limits:
    """Bounds a codec enforces so that a few hostile bytes cannot exhaust the process.

    Every codec checks every limit while decoding, before it builds anything
    large where the format allows it (a declared length is checked against
    the limit and against the bytes left before anything is allocated), and
    raises :class:`~flatsync.LimitError` past one. Encoding checks them too,
    so that a codec never produces a packet that a peer with the same limits
    refuses, and a pathological local state raises an error instead of
    exhausting the process (cbor2's encoder crashes on lists nested a few
    thousand deep).

    Use :func:`attrs.evolve` to derive a variation::

        strict = attrs.evolve(flatsync.Limits(), max_packet_size=64 * 1024)
        codec = flatsync.CborCodec(limits=strict)

    The security page of the docs explains each default.

    Attributes:
        max_packet_size: Largest packet, in bytes.
        max_depth: Deepest nesting of containers (maps, arrays, lists, markers,
            value types) in a tree. A tree nested ``max_depth`` levels deep is
            accepted; a scalar adds no level.
        max_container_items: Most items (map entries or array items) in one
            container.
        max_string_length: Longest text string (in UTF-8 bytes) or byte
            string, in keys and values alike; also the most bytes of an
            integer's magnitude (a CBOR bignum).
        max_total_items: Most items (map entries and array items, added up
            over every container) in one packet.
        max_hash_collisions: Most keys of one map that share a hash value (in
            CPython, modulo ``2**61 - 1``). Keys that are strings, or integers
            below ``2**61 - 1`` in magnitude, are not counted: their hashes
            cannot be made to collide. Crafted floats, big integers and tuples
            can, and a map of many keys that share one hash costs quadratic
            time to build (hash flooding); legitimate data never comes close.
    """

    max_packet_size: int = attrs.field(default=64 * 1024 * 1024, validator=_positive)
    max_depth: int = attrs.field(default=64, validator=_positive)
    max_container_items: int = attrs.field(default=1_000_000, validator=_positive)
    max_string_length: int = attrs.field(default=16 * 1024 * 1024, validator=_positive)
    max_total_items: int = attrs.field(default=10_000_000, validator=_positive)
    max_hash_collisions: int = attrs.field(default=8, validator=_positive)
