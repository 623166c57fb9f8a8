"""The run: a broker server, the origin, two gateway processes and the bots, then the check.

:func:`main` is the command line (``python -m relay``); :func:`run` does the
work, and returns whether every bot ended strictly equal to the origin.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
from collections.abc import Sequence

import flatsync.net
import flatsync.relay
from flatsync.relay import local
from flatsync.testing import strict_equal

from .game import Field, toward

__all__ = ["Bot", "main", "run"]

WORLD = "field"


class Bot:
    """A player that steers toward the nearest gem, from what its replica shows.

    It is a plain :class:`flatsync.net.Client`: it joins the game with an
    input, then sends a step whenever its replica has moved on.
    """

    def __init__(self, url: str, name: str) -> None:
        self.name = name
        self.client = flatsync.net.Client(url, name=name, events=False)
        #: The steps it sent.
        self.steps = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.client.connect()
        self.client.send({"join": self.name})
        self._task = asyncio.create_task(self._play(), name=f"bot-{self.name}")

    async def _play(self) -> None:
        client = self.client
        frame: int | None = None  # the frame it last stepped on
        while True:
            await asyncio.sleep(0.05)
            if client.replica.frame in (None, frame) or client.client_id is None:
                continue
            frame = client.replica.frame
            step = toward(client.state, client.client_id)
            if step is not None and client.connected:
                with contextlib.suppress(ConnectionError):
                    client.send({"step": step})
                    self.steps += 1

    async def stop_playing(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def close(self) -> None:
        await self.stop_playing()
        await self.client.close()


def _equal(bot: Bot, origin: flatsync.relay.Origin) -> bool:
    client = bot.client
    return (
        client.session == origin.session
        and client.replica.frame == origin.frame
        and strict_equal(client.state, origin.root)
    )


async def run(
    *,
    duration: float = 10.0,
    bots: int = 4,
    backend: str = "nats",
    broker_url: str | None = None,
    tick_rate: float = 10.0,
    settle: float = 20.0,
) -> bool:
    """Run the whole thing for ``duration`` seconds; whether every bot ended equal to the origin.

    Args:
        duration: Seconds of play.
        bots: How many bots (spread over the two gateways).
        backend: ``"nats"`` or ``"redis"``: the broker server to start.
        broker_url: A broker that already runs (``nats://...`` or
            ``redis://...``): none is started.
        tick_rate: The origin's ticks per second.
        settle: Seconds the bots have, after the last tick, to end equal.
    """
    async with contextlib.AsyncExitStack() as stack:
        if broker_url is None:
            # A broker server on a free port of 127.0.0.1, stopped at the end.
            kind = "redis" if backend == "redis" else "nats"
            server = await stack.enter_async_context(local.BrokerServer(kind))
            broker_url = server.url
            print(f"broker: {backend} at {broker_url}", flush=True)
        if broker_url.startswith("nats://"):
            connection: flatsync.relay.Broker = flatsync.relay.NatsBroker(broker_url, history=256)
        else:
            connection = flatsync.relay.RedisBroker(broker_url, history=256)
        await stack.enter_async_context(connection)

        field = Field()
        origin = flatsync.relay.Origin(
            field.state,
            connection,
            world=WORLD,
            tick_rate=tick_rate,
            on_tick=field.step,
            on_input=field.take,
        )
        await origin.start()
        stack.push_async_callback(origin.close)
        ticking = asyncio.create_task(origin.run(), name="origin")
        print(f"origin: world {WORLD!r}, session {origin.session.hex()}", flush=True)

        secret = secrets.token_bytes(32)  # the gateways' shared secret
        urls = []
        for name in ("gateway-a", "gateway-b"):
            # ``python -m flatsync.relay gateway`` in a process of its own, ended at the end.
            gateway = local.GatewayProcess(broker_url, WORLD, secret, "--name", name)
            urls.append((await stack.enter_async_context(gateway)).url)
            print(f"{name}: {urls[-1]}", flush=True)

        players = [Bot(urls[n % len(urls)], f"bot{n}") for n in range(bots)]
        for bot in players:
            await bot.start()
            stack.push_async_callback(bot.close)
        print(f"{bots} bots joined, playing for {duration:g} s", flush=True)

        loop = asyncio.get_running_loop()
        end = loop.time() + duration
        while (left := end - loop.time()) > 0:
            await asyncio.sleep(min(1.0, left))
            behind = max(origin.frame - (bot.client.replica.frame or 0) for bot in players)
            scores = sorted((p["score"] for p in field.state["players"].values()), reverse=True)
            print(
                f"frame {origin.frame:5d}  players {len(scores)}  scores {scores}  "
                f"the slowest bot {behind} frame(s) behind",
                flush=True,
            )

        for bot in players:
            await bot.stop_playing()
        origin.stop()
        await ticking
        await origin.flushed()
        try:
            async with asyncio.timeout(settle):
                while not all(_equal(bot, origin) for bot in players):
                    await asyncio.sleep(0.05)
        except TimeoutError:
            apart = [bot.name for bot in players if not _equal(bot, origin)]
            print(f"NOT CONVERGED after {settle:g} s: {', '.join(apart)}", flush=True)
            return False
        print(
            f"converged: {bots} bots strictly equal to the origin at frame {origin.frame}",
            flush=True,
        )
        return True
    raise AssertionError("unreachable")  # pragma: no cover - mypy: the exit stack may swallow


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: ``python -m relay [--duration S] [--bots N] [--redis | --broker URL]``."""
    parser = argparse.ArgumentParser(prog="python -m relay", description=__doc__)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of play")
    parser.add_argument("--bots", type=int, default=4)
    parser.add_argument("--tick-rate", type=float, default=10.0)
    parser.add_argument("--redis", action="store_true", help="start redis-server, not NATS")
    parser.add_argument("--broker", help="a broker that already runs: nats://... or redis://...")
    args = parser.parse_args(argv)
    ok = asyncio.run(
        run(
            duration=args.duration,
            bots=args.bots,
            backend="redis" if args.redis else "nats",
            broker_url=args.broker,
            tick_rate=args.tick_rate,
        )
    )
    return 0 if ok else 1
