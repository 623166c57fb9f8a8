"""Unsigned LEB128 varints: the one encoder and decoder of the package.

Seven bits per byte, low bits first, the high bit set on every byte but the
last. The session's frame headers (``flatsync._session._frames``) and the
recording format (``flatsync._debug._recording``) both use them; each turns
a :class:`VarintError` into its own error and adds its own rules (the frame
header accepts only the shortest form).
"""

from __future__ import annotations

__all__ = ["VarintError", "read_uvarint", "uvarint"]


class VarintError(Exception):
    """A varint that cannot be read; its reader turns it into its own error.

    Attributes:
        reason: ``"cut"``: the data ends inside the varint. ``"long"``: its
            first ``max_bytes`` bytes all say that more follow. ``"padded"``:
            it is not in its shortest form (when only that form is accepted).
        end: The offset where reading stopped.
    """

    def __init__(self, reason: str, end: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.end = end


def uvarint(value: int) -> bytes:
    """The unsigned LEB128 bytes of ``value``, in their shortest form.

    >>> uvarint(300).hex(" ")
    'ac 02'

    Raises:
        ValueError: ``value`` is negative.
    """
    if value < 0:
        raise ValueError(f"an unsigned varint cannot hold a negative number ({value})")
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def read_uvarint(
    data: bytes | bytearray | memoryview, pos: int, max_bytes: int, shortest: bool = False
) -> tuple[int, int]:
    """The varint at ``data[pos]`` and the offset after it; it may take up to ``max_bytes`` bytes.

    ``shortest``: accept only the shortest form (no ``0x00`` last byte after
    the first); otherwise any form is read.

    >>> read_uvarint(b"\\x00\\xac\\x02", 1, 9)
    (300, 3)

    Raises:
        VarintError: the data ends inside the varint (``"cut"``), its first
            ``max_bytes`` bytes all say that more follow (``"long"``), or it is
            padded where only the shortest form is accepted (``"padded"``).
    """
    value = 0
    shift = 0
    size = len(data)
    for count in range(max_bytes):
        if pos >= size:
            raise VarintError("cut", pos)
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if shortest and byte == 0 and count:
                raise VarintError("padded", pos)
            return value, pos
        shift += 7
    raise VarintError("long", pos)
