"""The fan-out benchmark: one origin, G gateway processes, C clients, through a real broker.

The state is ``{i: {"x": float, "y": float, "hp": int}}`` for N entities; each
tick, K random entities (a seeded ``random.Random``) move. The origin (this
process) ticks at R ticks per second for S seconds and publishes through the
broker (NATS JetStream from the venv's ``nats-server``; Redis from
``redis-server``) to G gateways (``python -m flatsync.relay gateway``, one
process each); the clients run in worker processes, spread over the gateways,
and acknowledge every packet. The same clients are then served by the plain
single-process :class:`flatsync.net.Server`, for comparison.

Reported per contender: frames delivered in order (the share of the frames
published that each client applied in order, as deltas or snapshots), clients
holding the origin's state strictly at the end, the origin's CPU per tick
with the clients against the same origin's with none (its cost does not grow
with the clients), the latency from the origin's tick to the broker's live
delivery (a subscriber in the origin's process) and to the clients (p50, p99;
one monotonic clock, which Linux shares between processes), the gateways' CPU
per client per tick, and the headline: clients per gateway core at 10 ticks/s
(``1 / (CPU per client tick × 10)``). Then one gateway is killed with SIGKILL:
its clients, behind a forwarder each worker runs (a load balancer), reconnect
to the next gateway while the origin plays on; reported: how far behind the
origin they were when it died (frames applied, p50), the share of those the
next gateway served (welcomed and brought to the origin's frame within 30 s)
that resumed without a snapshot, and the time until every client holds the
origin's frame again. A moved client resumes with a delta exactly when the
frame it holds is still in the next gateway's ring (64 frames): past the
machine's saturation, clients seconds behind get a snapshot, on either
backend. The script asserts nothing about speed; a client that diverged is
an error. The broker servers, gateway processes and forwarders are
:mod:`flatsync.relay.local`'s.

Where it saturates: the full run first steps the client count up (doubling
from ``--ramp-start``, up to ``--max-clients``), one short measure per step on
each contender of ``--ramp``, and stops at the first step that misses a goal of
the issue (frames in order >= 99.9 %, every client equal at the end, origin to
client p50 <= 20 ms), or when the next step would not fit in ``--budget``
seconds; it reports the last count that met them, and, from that step, the
clients one gateway core holds at 10 ticks/s. Then the fixed comparison at
``--clients`` on every backend and the plain server, with a gateway killed.

Usage::

    python benchmarks/fanout.py                  # the ramp (NATS, plain), then C = 300, G = 4
    python benchmarks/fanout.py --quick          # a smoke run: C = 20, G = 2, N = 1,000, 1.5 s
    python benchmarks/fanout.py --no-ramp --clients 4000 --seconds 10
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing
import os
import random
import signal
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from _harness import Run, Table
from _harness import parser as bench_parser

import flatsync
import flatsync.net
import flatsync.relay
from flatsync.relay import local
from flatsync.testing import strict_equal

WORKERS = 2
SECRET = bytes(range(32))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (Linux /proc)."""
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def make_state(n: int) -> dict[int, dict[str, Any]]:
    rng = random.Random(1)
    return {i: {"x": rng.random() * 100, "y": rng.random() * 100, "hp": 100} for i in range(n)}


def change(state: Any, rng: random.Random, k: int) -> None:
    for _ in range(k):
        entity = state[rng.randrange(len(state))]
        entity["x"] = round(entity["x"] + rng.uniform(-1, 1), 3)
        entity["y"] = round(entity["y"] + rng.uniform(-1, 1), 3)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


# -- the clients (in worker processes) --------------------------------------------------


async def _clients(ports: list[int], count: int, pipe: Connection, first: int) -> None:
    loop = asyncio.get_running_loop()
    # A forwarder to each gateway: the worker's load balancer.
    forwarders = [local.Forwarder(port) for port in ports]
    for forwarder in forwarders:
        await forwarder.start()
    fronts = [forwarder.port for forwarder in forwarders]
    receipts: list[tuple[int, float]] = []
    applied: list[list[int]] = []
    clients = []
    for index in range(count):
        gateway = (first + index) % len(ports)
        mine: list[int] = []
        applied.append(mine)

        def on_events(events: list[Any], mine: list[int] = mine) -> None:
            for event in events:
                if type(event) is flatsync.FrameApplied:
                    mine.append(event.frame)
                    if len(receipts) < 200_000:
                        receipts.append((event.frame, time.monotonic()))

        client = flatsync.net.Client(
            f"tcp://127.0.0.1:{fronts[gateway]}",
            events=False,
            on_events=on_events,
            connect_timeout=60,
            idle_timeout=120,
            backoff=(0.02, 0.5),
        )
        await client.connect()
        clients.append((gateway, client))
    pipe.send("ready")
    while True:
        command = await loop.run_in_executor(None, pipe.recv)
        if command[0] == "warm":  # every client has had its snapshot and holds frame n
            deadline = loop.time() + 120
            while any(c.replica.frame is None or c.replica.frame < command[1] for _, c in clients):
                if loop.time() > deadline:
                    break
                await asyncio.sleep(0.02)
            pipe.send("warm")
        elif command[0] == "kill":  # gateway k is dead: its forwarder goes to the next one
            killed = command[1]
            forwarders[killed].target = ports[(killed + 1) % len(ports)]
            moved = [c for g, c in clients if g == killed]
            before = {id(c): (c.snapshot_bytes, c.server_name) for c in moved}
            held = [c.replica.frame or 0 for c in moved]  # applied when the gateway died
            pipe.send("ok")
        elif command[0] == "resumed":
            target = command[1]
            deadline = loop.time() + 30
            while any(c.replica.frame is None or c.replica.frame < target for _, c in clients):
                if loop.time() > deadline:
                    break
                await asyncio.sleep(0.005)
            # Served: welcomed by the next gateway, and brought by it to the target. Only
            # those say whether the move cost a snapshot (one still waiting has had none yet).
            served = [
                c
                for c in moved
                if c.server_name != before[id(c)][1]
                and c.replica.frame is not None
                and c.replica.frame >= target
            ]
            pipe.send(
                {
                    "moved": len(moved),
                    "served": len(served),
                    "no_snapshot": sum(c.snapshot_bytes == before[id(c)][0] for c in served),
                    "held": held,
                    "at": time.monotonic(),
                }
            )
        else:  # ("finish", frame): wait until every client holds it, then report
            frame = command[1]
            deadline = loop.time() + 30
            while any(c.replica.frame != frame for _, c in clients):
                if loop.time() > deadline:
                    break
                await asyncio.sleep(0.01)
            states = [c.state.snapshot() for _, c in clients if c.replica.frame == frame]
            ordered = sum(1 for frames in applied for a, b in itertools.pairwise(frames) if b > a)
            steps = sum(max(0, len(frames) - 1) for frames in applied)
            pipe.send(
                {
                    "receipts": receipts,
                    "in_order": (ordered, steps),
                    "held": [c.replica.frame for _, c in clients],
                    "states": states[:1]
                    + [s for s in states[1:] if not strict_equal(s, states[0])][:1],
                }
            )
            for _, client in clients:
                await client.close()
            for forwarder in forwarders:
                await forwarder.close()
            return


def worker(ports: list[int], count: int, pipe: Connection, first: int) -> None:
    asyncio.run(_clients(ports, count, pipe, first))


# -- one measure -------------------------------------------------------------------------------


async def measure(
    kind: str,
    clients: int,
    gateways: int,
    entities: int,
    changes: int,
    rate: float,
    seconds: float,
    kill: bool,
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    rng = random.Random(2)
    broker_server: local.BrokerServer | None = None
    processes: list[local.GatewayProcess] = []
    workers: list[Any] = []
    pipes: list[Connection] = []
    ticks: dict[int, float] = {}
    hop: list[tuple[int, float]] = []
    origin: flatsync.relay.Origin | None = None
    server: flatsync.net.Server | None = None
    broker: flatsync.relay.Broker | None = None
    try:
        root = flatsync.DataHandler(make_state(entities))
        if kind == "plain":
            server = flatsync.net.Server(root, max_clients=clients + 10, idle_timeout=120)
            await server.start(tcp=("127.0.0.1", 0))
            ports = [server.tcp_address[1]]
        else:
            broker_server = local.BrokerServer(kind)
            await loop.run_in_executor(None, broker_server.start)
            url = broker_server.url
            broker = broker_server.broker()
            await broker.connect()
            origin = flatsync.relay.Origin(
                root, broker, world="bench", snapshot_every=50, tick_rate=rate
            )
            await origin.start()
            live = flatsync.relay.Feed(100_000)
            await broker.subscribe("bench", live)

            async def listen() -> None:
                while (record := await live.get()) is not None:
                    # The record: the session (8 bytes), then the packet: a kind byte and
                    # the frame number as an unsigned LEB128 varint.
                    frame, shift, index = 0, 0, 9
                    while True:
                        byte = record[index]
                        frame |= (byte & 0x7F) << shift
                        shift += 7
                        index += 1
                        if byte < 0x80:
                            break
                    hop.append((frame, time.monotonic()))

            listener = asyncio.create_task(listen())
            for index in range(gateways):  # started together, then waited for
                gateway = local.GatewayProcess(url, "bench", SECRET, "--name", f"g{index}")
                processes.append(gateway)
                gateway.launch()
            for gateway in processes:
                await loop.run_in_executor(None, gateway.wait_ready)
            ports = [gateway.port for gateway in processes]
        # The origin's CPU per tick with no client at all, for the ratio.
        idle_cpu = 0.0
        if origin is not None:
            cpu0 = time.process_time()
            for _ in range(int(rate * seconds / 2) or 1):
                change(origin.root, rng, changes)
                origin.tick()
                await asyncio.sleep(1.0 / rate)
            idle_cpu = (time.process_time() - cpu0) / (int(rate * seconds / 2) or 1)
        context = multiprocessing.get_context("spawn")
        for index in range(WORKERS):
            share = clients // WORKERS + (1 if index < clients % WORKERS else 0)
            mine, theirs = context.Pipe()
            process = context.Process(
                target=worker, args=(ports, share, theirs, index), daemon=True
            )
            process.start()
            pipes.append(mine)
            workers.append(process)
        for pipe in pipes:
            assert await loop.run_in_executor(None, pipe.recv) == "ready"

        def tick() -> int:
            started = time.monotonic()
            if origin is not None:
                change(origin.root, rng, changes)
                frame = origin.tick()
            else:
                assert server is not None
                change(server.publisher.root, rng, changes)
                frame = server.tick()
            ticks[frame] = started
            return frame

        # The clock starts once every client has had its snapshot (the joins'
        # backlog is not a steady state): the origin ticks meanwhile.
        now = origin.frame if origin is not None else server.publisher.frame if server else 0
        for pipe in pipes:
            pipe.send(("warm", now + 1))
        warm = asyncio.gather(*[loop.run_in_executor(None, pipe.recv) for pipe in pipes])
        while not warm.done():
            tick()
            await asyncio.sleep(1.0 / rate)
        await warm
        hop.clear()
        ticks.clear()
        gateway_cpu0 = [cpu_seconds(p.pid) for p in processes]
        cpu0, wall0 = time.process_time(), loop.time()
        deadline = wall0
        done = 0
        while loop.time() - wall0 < seconds:
            tick()
            done += 1
            deadline += 1.0 / rate
            await asyncio.sleep(max(0.0, deadline - loop.time()))
        cpu = time.process_time() - cpu0
        wall = loop.time() - wall0
        gateway_cpu = sum(
            cpu_seconds(p.pid) - c for p, c in zip(processes, gateway_cpu0, strict=True)
        )
        hops = [at - ticks[f] for f, at in hop if f in ticks]
        resumed: dict[str, Any] = {}
        if kill and processes:
            processes[0].signal(signal.SIGKILL)
            killed_at = time.monotonic()
            at_kill = origin.frame if origin is not None else 0
            for pipe in pipes:
                pipe.send(("kill", 0))
                assert await loop.run_in_executor(None, pipe.recv) == "ok"
            target = at_kill + 2
            answered = asyncio.Event()

            async def play_on() -> None:
                # Play goes on until every worker has answered: a moved client that
                # needs a snapshot gets it with the origin's next frame.
                while not answered.is_set():
                    tick()
                    await asyncio.sleep(1.0 / rate)

            playing = asyncio.create_task(play_on())
            for pipe in pipes:
                pipe.send(("resumed", target))
            answers = [await loop.run_in_executor(None, pipe.recv) for pipe in pipes]
            answered.set()
            await playing
            moved = sum(a["moved"] for a in answers)
            served = sum(a["served"] for a in answers)
            lags = [at_kill - held for a in answers for held in a["held"]]
            resumed = {
                "moved": moved,
                "served": served,
                "resumed_without_snapshot": sum(a["no_snapshot"] for a in answers) / max(1, served),
                "moved_lag_p50_frames": percentile([float(lag) for lag in lags], 0.5),
                "converge_s": max(a["at"] for a in answers) - killed_at,
            }
        if origin is not None:
            await origin.flushed()
            last = origin.frame
            expected = origin.root.snapshot()
        else:
            assert server is not None
            last = server.publisher.frame
            expected = server.publisher.root.snapshot()
        for pipe in pipes:
            pipe.send(("finish", last))
        results = [await loop.run_in_executor(None, pipe.recv) for pipe in pipes]
        latencies = [at - ticks[f] for r in results for f, at in r["receipts"] if f in ticks]
        in_order = sum(r["in_order"][0] for r in results), sum(r["in_order"][1] for r in results)
        held = sum(f == last for r in results for f in r["held"])
        for r in results:
            assert all(strict_equal(s, expected) for s in r["states"]), "a client diverged"
        if origin is not None:
            listener.cancel()
        return {
            "contender": kind,
            "clients": clients,
            "gateways": len(processes),
            "ticks": done,
            "in_order": in_order[0] / max(1, in_order[1]),
            "equal_at_end": held,
            "origin_cpu_ratio": (cpu / max(1, done)) / idle_cpu if idle_cpu else float("nan"),
            "origin_us_per_tick": cpu / max(1, done) * 1e6,
            "broker_p50_ms": percentile(hops, 0.5) * 1e3,
            "broker_p99_ms": percentile(hops, 0.99) * 1e3,
            "client_p50_ms": percentile(latencies, 0.5) * 1e3,
            "client_p99_ms": percentile(latencies, 0.99) * 1e3,
            "gateway_cores": (gateway_cpu if processes else cpu) / max(1e-9, wall),
            "gateway_us_per_client_tick": gateway_cpu / max(1, done) / clients * 1e6
            if processes
            else cpu / max(1, done) / clients * 1e6,
            **resumed,
        }
    finally:
        for process in workers:
            process.join(30)
            if process.is_alive():
                process.kill()
        for gateway in processes:
            gateway.stop()
        if origin is not None:
            await origin.close()
        if broker is not None:
            await broker.close()
        if server is not None:
            await server.close()
        if broker_server is not None:
            broker_server.close()


# -- where it saturates ------------------------------------------------------------------------

#: The issue's goals that a step must meet.
GOAL_IN_ORDER = 0.999
GOAL_CLIENT_P50_MS = 20.0


def misses(row: dict[str, Any]) -> list[str]:
    """The goals ``row`` misses (empty: it met them all)."""
    missed = []
    if row["in_order"] < GOAL_IN_ORDER:
        missed.append(f"in order {row['in_order']:.2%}")
    if row["equal_at_end"] < row["clients"]:
        missed.append(f"equal {row['equal_at_end']}/{row['clients']}")
    if not row["client_p50_ms"] <= GOAL_CLIENT_P50_MS:
        missed.append(f"client p50 {row['client_p50_ms']:.0f} ms")
    return missed


def ramp(
    kind: str,
    *,
    start: int,
    limit: int,
    budget: float,
    gateways: int,
    entities: int,
    changes: int,
    rate: float,
    seconds: float,
) -> dict[str, Any]:
    """Double the clients from ``start`` until a goal is missed, ``limit``, or ``budget`` seconds."""
    began = time.monotonic()
    steps: list[dict[str, Any]] = []
    passed: dict[str, Any] | None = None
    stopped = f"reached --max-clients {limit}"
    clients = start
    last_took = 0.0
    while clients <= limit:
        left = budget - (time.monotonic() - began)
        # A step's setup grows with its clients (connecting them): guess from the last one.
        if steps and last_took * 2.5 > left:
            stopped = f"the next step ({clients}) would not fit in the budget ({budget:g} s)"
            break
        print(f"... ramp {kind}: {clients} clients", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        row = asyncio.run(
            measure(kind, clients, gateways, entities, changes, rate, seconds, kill=False)
        )
        last_took = time.monotonic() - t0
        row["missed"] = misses(row)
        row["took_s"] = last_took
        steps.append(row)
        print(f"    {row['missed'] or 'met the goals'} in {last_took:.0f} s", file=sys.stderr)
        if row["missed"]:
            stopped = f"{clients} clients missed: {', '.join(row['missed'])}"
            break
        passed = row
        clients *= 2
    return {"contender": kind, "steps": steps, "passed": passed, "stopped": stopped}


def ramp_table(results: list[dict[str, Any]], gateways: int, note: str) -> Table:
    table = Table(
        note,
        [
            "contender",
            "clients",
            "in order",
            "equal",
            "client p50/p99 ms",
            "gateway CPU cores",
            "gateway µs/client/tick",
            "clients/core @10/s",
            "verdict",
        ],
        f"One step per client count (doubling), stopped at the first that misses a goal: "
        f"frames in order >= {GOAL_IN_ORDER:.1%}, every client equal at the end, origin to "
        f"client p50 <= {GOAL_CLIENT_P50_MS:g} ms. gateway CPU cores: the CPU time of the "
        f"{gateways} gateway processes (plain: the server's process) over the wall time. "
        "clients/core @10/s: 1 / (gateway CPU per client tick x 10).",
    )
    for result in results:
        for row in result["steps"]:
            per_client = row["gateway_us_per_client_tick"]
            table.add(
                result["contender"],
                f"{row['clients']:,}",
                f"{row['in_order']:.1%}",
                f"{row['equal_at_end']}/{row['clients']}",
                f"{row['client_p50_ms']:.1f}/{row['client_p99_ms']:.1f}",
                f"{row['gateway_cores']:.2f}",
                f"{per_client:.1f}",
                f"{1e6 / (per_client * 10):,.0f}" if per_client > 0 else "-",
                "; ".join(row["missed"]) or "met",
            )
        passed = result["passed"]
        table.add(
            result["contender"],
            "saturates",
            "",
            "",
            "",
            "",
            "",
            "",
            f"held {passed['clients']:,} ({result['stopped']})"
            if passed
            else f"none held ({result['stopped']})",
        )
    return table


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__file__, __doc__, name="fanout")
    parser.add_argument("--clients", type=int, default=300)
    parser.add_argument("--gateways", type=int, default=4)
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=10)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--backends", default="nats,redis")
    parser.add_argument("--no-ramp", action="store_true", help="only the fixed comparison")
    parser.add_argument("--ramp", default="nats,plain", help="the contenders stepped up")
    parser.add_argument("--ramp-start", type=int, default=25)
    parser.add_argument("--max-clients", type=int, default=10_000)
    parser.add_argument("--ramp-seconds", type=float, default=4.0, help="of each step")
    parser.add_argument("--budget", type=float, default=300.0, help="seconds of each ramp")
    args = parser.parse_args(argv)
    if args.quick:
        clients, gateways, entities, seconds = 20, 2, 1_000, 1.5
    else:
        clients, gateways, entities, seconds = (
            args.clients,
            args.gateways,
            args.entities,
            args.seconds,
        )
    run = Run(args, "Fan-out benchmark: one origin, G gateways, C clients, through a broker")
    tables = []
    if not args.no_ramp:
        if args.quick:  # the code path, not a figure: two tiny steps on NATS
            kinds, start, limit, budget, step_s = ["nats"], 10, 20, 120.0, 1.0
        else:
            kinds = args.ramp.split(",")
            start, limit, budget, step_s = (
                args.ramp_start,
                args.max_clients,
                args.budget,
                args.ramp_seconds,
            )
        ramps = [
            ramp(
                kind,
                start=start,
                limit=limit,
                budget=budget,
                gateways=gateways,
                entities=entities,
                changes=args.changes,
                rate=args.rate,
                seconds=step_s,
            )
            for kind in kinds
        ]
        run.results["ramp"] = ramps
        tables.append(
            ramp_table(
                ramps,
                gateways,
                f"Where it saturates: G = {gateways} gateways, N = {entities} entities, "
                f"K = {args.changes} changes per tick, {args.rate:g} ticks/s, {step_s:g} s a step",
            )
        )
    table = Table(
        f"C = {clients} clients in {WORKERS} processes, G = {gateways} gateways, N = {entities} "
        f"entities, K = {args.changes} changes per tick, {args.rate:g} ticks/s, {seconds:g} s",
        [
            "contender",
            "in order",
            "equal",
            "origin CPU ×",
            "broker p50/p99 ms",
            "client p50/p99 ms",
            "gateway µs/client/tick",
            "clients/core @10/s",
            "moved: lag p50",
            "resumed w/o snapshot",
            "converge s",
        ],
        "in order: frames applied in increasing order. equal: clients strictly equal to the "
        "origin at the end. origin CPU ×: the origin's CPU per tick with the clients over "
        "with none. plain: one flatsync.net.Server with the same clients (no broker, no "
        "gateway: its process is the 'gateway'). After the clock stops, gateway 0 is killed "
        "(SIGKILL) and its clients move to the next one while the origin plays on. moved: "
        "lag p50: how many frames behind the origin they were when it died. resumed w/o "
        "snapshot: the share, of the moved clients the next gateway served (welcomed and "
        "brought to the origin's frame within 30 s), that resumed with a delta; a client "
        "behind the next gateway's ring (64 frames) gets a snapshot.",
    )
    rows = []
    for kind in [*args.backends.split(","), "plain"]:
        print(f"... {kind}", file=sys.stderr, flush=True)
        row = asyncio.run(
            measure(
                kind, clients, gateways, entities, args.changes, args.rate, seconds, kind != "plain"
            )
        )
        rows.append(row)
        print(f"    {row}", file=sys.stderr, flush=True)
        per_client = row["gateway_us_per_client_tick"]
        table.add(
            kind,
            f"{row['in_order']:.1%}",
            f"{row['equal_at_end']}/{clients}",
            f"{row['origin_cpu_ratio']:.2f}" if kind != "plain" else "-",
            f"{row['broker_p50_ms']:.1f}/{row['broker_p99_ms']:.1f}" if kind != "plain" else "-",
            f"{row['client_p50_ms']:.1f}/{row['client_p99_ms']:.1f}",
            f"{per_client:.1f}",
            f"{1e6 / (per_client * 10):,.0f}" if per_client > 0 else "-",
            f"{row['moved_lag_p50_frames']:.0f} frames" if "moved" in row else "-",
            f"{row['resumed_without_snapshot']:.0%} of {row['served']}/{row['moved']} served"
            if "moved" in row
            else "-",
            f"{row['converge_s']:.2f}" if "moved" in row else "-",
        )
    run.results["rows"] = rows
    run.write([*tables, table])
    return 0


if __name__ == "__main__":
    sys.exit(main())
