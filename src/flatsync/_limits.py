"""Limits that bound what decoding (and encoding) may cost."""

from __future__ import annotations

import attrs

__all__ = ["Limits"]


@attrs.frozen(kw_only=True)
class Limits:
    """Bounds a codec enforces so that a few hostile bytes cannot exhaust the process.

    Use :func:`attrs.evolve` to derive a variation::

        strict = attrs.evolve(flatsync.Limits(), max_packet_size=64 * 1024)
        codec = flatsync.CborCodec(limits=strict)

    Attributes:
        max_packet_size: Largest packet, in bytes, that ``decode`` accepts.
        max_depth: Deepest nesting of containers (maps, arrays, markers) in a
            tree, checked by ``decode`` and by ``encode``.
        max_container_items: Most items (map entries or array items) in one
            container.
        max_string_length: Longest text or byte string, in bytes.
        max_total_items: Most values in a whole packet.
    """

    max_packet_size: int = 64 * 1024 * 1024
    max_depth: int = 64
    max_container_items: int = 1_000_000
    max_string_length: int = 16 * 1024 * 1024
    max_total_items: int = 10_000_000
