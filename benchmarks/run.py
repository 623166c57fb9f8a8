"""The core benchmark: 10 moving entities per tick, flatsync against re-sending the state.

The state is ``{i: {"x": float, "y": float, "hp": int} for i in range(N)}`` for
N = 1,000, 10,000 and 100,000. Each tick, 10 random entities (a seeded
``random.Random``; the same choices for every contender) get a new ``x`` and
``y``. Two variants of the positions:

``grid``
    Start at integer coordinates in 0..1000 and move by ±0.25, ±0.5 or ±1.0:
    realistic game coordinates, exactly representable in a half or single
    float, so the codec's shortest-float encoding applies.
``arbitrary``
    Every position is ``rng.random() * 1000``: a full double on the wire.

Contenders, in the same process and the same run:

flatsync
    produce = the 10 entity writes + ``diff()`` + ``CborCodec.encode`` +
    ``commit()``; apply = ``CborCodec.decode`` + ``replica.patch``.
full-state cbor2 (the baseline)
    produce = the same writes on a plain dict + ``cbor2.dumps(state)``;
    apply = ``cbor2.loads``.
hand-tracked floor
    a plain dict whose writes also add their path to a hand-kept set of dirty
    paths; produce = the writes + building the nested delta from that set +
    ``cbor2.dumps(delta)``; apply = ``cbor2.loads`` + plain ``dict.update`` of
    each entity on the replica: what a tick costs with no library at all.

flatsync runs on both of its paths, side by side: the C accelerator (where it
was built: ``flatsync.debug.accelerated()``) and pure Python
(``flatsync.debug.pure_python()``), and its apply with events on and with
``patch(..., events=False)``.

A second pass times each stage of a flatsync tick separately. Then the cost of
a tracked read and write against a plain ``dict``, and against the least any
tracking ``dict`` subclass pays (:class:`FloorHandler`).

Every figure is a median of ``time.perf_counter_ns`` samples taken after a
warm-up, with the cyclic garbage collector off during the timing loops. The
script checks correctness (each replica equals its source at the end of a
run, also under ``python -O``), never speed: targets are reported as met or
missed.

Usage::

    python benchmarks/run.py              # the full run (one to two minutes)
    python benchmarks/run.py --quick      # a smoke run (seconds); nothing to read into it
    python benchmarks/run.py --profile N  # cProfile of flatsync's ticks at size N
"""

from __future__ import annotations

import cProfile
import pstats
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
import flatsync.debug

#: Entities that move each tick.
MOVERS = 10
#: Positions start in 0..LIMIT.
LIMIT = 1000
#: Grid moves: exact in binary, so the shortest float encoding applies.
STEPS = (-1.0, -0.5, -0.25, 0.25, 0.5, 1.0)
VARIANTS = ("grid", "arbitrary")
VARIANT_TITLES = {
    "grid": "quarter-unit grid positions",
    "arbitrary": "arbitrary double positions",
}

#: Targets from the issue (reported, never asserted).
TARGET_GROWTH = 1.2
TARGET_DELTA_BYTES = 260
TARGET_READ_RATIO = 1.5
TARGET_WRITE_RATIO = 8.0

Tick = tuple[tuple[int, float, float], ...]
State = dict[int, dict[str, Any]]


@attrs.frozen(kw_only=True)
class Settings:
    """How long to measure: ``--quick`` shrinks everything."""

    quick: bool
    sizes: tuple[int, ...]
    seed: int
    #: flatsync ticks: warm-up, then timed.
    warmup_ticks: int
    timed_ticks: int
    #: Baseline ticks: warm-up, then as many as fit the budget, within bounds.
    baseline_warmup: int
    baseline_min: int
    baseline_max: int
    baseline_budget_ns: int
    #: The per-stage pass runs up to this N (it repeats the setup, slow at 100,000).
    stages_max_n: int
    #: Read/write micro-benchmarks: operations per sample, samples per contender.
    micro_ops: int
    micro_repeats: int


def settings(quick: bool, sizes: Sequence[int] | None, seed: int) -> Settings:
    if quick:
        return Settings(
            quick=True,
            sizes=tuple(sizes or (1_000, 10_000, 100_000)),
            seed=seed,
            warmup_ticks=20,
            timed_ticks=200,
            baseline_warmup=1,
            baseline_min=3,
            baseline_max=50,
            baseline_budget_ns=200_000_000,
            stages_max_n=10_000,
            micro_ops=100_000,
            micro_repeats=3,
        )
    return Settings(
        quick=False,
        sizes=tuple(sizes or (1_000, 10_000, 100_000)),
        seed=seed,
        warmup_ticks=300,
        timed_ticks=5_000,
        baseline_warmup=3,
        baseline_min=25,
        baseline_max=2_000,
        baseline_budget_ns=6_000_000_000,
        stages_max_n=sys.maxsize,
        micro_ops=1_000_000,
        micro_repeats=7,
    )


# -- the scenario ---------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Scenario:
    """One state size and variant: the initial state and every tick's moves."""

    variant: str
    n: int
    initial: State
    ticks: list[Tick]
    final: State


def make_scenario(variant: str, n: int, ticks: int, seed: int) -> Scenario:
    """Draw the initial state and ``ticks`` ticks of moves from a seeded generator.

    The moves carry the new coordinates, so every contender performs exactly
    the same writes and none of them pays for drawing random numbers.
    """
    rng = random.Random(f"{seed}/{variant}/{n}")
    if variant == "grid":
        xs = [float(rng.randint(0, LIMIT)) for _ in range(n)]
        ys = [float(rng.randint(0, LIMIT)) for _ in range(n)]
    else:
        xs = [rng.random() * LIMIT for _ in range(n)]
        ys = [rng.random() * LIMIT for _ in range(n)]
    hps = [rng.randint(1, 100) for _ in range(n)]
    initial = {i: {"x": xs[i], "y": ys[i], "hp": hps[i]} for i in range(n)}

    def grid_step(value: float) -> float:
        step = rng.choice(STEPS)
        moved = value + step
        return moved if 0 <= moved <= LIMIT else value - step

    schedule: list[Tick] = []
    for _ in range(ticks):
        moves = []
        for i in rng.sample(range(n), MOVERS):
            if variant == "grid":
                x, y = grid_step(xs[i]), grid_step(ys[i])
            else:
                x, y = rng.random() * LIMIT, rng.random() * LIMIT
            xs[i], ys[i] = x, y
            moves.append((i, x, y))
        schedule.append(tuple(moves))
    final = {i: {"x": xs[i], "y": ys[i], "hp": hps[i]} for i in range(n)}
    return Scenario(variant=variant, n=n, initial=initial, ticks=schedule, final=final)


# -- the tick loops ---------------------------------------------------------------


def verify(ok: bool, what: str) -> None:
    """A correctness check that ``python -O`` keeps."""
    if not ok:
        raise AssertionError(what)


def run_flatsync(
    scenario: Scenario,
    warmup: int,
    profiler: cProfile.Profile | None = None,
    *,
    events: bool = True,
    pure: bool = False,
) -> dict[str, Any]:
    """Every tick of the scenario through flatsync; the first ``warmup`` are not counted.

    With a ``profiler``, it profiles the tick loop (and nothing of the setup).
    ``events``: what ``patch`` is told; ``pure``: on the pure-Python path.
    """
    if pure:
        with flatsync.debug.pure_python():
            return run_flatsync(scenario, warmup, profiler, events=events)
    codec = flatsync.CborCodec()
    state = flatsync.DataHandler(scenario.initial)
    hello = codec.encode(state.snapshot())
    replica = flatsync.DataHandler.from_snapshot(codec.decode(hello))

    encode, decode = codec.encode, codec.decode
    diff, commit, patch = state.diff, state.commit, replica.patch
    clock = time.perf_counter_ns
    produce: list[int] = []
    apply: list[int] = []
    sizes: list[int] = []
    with gc_disabled():
        if profiler is not None:
            profiler.enable()
        for moves in scenario.ticks:
            t0 = clock()
            for i, x, y in moves:
                entity = state[i]
                entity["x"] = x
                entity["y"] = y
            packet = encode(diff())
            commit()
            t1 = clock()
            patch(decode(packet), events=events)
            t2 = clock()
            produce.append(t1 - t0)
            apply.append(t2 - t1)
            sizes.append(len(packet))
        if profiler is not None:
            profiler.disable()

    # Correctness, not timing: the replica followed every tick exactly.
    verify(replica == state, f"{scenario.variant} N={scenario.n}: replica != source")
    verify(state == scenario.final, f"{scenario.variant} N={scenario.n}: source != scenario")
    verify(state.diff() == {}, "diff() after commit() is not empty")

    produce, apply = produce[warmup:], apply[warmup:]
    return {
        "ticks_timed": len(produce),
        "produce_ns": median(produce),
        "produce_p90_ns": _percentile(produce, 0.9),
        "apply_ns": median(apply),
        "apply_p90_ns": _percentile(apply, 0.9),
        "delta_bytes_median": median(sizes),
        "delta_bytes_mean": sum(sizes) / len(sizes),
        "delta_bytes_min": min(sizes),
        "delta_bytes_max": max(sizes),
        "snapshot_bytes": len(hello),
    }


def run_baseline(scenario: Scenario, settings: Settings) -> dict[str, Any]:
    """Re-send the full state through cbor2 every tick (a plain dict, plain ``dumps``)."""
    state = {i: dict(entity) for i, entity in scenario.initial.items()}
    dumps, loads = cbor2.dumps, cbor2.loads
    clock = time.perf_counter_ns
    produce: list[int] = []
    apply: list[int] = []
    sizes: list[int] = []
    replica: Any = None
    count = settings.baseline_warmup
    tick = 0
    with gc_disabled():
        while tick < count:
            moves = scenario.ticks[tick]
            t0 = clock()
            for i, x, y in moves:
                entity = state[i]
                entity["x"] = x
                entity["y"] = y
            packet = dumps(state)
            t1 = clock()
            decoded = loads(packet)
            t2 = clock()
            replica = decoded  # frees the previous replica outside the timed region
            produce.append(t1 - t0)
            apply.append(t2 - t1)
            sizes.append(len(packet))
            tick += 1
            if tick == settings.baseline_warmup:
                # Size the timed run from the last warm-up tick.
                timed = settings.baseline_budget_ns // max(1, t2 - t0)
                timed = max(settings.baseline_min, min(settings.baseline_max, timed))
                count = min(len(scenario.ticks), tick + timed)

    verify(replica == state, f"baseline {scenario.variant} N={scenario.n}: replica != source")

    warm = settings.baseline_warmup
    produce, apply = produce[warm:], apply[warm:]
    return {
        "ticks_timed": len(produce),
        "produce_ns": median(produce),
        "apply_ns": median(apply),
        "bytes": median(sizes),
        "bytes_max": max(sizes),
    }


def run_floor(scenario: Scenario, warmup: int) -> dict[str, Any]:
    """The hand-tracked floor: a plain dict, a hand-kept set of dirty paths, cbor2 both ways."""
    state = {i: dict(entity) for i, entity in scenario.initial.items()}
    replica = {i: dict(entity) for i, entity in scenario.initial.items()}
    dirty: set[tuple[int, str]] = set()
    dumps, loads = cbor2.dumps, cbor2.loads
    clock = time.perf_counter_ns
    produce: list[int] = []
    apply: list[int] = []
    with gc_disabled():
        for moves in scenario.ticks:
            t0 = clock()
            for i, x, y in moves:
                entity = state[i]
                entity["x"] = x
                dirty.add((i, "x"))
                entity["y"] = y
                dirty.add((i, "y"))
            delta: dict[int, dict[str, Any]] = {}
            for i, key in dirty:
                changes = delta.get(i)
                if changes is None:
                    changes = delta[i] = {}
                changes[key] = state[i][key]
            dirty.clear()
            packet = dumps(delta)
            t1 = clock()
            for i, changes in loads(packet).items():
                replica[i].update(changes)
            t2 = clock()
            produce.append(t1 - t0)
            apply.append(t2 - t1)
    verify(replica == state, f"floor {scenario.variant} N={scenario.n}: replica != source")
    return {"produce_ns": median(produce[warmup:]), "apply_ns": median(apply[warmup:])}


STAGES = ("writes", "diff", "encode", "commit", "decode", "patch", "dict writes")


def run_stages(scenario: Scenario, warmup: int) -> dict[str, float]:
    """Median ns of each stage of a flatsync tick, and of the same writes on a plain dict.

    A separate pass from :func:`run_flatsync`, since the extra clock reads cost
    a little: it shows where a tick's time goes, and whether a stage grows with N.
    """
    codec = flatsync.CborCodec()
    state = flatsync.DataHandler(scenario.initial)
    replica = flatsync.DataHandler.from_snapshot(codec.decode(codec.encode(state.snapshot())))
    plain = {i: dict(entity) for i, entity in scenario.initial.items()}
    clock = time.perf_counter_ns
    samples: list[list[int]] = [[] for _ in STAGES]
    with gc_disabled():
        for moves in scenario.ticks:
            t0 = clock()
            for i, x, y in moves:
                entity = state[i]
                entity["x"] = x
                entity["y"] = y
            t1 = clock()
            delta = state.diff()
            t2 = clock()
            packet = codec.encode(delta)
            t3 = clock()
            state.commit()
            t4 = clock()
            received = codec.decode(packet)
            t5 = clock()
            replica.patch(received)
            t6 = clock()
            for i, x, y in moves:
                entity = plain[i]
                entity["x"] = x
                entity["y"] = y
            t7 = clock()
            stamps = (t0, t1, t2, t3, t4, t5, t6, t7)
            for stage, values in enumerate(samples):
                values.append(stamps[stage + 1] - stamps[stage])
    verify(replica == state == plain, f"stages N={scenario.n}: replica != source")
    return {stage: median(values[warmup:]) for stage, values in zip(STAGES, samples, strict=True)}


def _percentile(values: Sequence[int], q: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


# -- tracked reads and writes -----------------------------------------------------

MICRO_KEYS = 1_000
UNROLL = 10
#: Two values that every write alternates between, so that each write changes.
WRITE_VALUES = (0.25, 0.5)

MicroFn = Callable[[Any, Any, float], None]


@attrs.frozen(kw_only=True)
class MicroOp:
    label: str
    #: One statement with ``{k}`` for the key, unrolled UNROLL times in a loop.
    statement: str
    kind: str  # "read" or "write"
    #: "entities": 1,000 entities like the scenario's; "flat": 1,000 float values.
    state: str = "entities"
    #: "op": one operation per key; "pass": one whole iteration over the mapping.
    unit: str = "op"


MICRO_OPS = (
    MicroOp(label="read h[k]", statement="h[{k}]", kind="read"),
    MicroOp(label="read h.get(k)", statement="h.get({k})", kind="read"),
    MicroOp(label="k in h", statement="{k} in h", kind="read"),
    MicroOp(
        label="iterate 1,000 keys (ns per pass)",
        statement="",
        kind="read",
        unit="pass",
    ),
    MicroOp(label="write h[k] = v (changed)", statement="h[{k}] = v", kind="write", state="flat"),
    MicroOp(label='nested write h[i]["x"] = v', statement='h[{k}]["x"] = v', kind="write"),
)

_ITERATE_PASSES = 10


def _compile(op: MicroOp) -> MicroFn:
    """A timeit-style function: a loop with the statement unrolled UNROLL times."""
    if op.unit == "pass":
        source = (
            "def bench(h, chunks, v):\n"
            "    for _ in chunks:\n"
            "        for _k in h:\n"
            "            pass\n"
        )
    else:
        names = ", ".join(f"k{j}" for j in range(UNROLL))
        body = "\n".join("        " + op.statement.format(k=f"k{j}") for j in range(UNROLL))
        source = f"def bench(h, chunks, v):\n    for {names} in chunks:\n{body}\n"
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<micro: {op.label}>", "exec"), namespace)
    fn: MicroFn = namespace["bench"]
    return fn


_dget = dict.get
_dset = dict.__setitem__


class FloorHandler(dict[Any, Any]):
    """The least a change-tracking ``dict`` subclass can do on a write (a reference).

    It records the key, registers with its parent the first time it turns dirty,
    and stores the value: no read-only check, no key or value checks, no
    equal-value test, no wrapping of containers. What a tracked write costs
    beyond this is what :class:`flatsync.DataHandler`'s guarantees cost; what
    this costs over a plain ``dict`` store is the Python-level ``__setitem__``
    call that any dict subclass pays.
    """

    __slots__ = ("_changes", "_key", "_parent")

    def __init__(self, data: dict[Any, Any], parent: FloorHandler | None = None) -> None:
        super().__init__()
        self._changes: dict[Any, Any] = {}
        self._parent = parent
        self._key: Any = None
        for key, value in data.items():
            if type(value) is dict:
                child = FloorHandler(value, self)
                child._key = key
                _dset(self, key, child)
            else:
                _dset(self, key, value)

    def __setitem__(self, key: Any, value: Any) -> None:
        changes = self._changes
        if key not in changes:
            changes[key] = _dget(self, key)
            parent = self._parent
            if len(changes) == 1 and parent is not None:
                parent._changes[self._key] = self
        _dset(self, key, value)

    def commit(self) -> None:
        for key in self._changes:
            value = _dget(self, key)
            if type(value) is FloorHandler:
                value.commit()
        self._changes = {}


CONTENDERS = ("dict", "floor", "flatsync")


def _micro_state(op: MicroOp, contender: str) -> Any:
    data: dict[int, Any]
    if op.state == "flat":
        data = dict.fromkeys(range(MICRO_KEYS), 0.0)
    else:
        data = {i: {"x": 0.0, "y": 0.0, "hp": 100} for i in range(MICRO_KEYS)}
    if contender == "flatsync":
        return flatsync.DataHandler(data)
    if contender == "floor":
        return FloorHandler(data)
    return data


Contender = tuple[Any, Callable[[], None] | None]


def _micro_sample(fn: MicroFn, contender: Contender, chunks: Any, batches: int) -> list[int]:
    """The ns of each of ``batches`` calls; the contender's ``between`` (a commit) is untimed.

    The caller takes the median over the batches, so a batch that the
    scheduler interrupted (a shared machine) does not move the result.
    """
    h, between = contender
    clock = time.perf_counter_ns
    times = []
    for batch in range(batches):
        v = WRITE_VALUES[batch & 1]
        t0 = clock()
        fn(h, chunks, v)
        times.append(clock() - t0)
        if between is not None:
            between()
    return times


def run_micro(settings: Settings, seed: int) -> list[dict[str, Any]]:
    """Each operation on a plain dict, the floor subclass and a DataHandler."""
    keys = list(range(MICRO_KEYS))
    random.Random(seed).shuffle(keys)
    key_chunks = [tuple(keys[j : j + UNROLL]) for j in range(0, MICRO_KEYS, UNROLL)]
    results = []
    for op in MICRO_OPS:
        fn = _compile(op)
        if op.unit == "pass":
            chunks: Any = range(_ITERATE_PASSES)
            ops_per_batch = _ITERATE_PASSES
            batches = max(1, settings.micro_ops // (MICRO_KEYS * _ITERATE_PASSES))
        else:
            chunks = key_chunks
            ops_per_batch = MICRO_KEYS
            batches = max(1, settings.micro_ops // MICRO_KEYS)
        contenders: list[Contender] = []
        for name in CONTENDERS:
            h = _micro_state(op, name)
            contenders.append((h, h.commit if name != "dict" and op.kind == "write" else None))
        samples: dict[str, list[float]] = {name: [] for name in CONTENDERS}
        with gc_disabled():
            # Contenders take turns round by round: each runs with its own data hot in
            # the caches (the classic micro-benchmark), and a slow phase of the machine
            # hits every contender's rounds alike.
            for _ in range(settings.micro_repeats + 1):  # the first round warms up
                for name, contender in zip(CONTENDERS, contenders, strict=True):
                    times = _micro_sample(fn, contender, chunks, batches)
                    samples[name].append(median(times) / ops_per_batch)
        for values in samples.values():
            del values[0]
        # Every contender holds the same data at the end: no write was lost.
        for h, _ in contenders:
            verify(h == contenders[0][0], f"{op.label}: the contenders' data differ")
        ns = {name: median(values) for name, values in samples.items()}
        target = TARGET_READ_RATIO if op.kind == "read" else TARGET_WRITE_RATIO
        ratio = ns["flatsync"] / ns["dict"]
        key_visits = MICRO_KEYS if op.unit == "pass" else 1
        results.append(
            {
                "op": op.label,
                "kind": op.kind,
                "ops_per_sample": batches * ops_per_batch * key_visits,
                "rounds": settings.micro_repeats,
                "dict_ns": ns["dict"],
                "flatsync_ns": ns["flatsync"],
                "ratio": ratio,
                "floor_ns": ns["floor"],
                "floor_ratio": ns["floor"] / ns["dict"],
                "target": target,
                "met": ratio <= target,
            }
        )
    return results


# -- reporting ----------------------------------------------------------------------


def _us(ns: float) -> str:
    us = ns / 1000
    return f"{us:,.1f}" if us < 1000 else f"{us:,.0f}"


def _ratio(value: float) -> str:
    return f"{value:,.2f}×" if value < 10 else f"{value:,.0f}×"


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def growth(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Each metric at the largest N over the same metric at the smallest N."""
    first, last = rows[0], rows[-1]
    metrics = {
        "flatsync produce": ("flatsync", "produce_ns"),
        "flatsync apply": ("flatsync", "apply_ns"),
        "flatsync delta bytes": ("flatsync", "delta_bytes_mean"),
        "flatsync snapshot bytes": ("flatsync", "snapshot_bytes"),
        "full-state produce": ("baseline", "produce_ns"),
        "full-state apply": ("baseline", "apply_ns"),
        "full-state bytes": ("baseline", "bytes"),
    }
    out: dict[str, Any] = {"from_n": first["n"], "to_n": last["n"], "metrics": {}}
    for name, (who, key) in metrics.items():
        out["metrics"][name] = last[who][key] / first[who][key]
    return out


def tick_table(variant: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(
        f"Per tick, 10 moving entities: {VARIANT_TITLES[variant]}",
        [
            "N",
            "flatsync produce µs",
            "flatsync apply µs",
            "delta B/tick",
            "snapshot B",
            "full-state produce µs",
            "full-state apply µs",
            "full-state B/tick",
            "produce ×",
            "apply ×",
            "bytes ×",
        ],
        note=(
            "Medians per tick. flatsync: produce = 10 entity writes + diff() + encode + "
            "commit(); apply = decode + patch. Full state: the same writes on a dict + "
            "cbor2.dumps(state) (default options: every float a double); apply = cbor2.loads. "
            "× = full state / flatsync. "
            "delta B/tick: mean (max)."
        ),
    )
    for row in rows:
        fs, base = row["flatsync"], row["baseline"]
        table.add(
            f"{row['n']:,}",
            _us(fs["produce_ns"]),
            _us(fs["apply_ns"]),
            f"{fs['delta_bytes_mean']:.1f} ({fs['delta_bytes_max']})",
            f"{fs['snapshot_bytes']:,}",
            _us(base["produce_ns"]),
            _us(base["apply_ns"]),
            f"{base['bytes']:,.0f}",
            _ratio(row["ratios"]["produce"]),
            _ratio(row["ratios"]["apply"]),
            _ratio(row["ratios"]["bytes"]),
        )
    return table


def paths_table(variant: str, rows: list[dict[str, Any]]) -> Table:
    native = "C accelerator" if rows[0]["accelerated"] else "NOT BUILT: pure again"
    table = Table(
        f"Both paths and the hand-tracked floor: {VARIANT_TITLES[variant]}",
        [
            "N",
            "produce µs: native",
            "pure",
            "floor",
            "apply µs: native",
            "native, no events",
            "pure",
            "pure, no events",
            "floor",
            "native ÷ floor (apply, no events)",
            "pure ÷ native (apply)",
        ],
        note=(
            f"native: {native}; pure: flatsync.debug.pure_python(). Medians per tick, as "
            "above; no events: patch(..., events=False). floor: a plain dict with a "
            "hand-kept set of dirty paths, cbor2.dumps of the nested delta, cbor2.loads and "
            "dict.update on the replica."
        ),
    )
    for row in rows:
        fs, fsq = row["flatsync"], row["flatsync_quiet"]
        pure, pureq, floor = row["pure"], row["pure_quiet"], row["floor"]
        table.add(
            f"{row['n']:,}",
            _us(fs["produce_ns"]),
            _us(pure["produce_ns"]),
            _us(floor["produce_ns"]),
            _us(fs["apply_ns"]),
            _us(fsq["apply_ns"]),
            _us(pure["apply_ns"]),
            _us(pureq["apply_ns"]),
            _us(floor["apply_ns"]),
            _ratio(fsq["apply_ns"] / floor["apply_ns"]),
            _ratio(pure["apply_ns"] / fs["apply_ns"]),
        )
    return table


def stages_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(
        "Where a flatsync tick goes: quarter-unit grid positions",
        ["N", *(f"{stage} µs" for stage in STAGES)],
        note=(
            "Medians per tick of each stage, in a separate pass with a clock read between "
            "stages. produce = writes + diff + encode + commit; apply = decode + patch. "
            "dict writes: the same 10 entity writes on a plain dict, for comparison."
        ),
    )
    for row in rows:
        if "stages_ns" in row:
            table.add(f"{row['n']:,}", *(_us(row["stages_ns"][stage]) for stage in STAGES))
    return table


def growth_table(results: dict[str, Any]) -> Table:
    variants = list(results["ticks"])
    first = results["growth"][variants[0]]
    table = Table(
        f"Growth from N = {first['from_n']:,} to N = {first['to_n']:,}",
        ["metric", *(f"{v} ×" for v in variants), "target"],
        note=f"Target: flatsync produce and apply flat in N (growth ≤ {TARGET_GROWTH}×).",
    )
    for metric in first["metrics"]:
        target = f"≤ {TARGET_GROWTH}×" if metric in ("flatsync produce", "flatsync apply") else ""
        cells = [_ratio(results["growth"][v]["metrics"][metric]) for v in variants]
        table.add(metric, *cells, target)
    return table


def micro_table(micro: list[dict[str, Any]]) -> Table:
    table = Table(
        "Tracked reads and writes against a plain dict",
        [
            "operation",
            "dict ns/op",
            "DataHandler ns/op",
            "ratio",
            "target",
            "",
            "floor ns/op",
            "floor ratio",
        ],
        note=(
            "Raw ns per operation (loop overhead included, nothing subtracted): the median "
            f"of {micro[0]['rounds']} rounds of {micro[0]['ops_per_sample']:,} operations, "
            "each round's figure the median of its timed batches (1,000 operations, or 10 "
            "passes); keys in shuffled order "
            "over a 1,000-key mapping (of 1,000 entities, or of floats for the plain write). "
            "Writes alternate between two values so that each one changes something, and the "
            "handlers commit (untimed) after every 1,000 writes, so each timed write is the "
            "first to its key since a commit. Contenders take turns round by round. "
            "floor: a minimal dict subclass (benchmarks/run.py, FloorHandler) that leaves reads "
            "to dict and whose __setitem__ only records the key, tells its parent once and "
            "stores, with no checks: what any dict subclass pays."
        ),
    )
    for row in micro:
        table.add(
            row["op"],
            f"{row['dict_ns']:,.1f}",
            f"{row['flatsync_ns']:,.1f}",
            _ratio(row["ratio"]),
            f"≤ {row['target']:g}×",
            _met(row["met"]),
            f"{row['floor_ns']:,.1f}",
            _ratio(row["floor_ratio"]),
        )
    return table


def targets_table(results: dict[str, Any]) -> Table:
    table = Table("Targets", ["target", "measured", ""])
    grid = results["ticks"].get("grid")
    if grid and len(grid) > 1:
        metrics = results["growth"]["grid"]["metrics"]
        for name in ("flatsync produce", "flatsync apply"):
            value = metrics[name]
            table.add(
                f"{name} growth ≤ {TARGET_GROWTH}× (grid)",
                _ratio(value),
                _met(value <= TARGET_GROWTH),
            )
    for variant, rows in results["ticks"].items():
        worst = max(row["flatsync"]["delta_bytes_max"] for row in rows)
        label = f"delta ≤ {TARGET_DELTA_BYTES} B per tick ({variant}, worst tick)"
        if variant == "grid":
            table.add(label, f"{worst} B", _met(worst <= TARGET_DELTA_BYTES))
        else:
            met = "met" if worst <= TARGET_DELTA_BYTES else "over (reported, not a target)"
            table.add(label, f"{worst} B", met)
    for row in results["micro"]:
        table.add(
            f"{row['op']} ≤ {row['target']:g}× dict",
            _ratio(row["ratio"]),
            _met(row["met"]),
        )
    return table


def all_tables(results: dict[str, Any]) -> list[Table]:
    tables = [tick_table(v, rows) for v, rows in results["ticks"].items()]
    tables += [paths_table(v, rows) for v, rows in results["ticks"].items()]
    if "grid" in results["ticks"]:
        tables.append(stages_table(results["ticks"]["grid"]))
    if all(len(rows) > 1 for rows in results["ticks"].values()):
        tables.append(growth_table(results))
    tables += [micro_table(results["micro"]), targets_table(results)]
    return tables


# -- profiling (--profile) ----------------------------------------------------------


def profile(n: int, variant: str, ticks: int, seed: int) -> None:
    """Print where a flatsync tick (produce and apply) spends its time at size ``n``."""
    scenario = make_scenario(variant, n, ticks, seed)
    profiler = cProfile.Profile()
    run_flatsync(scenario, 0, profiler)
    stats = pstats.Stats(profiler)
    stats.strip_dirs().sort_stats("tottime").print_stats(25)


# -- main -------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = bench_parser(__file__, __doc__, name="core")
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=None,
        help="state sizes N (default 1000 10000 100000)",
    )
    parser.add_argument(
        "--profile",
        type=int,
        metavar="N",
        default=None,
        help="instead of benchmarking, profile flatsync's ticks at size N with cProfile",
    )
    args = parser.parse_args(argv)

    if args.profile is not None:
        profile(args.profile, "grid", 2_000, args.seed)
        return 0

    config = settings(args.quick, args.sizes, args.seed)
    run = Run(args, "Core benchmark: 10 moving entities")
    results = run.results
    results["settings"] = attrs.asdict(config)
    results["ticks"] = {}
    results["growth"] = {}
    # The micro-benchmarks first, in a fresh process: run after the 100,000-entity
    # states, one of them once measured 25 % slower than alone (the heap's state?).
    print("... tracked reads and writes", file=sys.stderr, flush=True)
    results["micro"] = run_micro(config, config.seed)
    total_ticks = config.warmup_ticks + config.timed_ticks
    for variant in VARIANTS:
        rows = []
        for n in config.sizes:
            print(f"... {variant} N={n:,}", file=sys.stderr, flush=True)
            scenario = make_scenario(variant, n, total_ticks, config.seed)
            fs = run_flatsync(scenario, config.warmup_ticks)
            pure = run_flatsync(scenario, config.warmup_ticks, pure=True)
            quiet = run_flatsync(scenario, config.warmup_ticks, events=False)
            pure_quiet = run_flatsync(scenario, config.warmup_ticks, events=False, pure=True)
            floor = run_floor(scenario, config.warmup_ticks)
            base = run_baseline(scenario, config)
            row: dict[str, Any] = {
                "n": n,
                "accelerated": flatsync.debug.accelerated(),
                "pure": pure,
                "flatsync_quiet": quiet,
                "pure_quiet": pure_quiet,
                "floor": floor,
            }
            if variant == "grid" and n <= config.stages_max_n:
                row["stages_ns"] = run_stages(scenario, config.warmup_ticks)
            rows.append(
                {
                    **row,
                    "flatsync": fs,
                    "baseline": base,
                    "ratios": {
                        "produce": base["produce_ns"] / fs["produce_ns"],
                        "apply": base["apply_ns"] / fs["apply_ns"],
                        "bytes": base["bytes"] / fs["delta_bytes_mean"],
                    },
                }
            )
            del scenario
        results["ticks"][variant] = rows
        if len(rows) > 1:
            results["growth"][variant] = growth(rows)
    run.write(all_tables(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
