"""The rules of Arena: a walled board, players who walk it, and gems to pick up.

This module knows nothing of sockets or clocks. The server calls
:meth:`Game.step` once per tick; everything it changes lands in
:attr:`Game.state`, a :class:`flatsync.DataHandler` that the server's
:class:`flatsync.Publisher` turns into packets. The state's shape::

    {
        "board": ByteHandler("u8", (rows, cols)),   # FLOOR, WALL or GEM per cell
        "players": {pid: Player(name, glyph, pos=(row, col), score)},
        "private": {pid: {"steps": int, "log": [str, ...]}},   # seen by its owner only
    }

A :class:`Player` is a record (an attrs class whose field writes are
tracked): a move sends the field's one-byte index and the new position, not
the key ``"pos"``. Every player sees the board and every player;
``private[pid]`` only player ``pid`` sees (:func:`view_for`).

A player walks one cell per tick in the direction it was last steered
(:data:`DIRECTIONS`), until a wall or another player stops it. Walking onto a
gem scores a point, and a new gem appears on a free cell elsewhere, so the
board always holds the same number of gems.
"""

from __future__ import annotations

import random
import string
from collections.abc import Iterator
from typing import Any, Final

import flatsync
from flatsync import View

__all__ = [
    "DIRECTIONS",
    "FLOOR",
    "GEM",
    "LOG_LINES",
    "MAX_NAME",
    "WALL",
    "Game",
    "GameFull",
    "Player",
    "find_player",
    "view_for",
]

#: A cell of the board.
FLOOR: Final = 0
WALL: Final = 1
GEM: Final = 2

#: Steering: a direction's name and its (row, column) step. ``"."`` stops.
DIRECTIONS: Final[dict[str, tuple[int, int]]] = {
    "N": (-1, 0),
    "S": (1, 0),
    "W": (0, -1),
    "E": (0, 1),
    ".": (0, 0),
}

#: How many lines of a player's private log are kept.
LOG_LINES: Final = 3
#: Names longer than this are cut.
MAX_NAME: Final = 16

_GLYPHS = string.ascii_uppercase


# Record names are one registry per process: a library's records take a dotted
# name, so that an application's own `Player` does not collide with this one.
@flatsync.record(name="arena.Player")
class Player(flatsync.Record):
    """A player as everyone sees it. Its field writes are tracked like a mapping's keys."""

    name: str
    glyph: str
    pos: tuple[int, int]
    score: int = 0


class GameFull(Exception):
    """Every player glyph (A to Z) is taken."""


def view_for(pid: int) -> View:
    """What player ``pid`` sees: the board, every player, and its own private data."""
    return View(("board",), ("players",), ("private", pid))


def find_player(state: Any, row: int, col: int) -> Any:
    """The id of the player at ``(row, col)`` in ``state`` (a game state or a replica), or ``None``."""
    for pid, player in state.get("players", {}).items():
        if tuple(player.pos) == (row, col):
            return pid
    return None


class Game:
    """One arena: the state and the rules that change it.

    Args:
        rows, cols: The board's size, walls included (at least 5 × 5).
        gems: How many gems lie on the board at any time.
        seed: Seeds the walls, the spawn points and the gems, so that a game
            is reproducible.
    """

    def __init__(
        self, rows: int = 20, cols: int = 40, *, gems: int = 12, seed: int | None = None
    ) -> None:
        if rows < 5 or cols < 5:
            raise ValueError(f"the board needs at least 5 x 5 cells, not {rows} x {cols}")
        self._rng = random.Random(seed)
        self.rows, self.cols = rows, cols
        self.state = flatsync.DataHandler(
            {
                "board": flatsync.ByteHandler("u8", (rows, cols), self._walls(rows, cols)),
                "players": {},
                "private": {},
            }
        )
        self._heading: dict[int, str] = {}
        self._next_pid = 1
        board = self.state["board"]
        free = sum(1 for row in range(rows) for col in range(cols) if board[row, col] == FLOOR)
        if not 0 <= gems <= free // 2:
            raise ValueError(f"{gems} gems do not fit on a board with {free} free cells")
        for _ in range(gems):
            self._drop_gem()
        self.ticks = 0

    # -- the board ------------------------------------------------------------------------

    def _walls(self, rows: int, cols: int) -> list[int]:
        """A border, and a few straight wall segments inside it."""
        cells = [FLOOR] * (rows * cols)
        for row in range(rows):
            for col in range(cols):
                if row in (0, rows - 1) or col in (0, cols - 1):
                    cells[row * cols + col] = WALL
        for _ in range(rows * cols // 60):
            length = self._rng.randint(2, max(2, min(rows, cols) // 3))
            drow, dcol = self._rng.choice(((0, 1), (1, 0)))
            row = self._rng.randrange(2, rows - 2)
            col = self._rng.randrange(2, cols - 2)
            for _step in range(length):
                if not (1 < row < rows - 2 and 1 < col < cols - 2):
                    break
                cells[row * cols + col] = WALL
                row, col = row + drow, col + dcol
        return cells

    def _free_cells(self) -> Iterator[tuple[int, int]]:
        board = self.state["board"]
        taken = {tuple(player.pos) for player in self.state["players"].values()}
        for row in range(self.rows):
            for col in range(self.cols):
                if board[row, col] == FLOOR and (row, col) not in taken:
                    yield row, col

    def _random_free_cell(self) -> tuple[int, int]:
        cells = list(self._free_cells())
        if not cells:  # pragma: no cover - the constructor leaves room for every glyph
            raise GameFull("no free cell is left on the board")
        return self._rng.choice(cells)

    def _drop_gem(self) -> None:
        row, col = self._random_free_cell()
        self.state["board"][row, col] = GEM

    # -- players --------------------------------------------------------------------------

    def join(self, name: str) -> int:
        """Add a player at a random free cell; return its id.

        Raises:
            GameFull: 26 players are already in.
        """
        players = self.state["players"]
        used = {player.glyph for player in players.values()}
        glyph = next((g for g in _GLYPHS if g not in used), None)
        if glyph is None:
            raise GameFull(f"the arena is full ({len(_GLYPHS)} players)")
        pid = self._next_pid
        self._next_pid += 1
        name = "".join(ch for ch in name if ch.isprintable())[:MAX_NAME] or f"player{pid}"
        players[pid] = Player(name, glyph, self._random_free_cell())
        self.state["private"][pid] = {"steps": 0, "log": [f"welcome, {name}"]}
        self._heading[pid] = "."
        return pid

    def leave(self, pid: int) -> None:
        """Remove a player (a player that is not in is ignored)."""
        self.state["players"].pop(pid, None)
        self.state["private"].pop(pid, None)
        self._heading.pop(pid, None)

    def steer(self, pid: int, direction: str) -> None:
        """Set the direction player ``pid`` walks from the next tick on.

        Raises:
            KeyError: no such player.
            ValueError: ``direction`` is not one of :data:`DIRECTIONS`.
        """
        if pid not in self._heading:
            raise KeyError(pid)
        if direction not in DIRECTIONS:
            raise ValueError(f"unknown direction {direction!r}: one of {''.join(DIRECTIONS)}")
        self._heading[pid] = direction

    def _log(self, pid: int, line: str) -> None:
        log = self.state["private"][pid]["log"]
        log.append(line)
        if len(log) > LOG_LINES:
            del log[0]

    # -- a tick ---------------------------------------------------------------------------

    def step(self) -> None:
        """Advance one tick: every player walks one cell in its direction, in id order."""
        self.ticks += 1
        board = self.state["board"]
        players = self.state["players"]
        occupied = {tuple(player.pos): pid for pid, player in players.items()}
        for pid, heading in self._heading.items():
            drow, dcol = DIRECTIONS[heading]
            if (drow, dcol) == (0, 0):
                continue
            player = players[pid]
            row, col = player.pos
            target = (row + drow, col + dcol)
            cell = board[target]
            if cell == WALL:
                continue
            other = occupied.get(target)
            if other is not None:
                self._log(pid, f"bumped into {players[other].name}")
                continue
            del occupied[row, col]
            occupied[target] = pid
            player.pos = target
            self.state["private"][pid]["steps"] += 1
            if cell == GEM:
                board[target] = FLOOR
                player.score += 1
                self._log(pid, f"gem at {target[0]},{target[1]}: {player.score} points")
                self._drop_gem()
