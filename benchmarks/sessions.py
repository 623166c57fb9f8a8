"""The sessions benchmark: one publisher, many clients, a few distinct views.

The state is ``{"players": {i: {"x": float, "y": float, "hp": int, "team": int}}}``
for N entities spread over V teams. Each client is on a team; its view shows
every entity's position and the hit points of its own team only::

    View(("players", ANY, "x"), ("players", ANY, "y"), ("players", <team ids>, "hp"))

so there are V distinct views whatever the number of clients C. Each tick, K
random entities (a seeded ``random.Random``, the same for every contender)
move and change their hit points.

Contenders, in the same process and the same run, on the same ticks, taking
turns tick by tick:

flatsync
    ``Publisher.tick()`` (diff, commit, the ring) and ``packets_for(client)``
    for every client: each distinct (view, base) is filtered and encoded once,
    and clients share the bytes.
naive
    The same, with nothing to share: a second publisher whose clients each
    have a view of their own (the team's view joined with a rule that matches
    nothing, ``("~client", i)``), so every client's packet is filtered and
    encoded for it alone. The same filter code, the same codec, the same
    packets: only the sharing differs.

Timed: from the start of the tick to the last client's packet (the game's own
writes are outside the clock). Every figure is a median of
``time.perf_counter_ns`` samples taken after a warm-up, with the cyclic garbage
collector off; both time the same 15 to 200 ticks, stopping early once the
naive one's add up to two seconds. The script checks correctness (for each
contender, one replica per team follows the publisher and ends equal to its
view's projection of the state, also under ``python -O``), never speed.

Usage::

    python benchmarks/sessions.py            # the full run (about a minute and a half)
    python benchmarks/sessions.py --quick    # a smoke run (seconds); nothing to read into it
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Sequence
from typing import Any

import attrs
from _harness import Run, Table, gc_disabled, median
from _harness import parser as bench_parser

from flatsync import ANY, DataHandler, Publisher, Replica, View

#: The headline configuration: 100 clients, 10 distinct views, 10,000 entities, 10 changes.
BASE = {"clients": 100, "views": 10, "n": 10_000, "changes": 10}
#: A smaller one for --quick.
QUICK_BASE = {"clients": 50, "views": 5, "n": 2_000, "changes": 10}


@attrs.frozen(kw_only=True)
class Config:
    """One measured configuration."""

    clients: int
    views: int
    n: int
    changes: int


@attrs.frozen(kw_only=True)
class Settings:
    """How long to measure: ``--quick`` shrinks everything."""

    quick: bool
    seed: int
    warmup_ticks: int
    #: Each contender times at least ``min_ticks`` and at most ``max_ticks`` ticks,
    #: stopping in between once its timed ticks add up to ``budget_ns``.
    min_ticks: int
    max_ticks: int
    budget_ns: int
    #: The configuration each sweep starts from.
    base: dict[str, int]
    #: The values each sweep tries (the other parameters stay at ``base``).
    sweeps: dict[str, tuple[int, ...]]


def settings(quick: bool, seed: int) -> Settings:
    if quick:
        return Settings(
            quick=True,
            seed=seed,
            warmup_ticks=2,
            min_ticks=5,
            max_ticks=10,
            budget_ns=100_000_000,
            base=QUICK_BASE,
            sweeps={
                "clients": (10, 50, 250),
                "views": (1, 5, 25),
                "n": (500, 2_000),
                "changes": (10, 50),
            },
        )
    return Settings(
        quick=False,
        seed=seed,
        warmup_ticks=10,
        min_ticks=15,
        max_ticks=200,
        budget_ns=2_000_000_000,
        base=BASE,
        sweeps={
            "clients": (10, 100, 1_000),
            "views": (1, 10, 100),
            "n": (1_000, 10_000, 100_000),
            "changes": (10, 100, 1_000),
        },
    )


# -- the scenario -----------------------------------------------------------------------

Tick = tuple[tuple[int, float, float, int], ...]


def make_state(config: Config, rng: random.Random) -> dict[str, Any]:
    return {
        "players": {
            i: {
                "x": float(rng.randint(0, 1000)),
                "y": float(rng.randint(0, 1000)),
                "hp": 100,
                "team": i % config.views,
            }
            for i in range(config.n)
        }
    }


def make_ticks(config: Config, count: int, rng: random.Random) -> list[Tick]:
    ticks = []
    for _ in range(count):
        movers = rng.sample(range(config.n), config.changes)
        ticks.append(
            tuple(
                (i, float(rng.randint(0, 1000)), rng.randint(0, 1000) / 4, rng.randint(1, 100))
                for i in movers
            )
        )
    return ticks


def team_views(config: Config) -> list[View]:
    return [
        View(
            ("players", ANY, "x"),
            ("players", ANY, "y"),
            ("players", frozenset(range(team, config.n, config.views)), "hp"),
        )
        for team in range(config.views)
    ]


def play(root: DataHandler, tick: Tick) -> None:
    players = root["players"]
    for i, x, y, hp in tick:
        entity = players[i]
        entity["x"] = x
        entity["y"] = y
        entity["hp"] = hp


def verify(ok: bool, what: str) -> None:
    """A correctness check that ``python -O`` keeps."""
    if not ok:
        raise AssertionError(what)


# -- the contenders ---------------------------------------------------------------------


def enough(samples: list[int], settings_: Settings) -> bool:
    """Whether the slower contender has timed enough ticks."""
    return len(samples) >= settings_.max_ticks or (
        len(samples) >= settings_.min_ticks and sum(samples) >= settings_.budget_ns
    )


class Contender:
    """A publisher, every client's packets, and one replica per team (outside the clock).

    ``shared``: clients on a team share its view (flatsync); otherwise each
    client's view is its team's joined with a rule of its own that matches
    nothing (naive), so no two clients share a packet.
    """

    def __init__(self, config: Config, initial: dict[str, Any], *, shared: bool) -> None:
        self.clients = config.clients
        self.root = DataHandler(initial)
        views = team_views(config)
        self.pub = Publisher(self.root)
        for client in range(config.clients):
            view = views[client % config.views]
            if not shared:
                view |= View(("~client", client))
            self.pub.add_client(client, view)
        self.pub.tick()
        # Clients 0 .. V-1 are one per team.
        self.followers = {client: Replica() for client in range(min(config.views, self.clients))}
        for client in range(config.clients):
            for packet in self.pub.packets_for(client):
                if client in self.followers:
                    self.followers[client].receive(packet)

    def step(self, tick: Tick) -> tuple[int, list[int]]:
        """Play one tick; return the time and each client's bytes."""
        play(self.root, tick)
        pub = self.pub
        start = time.perf_counter_ns()
        pub.tick()
        out = [pub.packets_for(client) for client in range(self.clients)]
        elapsed = time.perf_counter_ns() - start
        for client, replica in self.followers.items():
            for packet in out[client]:
                replica.receive(packet)
        return elapsed, [sum(map(len, packets)) for packets in out]

    def check(self) -> None:
        snapshot = self.root.snapshot()
        for client, replica in self.followers.items():
            view = self.pub.view(client)
            verify(view is not None and replica.state == view.project(snapshot), "diverged")


def measure(config: Config, settings_: Settings) -> dict[str, Any]:
    """Both contenders on the same ticks, alternating tick by tick (so that they share
    whatever else the machine is doing)."""
    rng = random.Random(f"{settings_.seed}/{config.n}/{config.views}")
    initial = make_state(config, rng)
    ticks = make_ticks(config, settings_.warmup_ticks + settings_.max_ticks, rng)
    contenders = {
        "flatsync": Contender(config, initial, shared=True),
        "naive": Contender(config, initial, shared=False),
    }
    samples: dict[str, list[int]] = {name: [] for name in contenders}
    sizes: dict[str, list[int]] = {name: [] for name in contenders}
    with gc_disabled():
        for number, tick in enumerate(ticks):
            for name, contender in contenders.items():
                elapsed, out = contender.step(tick)
                if number >= settings_.warmup_ticks:
                    samples[name].append(elapsed)
                    sizes[name].extend(out)
            if enough(samples["naive"], settings_):
                break
    for contender in contenders.values():
        contender.check()
    fs, naive = (
        {
            "tick_ns": median(samples[name]),
            "ticks": len(samples[name]),
            "bytes_per_client": sum(sizes[name]) / len(sizes[name]),
        }
        for name in contenders
    )
    return {
        "config": attrs.asdict(config),
        "flatsync": fs,
        "naive": naive,
        "speedup": naive["tick_ns"] / fs["tick_ns"],
    }


# -- reports ----------------------------------------------------------------------------

TITLES = {
    "clients": "clients C",
    "views": "distinct views V",
    "n": "entities N",
    "changes": "changes per tick K",
}


def _us(ns: float) -> str:
    us = ns / 1000
    return f"{us:,.0f}" if us >= 100 else f"{us:.1f}"


def sweep_table(name: str, rows: list[dict[str, Any]], base: dict[str, int]) -> Table:
    fixed = ", ".join(f"{TITLES[k].split()[-1]} = {v:,}" for k, v in base.items() if k != name)
    table = Table(
        f"Per tick, varying {TITLES[name]} ({fixed})",
        [
            TITLES[name].split()[-1],
            "flatsync µs/tick",
            "µs per client",
            "naive µs/tick",
            "naive ×",
            "flatsync B/client",
            "naive B/client",
        ],
        note=(
            "Medians per tick: Publisher.tick() + packets_for() for every client, clients "
            "sharing their team's view (flatsync) or each with a view of its own (naive: "
            "a filter and an encode per client). naive × = naive time / flatsync time. "
            "B/client: mean bytes per client per tick, the 3- or 4-byte frame header included."
        ),
    )
    for row in rows:
        fs, naive, config = row["flatsync"], row["naive"], row["config"]
        table.add(
            f"{config[name]:,}",
            _us(fs["tick_ns"]),
            f"{fs['tick_ns'] / config['clients'] / 1000:.2f}",
            _us(naive["tick_ns"]),
            f"{row['speedup']:.1f}×",
            f"{fs['bytes_per_client']:.1f}",
            f"{naive['bytes_per_client']:.1f}",
        )
    return table


def all_tables(results: dict[str, Any]) -> list[Table]:
    base = results["settings"]["base"]
    return [sweep_table(name, rows, base) for name, rows in results["sweeps"].items()]


# -- main -------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    args = bench_parser(__file__, __doc__, name="sessions").parse_args(argv)

    config = settings(args.quick, args.seed)
    run = Run(args, "Sessions benchmark: one publisher, many clients, a few views")
    results = run.results
    results["settings"] = attrs.asdict(config)
    results["sweeps"] = {}
    done: dict[Config, dict[str, Any]] = {}
    for name, values in config.sweeps.items():
        rows = []
        for value in values:
            measured = Config(**{**config.base, name: value})
            if measured not in done:
                print(f"... {measured}", file=sys.stderr, flush=True)
                done[measured] = measure(measured, config)
            rows.append(done[measured])
        results["sweeps"][name] = rows
    run.write(all_tables(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
