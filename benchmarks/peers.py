"""flatsync side by side with what a Python user would otherwise pick (issue #8).

Contenders, in the same process and the same run, on the same ticks:

flatsync
    a :class:`flatsync.DataHandler` (a :class:`flatsync.ByteHandler` for the
    board); produce = the writes + ``diff()`` + ``CborCodec.encode`` +
    ``commit()``; apply = ``CborCodec.decode`` + ``patch``. On the C
    accelerator where it was built (``flatsync.debug.accelerated()``);
    "flatsync (pure)" is the same on the pure-Python path
    (``flatsync.debug.pure_python()``), "flatsync, no events" the same with
    ``patch(..., events=False)``.
hand-tracked floor
    no library: a plain dict whose writes also note their path in a hand-kept
    dict of dirty paths; produce = the writes + the nested delta of the dirty
    paths (``undefined`` for a deletion, a tag around a container set whole) +
    ``cbor2.dumps``; apply = ``cbor2.loads`` + plain dict (and list) updates
    on the replica.
full state: cbor2, msgpack, json
    the writes on a plain dict + ``dumps(state)``; apply = ``loads``.
jsonpatch, jsondiff, dictdiffer, deepdiff
    diffing two copies: the writes on the state, the library's diff of the
    previous copy against it, serialize, and bring the previous copy up to date
    with the library's own patch (in place where it offers it: jsonpatch,
    dictdiffer, deepdiff's ``Delta(mutate=True)``; jsondiff copies along the
    path). The previous copy is patched from the *decoded packet* (a deep copy
    for dictdiffer), so the two copies never share objects. Wires: JSON for
    jsonpatch and jsondiff (their format; their state has string keys, the only
    keys JSON has), cbor2 for dictdiffer, deepdiff's default pickle for
    ``Delta`` (and its snapshot). apply = decode + the library's patch on the replica.
pycrdt
    a ``Doc`` holding nested ``Map``/``Array``; one transaction per tick; the
    packet is the update that the transaction emits (``Doc.observe``); apply =
    ``apply_update``; snapshot = ``get_update()``.

Scenarios: (a) the README's 3 players, one hp change; (b) N entities
``{x, y, hp}``, 10 moving per tick (benchmarks/run.py's grid variant); (c) a
32×32 u8 board, 1 and 100 changed cells; (d) add a player, delete a player;
(e) 100 random ticks of mixed mutations, then strict and by-value equality of
each replica with the source; (f) a new client's snapshot after 2,000 ticks of
overwrites.

Slow peers are bounded: each (contender, cell) gets a time budget; a tick that
is slower than the budget runs once, without warm-up, and the table says how
many ticks were timed. A contender whose tick, extrapolated linearly from the
previous N, would exceed ``--cap`` seconds is not run at that N, and its cell
says so. Every figure is a median of ``time.perf_counter_ns`` samples with the
cyclic garbage collector off. Nothing is asserted about speed.

Usage::

    python benchmarks/peers.py           # the full run (several minutes), tables + plots
    python benchmarks/peers.py --quick   # a smoke run (seconds); nothing to read into it
    python benchmarks/peers.py --report benchmarks/results/peers.json  # tables + plots again

A peer that is not installed is skipped with a printed line (``pip install
-e ".[bench]"`` installs them all).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import importlib.metadata
import importlib.util
import json
import pickle
import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import cbor2
from _harness import REPO, Run, Table, gc_disabled, machine_table, median
from _harness import parser as bench_parser
from run import make_scenario

import flatsync
import flatsync.debug
from flatsync.testing import assert_strict_equal

Path_ = tuple[Any, ...]
Op = tuple[str, Path_, Any]  # ("set", path, value) or ("del", path, None)
Tick = list[Op]

PEER_MODULES = {
    "msgpack": "msgpack",
    "jsonpatch": "jsonpatch",
    "jsondiff": "jsondiff",
    "dictdiffer": "dictdiffer",
    "deepdiff": "deepdiff",
    "pycrdt": "pycrdt",
}

#: Targets from the issue (reported, never asserted), at the largest N.
TARGET_VS_JSONDIFF = 5_000
TARGET_VS_DEEPDIFF = 50_000
TARGET_VS_PYCRDT = 2.0
TARGET_GROWTH = 1.2
TARGET_DELTA_BYTES = 260


# -- writes -------------------------------------------------------------------------


def _fresh(value: Any) -> Any:
    """Containers are copied so that no two states share a mutable object."""
    return copy.deepcopy(value) if type(value) in (dict, list) else value


def _json_key(key: Any) -> Any:
    """The key that JSON gives a Python key (what a JSON user's state holds)."""
    if type(key) is str:
        return key
    return json.dumps(key)


def _jsonify(value: Any) -> Any:
    if type(value) is dict:
        return {_json_key(k): _jsonify(v) for k, v in value.items()}
    if type(value) in (list, tuple):
        return [_jsonify(v) for v in value]
    return value


def write(state: Any, tick: Tick, json_keys: bool = False) -> None:
    """Apply one tick's operations to a plain container tree."""
    for op, path, value in tick:
        target = state
        for key in path[:-1]:
            target = target[_json_key(key) if json_keys and type(target) is dict else key]
        last = path[-1]
        if json_keys and type(target) is dict:
            last = _json_key(last)
        if op == "set":
            target[last] = _jsonify(value) if json_keys else _fresh(value)
        else:
            del target[last]


# -- contenders -----------------------------------------------------------------------


class Contender:
    """One way to keep a replica in sync: start, then produce and apply tick by tick."""

    name = ""
    wire = ""
    #: Whether the state holds JSON keys (strings) rather than the scenario's keys.
    json_keys = False
    #: Whether it runs on flatsync's pure-Python path (see :func:`on_its_path`).
    pure = False

    def start(self, initial: Any) -> bytes:
        """Build the source (and a replica from the returned snapshot)."""
        raise NotImplementedError

    def produce(self, tick: Tick) -> bytes:
        raise NotImplementedError

    def apply(self, packet: bytes) -> None:
        raise NotImplementedError

    def snapshot(self) -> bytes:
        raise NotImplementedError

    def source(self) -> Any:
        raise NotImplementedError

    def replica(self) -> Any:
        raise NotImplementedError

    def advance(self, tick: Tick) -> None:
        """Apply a tick to the source only (no packet, for scenario f)."""
        self.apply(self.produce(tick))


class Flatsync(Contender):
    name = "flatsync"
    wire = "CborCodec"

    def start(self, initial: Any) -> bytes:
        self.codec = flatsync.CborCodec()
        init = dict(initial)
        board = init.get("board")
        if type(board) is list:
            rows, cols = len(board), len(board[0])
            init["board"] = flatsync.ByteHandler(
                "u8", (rows, cols), [v for row in board for v in row]
            )
        self.state = flatsync.DataHandler(copy.deepcopy(init))
        hello = self.codec.encode(self.state.snapshot())
        self.rep = flatsync.DataHandler.from_snapshot(self.codec.decode(hello))
        return hello

    def produce(self, tick: Tick) -> bytes:
        state = self.state
        for op, path, value in tick:
            target = state
            if path[0] == "board":
                target["board"][path[1], path[2]] = value
                continue
            for key in path[:-1]:
                target = target[key]
            if op == "set":
                target[path[-1]] = value
            else:
                del target[path[-1]]
        packet = self.codec.encode(state.diff())
        state.commit()
        return packet

    def apply(self, packet: bytes) -> None:
        self.rep.patch(self.codec.decode(packet))

    def snapshot(self) -> bytes:
        return self.codec.encode(self.state.snapshot())

    def source(self) -> Any:
        return self.state

    def replica(self) -> Any:
        return self.rep


class FlatsyncPure(Flatsync):
    name = "flatsync (pure)"
    pure = True


class FlatsyncQuiet(Flatsync):
    name = "flatsync, no events"

    def apply(self, packet: bytes) -> None:
        self.rep.patch(self.codec.decode(packet), events=False)


#: The floor's tag for a container set whole (a private tag number of its own).
_SET_WHOLE = 4242


def _thaw(value: Any) -> Any:
    """What cbor2 gives outside a tag: cbor2 decodes a tag's content immutable."""
    if isinstance(value, Mapping):
        return {key: _thaw(item) for key, item in value.items()}
    if type(value) in (list, tuple):
        return [_thaw(item) for item in value]
    return value


def _apply_nested(target: Any, delta: dict[Any, Any]) -> None:
    for key, value in delta.items():
        if type(value) is dict:
            _apply_nested(target[key], value)
        elif value is cbor2.undefined:
            del target[key]
        elif type(value) is cbor2.CBORTag:
            target[key] = _thaw(value.value)
        else:
            target[key] = value


def on_its_path(contender: Contender) -> contextlib.AbstractContextManager[None]:
    """The block on the contender's flatsync path: pure Python, or the one in use."""
    return flatsync.debug.pure_python() if contender.pure else contextlib.nullcontext()


class Floor(Contender):
    """No library: a hand-kept dict of dirty paths, cbor2 both ways (the floor of issue #15)."""

    name = "hand-tracked floor"
    wire = "cbor2"

    def start(self, initial: Any) -> bytes:
        self.state = copy.deepcopy(initial)
        self.dirty: dict[Path_, None] = {}
        hello = cbor2.dumps(self.state)
        self.rep = cbor2.loads(hello)
        return hello

    def produce(self, tick: Tick) -> bytes:
        state, dirty = self.state, self.dirty
        for op, path, value in tick:
            target = state
            for key in path[:-1]:
                target = target[key]
            if op == "set":
                target[path[-1]] = _fresh(value)
            else:
                del target[path[-1]]
            dirty[path] = None
        # The nested delta: parents first, so that a path under one replaced whole
        # (or deleted) in the same tick is left out; a container set whole is tagged.
        delta: dict[Any, Any] = {}
        for path in sorted(dirty, key=len) if len(dirty) > 1 else dirty:
            into = delta
            for key in path[:-1]:
                inner = into.get(key)
                if inner is None:
                    inner = into[key] = {}
                elif type(inner) is not dict:
                    break
                into = inner
            else:
                target = state
                try:
                    for key in path:
                        target = target[key]
                except (KeyError, IndexError):
                    target = cbor2.undefined
                if type(target) in (dict, list):
                    target = cbor2.CBORTag(_SET_WHOLE, target)
                into[path[-1]] = target
        dirty.clear()
        return cbor2.dumps(delta)

    def apply(self, packet: bytes) -> None:
        _apply_nested(self.rep, cbor2.loads(packet))

    def snapshot(self) -> bytes:
        return cbor2.dumps(self.state)

    def source(self) -> Any:
        return self.state

    def replica(self) -> Any:
        return self.rep


class FullState(Contender):
    """Re-send the whole state every tick."""

    def __init__(self, name: str) -> None:
        self.name = f"full {name}"
        self.wire = name
        self.json_keys = name == "json"
        if name == "cbor2":
            self.dumps: Callable[[Any], bytes] = cbor2.dumps
            self.loads: Callable[[bytes], Any] = cbor2.loads
        elif name == "msgpack":
            import msgpack

            self.dumps = msgpack.packb
            self.loads = lambda b: msgpack.unpackb(b, strict_map_key=False)
        else:
            self.dumps = lambda s: json.dumps(s, separators=(",", ":")).encode()
            self.loads = json.loads

    def start(self, initial: Any) -> bytes:
        self.state = copy.deepcopy(initial)
        hello = self.dumps(self.state)
        self.rep = self.loads(hello)
        return hello

    def produce(self, tick: Tick) -> bytes:
        write(self.state, tick)
        return self.dumps(self.state)

    def apply(self, packet: bytes) -> None:
        self.rep = self.loads(packet)

    def advance(self, tick: Tick) -> None:
        write(self.state, tick)

    def snapshot(self) -> bytes:
        return self.dumps(self.state)

    def source(self) -> Any:
        return _jsonify(self.state) if self.json_keys else self.state

    def replica(self) -> Any:
        return self.rep


class Diffing(Contender):
    """Diff a previous copy against the state: the common base of the diff libraries."""

    def start(self, initial: Any) -> bytes:
        self.state = _jsonify(initial) if self.json_keys else copy.deepcopy(initial)
        self.prev = copy.deepcopy(self.state)
        hello = self.dump_state(self.state)
        self.rep = self.load_state(hello)
        return hello

    def dump_state(self, state: Any) -> bytes:
        return cbor2.dumps(state)

    def load_state(self, data: bytes) -> Any:
        return cbor2.loads(data)

    def snapshot(self) -> bytes:
        return self.dump_state(self.state)

    def advance(self, tick: Tick) -> None:
        write(self.state, tick, self.json_keys)

    def source(self) -> Any:
        return self.state

    def replica(self) -> Any:
        return self.rep


class JsonPatch(Diffing):
    name = "jsonpatch"
    wire = "JSON"
    json_keys = True

    def __init__(self) -> None:
        import jsonpatch

        self.make_patch = jsonpatch.make_patch
        self.apply_patch = jsonpatch.apply_patch

    def dump_state(self, state: Any) -> bytes:
        return json.dumps(state, separators=(",", ":")).encode()

    def load_state(self, data: bytes) -> Any:
        return json.loads(data)

    def produce(self, tick: Tick) -> bytes:
        write(self.state, tick, True)
        patch = self.make_patch(self.prev, self.state)
        packet = json.dumps(patch.patch, separators=(",", ":")).encode()
        self.apply_patch(self.prev, json.loads(packet), in_place=True)
        return packet

    def apply(self, packet: bytes) -> None:
        self.apply_patch(self.rep, json.loads(packet), in_place=True)


class JsonDiff(Diffing):
    name = "jsondiff"
    wire = "JSON"
    json_keys = True

    def __init__(self) -> None:
        import jsondiff

        self.differ = jsondiff.JsonDiffer(syntax="compact", marshal=True)

    dump_state = JsonPatch.dump_state
    load_state = JsonPatch.load_state

    def produce(self, tick: Tick) -> bytes:
        write(self.state, tick, True)
        diff = self.differ.diff(self.prev, self.state)
        packet = json.dumps(diff, separators=(",", ":")).encode()
        self.prev = self.differ.patch(self.prev, json.loads(packet))
        return packet

    def apply(self, packet: bytes) -> None:
        self.rep = self.differ.patch(self.rep, json.loads(packet))


class DictDiffer(Diffing):
    name = "dictdiffer"
    wire = "cbor2"

    def __init__(self) -> None:
        import dictdiffer

        self.diff = dictdiffer.diff
        self.patch = dictdiffer.patch

    def produce(self, tick: Tick) -> bytes:
        write(self.state, tick)
        diff = list(self.diff(self.prev, self.state))
        packet = cbor2.dumps(diff)
        self.patch(copy.deepcopy(diff), self.prev, in_place=True)
        return packet

    def apply(self, packet: bytes) -> None:
        self.patch(cbor2.loads(packet), self.rep, in_place=True)


class DeepDiffDelta(Diffing):
    name = "deepdiff"
    wire = "pickle"

    def __init__(self) -> None:
        from deepdiff import DeepDiff, Delta

        self.deepdiff = DeepDiff
        self.delta = Delta

    def dump_state(self, state: Any) -> bytes:
        return pickle.dumps(state)

    def load_state(self, data: bytes) -> Any:
        return pickle.loads(data)

    def produce(self, tick: Tick) -> bytes:
        write(self.state, tick)
        delta = self.delta(self.deepdiff(self.prev, self.state))
        packet: bytes = delta.dumps()  # type: ignore[no-untyped-call]
        self.prev = self.delta(packet, mutate=True) + self.prev
        return packet

    def apply(self, packet: bytes) -> None:
        self.rep = self.delta(packet, mutate=True) + self.rep


class Pycrdt(Contender):
    name = "pycrdt"
    wire = "Yjs update"

    def __init__(self) -> None:
        import pycrdt

        self.y = pycrdt

    def _convert(self, value: Any) -> Any:
        if type(value) is dict:
            return self.y.Map({str(k): self._convert(v) for k, v in value.items()})
        if type(value) in (list, tuple):
            return self.y.Array([self._convert(v) for v in value])
        return value

    def start(self, initial: Any) -> bytes:
        self.doc: Any = self.y.Doc()
        self.root = self.doc.get("state", type=self.y.Map)
        with self.doc.transaction():
            for k, v in initial.items():
                self.root[str(k)] = self._convert(v)
        self.updates: list[bytes] = []
        self.subscription = self.doc.observe(lambda event: self.updates.append(event.update))
        hello = self.doc.get_update()
        self.rdoc: Any = self.y.Doc()
        self.rdoc.apply_update(hello)
        self.rroot = self.rdoc.get("state", type=self.y.Map)
        return hello

    def produce(self, tick: Tick) -> bytes:
        self.updates.clear()
        with self.doc.transaction():
            for op, path, value in tick:
                target = self.root
                for key in path[:-1]:
                    target = target[key if type(target) is self.y.Array else str(key)]
                last = path[-1] if type(target) is self.y.Array else str(path[-1])
                if op == "set":
                    target[last] = self._convert(value)
                else:
                    del target[last]
        return b"".join(self.updates) if len(self.updates) == 1 else self._merged()

    def _merged(self) -> bytes:
        return self.y.merge_updates(*self.updates) if self.updates else b""

    def apply(self, packet: bytes) -> None:
        if packet:
            self.rdoc.apply_update(packet)

    def snapshot(self) -> bytes:
        data: bytes = self.doc.get_update()
        return data

    def source(self) -> Any:
        return self.root.to_py()

    def replica(self) -> Any:
        return self.rroot.to_py()


FACTORIES: dict[str, Callable[[], Contender]] = {
    "flatsync": Flatsync,
    "flatsync (pure)": FlatsyncPure,
    "flatsync, no events": FlatsyncQuiet,
    "hand-tracked floor": Floor,
    "full cbor2": lambda: FullState("cbor2"),
    "full msgpack": lambda: FullState("msgpack"),
    "full json": lambda: FullState("json"),
    "jsonpatch": JsonPatch,
    "jsondiff": JsonDiff,
    "dictdiffer": DictDiffer,
    "deepdiff": DeepDiffDelta,
    "pycrdt": Pycrdt,
}
NEEDS = {"full msgpack": "msgpack", **{k: k for k in PEER_MODULES if k != "msgpack"}}


def available() -> list[str]:
    names = []
    for name in FACTORIES:
        module = NEEDS.get(name)
        if module is not None and importlib.util.find_spec(module) is None:
            print(f"skipped {name}: {module} is not installed (pip install -e '.[bench]')")
            continue
        names.append(name)
    return names


# -- the timing loop -------------------------------------------------------------------


def run_cell(
    name: str,
    initial: Any,
    ticks: Sequence[Tick],
    budget_s: float,
    warmup: int,
    max_ticks: int,
) -> dict[str, Any]:
    """Start a contender on ``initial`` and time its ticks within a time budget.

    The first tick is a warm-up; its time sizes the run: up to ``warmup`` more
    warm-up ticks within a fifth of the budget, then timed ticks filling the rest
    (at least 3, at most ``max_ticks``). A first tick slower than the budget is the
    only one: it is reported as one tick, without warm-up.
    """
    contender = FACTORIES[name]()
    with on_its_path(contender):
        return _run_cell(contender, initial, ticks, budget_s, warmup, max_ticks)


def _run_cell(
    contender: Contender,
    initial: Any,
    ticks: Sequence[Tick],
    budget_s: float,
    warmup: int,
    max_ticks: int,
) -> dict[str, Any]:
    hello = contender.start(initial)
    clock = time.perf_counter_ns
    produce: list[int] = []
    apply: list[int] = []
    sizes: list[int] = []
    budget_ns = int(budget_s * 1e9)
    timed_from = 1
    count = len(ticks)
    with gc_disabled():
        for index, tick in enumerate(ticks):
            if index >= count:
                break
            t0 = clock()
            packet = contender.produce(tick)
            t1 = clock()
            contender.apply(packet)
            t2 = clock()
            produce.append(t1 - t0)
            apply.append(t2 - t1)
            sizes.append(len(packet))
            if index == 0:
                cost = max(1, t2 - t0)
                if cost > budget_ns:
                    timed_from = 0  # slower than the budget: one tick, no warm-up
                    break
                timed_from = 1 + min(warmup, budget_ns // 5 // cost)
                timed = max(3, min(max_ticks, budget_ns * 4 // 5 // cost))
                count = min(len(ticks), timed_from + timed)
    timed_from = min(timed_from, len(produce) - 1)
    by_value = contender.replica() == contender.source()
    return {
        "produce_ns": median(produce[timed_from:]),
        "apply_ns": median(apply[timed_from:]),
        "delta_bytes": median(sizes[timed_from:]),
        "delta_bytes_max": max(sizes[timed_from:]),
        "snapshot_bytes": len(hello),
        "ticks_timed": len(produce) - timed_from,
        "warmup": timed_from,
        "replica_equal": by_value,
    }


# -- scenarios -----------------------------------------------------------------------

PLAYERS = {
    1: {"name": "notch", "pos": (2, 2), "hp": 8},
    2: {"name": "jeb", "pos": (2, 3), "hp": 1},
    3: {"name": "c418", "pos": (2, 4), "hp": 7},
}


def scenario_a(count: int) -> tuple[Any, list[Tick]]:
    return PLAYERS, [[("set", (3, "hp"), 6 if i % 2 == 0 else 7)] for i in range(count)]


def scenario_b(n: int, count: int, seed: int) -> tuple[Any, list[Tick], Any]:
    sc = make_scenario("grid", n, count, seed)
    ticks = [
        [op for i, x, y in moves for op in (("set", (i, "x"), x), ("set", (i, "y"), y))]
        for moves in sc.ticks
    ]
    return sc.initial, ticks, sc.final


def scenario_c(cells: int, count: int, seed: int) -> tuple[Any, list[Tick]]:
    rng = random.Random(f"{seed}/board/{cells}")
    board = [[rng.randrange(256) for _ in range(32)] for _ in range(32)]
    current = [row[:] for row in board]
    ticks = []
    for _ in range(count):
        tick: Tick = []
        for flat in rng.sample(range(32 * 32), cells):
            r, c = divmod(flat, 32)
            current[r][c] = (current[r][c] + 1 + rng.randrange(255)) % 256
            tick.append(("set", ("board", r, c), current[r][c]))
        ticks.append(tick)
    return {"board": board}, ticks


def scenario_d(kind: str, count: int, players: int) -> tuple[Any, list[Tick]]:
    initial = {
        i: {"name": f"p{i}", "pos": (i % 32, i // 32), "hp": 100} for i in range(1, players + 1)
    }
    if kind == "add":
        ticks: list[Tick] = [
            [("set", (players + 1 + i,), {"name": "newbie", "pos": (1, 1), "hp": 100})]
            for i in range(count)
        ]
    else:
        ticks = [[("del", (i,), None)] for i in range(1, count + 1)]
    return initial, ticks


_KEYS: tuple[Any, ...] = (1, 2, 3, 7, 42, "a", "b", "hp", "pos", "name")


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(10 if depth < 2 else 7)
    if kind == 0:
        return rng.choice((0, 1, -1, 7, 255, 2**40, -(2**53) - 1))
    if kind == 1:
        return rng.choice((0.5, -0.0, 0.1, 1 / 3, 1e300, 2.0, -1.5))
    if kind == 2:
        return rng.choice(("", "hi", "ünï", "x" * 30))
    if kind == 3:
        return rng.choice((True, False, None))
    if kind == 4:
        return (rng.randrange(32), rng.randrange(32))
    if kind in (5, 6):
        return rng.choice((1.0, 2, 3.25))
    if kind == 7:
        return [rng.randrange(10), "item"]
    return {rng.choice(_KEYS): _random_value(rng, depth + 1) for _ in range(rng.randrange(4))}


def _dict_paths(state: Any, path: Path_ = ()) -> list[Path_]:
    out = [path]
    for key, value in state.items():
        if type(value) is dict:
            out.extend(_dict_paths(value, (*path, key)))
    return out


def scenario_e(count: int, seed: int) -> tuple[Any, list[Tick], Any]:
    """Random mixed mutations drawn against a plain model (also the reference)."""
    rng = random.Random(f"{seed}/mixed")
    model: Any = {
        i: {"name": f"p{i}", "pos": (i, 2 * i), "hp": 100, "speed": 1.5} for i in range(1, 11)
    }
    initial = copy.deepcopy(model)
    ticks = []
    for _ in range(count):
        tick: Tick = []
        for _ in range(rng.randint(1, 5)):
            paths = _dict_paths(model)
            where = rng.choice(paths[1:]) if len(paths) > 1 and rng.random() < 0.9 else ()
            target = model
            for key in where:
                target = target[key]
            if target and rng.random() < 0.25:
                op: Op = ("del", (*where, rng.choice(list(target))), None)
            elif where:
                op = ("set", (*where, rng.choice(_KEYS)), _random_value(rng))
            else:  # a new player, or a whole player replaced
                player = {"name": "new", "pos": (1, 1), "hp": 1, "speed": 0.5}
                op = ("set", (rng.randrange(1, 20),), player)
            write(model, [op])
            tick.append(op)
        ticks.append(tick)
    return initial, ticks, model


def _strict_difference(replica: Any, reference: Any) -> str | None:
    try:
        assert_strict_equal(replica, reference)
    except AssertionError as error:
        return str(error).splitlines()[0][:120]
    return None


def run_e(names: list[str], count: int, seed: int) -> dict[str, Any]:
    initial, ticks, reference = scenario_e(count, seed)
    out: dict[str, Any] = {}
    for name in names:
        contender = FACTORIES[name]()
        try:
            with on_its_path(contender):
                contender.start(initial)
                for tick in ticks:
                    contender.apply(contender.produce(tick))
        except Exception as error:  # a peer that cannot carry the state at all
            out[name] = {"error": f"{type(error).__name__}: {str(error)[:100]}"}
            continue
        replica = contender.replica()
        difference = _strict_difference(replica, reference)
        out[name] = {
            "strict": difference is None,
            "by_value": replica == reference,
            "first_difference": difference,
        }
    return out


def run_f(names: list[str], n: int, count: int, seed: int) -> dict[str, Any]:
    initial, ticks, _ = scenario_b(n, count, seed)
    out: dict[str, Any] = {}
    for name in names:
        contender = FACTORIES[name]()
        with on_its_path(contender):
            before = len(contender.start(initial))
            for tick in ticks:
                contender.advance(tick)
            after = len(contender.snapshot())
        out[name] = {"before": before, "after": after, "growth": after / before}
    return out


# -- the run ---------------------------------------------------------------------------


def run_timed(
    names: list[str],
    cells: dict[str, tuple[Any, list[Tick]]],
    args: argparse.Namespace,
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for cell, (initial, ticks) in cells.items():
        out[cell] = {}
        for name in names:
            out[cell][name] = run_cell(
                name, initial, ticks, args.budget, args.warmup, args.max_ticks
            )
        print(f"  {cell}: done", flush=True)
    return out


def run_sizes(names: list[str], args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    previous: dict[str, tuple[int, float]] = {}
    count = args.warmup + args.max_ticks + 5
    for n in args.sizes:
        initial, ticks, _ = scenario_b(n, count, args.seed)
        out[str(n)] = {}
        for name in names:
            if name in previous:
                prev_n, prev_s = previous[name]
                guess = prev_s * n / prev_n
                if guess > args.cap:
                    out[str(n)][name] = {"skipped": f"> {guess:.0f} s per tick (extrapolated)"}
                    print(f"  N={n:,} {name}: skipped, about {guess:.0f} s a tick", flush=True)
                    continue
            started = time.perf_counter()
            cell = run_cell(name, initial, ticks, args.budget, args.warmup, args.max_ticks)
            cell["wall_s"] = round(time.perf_counter() - started, 2)
            out[str(n)][name] = cell
            previous[name] = (n, (cell["produce_ns"] + cell["apply_ns"]) / 1e9)
            print(
                f"  N={n:,} {name}: produce {cell['produce_ns'] / 1e3:,.1f} µs "
                f"({cell['ticks_timed']} ticks, {cell['wall_s']} s)",
                flush=True,
            )
        del initial, ticks
    return out


# -- reporting -------------------------------------------------------------------------


def _us(ns: float) -> str:
    us = ns / 1000
    return f"{us:,.1f}" if us < 1000 else f"{us:,.0f}"


def _x(value: float) -> str:
    if value < 10:
        return f"{value:,.2f}×"
    return f"{value:,.0f}×"


def _cell_text(cell: dict[str, Any], key: str, base: dict[str, Any]) -> tuple[str, str]:
    if "skipped" in cell:
        return cell["skipped"], "n/a"
    value = cell[key]
    note = "" if cell["ticks_timed"] > 1 else " (1 tick)"
    return _us(value) + note, _x(value / base[key])


def timed_table(title: str, rows: dict[str, dict[str, Any]], note: str) -> Table:
    table = Table(
        title,
        [
            "contender",
            "produce µs",
            "× flatsync",
            "apply µs",
            "× flatsync",
            "delta B",
            "snapshot B",
        ],
        note=note,
    )
    base = rows["flatsync"]
    for name, cell in rows.items():
        p, px = _cell_text(cell, "produce_ns", base)
        a, ax = _cell_text(cell, "apply_ns", base)
        size = "" if "skipped" in cell else f"{cell['delta_bytes']:,.0f}"
        snap = "" if "skipped" in cell else f"{cell['snapshot_bytes']:,}"
        table.add(name, p, px, a, ax, size, snap)
    return table


RATIO_NOTE = (
    "Medians per tick; × flatsync = the contender's time / flatsync's (above 1: flatsync is "
    "faster). (1 tick): slower than the time budget, timed once without warm-up."
)


def tables(results: dict[str, Any]) -> list[Table]:
    out = []
    for cell, rows in results["timed"].items():
        out.append(timed_table(cell, rows, RATIO_NOTE))
    for n, rows in results["sizes"].items():
        out.append(
            timed_table(f"(b) N = {int(n):,} entities, 10 moving per tick", rows, RATIO_NOTE)
        )
    sizes = list(results["sizes"])
    if len(sizes) > 1:
        first, last = results["sizes"][sizes[0]], results["sizes"][sizes[-1]]
        table = Table(
            f"(b) growth from N = {int(sizes[0]):,} to N = {int(sizes[-1]):,}",
            ["contender", "produce ×", "apply ×", "delta bytes ×", "snapshot bytes ×"],
            note="Each figure at the largest N over the same figure at the smallest N.",
        )
        for name, cell in last.items():
            if "skipped" in cell:
                table.add(name, "not run", "", "", "")
                continue
            a = first[name]
            table.add(
                name,
                _x(cell["produce_ns"] / a["produce_ns"]),
                _x(cell["apply_ns"] / a["apply_ns"]),
                _x(cell["delta_bytes"] / a["delta_bytes"]),
                _x(cell["snapshot_bytes"] / a["snapshot_bytes"]),
            )
        out.append(table)
    table = Table(
        "(e) replica after random mixed ticks",
        ["contender", "strict", "by value (==)", "first strict difference"],
        note=(
            "strict: flatsync.testing.strict_equal against the source model (types at every "
            "level, as values and as keys; floats by bits; tuple vs list). by value: ==."
        ),
    )
    for name, row in results["mixed"].items():
        if "error" in row:
            table.add(name, "error", "error", row["error"])
        else:
            table.add(
                name,
                "yes" if row["strict"] else "no",
                "yes" if row["by_value"] else "no",
                row["first_difference"] or "",
            )
    out.append(table)
    f = results["history"]
    table = Table(
        f"(f) a new client's snapshot after {f['ticks']:,} ticks of overwrites (N = {f['n']:,})",
        ["contender", "snapshot B before", "after", "growth"],
        note="The bytes a client joining now must receive.",
    )
    for name, row in f["rows"].items():
        table.add(name, f"{row['before']:,}", f"{row['after']:,}", _x(row["growth"]))
    out.append(table)
    return out


def targets(results: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    sizes = list(results["sizes"])
    last = results["sizes"][sizes[-1]]
    fs = last["flatsync"]
    out: list[tuple[str, str, bool | None]] = []

    def ratio(peer: str, target: float, label: str) -> None:
        cell = last.get(peer)
        if cell is None or "skipped" in cell:
            out.append((label, "not measured", None))
            return
        r = cell["produce_ns"] / fs["produce_ns"]
        out.append((label, _x(r), r >= target))

    ratio("jsondiff", TARGET_VS_JSONDIFF, f"produce ≥ {TARGET_VS_JSONDIFF:,}× faster than jsondiff")
    ratio("deepdiff", TARGET_VS_DEEPDIFF, f"produce ≥ {TARGET_VS_DEEPDIFF:,}× faster than deepdiff")
    ratio("pycrdt", TARGET_VS_PYCRDT, "produce ≤ half of pycrdt's")
    # Issue #15's targets for the C accelerator (the "flatsync" rows are on it where built).
    for label, who, key, versus, limit in (
        ("apply ≤ 0.3× pycrdt's (events on)", "flatsync", "apply_ns", "pycrdt", 0.3),
        (
            "apply ≤ 1.0× the floor's (no events)",
            "flatsync, no events",
            "apply_ns",
            "hand-tracked floor",
            1.0,
        ),
        ("produce ≤ 0.25× pycrdt's", "flatsync", "produce_ns", "pycrdt", 0.25),
        ("pure path: apply vs native (÷)", "flatsync (pure)", "apply_ns", "flatsync", None),
        ("pure path: produce vs native (÷)", "flatsync (pure)", "produce_ns", "flatsync", None),
    ):
        mine, theirs = last.get(who), last.get(versus)
        if mine is None or theirs is None or "skipped" in mine or "skipped" in theirs:
            out.append((label, "not measured", None))
            continue
        r = mine[key] / theirs[key]
        out.append((label, _x(r), None if limit is None else r <= limit))
    if len(sizes) > 1:
        g = fs["produce_ns"] / results["sizes"][sizes[0]]["flatsync"]["produce_ns"]
        out.append((f"produce growth ≤ {TARGET_GROWTH}×", _x(g), g <= TARGET_GROWTH))
    b = fs["delta_bytes_max"]
    out.append((f"delta bytes ≤ {TARGET_DELTA_BYTES} (worst tick)", f"{b:,}", b <= 260))
    mixed = results["mixed"]
    strict = [n for n, r in mixed.items() if r.get("strict")]
    out.append(("(e) strictly equal", ", ".join(strict) or "none", "flatsync" in strict))
    return out


def targets_table(results: dict[str, Any]) -> Table:
    table = Table(
        f"Targets at N = {int(list(results['sizes'])[-1]):,} (reported, not asserted)",
        ["target", "measured", ""],
    )
    for label, value, ok in targets(results):
        table.add(label, value, "n/a" if ok is None else ("met" if ok else "MISSED"))
    return table


def plots(results: dict[str, Any], outdir: Path) -> list[Path]:
    """Time vs N (log axes) and bytes per scenario, as small PNGs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    outdir.mkdir(parents=True, exist_ok=True)
    sizes = [int(n) for n in results["sizes"]]
    names = list(results["sizes"][str(sizes[0])])
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), dpi=80)
    for ax, key, label in zip(axes, ("produce_ns", "apply_ns"), ("produce", "apply"), strict=True):
        for name in names:
            xs, ys = [], []
            for n in sizes:
                cell = results["sizes"][str(n)][name]
                if "skipped" not in cell:
                    xs.append(n)
                    ys.append(cell[key] / 1e3)
            style = "o-" if name == "flatsync" else ".--"
            ax.plot(xs, ys, style, label=name, linewidth=2.5 if name == "flatsync" else 1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("N entities (10 moving per tick)")
        ax.set_ylabel(f"{label} µs per tick (median)")
        ax.grid(True, which="major", alpha=0.3)
    axes[1].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    time_png = outdir / "peers-time.png"
    fig.savefig(time_png)
    plt.close(fig)

    groups: dict[str, dict[str, float]] = {}
    short = ("(a) hp", "(c) 1 cell", "(c) 100 cells", "(d) add", "(d) delete")
    for label, rows in zip(short, results["timed"].values(), strict=False):
        groups[label] = {k: v["delta_bytes"] for k, v in rows.items()}
    mid = results["sizes"][str(sizes[len(sizes) // 2])]
    groups[f"(b) N={sizes[len(sizes) // 2]:,}"] = {
        k: v["delta_bytes"] for k, v in mid.items() if "skipped" not in v
    }
    groups["(f) snapshot"] = {k: float(v["after"]) for k, v in results["history"]["rows"].items()}
    fig, ax = plt.subplots(figsize=(10, 4), dpi=80)
    width = 0.8 / len(names)
    for j, name in enumerate(names):
        positions = [i + j * width for i, g in enumerate(groups.values()) if name in g]
        ys = [max(g[name], 1.0) for g in groups.values() if name in g]
        ax.bar(positions, ys, width, label=name)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(groups))])
    ax.set_xticklabels(list(groups), fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("bytes per tick (f: snapshot)")
    ax.legend(fontsize=7, ncol=len(names), loc="lower center", bbox_to_anchor=(0.5, 1.0))
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    bytes_png = outdir / "peers-bytes.png"
    fig.savefig(bytes_png)
    plt.close(fig)
    return [time_png, bytes_png]


def main(argv: Sequence[str] | None = None) -> int:
    parser = bench_parser(__file__, __doc__, name="peers", seed=8)
    parser.add_argument("--sizes", type=int, nargs="+", help="entity counts for scenario (b)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNGs")
    parser.add_argument("--cap", type=float, help="skip a tick extrapolated beyond this (s)")
    parser.add_argument(
        "--report",
        type=Path,
        metavar="JSON",
        help="measure nothing: print the Markdown tables of a saved run and redraw its plots",
    )
    args = parser.parse_args(argv)
    if args.report is not None:
        saved = json.loads(args.report.read_text("utf-8"))
        report = [*tables(saved), targets_table(saved), machine_table(saved["machine"])]
        print("\n\n".join(t.markdown(level=3) for t in report))
        if not args.no_plots:
            for png in plots(saved, REPO / "docs" / "images"):
                print(f"wrote {png}")
        return 0
    if args.quick:
        args.sizes = args.sizes or [500, 2_000]
        args.budget, args.warmup, args.max_ticks = 0.05, 2, 20
        args.cap = args.cap or 0.5
        mixed_ticks, history_n, history_ticks = 30, 200, 100
    else:
        args.sizes = args.sizes or [1_000, 10_000, 100_000]
        args.budget, args.warmup, args.max_ticks = 1.5, 50, 1_000
        args.cap = args.cap or 60.0
        mixed_ticks, history_n, history_ticks = 100, 1_000, 2_000
    run = Run(args, "Peers: flatsync side by side with the alternatives")
    info = run.machine
    names = available()
    for name in ("jsonpatch", "jsondiff", "dictdiffer", "deepdiff", "pycrdt", "msgpack"):
        spec = importlib.util.find_spec(name)
        info[name] = _dist_version(name) if spec is not None else "not installed"

    count = args.warmup + args.max_ticks + 5
    cells: dict[str, tuple[Any, list[Tick]]] = {
        "(a) 3 players, one hp change": scenario_a(count),
        "(c) 32×32 board, 1 changed cell": scenario_c(1, count, args.seed),
        "(c) 32×32 board, 100 changed cells": scenario_c(100, count, args.seed),
        "(d) add a player (of 1,000)": scenario_d("add", count, 1_000),
        "(d) delete a player (of 1,000)": scenario_d("delete", min(count, 999), 1_000),
    }
    results = run.results
    results["settings"] = dict(vars(args))
    print("timed scenarios (a), (c), (d)", flush=True)
    results["timed"] = run_timed(names, cells, args)
    print("scenario (b)", flush=True)
    results["sizes"] = run_sizes(names, args)
    print("scenario (e)", flush=True)
    results["mixed"] = run_e(names, mixed_ticks, args.seed)
    print("scenario (f)", flush=True)
    results["history"] = {
        "n": history_n,
        "ticks": history_ticks,
        "rows": run_f(names, history_n, history_ticks, args.seed),
    }
    results["targets"] = [
        {"target": label, "measured": value, "met": ok} for label, value, ok in targets(results)
    ]
    run.write([*tables(results), targets_table(results)])
    if not args.quick and not args.no_plots:
        if importlib.util.find_spec("matplotlib") is None:
            print("skipped the plots: matplotlib is not installed")
        else:
            for png in plots(results, REPO / "docs" / "images"):
                print(f"wrote {png}")
    return 0


def _dist_version(module: str) -> str:
    try:
        return importlib.metadata.version(module)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
