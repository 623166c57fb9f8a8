"""``python -m flatsync.relay gateway ...``: run one gateway process until SIGTERM or SIGINT.

It prints ``listening HOST PORT`` once it is seeded and listening (port 0 picks
a free one), so that a script that starts it knows where it is.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from ._broker import Broker
from ._gateway import Gateway
from ._nats import NatsBroker
from ._redis import RedisBroker


def broker_for(url: str, history: int) -> Broker:
    """The backend for ``url``: ``nats://...`` or ``redis://...``."""
    if url.startswith("nats://"):
        return NatsBroker(url, history=history)
    if url.startswith("redis://"):
        return RedisBroker(url, history=history)
    raise ValueError(f"a broker URL starts with nats:// or redis://, not {url!r}")


async def _gateway(args: argparse.Namespace) -> None:
    host, _, port = args.listen.rpartition(":")
    broker = broker_for(args.broker, args.broker_history)
    await broker.connect()
    gateway = Gateway(
        broker,
        world=args.world,
        secret=bytes.fromhex(args.secret),
        history=args.history,
        name=args.name,
        max_feed=args.max_feed,
        resume_wait=args.resume_wait,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await gateway.start(tcp=(host, int(port)))
        bound_host, bound_port = gateway.tcp_address
        print(f"listening {bound_host} {bound_port}", flush=True)
        await stop.wait()
    finally:
        with contextlib.suppress(Exception):
            await gateway.close()
        await broker.close()


def main(argv: list[str] | None = None) -> int:
    """The command line: ``gateway`` is the one command."""
    parser = argparse.ArgumentParser(prog="python -m flatsync.relay")
    commands = parser.add_subparsers(dest="command", required=True)
    gateway = commands.add_parser("gateway", help="serve a world's clients, fed from a broker")
    gateway.add_argument("--broker", required=True, help="nats://host:port or redis://host:port")
    gateway.add_argument("--world", default="world")
    gateway.add_argument("--secret", required=True, help="the gateways' shared secret, in hex")
    gateway.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT for TCP clients")
    gateway.add_argument("--history", type=int, default=64, help="the gateway's ring")
    gateway.add_argument("--broker-history", type=int, default=256, help="H of the broker")
    gateway.add_argument("--name", default="gateway")
    gateway.add_argument("--max-feed", type=int, default=1024, help="live frames that may wait")
    gateway.add_argument(
        "--resume-wait",
        type=float,
        default=1.0,
        help="seconds a client from another gateway may wait for the frame it holds",
    )
    args = parser.parse_args(argv)
    asyncio.run(_gateway(args))
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a program
    sys.exit(main())
