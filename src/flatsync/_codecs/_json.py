"""JsonCodec: readable JSON for browsers and debugging, with CborCodec's exact round trip.

The common case is plain JSON: ``{3: {"hp": 6}}`` is ``{"3":{"hp":6}}``,
tuples are arrays, text and safe integers and finite floats are themselves.
What plain JSON cannot say takes a one-key object whose key is ``~`` and a
letter (or ``~`` and a marker number), and mapping keys that are not plain
text or integers take a ``~`` prefix; the wire-format page specifies it all.

Encoding uses orjson when it is installed (several times faster than the
standard library's json) and the standard library otherwise; decoding always
uses the standard library, whose ``object_pairs_hook`` sees every key, so that
a duplicate key is refused and no dict is built before flatsync checked it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import struct
from typing import Any

from .._tree._errors import DecodeError, EncodeError, LimitError
from .._tree._markers import DELETED, MARKERS, Marker
from .._tree._types import TYPES_BY_CLASS, value_from_tree
from .._tree._values import Path, format_path
from ._codec import Budget, Codec, check_packet, check_tree, packet_bytes, user_tree
from ._limits import Limits

try:  # pragma: no cover - which branch runs depends on the environment
    import orjson
except ImportError:  # pragma: no cover - the check installs orjson
    orjson = None  # type: ignore[assignment]

__all__ = ["JsonCodec"]

#: Integers in this range are JSON numbers; beyond it a JavaScript number loses digits.
MAX_SAFE_INTEGER = 2**53 - 1

_INT_KEY = re.compile(r"0|-?[1-9][0-9]*")
_pack_bits = struct.Struct(">d").pack
_unpack_bits = struct.Struct(">d").unpack
_CANONICAL_NAN = b"\x7f\xf8\x00\x00\x00\x00\x00\x00"
_TAG_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyz")  # "~" + one: a tag (6 are used)
#: A text key starting with one of these may need the escape (see _key_out).
_ESCAPED_FIRST = frozenset("~-0123456789")


# -- encoding ------------------------------------------------------------------------------


def _float_tag(value: float) -> dict[str, str]:
    if value == value:
        return {"~f": "inf" if value > 0 else "-inf"}
    bits = _pack_bits(value)
    return {"~f": "nan" if bits == _CANONICAL_NAN else bits.hex()}


def _out(tree: Any) -> Any:
    """The JSON-ready form of a tree that check_tree accepted."""
    t = type(tree)
    if t is dict:
        out = {}
        for key, value in tree.items():
            text = key if type(key) is str and key[:1] not in _ESCAPED_FIRST else _key_out(key)
            tv = type(value)
            if (
                tv is str
                or tv is bool
                or value is None
                or (tv is float and value - value == 0.0)
                or (tv is int and -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER)
            ):
                out[text] = value
            else:
                out[text] = _out(value)
        return out
    if t is str or t is bool or tree is None:
        return tree
    if t is int:
        if -MAX_SAFE_INTEGER <= tree <= MAX_SAFE_INTEGER:
            return tree
        return {"~i": _decimal(tree)}
    if t is float:
        if tree - tree == 0.0:  # finite
            return tree
        return _float_tag(tree)
    if t is tuple:
        return [_out(item) for item in tree]
    if t is bytes:
        return {"~b": base64.b64encode(tree).decode("ascii")}
    if t is list:
        return {"~l": [_out(item) for item in tree]}
    if tree is DELETED:
        return {"~d": 0}
    if t in TYPES_BY_CLASS:
        return {"~v": [TYPES_BY_CLASS[t].name, _out(user_tree(tree, ()))]}
    if isinstance(tree, Marker):
        return {f"~{tree.marker_id}": _out(tree.content())}
    raise EncodeError(f"cannot encode {t.__name__}")  # pragma: no cover - check_tree refused it


def _decimal(value: int) -> str:
    try:
        return str(value)
    except ValueError:  # beyond sys.get_int_max_str_digits()
        raise EncodeError(
            "an integer of more decimal digits than this interpreter converts "
            "(sys.get_int_max_str_digits()) cannot be carried in JSON"
        ) from None


def _key_out(key: Any) -> str:
    t = type(key)
    if t is str:
        if key[:1] != "~" and not _INT_KEY.fullmatch(key):
            return key  # type: ignore[no-any-return]
    elif t is int:
        return _decimal(key)
    return "~" + _compact(_out(key))


_dumps_std = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":"), check_circular=False
).encode


def _compact(obj: Any) -> str:
    return _dumps_std(obj)


# -- decoding ------------------------------------------------------------------------------


class _Object(list):  # type: ignore[type-arg]
    """A JSON object as the parser read it: its (key, value) pairs, duplicates kept."""

    __slots__ = ()


def _refuse_constant(name: str) -> Any:
    raise DecodeError(f"{name} is not JSON (flatsync writes non-finite floats as {{'~f': ...}})")


_decoder = json.JSONDecoder(object_pairs_hook=_Object, parse_constant=_refuse_constant)


def _parse(text: str) -> Any:
    """Parse one JSON text, strictly (no trailing data, no NaN or Infinity literals)."""
    return _decoder.decode(text)


class _Reader:
    """Turns the parsed JSON into a protocol tree, checking every rule and limit."""

    __slots__ = ("budget",)

    def __init__(self, limits: Limits) -> None:
        self.budget = Budget(limits)

    # Contexts: "v" a value, "t" inside a tuple, "r" inside a marker's content.

    def tree(self, node: Any, depth: int, path: Path, ctx: str = "v") -> Any:
        t = type(node)
        if t is str:
            if len(node) > self.budget.max_string // 4:
                self.budget.string(node, path)
            return node
        if t is int:
            if not -MAX_SAFE_INTEGER <= node <= MAX_SAFE_INTEGER:
                raise DecodeError(
                    f"{format_path(path)}: the integer {node} is beyond 2**53 - 1 in magnitude; "
                    "JSON carries it as {'~i': '...'}"
                )
            return node
        if t is float:
            if node - node != 0.0:
                raise DecodeError(f"{format_path(path)}: a number too large for a float")
            return node
        if t is bool or node is None:
            return node
        if t is list:  # an array: a tuple (or a marker's content)
            self.budget.container(len(node), depth, path)
            inner = "r" if ctx == "r" else "t"
            return tuple(
                self.tree(item, depth + 1, (*path, index), inner) for index, item in enumerate(node)
            )
        # An object: a tag, or a mapping.
        if len(node) == 1:
            key = node[0][0]
            if key[:1] == "~" and (
                (len(key) == 2 and key[1] in _TAG_LETTERS)
                or (key[1:].isascii() and key[1:].isdigit())
            ):
                return self.tagged(key[1:], node[0][1], depth, path, ctx)
        if ctx == "t":
            raise DecodeError(f"{format_path(path)}: a tuple may not hold a mapping")
        self.budget.container(len(node), depth, path)
        out: dict[Any, Any] = {}
        hashes = None
        budget = self.budget
        for text, value in node:
            key = self.key(text, depth + 1, path)
            hashes = budget.key(key, hashes, path)
            before = len(out)
            out[key] = None
            if len(out) == before:
                raise DecodeError(f"{format_path(path)}: the key {key!r:.80} appears twice")
            out[key] = self.tree(value, depth + 1, (*path, key))
        return out

    def tagged(self, tag: str, payload: Any, depth: int, path: Path, ctx: str) -> Any:
        if tag == "b":
            return self.bytes_(payload, path)
        if tag == "i":
            return self.bigint(payload, path)
        if tag == "f":
            return self.float_(payload, path)
        if tag == "v":
            if type(payload) is not list or len(payload) != 2 or type(payload[0]) is not str:
                raise DecodeError(f"{format_path(path)}: '~v' must hold [name, tree]")
            if depth >= self.budget.max_depth:
                raise LimitError(
                    f"{format_path(path)}: the packet nests deeper than {self.budget.max_depth}"
                )
            self.budget.string(payload[0], path)
            tree = self.tree(payload[1], depth + 1, path)
            try:
                return value_from_tree(payload[0], tree)
            except DecodeError as exc:
                raise DecodeError(f"{format_path(path)}: {exc}") from None
        if ctx == "t":
            raise DecodeError(f"{format_path(path)}: a tuple may not hold '~{tag}'")
        if tag == "d":
            if payload != 0 or type(payload) is not int:
                raise DecodeError(f"{format_path(path)}: '~d' (DELETED) must hold 0")
            return DELETED
        if tag == "l":
            if type(payload) is not list:
                raise DecodeError(f"{format_path(path)}: '~l' (a list) must hold an array")
            self.budget.container(len(payload), depth, path)
            return [
                self.tree(item, depth + 1, (*path, index)) for index, item in enumerate(payload)
            ]
        if not tag.isdigit():
            raise DecodeError(f"{format_path(path)}: an unknown tag '~{tag}'")
        cls = MARKERS.get(int(tag)) if len(tag) <= 3 and str(int(tag)) == tag else None
        if cls is None:
            raise DecodeError(f"{format_path(path)}: an unknown marker '~{tag}'")
        if depth >= self.budget.max_depth:
            raise LimitError(
                f"{format_path(path)}: the packet nests deeper than {self.budget.max_depth}"
            )
        content = self.tree(payload, depth + 1, path, "r")
        try:
            return cls.from_content(content)
        except DecodeError as exc:
            raise DecodeError(f"{format_path(path)}: {exc}") from None

    def bytes_(self, payload: Any, path: Path) -> bytes:
        if type(payload) is not str:
            raise DecodeError(f"{format_path(path)}: '~b' (bytes) must hold a base64 string")
        limit = self.budget.max_string
        if len(payload) > (limit // 3 + 1) * 4:
            raise LimitError(f"{format_path(path)}: a byte string over the limit of {limit}")
        try:
            value = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise DecodeError(f"{format_path(path)}: '~b' holds malformed base64") from None
        if base64.b64encode(value).decode("ascii") != payload:
            raise DecodeError(f"{format_path(path)}: '~b' holds non-canonical base64")
        self.budget.string(value, path)
        return value

    def bigint(self, payload: Any, path: Path) -> int:
        if type(payload) is not str or not _INT_KEY.fullmatch(payload):
            raise DecodeError(f"{format_path(path)}: '~i' must hold an integer's decimal digits")
        value = self.integer(payload, path)
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise DecodeError(f"{format_path(path)}: '~i' holds {value}, a plain JSON number")
        return value

    def integer(self, digits: str, path: Path) -> int:
        """An integer from its decimal digits; its bytes count against ``max_string_length``."""
        limit = self.budget.max_string
        if len(digits) > 3 * limit + 1:
            raise LimitError(f"{format_path(path)}: an integer over {limit} bytes")
        try:
            value = int(digits)
        except ValueError:  # more digits than the interpreter converts
            raise LimitError(f"{format_path(path)}: an integer of too many digits") from None
        if (value.bit_length() + 7) // 8 > limit:
            raise LimitError(f"{format_path(path)}: an integer over {limit} bytes")
        return value

    def float_(self, payload: Any, path: Path) -> float:
        if payload == "inf" or payload == "-inf":  # noqa: PLR1714
            return float(payload)
        if payload == "nan":
            value: float = _unpack_bits(_CANONICAL_NAN)[0]
            return value
        if type(payload) is str and len(payload) == 16:
            try:
                bits = bytes.fromhex(payload)
            except ValueError:
                bits = b""
            if len(bits) == 8 and bits.hex() == payload and bits != _CANONICAL_NAN:
                value = _unpack_bits(bits)[0]
                if value != value:
                    return value
        raise DecodeError(
            f"{format_path(path)}: '~f' must hold 'inf', '-inf', 'nan' or a NaN's 16 hex digits"
        )

    def key(self, text: str, depth: int, path: Path) -> Any:
        if text[:1] != "~":
            if _INT_KEY.fullmatch(text):
                return self.integer(text, path)
            if len(text) > self.budget.max_string // 4:
                self.budget.string(text, path)
            return text
        try:
            parsed = _parse(text[1:])
        except (ValueError, RecursionError):
            raise DecodeError(f"{format_path(path)}: the key {text!r:.80} is malformed") from None
        key = self.key_item(parsed, depth, path)
        t = type(key)
        if t is int or (t is str and key[:1] != "~" and not _INT_KEY.fullmatch(key)):
            raise DecodeError(f"{format_path(path)}: the key {text!r:.80} is not canonical")
        return key

    def key_item(self, node: Any, depth: int, path: Path) -> Any:
        t = type(node)
        if t is list:
            self.budget.container(len(node), depth, path)
            return tuple(self.key_item(item, depth + 1, path) for item in node)
        if t is _Object and (len(node) != 1 or node[0][0] not in ("~b", "~i", "~f")):
            raise DecodeError(f"{format_path(path)}: a key cannot hold a mapping or a marker")
        value = self.tree(node, depth, path, "t")
        if type(value) is float and value != value:
            raise DecodeError(f"{format_path(path)}: a NaN cannot be a key")
        return value


class JsonCodec(Codec):
    """The readable codec: JSON text (UTF-8), for browser clients and for debugging.

    It carries exactly what :class:`~flatsync.CborCodec` carries, and the
    common case reads as plain JSON:

    >>> import flatsync
    >>> codec = flatsync.JsonCodec()
    >>> codec.encode({3: {"hp": 6}})
    b'{"3":{"hp":6}}'
    >>> codec.decode(b'{"3":{"hp":6}}')
    {3: {'hp': 6}}
    >>> codec.encode({"pos": (2, 3), "bag": ["axe"], 7: flatsync.DELETED})
    b'{"pos":[2,3],"bag":{"~l":["axe"]},"7":{"~d":0}}'

    The wire-format page of the docs specifies the mapping. Decoding is
    strict: duplicate keys, trailing data, ``NaN``/``Infinity`` literals and
    anything outside the protocol raise :class:`~flatsync.DecodeError`, a
    packet beyond the :class:`~flatsync.Limits` raises
    :class:`~flatsync.LimitError`, both naming the path. Decoding changes no
    state.

    Args:
        limits: Bounds enforced while decoding and encoding.
        use_orjson: Encode with orjson (``True``), with the standard library
            (``False``), or with orjson when it is installed (``None``). The
            two write the same JSON except for the exponent form of some
            floats (``1e+16`` or ``1e16``), which both read.

    Raises:
        ImportError: ``use_orjson=True`` and orjson is not installed.
    """

    name = "json"

    def __init__(self, *, limits: Limits | None = None, use_orjson: bool | None = None) -> None:
        super().__init__(limits=limits)
        if use_orjson and orjson is None:
            raise ImportError("use_orjson=True needs orjson (pip install orjson)")
        self.use_orjson = orjson is not None if use_orjson is None else use_orjson

    def encode(self, tree: Any) -> bytes:
        """Encode a protocol tree as JSON text in UTF-8.

        Raises:
            EncodeError: something in the tree is not part of the protocol (the
                message names its type and its path), a string is not valid
                Unicode, or an integer has more decimal digits than Python
                converts.
            LimitError: the tree exceeds one of the limits.

        The tree is not modified, whatever happens.
        """
        limits = self.limits
        check_tree(tree, limits)
        ready = _out(tree)
        try:
            if self.use_orjson:
                data: bytes = orjson.dumps(ready)
            else:
                data = _dumps_std(ready).encode("utf-8")
        except (TypeError, ValueError) as exc:  # lone surrogates, mostly
            raise EncodeError(f"the tree cannot be written as JSON: {exc}") from None
        return check_packet(tree, data, limits)

    def decode(self, data: bytes | bytearray | memoryview) -> Any:
        """Decode one JSON packet into a protocol tree.

        Raises:
            DecodeError: not UTF-8, not JSON, trailing data, duplicate keys, or
                something that is not part of the protocol; the message names
                the path inside the packet.
            LimitError: the packet is larger, deeper or longer than the limits,
                or a mapping has more keys sharing one hash than
                ``max_hash_collisions``.
            TypeError: ``data`` is not bytes-like.

        Decoding changes no state.
        """
        limits = self.limits
        data = packet_bytes(data, limits)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError(f"the packet is not UTF-8: {exc}") from None
        try:
            parsed = _parse(text)
        except RecursionError:
            raise LimitError("the packet nests deeper than the JSON parser reads") from None
        except ValueError as exc:
            raise DecodeError(f"malformed JSON: {exc}") from None
        try:
            return _Reader(limits).tree(parsed, 0, ())
        except RecursionError:  # pragma: no cover - depth_cap keeps the reader shallow
            raise LimitError("the packet nests deeper than this interpreter reads") from None
