"""The networking benchmark: one server, C clients in other processes, over TCP and WebSocket.

The state is ``{i: {"x": float, "y": float, "hp": int}}`` for N entities; each
tick, K random entities (a seeded ``random.Random``) move and lose a hit point.
The server ticks at R ticks per second for S seconds; the clients run in
several worker processes (one per 250 clients, at least two), read everything,
and (flatsync) acknowledge each packet. Every wait is bounded (connecting,
snapshots, the end of the run), so a run ends in a few minutes whatever
happens; a tick that takes longer than S seconds still ends the run after it.

Contenders:

flatsync tcp / flatsync ws
    :class:`flatsync.net.Server` and :class:`flatsync.net.Client`: one delta per
    tick per client, encoded once for all (one view), with flow control.
naive ws
    What a user writes first: a ``websockets`` server that sends
    ``json.dumps`` of the whole state to every client each tick
    (``websockets.broadcast``, so the text is encoded once). Its clients only
    receive (they do not parse the JSON, which would measure the clients).
naive diff ws
    What a user writes next, to send less: each tick the server compares the
    state with a copy of the previous tick's, for each client (as a server that
    gives each client its own view must), and sends each client
    ``json.dumps`` of its diff. Its clients only receive.

Reported per contender and C: the ticks per second the server held, the
server process's CPU time per client per tick, the bytes each client received
per tick, the time from a tick to its receipt by a client (p50, p99; one
monotonic clock, as Linux shares it between processes), how many clients
held the last frame when the run ended, and, from the CPU figure, how many
clients one core serves at 20 ticks per second, with the ratios of each
contender to flatsync over TCP. The script asserts nothing about
speed; it checks that a worker's flatsync clients that hold the last frame
hold the server's state.

Usage::

    python benchmarks/net.py                     # C = 100, 500, 1000; N = 10,000
    python benchmarks/net.py --quick             # a smoke run: C = 10, N = 1,000, 1 s
    python benchmarks/net.py --clients 50 --seconds 3
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import random
import sys
import time
from multiprocessing.connection import Connection
from typing import Any

from _harness import Run, Table
from _harness import parser as bench_parser

import flatsync
import flatsync.net
from flatsync.testing import strict_equal

#: Worker processes for C clients: one per this many clients, at least two.
CLIENTS_PER_WORKER = 250


def workers_for(clients: int) -> int:
    return max(2, -(-clients // CLIENTS_PER_WORKER))


def make_state(n: int) -> dict[int, dict[str, Any]]:
    rng = random.Random(1)
    return {i: {"x": rng.random() * 100, "y": rng.random() * 100, "hp": 100} for i in range(n)}


def diff(old: dict[int, dict[str, Any]], new: Any) -> dict[str, Any]:
    """The naive diff: every entity compared, field by field, with last tick's copy."""
    out: dict[str, Any] = {}
    for key, entity in new.items():
        before = old.get(key)
        if before != entity:
            out[str(key)] = {f: v for f, v in entity.items() if before is None or before[f] != v}
    return out


def change(state: Any, rng: random.Random, k: int) -> None:
    for _ in range(k):
        entity = state[rng.randrange(len(state))]
        entity["x"] = round(entity["x"] + rng.uniform(-1, 1), 3)
        entity["y"] = round(entity["y"] + rng.uniform(-1, 1), 3)
        entity["hp"] = max(0, entity["hp"] - 1)


# -- the clients (in worker processes) --------------------------------------------------


async def _flatsync_clients(url: str, count: int, pipe: Connection) -> None:
    receipts: list[tuple[int, float]] = []
    clients = []

    def recorder() -> Any:
        def on_events(events: list[Any]) -> None:
            if events and type(events[-1]) is flatsync.FrameApplied and len(receipts) < 200_000:
                receipts.append((events[-1].frame, time.monotonic()))

        return on_events

    for _ in range(count):
        client = flatsync.net.Client(
            url,
            events=False,
            reconnect=False,
            on_events=recorder(),
            connect_timeout=60,
            idle_timeout=120,  # a busy worker must not take its own pause for a dead server
        )
        # The clients read the state, not the change events: they skip building them,
        # so that the machine's cores go to the server rather than to its readers.
        client.replica = flatsync.Replica(client.codec, events=False)
        await client.connect()
        clients.append(client)
    pipe.send("ready")
    await asyncio.gather(*(c.wait_closed() for c in clients))
    states = [c.state.snapshot() for c in clients]
    pipe.send(
        {
            "receipts": receipts,
            # After the snapshot (taken before the clock starts).
            "bytes": sum(c.bytes_received - c.snapshot_bytes for c in clients),
            "frames": [c.replica.frame for c in clients],
            "states": states[:1] + [s for s in states[1:] if not strict_equal(s, states[0])][:1],
        }
    )


async def _naive_clients(url: str, count: int, pipe: Connection) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    receipts: list[tuple[int, float]] = []
    received = 0

    async def one() -> None:
        nonlocal received
        async with connect(url, max_size=None, compression=None, open_timeout=60) as ws:
            try:
                async for message in ws:
                    received += len(message)
                    head = message[:12]
                    frame = int(head.split("|", 1)[0] if isinstance(head, str) else 0)
                    if len(receipts) < 200_000:
                        receipts.append((frame, time.monotonic()))
            except ConnectionClosed:
                pass

    tasks = [asyncio.create_task(one()) for _ in range(count)]
    await asyncio.sleep(0)
    pipe.send("ready")
    await asyncio.gather(*tasks, return_exceptions=True)
    pipe.send({"receipts": receipts, "bytes": received, "frames": [], "states": []})


def worker(kind: str, url: str, count: int, pipe: Connection) -> None:
    main = _flatsync_clients if kind == "flatsync" else _naive_clients
    asyncio.run(main(url, count, pipe))


# -- the server (in this process) -------------------------------------------------------


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def measure(
    contender: str, clients: int, entities: int, changes: int, rate: float, seconds: float
) -> dict[str, Any]:
    rng = random.Random(2)
    ticks: dict[int, float] = {}
    state = make_state(entities)
    naive_server: Any = None
    server: flatsync.net.Server | None = None
    if contender.startswith("naive"):
        from websockets.asyncio.server import broadcast, serve

        naive_server = await serve(
            lambda ws: ws.wait_closed(), "127.0.0.1", 0, compression=None, ping_interval=None
        )
        url = f"ws://127.0.0.1:{naive_server.sockets[0].getsockname()[1]}/"
        kind = "naive"
    else:
        root = flatsync.DataHandler(state)
        server = flatsync.net.Server(root, max_clients=clients + 10, idle_timeout=60)
        transport = "tcp" if contender.endswith("tcp") else "websocket"
        await server.start(**{transport: ("127.0.0.1", 0)})
        host, port = server.tcp_address if transport == "tcp" else server.websocket_address
        url = f"tcp://{host}:{port}" if transport == "tcp" else f"ws://{host}:{port}/"
        kind = "flatsync"

    context = multiprocessing.get_context("spawn")
    pipes, processes = [], []
    workers = workers_for(clients)
    for index in range(workers):
        share = clients // workers + (1 if index < clients % workers else 0)
        mine, theirs = context.Pipe()
        process = context.Process(target=worker, args=(kind, url, share, theirs), daemon=True)
        process.start()
        pipes.append(mine)
        processes.append(process)
    loop = asyncio.get_running_loop()

    async def receive(pipe: Connection, timeout: float) -> Any:
        if not await loop.run_in_executor(None, pipe.poll, timeout):
            raise TimeoutError(f"a worker said nothing for {timeout:g} s")
        return pipe.recv()

    for pipe in pipes:
        assert await receive(pipe, 180) == "ready"
    if naive_server is not None:
        deadline = loop.time() + 120
        while len(naive_server.connections) < clients:
            if loop.time() > deadline:
                print("    (not every naive client connected after 120 s)", file=sys.stderr)
                break
            await asyncio.sleep(0.01)
    previous = {key: dict(entity) for key, entity in state.items()}  # the naive diff's copy
    if server is not None:
        # Every client gets its snapshot before the clock starts.
        server.tick()
        frame = server.publisher.frame
        deadline = loop.time() + 300
        while any(server.publisher.acked(c) != frame for c in server.clients):
            if loop.time() > deadline:
                # Counted, not fatal: such a client shows as out of sync at the end.
                print("    (not every client had its snapshot after 300 s)", file=sys.stderr)
                break
            await asyncio.sleep(0.01)

    period = 1.0 / rate
    cpu0, wall0 = time.process_time(), loop.time()
    deadline = wall0
    done = 0
    while loop.time() - wall0 < seconds:
        started = time.monotonic()  # the tick's clock starts before its work
        if server is not None:
            change(server.publisher.root, rng, changes)
            frame = server.tick()
        elif contender == "naive ws":
            change(state, rng, changes)
            frame = done + 1
            broadcast(naive_server.connections, f"{frame}|{json.dumps(state)}")
        else:
            change(state, rng, changes)
            frame = done + 1
            for ws in list(naive_server.connections):
                broadcast([ws], f"{frame}|{json.dumps(diff(previous, state))}")
            previous = {key: dict(entity) for key, entity in state.items()}
        ticks[frame] = started
        done += 1
        deadline += period
        delay = deadline - loop.time()
        if delay < -period:
            deadline = loop.time()
            delay = 0
        await asyncio.sleep(max(0.0, delay))
    wall, cpu = loop.time() - wall0, time.process_time() - cpu0

    if server is not None:
        last = server.publisher.frame
        deadline = loop.time() + 60
        while any(server.publisher.acked(c) != last for c in server.clients):
            if loop.time() > deadline:
                break
            await asyncio.sleep(0.01)
        expected = server.publisher.root.snapshot()
        await server.close()
    else:
        naive_server.close()
        await naive_server.wait_closed()
    results = [await receive(pipe, 120) for pipe in pipes]
    for process in processes:
        process.join(30)
        if process.is_alive():
            process.kill()
    latencies = [
        at - ticks[frame] for r in results for frame, at in r["receipts"] if frame in ticks
    ]
    received = sum(r["bytes"] for r in results)
    in_sync = clients
    if server is not None:
        # A client that has not caught up when the clock stops is counted, not asserted:
        # on a loaded machine the clients' processes may lag. A wrong state is an error.
        in_sync = sum(f == last for r in results for f in r["frames"])
        for r in results:
            if all(f == last for f in r["frames"]):
                assert all(strict_equal(s, expected) for s in r["states"]), "a client diverged"
    return {
        "contender": contender,
        "clients": clients,
        "ticks_per_second": done / wall,
        "cpu_us_per_client_tick": cpu / max(1, done) / clients * 1e6,
        "bytes_per_client_tick": received / clients / max(1, done),
        "p50_ms": _percentile(latencies, 0.5) * 1e3,
        "p99_ms": _percentile(latencies, 0.99) * 1e3,
        "in_sync": in_sync,
        "workers": workers,
    }


CONTENDERS = ("flatsync tcp", "flatsync ws", "naive ws", "naive diff ws")


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__file__, __doc__, name="net")
    parser.add_argument("--clients", default="100,500,1000", help="C values, comma-separated")
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=10)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    if args.quick:
        counts, entities, seconds = [10], 1_000, 1.0
    else:
        counts = [int(c) for c in args.clients.split(",")]
        entities, seconds = args.entities, args.seconds
    run = Run(args, "Networking benchmark: one server, C clients in other processes")
    table = Table(
        f"N = {entities} entities, K = {args.changes} changes per tick, {args.rate:g} ticks/s, "
        f"{seconds:g} s, clients in {CLIENTS_PER_WORKER}-client worker processes (at least 2)",
        [
            "contender",
            "C",
            "ticks/s",
            "CPU µs/client/tick",
            "B/client/tick",
            "p50 ms",
            "p99 ms",
            "in sync",
        ],
        "CPU: the server process's CPU time per client per tick. Latency: from the start of a "
        "tick to a client's receipt. in sync: clients holding the last frame when the clock "
        "stopped (their states are checked strictly).",
    )
    rows = []
    for count in counts:
        for contender in CONTENDERS:
            print(f"... {contender}, C = {count}", file=sys.stderr, flush=True)
            row = asyncio.run(measure(contender, count, entities, args.changes, args.rate, seconds))
            rows.append(row)
            table.add(
                row["contender"],
                str(count),
                f"{row['ticks_per_second']:.1f}",
                f"{row['cpu_us_per_client_tick']:.1f}",
                f"{row['bytes_per_client_tick']:,.0f}",
                f"{row['p50_ms']:.1f}",
                f"{row['p99_ms']:.1f}",
                str(row["in_sync"]),
            )
    summary = Table(
        "Ratios to flatsync tcp, and clients per core at 20 ticks/s",
        ["contender", "C", "CPU ×", "bytes ×", "held 20 ticks/s", "clients/core at 20 ticks/s"],
        "×: the contender's CPU (bytes) per client per tick over flatsync tcp's at the same C. "
        "Clients per core: how many clients one core's time serves at 20 ticks/s, from the "
        "server's CPU per client per tick (1 s / 20 / that). Held: the server ticked at 19/s or "
        "more (the clients' processes share the machine's cores with it).",
    )
    summary_rows = []
    for count in counts:
        base = _row(rows, CONTENDERS[0], count)
        for contender in CONTENDERS:
            row = _row(rows, contender, count)
            per_core = 1e6 / 20.0 / max(row["cpu_us_per_client_tick"], 1e-9)
            summary_rows.append(
                {
                    "contender": contender,
                    "clients": count,
                    "cpu_ratio": row["cpu_us_per_client_tick"] / base["cpu_us_per_client_tick"],
                    "bytes_ratio": row["bytes_per_client_tick"]
                    / max(base["bytes_per_client_tick"], 1e-9),
                    "held_20": row["ticks_per_second"] >= 19.0,
                    "clients_per_core_at_20": per_core,
                }
            )
            summary.add(
                contender,
                str(count),
                f"{summary_rows[-1]['cpu_ratio']:.2f}",
                f"{summary_rows[-1]['bytes_ratio']:,.1f}",
                "yes" if summary_rows[-1]["held_20"] else f"no ({row['ticks_per_second']:.1f})",
                f"{per_core:,.0f}",
            )
    run.results["rows"] = rows
    run.results["summary"] = summary_rows
    run.write([table, summary])
    return 0


def _row(rows: list[dict[str, Any]], contender: str, clients: int) -> dict[str, Any]:
    return next(r for r in rows if r["contender"] == contender and r["clients"] == clients)


if __name__ == "__main__":
    sys.exit(main())
