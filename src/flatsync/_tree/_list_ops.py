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
from ._markers import (
    DELETED,
    Marker,
    Replace,
    TypedDelta,
    hashable,
    is_nested,
    register_marker,
    snapshot_item,
)
from ._merge import _merge_deltas, apply_delta
from ._values import SCALARS, Path, Snapshot, describe, format_path

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
        if type(content) is not tuple:
            raise DecodeError("a list delta must hold an array of arrays")
        for number, op in enumerate(content):
            _check_op_shape(op, number)
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


def _check_op_shape(op: Any, number: int) -> None:
    """Check one decoded operation's shape (its form, not its fit to a list).

    Raises:
        DecodeError: not one of the four forms, an opcode, index or count that
            is not an unsigned int (a count at least 1), a change that is
            DELETED, or a value that is not a snapshot value.
    """
    where = f"list delta operation #{number}"
    if type(op) is not tuple or not op:
        raise DecodeError(f"{where} must be a non-empty array, not {describe(op)}")
    code = op[0]
    if type(code) is not int or not 0 <= code <= 3:
        raise DecodeError(f"{where} has an unknown opcode {code!r:.40}; opcodes are 0 to 3")
    if code == 3:
        for value in op[1:]:
            if type(value) not in SCALARS:
                snapshot_item(value, f"{where} (whole)")
        return
    size = len(op)
    if (size != 3) if code != 1 else (size < 3):
        raise DecodeError(
            f"{where} ({_OP_NAMES[code]}) has {size} fields; its form is {_OP_FORMS[code]}"
        )
    i = op[1]
    if type(i) is not int or i < 0:
        raise DecodeError(f"{where} ({_OP_NAMES[code]}): the index must be an int >= 0")
    if code == 0:
        change = op[2]
        if change is DELETED:
            raise DecodeError(f"{where} (set) holds undefined (DELETED); a list deletes with 2")
        if type(change) is tuple:
            snapshot_item(change, f"{where} (set)")
    elif code == 1:
        for value in op[2:]:
            if type(value) not in SCALARS:
                snapshot_item(value, f"{where} (insert)")
    else:
        count = op[2]
        if type(count) is not int or count < 1:
            raise DecodeError(f"{where} (delete): the count must be an int >= 1")


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

    A whole-contents operation (opcode 3) drops what came before it, or absorbs
    what follows it. Otherwise the result is the net change in its shortest
    form, whatever the two deltas did on the way: walking the list from the
    front, a delete of each run of original items that is gone, an insert of
    each run of new items (with the changes made to them since folded in), and
    one set of each original item that changed (its changes merged). An insert
    then a delete of the same item cancels. So a merge of many ticks' deltas
    holds at most one operation per run of the list's net change, however many
    operations the ticks made: a lagging client's pending delta of a list does
    not grow with the ticks. Neither argument is modified.

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
    if all(_composable(op) for op in a) and all(_composable(op) for op in b):
        return ListDelta(_Net(path).apply(a).apply(b).ops())
    # An operation of another shape (a peer's, say): concatenate, folding neighbours.
    ops = list(a)
    for op in b:
        _push(ops, op, path)
    return ListDelta(tuple(ops))


def _composable(op: Any) -> bool:
    """Whether ``op`` is a well-formed set, insert or delete that :class:`_Net` can take."""
    if not _mergeable(op) or op[1] < 0:
        return False
    code = op[0]
    return (code != 2 or op[2] >= 1) and (code != 0 or op[2] is not DELETED)


# The segments of a _Net: [_KEEP, j, n] original items j to j + n - 1, unchanged;
# [_ORIG, j, change] original item j, changed; [_NEW, values] items inserted.
_KEEP, _ORIG, _NEW = 0, 1, 2


class _Net:
    """The net change of a run of list operations, over a list of unknown length.

    The list after the operations is ``segments`` (runs of original items kept,
    original items changed, items inserted) followed by the original items from
    ``tail`` on; an original item before ``tail`` that no segment holds was
    deleted. :meth:`ops` writes the shortest run of operations that makes it.
    Each operation costs a walk of the segments, which are at most about twice
    as many as the operations taken.
    """

    __slots__ = ("path", "segments", "tail")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.segments: list[list[Any]] = []
        self.tail = 0

    def _cut(self, at: int) -> int:
        """Make a segment start at output position ``at``; the index of that segment."""
        segments = self.segments
        pos = 0
        for k, seg in enumerate(segments):
            if pos == at:
                return k
            kind = seg[0]
            size = seg[2] if kind == _KEEP else 1 if kind == _ORIG else len(seg[1])
            if at < pos + size:
                cut = at - pos
                if kind == _KEEP:
                    segments[k : k + 1] = [[_KEEP, seg[1], cut], [_KEEP, seg[1] + cut, size - cut]]
                else:  # an inserted run (a changed original item has size 1)
                    values = seg[1]
                    segments[k : k + 1] = [[_NEW, values[:cut]], [_NEW, values[cut:]]]
                return k + 1
            pos += size
        if at > pos:
            segments.append([_KEEP, self.tail, at - pos])
            self.tail += at - pos
        return len(segments)

    def _join(self, k: int) -> None:
        """Join the inserted runs at ``k - 1`` and ``k``, if both are."""
        segments = self.segments
        if 0 < k < len(segments) and segments[k - 1][0] == _NEW and segments[k][0] == _NEW:
            segments[k - 1] = [_NEW, segments[k - 1][1] + segments[k][1]]
            del segments[k]

    def apply(self, ops: tuple[Any, ...]) -> _Net:
        """Take ``ops`` (each :func:`_composable`), in order."""
        segments = self.segments
        for op in ops:
            code = op[0]
            i = op[1]
            if code == 1:
                k = self._cut(i)
                segments.insert(k, [_NEW, list(op[2:])])
                self._join(k + 1)
                self._join(k)
            elif code == 2:
                k = self._cut(i)
                end = self._cut(i + op[2])
                del segments[k:end]
                self._join(k)
            else:
                k = self._cut(i)
                self._cut(i + 1)
                seg = segments[k]
                change = op[2]
                where = (*self.path, i)
                if seg[0] == _KEEP:
                    segments[k] = [_ORIG, seg[1], change]
                elif seg[0] == _ORIG:
                    seg[2] = _then(seg[2], change, where)
                else:
                    seg[1] = [_changed(seg[1][0], change, where)]
                    self._join(k + 1)
                    self._join(k)
        return self

    def ops(self) -> tuple[tuple[Any, ...], ...]:
        """The operations, from the front: per gap a delete, then an insert, and sets."""
        out: list[tuple[Any, ...]] = []
        pos = 0
        kept = 0  # the next original item not yet placed or deleted
        new: list[Any] = []  # items inserted since the last original item
        for seg in [*self.segments, [_KEEP, self.tail, 0]]:
            kind = seg[0]
            if kind == _NEW:
                new.extend(seg[1])
                continue
            j = seg[1]
            if j > kept:
                out.append((2, pos, j - kept))
            if new:
                out.append((1, pos, *new))
                pos += len(new)
                new = []
            if kind == _KEEP:
                pos += seg[2]
                kept = j + seg[2]
            else:
                out.append((0, pos, seg[2]))
                pos += 1
                kept = j + 1
        return tuple(out)


def _then(earlier: Any, later: Any, path: Path) -> Any:
    """The set of an original item that composes the sets ``earlier`` and ``later``."""
    if not is_nested(later):
        return later
    if is_nested(earlier):
        return _merge_deltas(earlier, later, path)
    if type(earlier) is Replace:
        return Replace(apply_delta(earlier.value, later, path))
    return apply_delta(earlier, later, path)


def _changed(value: Any, change: Any, path: Path) -> Any:
    """An inserted item ``value`` after the set ``change``."""
    if is_nested(change):
        return apply_delta(value, change, path)
    return change.value if type(change) is Replace else change


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
