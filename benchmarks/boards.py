"""Boards and records: board deltas against re-sending the board, and tracked field writes.

Board deltas. A board of ``u8`` cells (32×32, the issue's board, and 256×256,
where 1,000 cells are a sparse change) gets K random cells changed per tick,
K = 1, 10, 100 and 1,000 (a seeded ``random.Random``; every contender performs
the same writes, each one a change). Contenders, in the same process and run:

flatsync delta
    produce = the K writes on a :class:`flatsync.ByteHandler` + ``diff()`` +
    ``CborCodec.encode`` + ``commit()``; apply = ``decode`` + ``patch``.
whole board
    produce = the same writes on a ByteHandler + ``snapshot()`` + ``encode``
    (re-sending the board's packed snapshot every tick); apply = ``decode`` +
    ``ByteHandler.from_snapshot``.
CBOR list
    produce = the same writes on a plain ``list`` of ints + ``cbor2.dumps``;
    apply = ``cbor2.loads``.

Patch cost per changed cell. On the 256×256 board, K random cells change
(K = 1, 100, 1,000, 10,000, and every cell, which travels as a blob), and the
replica's ``patch`` of the decoded delta is timed alone (the replica is reset,
untimed, between samples). Contenders: ``patch`` itself, which returns one
:class:`flatsync.CellsChanged` for the board; ``patch`` plus the per-cell
:class:`flatsync.Changed` events that ``CellsChanged.changes()`` makes (what a
client that wants one event per cell pays); and ``ByteHandler.from_snapshot``
of the whole board (what re-sending the board costs the client).

Record field writes. The ns of one field write ``obj.x = v`` (each write a
change; the handlers commit, untimed, after every 1,000 writes) on: a plain
``attrs.define`` class (no hooks), an attrs class whose field has a validator
(so attrs' ``on_setattr`` hook runs), a :func:`flatsync.record` class without
and with a validator, and ``h["x"] = v`` on a :class:`flatsync.DataHandler`.

Every figure is a median of ``time.perf_counter_ns`` samples after a warm-up,
with the cyclic garbage collector off while timing. The script checks
correctness (every replica equals its source at the end), never speed.

Usage::

    python benchmarks/boards.py              # the full run (under a minute)
    python benchmarks/boards.py --quick      # a smoke run (seconds); nothing to read into it
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import cbor2
from _harness import Run, Table, gc_disabled, median
from _harness import parser as bench_parser

import flatsync

SHAPES = ((32, 32), (256, 256))
CHANGES = (1, 10, 100, 1_000)
UNROLL = 10


@attrs.frozen(kw_only=True)
class Settings:
    """How long to measure: ``--quick`` shrinks everything."""

    quick: bool
    seed: int
    warmup_ticks: int
    timed_ticks: int
    write_batches: int
    write_rounds: int


def settings(quick: bool, seed: int) -> Settings:
    if quick:
        return Settings(
            quick=True, seed=seed, warmup_ticks=3, timed_ticks=20, write_batches=20, write_rounds=3
        )
    return Settings(
        quick=False, seed=seed, warmup_ticks=20, timed_ticks=300, write_batches=200, write_rounds=7
    )


def verify(ok: bool, what: str) -> None:
    """A correctness check that ``python -O`` keeps."""
    if not ok:
        raise AssertionError(what)


# -- board deltas ------------------------------------------------------------------------

Tick = tuple[tuple[int, int, int], ...]


def make_ticks(
    shape: tuple[int, int], changes: int, count: int, seed: int
) -> tuple[list[int], list[Tick]]:
    """The initial cells and ``count`` ticks of ``changes`` writes ``(row, col, value)``."""
    rng = random.Random(f"{seed}/{shape}/{changes}")
    rows, cols = shape
    cells = [rng.randrange(256) for _ in range(rows * cols)]
    current = list(cells)
    ticks = []
    for _ in range(count):
        writes = []
        for cell in rng.sample(range(rows * cols), changes):
            value = (current[cell] + rng.randrange(1, 256)) % 256  # always a change
            current[cell] = value
            writes.append((cell // cols, cell % cols, value))
        ticks.append(tuple(writes))
    return cells, ticks


def run_delta(
    shape: tuple[int, int], cells: list[int], ticks: list[Tick], warm: int
) -> dict[str, Any]:
    codec = flatsync.CborCodec()
    board = flatsync.ByteHandler("u8", shape, cells)
    replica = flatsync.ByteHandler.from_snapshot(codec.decode(codec.encode(board.snapshot())))
    encode, decode, diff, commit, patch = (
        codec.encode,
        codec.decode,
        board.diff,
        board.commit,
        replica.patch,
    )
    clock = time.perf_counter_ns
    produce, apply, sizes = [], [], []
    forms: dict[str | None, int] = {}
    with gc_disabled():
        for writes in ticks:
            t0 = clock()
            for row, col, value in writes:
                board[row, col] = value
            delta = diff()
            packet = encode(delta)
            commit()
            t1 = clock()
            patch(decode(packet))
            t2 = clock()
            produce.append(t1 - t0)
            apply.append(t2 - t1)
            sizes.append(len(packet))
            forms[delta.form] = forms.get(delta.form, 0) + 1
    verify(replica == board, f"delta {shape}: replica != source")
    summary = _summary(produce[warm:], apply[warm:], sizes[warm:])
    summary["forms"] = forms
    return summary


def run_whole(
    shape: tuple[int, int], cells: list[int], ticks: list[Tick], warm: int
) -> dict[str, Any]:
    codec = flatsync.CborCodec()
    board = flatsync.ByteHandler("u8", shape, cells)
    encode, decode, from_snapshot = codec.encode, codec.decode, flatsync.ByteHandler.from_snapshot
    clock = time.perf_counter_ns
    produce, apply, sizes = [], [], []
    replica: Any = None
    with gc_disabled():
        for writes in ticks:
            t0 = clock()
            for row, col, value in writes:
                board[row, col] = value
            packet = encode(board.snapshot())
            board.commit()
            t1 = clock()
            received = from_snapshot(decode(packet))
            t2 = clock()
            replica = received
            produce.append(t1 - t0)
            apply.append(t2 - t1)
            sizes.append(len(packet))
    verify(replica == board, f"whole board {shape}: replica != source")
    return _summary(produce[warm:], apply[warm:], sizes[warm:])


def run_list(
    shape: tuple[int, int], cells: list[int], ticks: list[Tick], warm: int
) -> dict[str, Any]:
    cols = shape[1]
    state = list(cells)
    dumps, loads = cbor2.dumps, cbor2.loads
    clock = time.perf_counter_ns
    produce, apply, sizes = [], [], []
    replica: Any = None
    with gc_disabled():
        for writes in ticks:
            t0 = clock()
            for row, col, value in writes:
                state[row * cols + col] = value
            packet = dumps(state)
            t1 = clock()
            received = loads(packet)
            t2 = clock()
            replica = received
            produce.append(t1 - t0)
            apply.append(t2 - t1)
            sizes.append(len(packet))
    verify(replica == state, f"CBOR list {shape}: replica != source")
    return _summary(produce[warm:], apply[warm:], sizes[warm:])


def _summary(produce: list[int], apply: list[int], sizes: list[int]) -> dict[str, Any]:
    return {
        "ticks_timed": len(produce),
        "produce_ns": median(produce),
        "apply_ns": median(apply),
        "bytes_median": median(sizes),
        "bytes_max": max(sizes),
    }


def run_boards(config: Settings) -> list[dict[str, Any]]:
    rows = []
    count = config.warmup_ticks + config.timed_ticks
    for shape in SHAPES:
        for changes in CHANGES:
            if changes > shape[0] * shape[1]:
                continue
            print(
                f"... board {shape[0]}×{shape[1]}, {changes:,} cells", file=sys.stderr, flush=True
            )
            cells, ticks = make_ticks(shape, changes, count, config.seed)
            delta = run_delta(shape, cells, ticks, config.warmup_ticks)
            whole = run_whole(shape, cells, ticks, config.warmup_ticks)
            plain = run_list(shape, cells, ticks, config.warmup_ticks)
            rows.append(
                {
                    "shape": list(shape),
                    "changes": changes,
                    "delta": delta,
                    "whole": whole,
                    "list": plain,
                    "ratios": {
                        "bytes_whole": whole["bytes_median"] / delta["bytes_median"],
                        "bytes_list": plain["bytes_median"] / delta["bytes_median"],
                        "produce_whole": whole["produce_ns"] / delta["produce_ns"],
                        "produce_list": plain["produce_ns"] / delta["produce_ns"],
                        "apply_whole": whole["apply_ns"] / delta["apply_ns"],
                        "apply_list": plain["apply_ns"] / delta["apply_ns"],
                    },
                }
            )
    return rows


# -- patch cost per changed cell ---------------------------------------------------------

PATCH_SHAPE = (256, 256)
PATCH_CHANGES = (1, 100, 1_000, 10_000, 256 * 256)


def cells_of(event: Any) -> Any:
    """The per-cell Changed events of a board's CellsChanged."""
    verify(isinstance(event, flatsync.CellsChanged), f"a board patch gave {event!r:.60}")
    return event.changes()


def run_patches(config: Settings) -> list[dict[str, Any]]:
    """ns per changed cell of ``patch``, of ``patch`` + per-cell events, and of a whole board."""
    rows = []
    codec = flatsync.CborCodec()
    clock = time.perf_counter_ns
    samples = 5 if config.quick else 40
    for changes in PATCH_CHANGES:
        print(f"... patch, {changes:,} changed cells", file=sys.stderr, flush=True)
        cells, ticks = make_ticks(PATCH_SHAPE, changes, 1, config.seed)
        board = flatsync.ByteHandler("u8", PATCH_SHAPE, cells)
        before = board.snapshot()
        board.commit()
        for row, col, value in ticks[0]:
            board[row, col] = value
        delta = codec.decode(codec.encode(board.diff()))
        snapshot = codec.decode(codec.encode(board.snapshot()))
        replica = flatsync.ByteHandler.from_snapshot(before)
        times: dict[str, list[int]] = {"patch": [], "per_cell": [], "whole": []}
        with gc_disabled():
            for _ in range(samples + 1):
                replica = flatsync.ByteHandler.from_snapshot(before)
                t0 = clock()
                events = replica.patch(delta)
                t1 = clock()
                times["patch"].append(t1 - t0)
                replica = flatsync.ByteHandler.from_snapshot(before)
                t0 = clock()
                per_cell = [one for event in replica.patch(delta) for one in cells_of(event)]
                t1 = clock()
                times["per_cell"].append(t1 - t0)
                t0 = clock()
                whole = flatsync.ByteHandler.from_snapshot(snapshot)
                t1 = clock()
                times["whole"].append(t1 - t0)
        verify(replica == board and whole == board, f"patch {changes}: replica != source")
        changed = sum(1 for _ in cells_of(events[0]))
        verify(changed == changes == len(per_cell), f"patch {changes}: {changed} cells changed")
        ns = {name: median(values[1:]) / changed for name, values in times.items()}
        rows.append(
            {
                "changes": changes,
                "form": delta.form,
                "patch_ns_per_cell": ns["patch"],
                "per_cell_events_ns_per_cell": ns["per_cell"],
                "whole_board_ns_per_cell": ns["whole"],
                "per_cell_events_x": ns["per_cell"] / ns["patch"],
                "whole_board_x": ns["whole"] / ns["patch"],
            }
        )
    return rows


# -- record field writes ------------------------------------------------------------------


@attrs.define
class PlainEntity:
    x: float
    y: float
    hp: int


@attrs.define
class HookedEntity:
    x: float = attrs.field(validator=attrs.validators.instance_of(float))
    y: float = 0.0
    hp: int = 0


@flatsync.record(name="BEnt")
class RecordEntity:
    x: float
    y: float
    hp: int


@flatsync.record(name="BChk")
class CheckedEntity:
    x: float = attrs.field(validator=attrs.validators.instance_of(float))
    y: float = 0.0
    hp: int = 0


WRITE_VALUES = (0.25, 0.5)


def _compile(statement: str) -> Callable[[Any, Any, float], None]:
    body = "\n".join("        " + statement for _ in range(UNROLL))
    source = f"def bench(o, loops, v):\n    for _ in loops:\n{body}\n"
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<write: {statement}>", "exec"), namespace)
    fn: Callable[[Any, Any, float], None] = namespace["bench"]
    return fn


WRITERS: tuple[tuple[str, Callable[[], Any], str], ...] = (
    ("plain attrs class", lambda: PlainEntity(0.0, 0.0, 1), "o.x = v"),
    ("attrs class, field with a validator", lambda: HookedEntity(0.0), "o.x = v"),
    ("flatsync record", lambda: RecordEntity(0.0, 0.0, 1), "o.x = v"),
    ("flatsync record, field with a validator", lambda: CheckedEntity(0.0), "o.x = v"),
    (
        "DataHandler h['x'] = v",
        lambda: flatsync.DataHandler({"x": 0.0, "y": 0.0, "hp": 1}),
        "o['x'] = v",
    ),
)


def run_writes(config: Settings) -> list[dict[str, Any]]:
    """ns per write: each contender's batches (1,000 writes, then an untimed commit)."""
    print("... record field writes", file=sys.stderr, flush=True)
    loops = range(1_000 // UNROLL)
    contenders = []
    for label, make, statement in WRITERS:
        target = make()
        commit = getattr(target, "commit", None)
        contenders.append((label, target, commit, _compile(statement)))
    samples: dict[str, list[float]] = {label: [] for label, *_ in contenders}
    clock = time.perf_counter_ns
    with gc_disabled():
        for round_ in range(config.write_rounds + 1):  # the first round warms up
            for label, target, commit, fn in contenders:
                times = []
                for batch in range(config.write_batches):
                    v = WRITE_VALUES[batch & 1]
                    t0 = clock()
                    fn(target, loops, v)
                    times.append(clock() - t0)
                    if commit is not None:
                        commit()
                if round_:
                    samples[label].append(median(times) / 1_000)
    ns = {label: median(values) for label, values in samples.items()}
    base = ns["plain attrs class"]
    tracked = ns["DataHandler h['x'] = v"]
    return [
        {
            "writer": label,
            "ns": value,
            "vs_plain_attrs": value / base,
            "vs_datahandler": value / tracked,
        }
        for label, value in ns.items()
    ]


# -- reporting ---------------------------------------------------------------------------


def _us(ns: float) -> str:
    return f"{ns / 1000:,.1f}"


def _ratio(value: float) -> str:
    return f"{value:,.2f}×" if value < 10 else f"{value:,.0f}×"


def board_tables(rows: list[dict[str, Any]]) -> list[Table]:
    sizes = Table(
        "Board deltas: bytes per tick",
        [
            "board",
            "changed cells",
            "flatsync delta B",
            "forms",
            "whole board B",
            "CBOR list B",
            "whole ×",
            "list ×",
        ],
        note=(
            "Medians per tick. flatsync delta: BoardDelta, the smallest of pairs, runs and the "
            "whole blob. Whole board: the board's BoardSnapshot every tick. CBOR list: the cells "
            "as a plain list of ints, cbor2.dumps. × = that contender's bytes / flatsync's."
        ),
    )
    times = Table(
        "Board deltas: time per tick",
        [
            "board",
            "changed cells",
            "delta produce µs",
            "delta apply µs",
            "whole produce µs",
            "whole apply µs",
            "list produce µs",
            "list apply µs",
            "produce × whole",
            "produce × list",
            "apply × whole",
            "apply × list",
        ],
        note=(
            "Medians per tick. produce = the writes + diff()/snapshot()/dumps + encode (+ "
            "commit); apply = decode + patch / from_snapshot / loads. × = that contender's time "
            "/ flatsync delta's (above 1: the delta is faster)."
        ),
    )
    for row in rows:
        name = f"{row['shape'][0]}×{row['shape'][1]} u8"
        delta, whole, plain, ratios = row["delta"], row["whole"], row["list"], row["ratios"]
        sizes.add(
            name,
            f"{row['changes']:,}",
            f"{delta['bytes_median']:,.0f}",
            "/".join(str(form) for form in row["delta"]["forms"]),
            f"{whole['bytes_median']:,.0f}",
            f"{plain['bytes_median']:,.0f}",
            _ratio(ratios["bytes_whole"]),
            _ratio(ratios["bytes_list"]),
        )
        times.add(
            name,
            f"{row['changes']:,}",
            _us(delta["produce_ns"]),
            _us(delta["apply_ns"]),
            _us(whole["produce_ns"]),
            _us(whole["apply_ns"]),
            _us(plain["produce_ns"]),
            _us(plain["apply_ns"]),
            _ratio(ratios["produce_whole"]),
            _ratio(ratios["produce_list"]),
            _ratio(ratios["apply_whole"]),
            _ratio(ratios["apply_list"]),
        )
    return [sizes, times]


def patch_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(
        "Patch cost per changed cell (256×256 u8 board)",
        [
            "changed cells",
            "form",
            "patch ns/cell",
            "+ per-cell events ns/cell",
            "whole board ns/cell",
            "per-cell events ×",
            "whole board ×",
        ],
        note=(
            "Medians. patch: ByteHandler.patch of the decoded delta, one CellsChanged event. "
            "+ per-cell events: the same patch, then one Changed per cell from "
            "CellsChanged.changes(). Whole board: ByteHandler.from_snapshot of the decoded "
            "snapshot. × = that contender's time / patch's."
        ),
    )
    for row in rows:
        table.add(
            f"{row['changes']:,}",
            row["form"],
            f"{row['patch_ns_per_cell']:,.0f}",
            f"{row['per_cell_events_ns_per_cell']:,.0f}",
            f"{row['whole_board_ns_per_cell']:,.1f}",
            _ratio(row["per_cell_events_x"]),
            _ratio(row["whole_board_x"]),
        )
    return table


def writes_table(writes: list[dict[str, Any]]) -> Table:
    table = Table(
        "Record field writes",
        ["write", "ns/write", "× plain attrs", "× DataHandler write"],
        note=(
            "Raw ns per write, loop overhead included: the median of rounds of 1,000-write "
            "batches (each round's figure the median of its batches), every write a change, "
            "an untimed commit after each batch. Contenders take turns round by round."
        ),
    )
    for row in writes:
        table.add(
            row["writer"],
            f"{row['ns']:,.1f}",
            _ratio(row["vs_plain_attrs"]),
            _ratio(row["vs_datahandler"]),
        )
    return table


def all_tables(results: dict[str, Any]) -> list[Table]:
    return [
        *board_tables(results["boards"]),
        patch_table(results["patches"]),
        writes_table(results["writes"]),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    args = bench_parser(__file__, __doc__, name="boards").parse_args(argv)

    config = settings(args.quick, args.seed)
    run = Run(args, "Boards and records")
    results = run.results
    results["settings"] = attrs.asdict(config)
    results["writes"] = run_writes(config)
    results["boards"] = run_boards(config)
    results["patches"] = run_patches(config)
    run.write(all_tables(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
