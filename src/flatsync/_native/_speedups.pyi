# The C accelerator's functions (src/flatsync/_native/_speedups.c).
from typing import Any

DECLINED: object

def configure_cbor(
    deleted: Any,
    markers: dict[int, Any],
    value_from_tree: Any,
    count_key_hash: Any,
    marker_base: type,
    user_pair: Any,
    types_by_class: dict[type, Any],
    /,
) -> None: ...
def configure_handlers(
    data_handler: type,
    record: type,
    record_view: type,
    record_delta: type,
    changed: type,
    added: type,
    removed: type,
    deleted: Any,
    /,
) -> None: ...
def decode(data: bytes, limits: Any, /) -> Any: ...
def encode(tree: Any, limits: Any = None, /) -> Any: ...
def patch(handler: Any, delta: Any, path: tuple[Any, ...], events: list[Any] | None, /) -> bool: ...
def configure_writes(data_handler: type, /) -> None: ...

class TrackedDict(dict[Any, Any]): ...
