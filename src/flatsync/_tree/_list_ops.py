"""The list delta: :class:`~flatsync.protocol.ListDelta` and its algebra.

A list's delta is a tuple of operations applied in order (the wire-format
page lists the opcodes). This module holds the marker, the check of one
operation's shape against a list's length, applying a delta to a list
snapshot and composing two deltas: what :func:`flatsync.merge` and a
:class:`~flatsync.ListHandler`'s patch need, below the handlers.
"""

from __future__ import annotations

from typing import Any

from ._errors import DecodeError, PatchError
from ._markers import DELETED, Marker, Replace, TypedDelta, hashable, is_nested, register_marker
from ._merge import apply_delta
from ._values import Path, Snapshot, describe, format_path

__all__ = ["ListDelta", "apply_list_delta_to_snapshot", "check_op", "merge_list_deltas"]

#: The :class:`~flatsync.protocol.ListDelta` opcodes 0-3, for messages.
_OP_NAMES = ("set", "insert", "delete", "whole")
_OP_FORMS = ("(0, index, change)", "(1, index, value, ...)", "(2, index, count)", "(3, value, ...)")


class ListDelta(Marker, TypedDelta):
    """The delta of a :class:`~flatsync.ListHandler`: a tuple of operations applied in order.

    Each operation is a tuple whose first item is an opcode; the wire-format page
    of the docs lists them.
    """

    __slots__ = ("ops",)

    marker_id = 7

    ops: tuple[tuple[Any, ...], ...]

    def __init__(self, ops: tuple[tuple[Any, ...], ...] = ()) -> None:
        self.ops = ops

    def content(self) -> Any:
        return self.ops

    @classmethod
    def from_content(cls, content: Any) -> ListDelta:
        if type(content) is not tuple or any(type(op) is not tuple for op in content):
            raise DecodeError("a list delta must hold an array of arrays")
        return cls(content)

    def __eq__(self, other: object) -> bool:
        if type(other) is not ListDelta:
            return NotImplemented
        return self.ops == other.ops

    def __hash__(self) -> int:
        return hash((ListDelta, hashable(self.ops)))

    def __repr__(self) -> str:
        return f"ListDelta({self.ops!r})"

    def merged(self, later: TypedDelta, path: tuple[Any, ...]) -> TypedDelta:
        merged: TypedDelta = merge_list_deltas(self, later, path)
        return merged

    def applied_to(self, snapshot: Snapshot, path: tuple[Any, ...]) -> Snapshot:
        return apply_list_delta_to_snapshot(snapshot, self, path)

    def is_empty(self) -> bool:
        return not self.ops


def check_op(op: Any, length: int, path: Path, number: int) -> int:
    """Check an operation's shape and indexes against a list of ``length``; return its opcode."""
    where = f"{format_path(path)}: list delta operation #{number}"
    if (type(op) is not tuple and type(op) is not list) or not op:
        raise PatchError(f"{where} must be a non-empty tuple, got {describe(op)} {op!r:.60}")
    code = op[0]
    if type(code) is not int or not 0 <= code <= 3:
        raise PatchError(f"{where} has an unknown opcode {code!r:.40}; opcodes are 0 to 3")
    if code == 3:
        return code
    size = len(op)
    if (size != 3) if code != 1 else (size < 3):
        raise PatchError(
            f"{where} ({_OP_NAMES[code]}) has {size} fields; its form is {_OP_FORMS[code]}"
        )
    i = op[1]
    if type(i) is not int:
        raise PatchError(f"{where} ({_OP_NAMES[code]}): the index is {describe(i)}, not int")
    if code == 0:
        fits = 0 <= i < length
    elif code == 1:
        fits = 0 <= i <= length
    else:
        count = op[2]
        if type(count) is not int or count < 1:
            raise PatchError(
                f"{where} (delete): the count must be a positive int, got {count!r:.40}"
            )
        fits = i >= 0 and i + count <= length
    if not fits:
        what = f"{op[2]} items at index {i}" if code == 2 else f"index {i}"
        raise PatchError(
            f"{format_path((*path, i))}: list delta operation #{number} ({_OP_NAMES[code]}) "
            f"does not fit: {what} in a list of {length} items at this point of the delta"
        )
    return code


def apply_list_delta_to_snapshot(snapshot: Any, delta: ListDelta, path: Path) -> list[Any]:
    """Return a new list snapshot: ``snapshot`` (left unmodified) with ``delta`` applied.

    Raises:
        PatchError: ``snapshot`` is not a list, or an operation does not fit it
            (bad shape, index out of range, nested delta on a scalar); the
            message names the path.
    """
    if type(snapshot) is not list:
        raise PatchError(
            f"{format_path(path)}: a list delta needs a list, found {describe(snapshot)}"
        )
    ops: Any = delta.ops
    if type(ops) is not tuple and type(ops) is not list:
        raise PatchError(
            f"{format_path(path)}: a ListDelta holds a tuple of operations, got {describe(ops)}"
        )
    out = snapshot.copy()
    for number, op in enumerate(ops):
        code = check_op(op, len(out), path, number)
        if code == 0:
            i = op[1]
            change = op[2]
            t = type(change)
            if is_nested(change):
                out[i] = apply_delta(out[i], change, (*path, i))
            elif change is DELETED:
                raise PatchError(
                    f"{format_path((*path, i))}: DELETED cannot be a list item; "
                    "a list deletes with opcode 2"
                )
            else:
                out[i] = change.value if t is Replace else change
        elif code == 1:
            i = op[1]
            out[i:i] = op[2:]
        elif code == 2:
            i = op[1]
            del out[i : i + op[2]]
        else:
            out = list(op[1:])
    return out


def _is_whole(op: Any) -> bool:
    return type(op) is tuple and len(op) >= 1 and type(op[0]) is int and op[0] == 3


def merge_list_deltas(first: ListDelta, later: TypedDelta, path: Path) -> ListDelta:
    """Compose two list deltas: applying the result equals applying ``first``, then ``later``.

    The operations are concatenated; a whole-contents operation (opcode 3) drops
    what came before it, or absorbs what follows it, and adjacent operations
    that compose into one (two inserts into one run, two contiguous deletes,
    two writes to one index, a write or delete inside a run just inserted) are
    merged. Neither argument is modified.

    Raises:
        PatchError: ``later`` is not a :class:`~flatsync.protocol.ListDelta`, or it does
            not fit after ``first`` where the merge has to apply it; the
            message names the path.
    """
    if type(later) is not ListDelta:
        raise PatchError(
            f"{format_path(path)}: cannot merge a list delta with a {describe(later)} delta"
        )
    a = tuple(first.ops)
    b = tuple(later.ops)
    for k in range(len(b) - 1, -1, -1):
        if _is_whole(b[k]):
            return ListDelta(b[k:])
    for k in range(len(a) - 1, -1, -1):
        if _is_whole(a[k]):
            contents = apply_list_delta_to_snapshot(list(a[k][1:]), ListDelta(a[k + 1 :] + b), path)
            return ListDelta(((3, *contents),))
    ops = list(a)
    for op in b:
        _push(ops, op, path)
    return ListDelta(tuple(ops))


def _mergeable(op: Any) -> bool:
    """Whether ``op`` is a well-formed set, insert or delete (the peephole touches no other)."""
    if type(op) is not tuple or len(op) < 3 or type(op[0]) is not int or type(op[1]) is not int:
        return False
    code = op[0]
    return code == 1 or (len(op) == 3 and (code == 0 or (code == 2 and type(op[2]) is int)))


def _push(ops: list[tuple[Any, ...]], op: Any, path: Path) -> None:
    """Append ``op`` to ``ops``, merging it into the last operation where that is exact."""
    last: Any = ops[-1] if ops else None
    if not (_mergeable(op) and _mergeable(last)):
        ops.append(op)
        return
    code = op[0]
    lcode = last[0]
    i = op[1]
    j = last[1]
    if lcode == 1 and code in (0, 1, 2):
        run = list(last[2:])
        k = i - j
        if code == 1 and 0 <= k <= len(run):
            run[k:k] = op[2:]
            ops[-1] = (1, j, *run)
            return
        if code == 0 and 0 <= k < len(run):
            change = op[2]
            if is_nested(change):
                run[k] = apply_delta(run[k], change, (*path, i))
            elif change is DELETED:
                ops.append(op)
                return
            else:
                run[k] = change.value if type(change) is Replace else change
            ops[-1] = (1, j, *run)
            return
        if code == 2 and k >= 0 and k + op[2] <= len(run):
            del run[k : k + op[2]]
            if run:
                ops[-1] = (1, j, *run)
            else:
                ops.pop()
            return
    elif lcode == 2 and code == 2:
        count = op[2]
        lcount = last[2]
        if count > 0 and lcount > 0:
            if i == j:
                ops[-1] = (2, j, lcount + count)
                return
            if i + count == j:
                ops[-1] = (2, i, lcount + count)
                return
    elif lcode == 0 and code == 0 and i == j:
        change = op[2]
        if not is_nested(change) and change is not DELETED:
            ops[-1] = op
            return
    ops.append(op)


register_marker(ListDelta)
