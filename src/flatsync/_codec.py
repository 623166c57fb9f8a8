"""The codec contract: protocol trees to bytes and back, and nothing else."""

from __future__ import annotations

import abc
from typing import Any

from ._base import ATOMS, Path, format_path, key_ok
from ._errors import DecodeError, EncodeError, LimitError
from ._limits import Limits
from ._markers import DELETED, Marker

__all__ = ["Codec", "check_tree"]


class Codec(abc.ABC):
    """Base class of every codec.

    A codec turns a protocol tree (what ``snapshot()`` and ``diff()`` return)
    into bytes and back. It must round-trip every tree exactly: ``int`` keys
    stay ``int``, tuples stay tuples and lists stay lists, ``bytes`` stay
    ``bytes``, ``bool`` stays ``bool``, floats keep their bits, and every marker
    (:data:`~flatsync.DELETED`, :class:`~flatsync.Replace`,
    :class:`~flatsync.ListDelta`) survives.

    Subclasses implement :meth:`encode` and :meth:`decode`.

    Args:
        limits: Bounds enforced while decoding and encoding.
    """

    #: A short name for the codec (used in messages and by tools).
    name: str = "codec"

    def __init__(self, *, limits: Limits | None = None) -> None:
        self.limits = Limits() if limits is None else limits

    def __repr__(self) -> str:
        return f"{type(self).__name__}(limits={self.limits!r})"

    @abc.abstractmethod
    def encode(self, tree: Any) -> bytes:
        """Encode a protocol tree.

        Raises:
            EncodeError: the tree holds something that is not part of the
                protocol; the message names the type and the path.
            LimitError: the tree nests deeper than ``limits.max_depth`` or the
                packet would exceed ``limits.max_packet_size``.
        """

    @abc.abstractmethod
    def decode(self, data: bytes | bytearray | memoryview) -> Any:
        """Decode one packet into a protocol tree.

        Raises:
            DecodeError: the packet is malformed (including trailing bytes,
                duplicate map keys and unknown markers).
            LimitError: the packet exceeds one of the limits.
        """


def check_tree(tree: Any, limits: Limits) -> None:
    """Check that ``tree`` is a protocol tree a codec can encode.

    Raises:
        EncodeError: a type outside the protocol, or a key of an unsupported type.
        LimitError: nesting deeper than ``limits.max_depth``.
    """
    try:
        _check(tree, limits.max_depth, 0, ())
    except RecursionError:
        # Only reachable with a max_depth above what the interpreter can recurse.
        raise LimitError(
            f"the tree nests deeper than this interpreter can check (max_depth is "
            f"{limits.max_depth})"
        ) from None


def _check_content(content: Any, max_depth: int, depth: int, path: Path) -> None:
    # A marker's content: a tuple here may hold any trees (not only values).
    if type(content) is tuple:
        if depth >= max_depth:
            raise LimitError(f"{format_path(path)}: the tree nests deeper than {max_depth} levels")
        for item in content:
            _check_content(item, max_depth, depth + 1, path)
    else:
        _check(content, max_depth, depth, path)


def _check(tree: Any, max_depth: int, depth: int, path: Path) -> None:
    t = type(tree)
    if t in ATOMS or t is float or tree is DELETED:
        return
    if depth >= max_depth:
        raise LimitError(f"{format_path(path)}: the tree nests deeper than {max_depth} levels")
    depth += 1
    if t is dict:
        for key, value in tree.items():
            if not key_ok(key):
                raise EncodeError(
                    f"{format_path(path)}: cannot encode the key {key!r} "
                    f"of type {type(key).__name__}"
                )
            if type(value) not in ATOMS and type(value) is not float:
                _check(value, max_depth, depth, (*path, key))
    elif t is tuple:
        for index, value in enumerate(tree):
            if type(value) not in ATOMS and type(value) is not float:
                if type(value) is not tuple:
                    raise EncodeError(
                        f"{format_path((*path, index))}: a tuple may hold only scalars, bytes "
                        f"and tuples, not {type(value).__name__}"
                    )
                _check(value, max_depth, depth, (*path, index))
    elif t is list:
        for index, value in enumerate(tree):
            _check(value, max_depth, depth, (*path, index))
    elif isinstance(tree, Marker):
        content = tree.content()
        _check_content(content, max_depth, depth, path)
        try:
            type(tree).from_content(content)
        except DecodeError as exc:
            raise EncodeError(f"{format_path(path)}: {exc}") from None
    else:
        hint = " (encode its .snapshot() or .diff())" if isinstance(tree, dict | list) else ""
        raise EncodeError(f"{format_path(path)}: cannot encode {t.__name__}{hint}")
