"""The Arena command line: ``python -m arena {serve,play,bot,discover,demo}``.

Run it from the ``examples`` folder (or with ``examples`` on ``PYTHONPATH``)::

    python -m arena demo                 # a server, three bots and you, in this terminal
    python -m arena demo --headless      # the same without a screen: prints a summary
    python -m arena serve --port 4747    # a server on the LAN, announcing itself
    python -m arena play                 # find a server on the LAN and play
    python -m arena bot --count 5        # five bots into the server found on the LAN
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence

import flatsync.net
from flatsync.testing import strict_equal

from .bot import Bot
from .client import ArenaClient
from .game import Game, view_for
from .server import ArenaServer

DEFAULT_PORT = 4747


def _stop_on_signals(stop: asyncio.Event) -> None:
    """Ctrl-C (and SIGTERM) set ``stop`` instead of tearing the loop down."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)


async def _until(stop: asyncio.Event, *tasks: asyncio.Task[object]) -> None:
    """Wait for ``stop`` or for the first of ``tasks`` to end."""
    waiter = asyncio.ensure_future(stop.wait())
    await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()


async def _find(host: str | None, port: int, timeout: float) -> tuple[str, int]:
    if host is not None:
        return host, port
    print(f"looking for a server on the LAN ({timeout:g} s)...", file=sys.stderr)
    servers = [s for s in await flatsync.net.discover(timeout, limit=1) if s.tcp_port]
    if not servers:
        raise SystemExit("no server answered: give its address with --host")
    found = servers[0]
    print(f"found {found.name!r} at {found.host}:{found.tcp_port}", file=sys.stderr)
    return found.host, found.tcp_port


# -- the commands ----------------------------------------------------------------------


async def serve(args: argparse.Namespace) -> int:
    """Run a server until Ctrl-C, announcing it on the LAN."""
    stop = asyncio.Event()
    _stop_on_signals(stop)
    server = ArenaServer(
        Game(args.rows, args.cols, seed=args.seed), name=args.name, tick_rate=args.rate
    )
    await server.start(args.host, args.port)
    print(
        f"serving {args.name!r} on {args.host}:{server.port} at {args.rate:g} ticks/s",
        file=sys.stderr,
    )
    try:
        announcer = flatsync.net.Announcer.for_server(server.net)
    except flatsync.net.DatagramError as error:
        await server.close()
        raise SystemExit(f"--name: {error}") from None
    async with announcer:
        server.on_tick.append(lambda frame: announcer.update(clients=len(server.clients)))
        ticking = asyncio.create_task(server.run())
        await _until(stop, ticking)
        server.stop()
        await ticking
    await server.close()
    return 0


async def play(args: argparse.Namespace) -> int:
    """Join a server and play it in this terminal."""
    from .tui import run_tui  # noqa: PLC0415 - curses is optional (absent on Windows)

    host, port = await _find(args.host, args.port, args.wait)
    client = await ArenaClient.connect(host, port, args.name)
    try:
        reason = await run_tui(client, duration=args.duration)
    finally:
        await client.close()
    print(reason, file=sys.stderr)
    return 0


async def bots(args: argparse.Namespace) -> int:
    """Play bots against a server until Ctrl-C or until the server goes."""
    stop = asyncio.Event()
    _stop_on_signals(stop)
    host, port = await _find(args.host, args.port, args.wait)
    players = [
        await Bot.join(host, port, f"{args.prefix}{n + 1}", seed=n) for n in range(args.count)
    ]
    playing = [asyncio.create_task(bot.play()) for bot in players]
    await _until(stop, *playing)
    for bot in players:
        await bot.client.close()
    return 0


async def discover(args: argparse.Namespace) -> int:
    """Print the servers that answer on the LAN."""
    servers = await flatsync.net.discover(timeout=args.wait)
    for info in servers:
        print(f"{info.name}\t{info.host}:{info.tcp_port}\t{info.clients} players")
    if not servers:
        print("no server answered", file=sys.stderr)
    return 0 if servers else 1


async def demo(args: argparse.Namespace) -> int:
    """A server, bots, and (in a terminal) you as a player; or a headless run with a summary."""
    stop = asyncio.Event()
    _stop_on_signals(stop)
    interactive = not args.headless and sys.stdin.isatty() and sys.stdout.isatty()
    duration = args.duration if args.duration is not None else (None if interactive else 10.0)
    server = ArenaServer(
        Game(args.rows, args.cols, seed=args.seed), name="demo", tick_rate=args.rate
    )
    await server.start("127.0.0.1", 0)
    # The server answers discovery probes as on a LAN, on loopback and a free port,
    # so that the demo finds it the way `play` does without disturbing the network.
    async with flatsync.net.Announcer.for_server(
        server.net, port=0, bind_host="127.0.0.1", target=None
    ) as announcer:
        found = await flatsync.net.discover(
            2.0, port=announcer.port, probe_address="127.0.0.1", listen_port=None, limit=1
        )
    host, port = (found[0].host, found[0].tcp_port) if found else ("127.0.0.1", server.port)
    ticking = asyncio.create_task(server.run(duration=duration))
    players = [await Bot.join(host, port, f"bot{n + 1}", seed=n) for n in range(args.bots)]
    if not interactive:
        how = "found by discovery" if found else "discovery failed: connected directly"
        print(f"server on {host}:{port} ({how}), {args.bots} bots, {args.rate:g} ticks/s")
        if duration is not None:
            print(f"running for {duration:g} s (Ctrl-C stops earlier)")
    you: ArenaClient | None = None
    reason = "time is up"
    try:
        if interactive:
            from .tui import run_tui  # noqa: PLC0415 - curses is optional (absent on Windows)

            you = await ArenaClient.connect(host, port, "you")
            viewing = asyncio.create_task(run_tui(you, duration=duration))
            await _until(stop, viewing, ticking)
            if viewing.done():
                reason = viewing.result()
            elif stop.is_set():
                reason = "stopped"
            viewing.cancel()  # the server's time is up: leave the screen first
            await asyncio.gather(viewing, return_exceptions=True)
        else:
            server.on_tick.append(lambda frame: _progress(server, frame))
            await _until(stop, ticking)
            if stop.is_set():
                reason = "stopped"
    finally:
        server.stop()
        await asyncio.gather(ticking, return_exceptions=True)
    clients = [bot.client for bot in players] + ([you] if you is not None else [])
    await _settle(server, clients)
    _summary(server, clients, reason)
    for client in clients:
        await client.close()
    await server.close()
    return 0


def _progress(server: ArenaServer, frame: int) -> None:
    """One line a second in a headless demo."""
    if frame % max(1, round(server.tick_rate)) == 0:
        players = server.game.state["players"]
        leader = max(players.values(), key=lambda p: p.score, default=None)
        best = f"{leader.name} leads with {leader.score}" if leader else "nobody in"
        print(f"  frame {frame:>5}: {len(server.clients)} clients, {best}")


async def _settle(server: ArenaServer, clients: Sequence[ArenaClient]) -> None:
    """Wait (a little) until every client holds the last frame."""
    for client in clients:
        with contextlib.suppress(TimeoutError, Exception):
            await client.wait_for_frame(server.publisher.frame, timeout=2.0)


def _summary(server: ArenaServer, clients: Sequence[ArenaClient], reason: str) -> None:
    frame = server.publisher.frame
    snapshot = server.game.state.snapshot()
    players = server.game.state["players"]
    stats = server.clients
    print(f"\n{reason}: {frame} frames at {server.tick_rate:g} ticks/s")
    print(f"{'player':<10} {'score':>5} {'snapshot':>8} {'then per tick':>13}  replica")
    for client in clients:
        me = stats.get(client.pid)
        player = players.get(client.pid)
        name, score = (player.name, player.score) if player is not None else ("?", 0)
        ticks = frame - me.joined_frame if me is not None else frame
        in_sync = strict_equal(client.state, view_for(client.pid).project(snapshot))
        status = "in sync" if in_sync else f"at frame {client.replica.frame}, NOT in sync"
        per_tick = (client.bytes_received - client.snapshot_bytes) / max(1, ticks)
        print(f"{name:<10} {score:>5} {client.snapshot_bytes:>8} {per_tick:>13.1f}  {status}")
    for name, why in server.departures:
        print(f"{name} left: {why}")


# -- the parser ------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    """The command line's parser."""
    top = argparse.ArgumentParser(prog="python -m arena", description=__doc__.splitlines()[0])
    top.add_argument("-v", "--verbose", action="store_true", help="log connections and faults")
    commands = top.add_subparsers(dest="command", required=True)

    def board_options(command: argparse.ArgumentParser) -> None:
        command.add_argument("--rows", type=int, default=20, help="board rows (default 20)")
        command.add_argument("--cols", type=int, default=40, help="board columns (default 40)")
        command.add_argument(
            "--rate", type=float, default=10.0, help="ticks per second (default 10)"
        )
        command.add_argument("--seed", type=int, default=None, help="seed the walls and gems")

    def address_options(command: argparse.ArgumentParser) -> None:
        command.add_argument("--host", help="the server's address (default: find one on the LAN)")
        command.add_argument(
            "--port", type=int, default=DEFAULT_PORT, help=f"its TCP port (default {DEFAULT_PORT})"
        )
        command.add_argument(
            "--wait", type=float, default=2.0, help="seconds to look for servers (default 2)"
        )

    command = commands.add_parser("serve", help="run a server on the LAN")
    command.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    command.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})"
    )
    command.add_argument("--name", default="arena", help="the server's name on the LAN")
    board_options(command)
    command.set_defaults(run=serve)

    command = commands.add_parser("play", help="play in this terminal")
    address_options(command)
    command.add_argument("--name", default="player", help="your name")
    command.add_argument(
        "--duration", type=float, default=None, help="leave after this many seconds"
    )
    command.set_defaults(run=play)

    command = commands.add_parser("bot", help="send bots into a server")
    address_options(command)
    command.add_argument("--count", type=int, default=3, help="how many bots (default 3)")
    command.add_argument("--prefix", default="bot", help="their names' prefix")
    command.set_defaults(run=bots)

    command = commands.add_parser("discover", help="list the servers on the LAN")
    command.add_argument("--wait", type=float, default=1.0, help="seconds to listen (default 1)")
    command.set_defaults(run=discover)

    command = commands.add_parser("demo", help="a server, bots and a live view on this machine")
    command.add_argument("--bots", type=int, default=3, help="how many bots (default 3)")
    command.add_argument(
        "--duration",
        type=float,
        default=None,
        help="stop after this many seconds (default: 10 headless, until q in a terminal)",
    )
    command.add_argument(
        "--headless", action="store_true", help="no live view: print progress and a summary"
    )
    board_options(command)
    command.set_defaults(run=demo)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s: %(message)s",
    )
    try:
        status: int = asyncio.run(args.run(args))
    except KeyboardInterrupt:  # pragma: no cover - a second Ctrl-C during shutdown
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
