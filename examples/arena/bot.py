"""Bots: clients that play by themselves, from what their replica shows.

A bot looks at its replica after every frame, finds the nearest gem by a
breadth-first search around walls and other players, and steers towards it.
It sees exactly what a human player sees, so bots are the load and the
end-to-end test of the server: they only work if their replicas are right.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from typing import Any

from .client import ArenaClient
from .game import DIRECTIONS, GEM, WALL

__all__ = ["Bot", "next_step"]

_STEPS = [(name, step) for name, step in DIRECTIONS.items() if step != (0, 0)]


def next_step(state: Any, pid: int, rng: random.Random | None = None) -> str:
    """The direction that starts the shortest walk from player ``pid`` to a gem.

    ``state`` is a replica's (or the game's) state. Other players count as
    obstacles. With no gem in reach, a random free direction (``"."`` when
    boxed in).
    """
    board = state["board"]
    rows, cols = board.shape
    players = state["players"]
    me = players.get(pid)
    if me is None:
        return "."
    start = tuple(me.pos)
    blocked = {tuple(player.pos) for other, player in players.items() if other != pid}
    first: dict[tuple[int, int], str] = {start: "."}
    queue = deque([start])
    while queue:
        row, col = queue.popleft()
        if board[row, col] == GEM:
            return first[row, col]
        for name, (drow, dcol) in _STEPS:
            cell = (row + drow, col + dcol)
            if (
                0 <= cell[0] < rows
                and 0 <= cell[1] < cols
                and cell not in first
                and cell not in blocked
                and board[cell] != WALL
            ):
                first[cell] = name if (row, col) == start else first[row, col]
                queue.append(cell)
    free = [name for name, step in _STEPS if (start[0] + step[0], start[1] + step[1]) in first]
    return (rng or random).choice(free) if free else "."


class Bot:
    """Plays ``client``'s player: after each frame, steer towards the nearest gem."""

    def __init__(self, client: ArenaClient, *, seed: int | None = None) -> None:
        self.client = client
        self._rng = random.Random(seed)
        self._heading = "."
        self.moves = 0
        client.listeners.append(self._on_frame)

    def _on_frame(self, events: list[Any]) -> None:
        if self.client.me is None:
            return
        heading = next_step(self.client.state, self.client.pid, self._rng)
        if heading != self._heading:
            self._heading = heading
            self.moves += 1
            self.client.steer(heading)

    async def play(self) -> None:
        """Play until the connection ends."""
        await self.client.closed.wait()

    @classmethod
    async def join(cls, host: str, port: int, name: str, *, seed: int | None = None) -> Bot:
        """Connect a new player named ``name`` and play it."""
        return cls(await ArenaClient.connect(host, port, name), seed=seed)


async def run_bots(host: str, port: int, count: int, *, prefix: str = "bot") -> None:
    """Connect ``count`` bots and play until every connection ends."""
    bots = [await Bot.join(host, port, f"{prefix}{n + 1}", seed=n) for n in range(count)]
    await asyncio.gather(*(bot.play() for bot in bots))
