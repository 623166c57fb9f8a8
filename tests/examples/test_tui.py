"""The demo game's terminal client: the pure screen (:func:`arena.tui.render`), the curses loop
with a stand-in window, and the real program in a pseudo-terminal read by a terminal emulator.
"""

from __future__ import annotations

import asyncio
import curses
import os
import re
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

import pyte
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flatsync
from arena.bot import Bot
from arena.client import ArenaClient
from arena.game import FLOOR, GEM, WALL, Game
from arena.server import ArenaServer
from arena.tui import KEYS, WAITING, render, render_text, run_tui, status_line

T = TypeVar("T")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CELL = {FLOOR: ".", WALL: "#", GEM: "*"}


def run(main: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(asyncio.wait_for(main(), 30))


def board_of(game: Game) -> list[str]:
    """The board as text, players drawn on it: what the screen must show."""
    board = game.state["board"]
    grid = [[CELL[board[row, col]] for col in range(game.cols)] for row in range(game.rows)]
    for player in game.state["players"].values():
        row, col = player.pos
        grid[row][col] = player.glyph
    return ["".join(line) for line in grid]


def three_players(seed: int = 11) -> tuple[Game, int, int, int]:
    game = Game(seed=seed)
    ada, bob, cyd = game.join("ada"), game.join("bob"), game.join("cyd")
    for direction in "EESSWN":
        game.steer(ada, direction)
        game.steer(bob, "N")
        game.step()
    return game, ada, bob, cyd


# -- render: the pure screen -------------------------------------------------------------


def test_the_documented_example() -> None:
    # The screen in arena.tui's docstring: a 6 x 10 board, ada (A) has walked east
    # onto a gem, bob (B) stands still.
    game = Game(rows=6, cols=10, gems=2, seed=2)
    ada, bob = game.join("ada"), game.join("bob")
    game.steer(ada, "E")
    game.step()
    game.step()
    status = "frame 2 | 1.3 kB/s | ping 2 ms | score 1 | server demo | q quits"
    assert render(game.state, ada, width=70, height=7, status=status) == [
        "##########  players",
        "#.....*..#  > A ada   1 you",
        "#...##...#    B bob   0",
        "#........#",
        "#*...A.B.#  welcome, ada",
        "##########  gem at 4,5: 1 points",
        status,
    ]
    # bob's screen: the same board, bob marked instead.
    assert render(game.state, bob, width=70, height=7)[1:3] == [
        "#.....*..#    A ada   1",
        "#...##...#  > B bob   0 you",
    ]


def test_the_board_shows_every_cell_and_player_in_place() -> None:
    game, ada, _, _ = three_players()
    lines = render(game.state, ada, width=100, height=30, status="the status")
    expected = board_of(game)
    assert [line[: game.cols] for line in lines[: game.rows]] == expected
    assert lines[-1] == "the status"
    panel = [line[game.cols :] for line in lines]
    for player in game.state["players"].values():
        assert any(f"{player.glyph} {player.name}" in line for line in panel)
    (mine,) = [line for line in panel if "you" in line]
    assert mine.lstrip().startswith("> A ada")
    assert lines.index(expected[0] + "  players") == 0
    assert any("welcome, ada" in line for line in panel)


def test_the_scoreboard_ranks_by_score() -> None:
    game, _, bob, cyd = three_players()
    game.state["players"][cyd].score = 9
    game.state["players"][bob].score = 4
    lines = render(game.state, bob, width=100, height=30)
    assert [line[game.cols + 2 :] for line in lines[1:4]] == [
        "  C cyd   9",
        "> B bob   4 you",
        "  A ada   0",
    ]


@pytest.mark.parametrize("pos", [(1, 1), (18, 38), (10, 20), (1, 38), (18, 1)])
def test_a_small_terminal_crops_the_board_around_the_own_player(pos: tuple[int, int]) -> None:
    game, ada, _, _ = three_players()
    game.state["players"][ada].pos = pos
    full = board_of(game)
    lines = render(game.state, ada, width=24, height=12, status="frame 7 | a long status line")
    assert len(lines) == 12
    assert all(len(line) <= 24 for line in lines)
    assert lines[-1] == "frame 7 | a long status"  # cut to 24, trailing space dropped
    # Stacked: the board's 5 first rows, then the scoreboard under it.
    board, rest = lines[:5], lines[5:]
    assert rest[0] == "players"
    # The board shown is the 5 x 24 window of the full board around the own player,
    # moved inside the board near its edges.
    row, col = pos
    top = min(max(row - 2, 0), game.rows - 5)
    left = min(max(col - 12, 0), game.cols - 24)
    assert board == [line[left : left + 24] for line in full[top : top + 5]]
    assert board[row - top][col - left] == "A"


@given(
    width=st.integers(0, 120),
    height=st.integers(0, 40),
    status=st.sampled_from(["", "frame 12 | 1.0 kB/s | ping 3 ms | score 0 | server s"]),
    seed=st.integers(0, 3),
    waiting=st.booleans(),
)
@settings(max_examples=80)
def test_the_screen_fits_the_terminal(
    width: int, height: int, status: str, seed: int, waiting: bool
) -> None:
    game, ada, _, _ = three_players(seed)
    game.state["players"][ada].name = "名前\x1b[2Jx\u0301"  # wide, control and combining
    state = {} if waiting else game.state
    lines = render(state, ada, width=width, height=height, status=status)
    assert len(lines) <= height
    assert all(len(line) <= width and line.isprintable() for line in lines)
    if height and width and status:
        assert lines[-1] == status[:width].rstrip()
    if width and height > bool(status):  # room for a row of the board: the player is on it
        assert ("w" if waiting else "A") in "".join(lines[: height - bool(status)])
    # The player's name shows as one cell per character.
    if not waiting and width >= 100 and height >= 30:
        assert any("> A ???[2Jx? " in line for line in lines)


def test_before_the_first_snapshot_it_waits_for_the_server() -> None:
    replica = flatsync.Replica()
    assert render(replica.state, 1, width=40, height=5, status="frame -") == [
        WAITING,
        "",
        "",
        "",
        "frame -",
    ]
    assert render({}, 1, width=10, height=1) == [WAITING[:10]]
    assert render({}, 1, width=10, height=1, status="frame -") == ["frame -"]
    assert render({}, 1, width=0, height=10) == []
    assert render_text({}, 1, width=40, height=2) == WAITING + "\n"


def test_a_player_that_is_not_in_sees_the_middle_of_the_board() -> None:
    game, _, _, _ = three_players()
    lines = render(game.state, 99, width=24, height=8)
    assert "you" not in "".join(lines)
    full = board_of(game)
    assert lines[0] == full[8][8:32]


def test_the_private_log_shows() -> None:
    game, ada, _, _ = three_players()
    game.state["private"][ada]["log"] = ["one", "two", "three"]
    lines = render(game.state, ada, width=100, height=30)
    assert [line[game.cols + 2 :] for line in lines[4:9]] == ["", "one", "two", "three", ""]


# -- run_tui with a stand-in window ------------------------------------------------------


class FakeWindow:
    """What run_tui uses of a curses window: a screen of text and a queue of keys."""

    encoding = "utf-8"

    def __init__(self, height: int = 30, width: int = 100) -> None:
        self.height, self.width = height, width
        self.keys: list[int] = []
        self.rows = [""] * height
        self.draws = 0
        self.clears = 0
        self.attrs: dict[str, int] = {}
        self.modes: dict[str, bool] = {}

    def getmaxyx(self) -> tuple[int, int]:
        return self.height, self.width

    def getch(self) -> int:
        # The keys come once the game shows (walls are on the screen).
        return self.keys.pop(0) if self.keys and "#" in "".join(self.rows) else -1

    def nodelay(self, flag: bool) -> None:
        self.modes["nodelay"] = flag

    def keypad(self, flag: bool) -> None:
        self.modes["keypad"] = flag

    def erase(self) -> None:
        self.rows = [""] * self.height

    def clear(self) -> None:
        self.clears += 1
        self.erase()

    def addstr(self, row: int, col: int, text: str, attr: int = 0) -> None:
        assert 0 <= row < self.height
        assert col + len(text) <= self.width, (row, col, text)
        line = self.rows[row].ljust(col)
        self.rows[row] = line[:col] + text + line[col + len(text) :]
        for ch in text:
            self.attrs[ch] = attr

    def refresh(self) -> None:
        self.draws += 1


async def _tui_session(
    window: FakeWindow, *, duration: float | None = 5.0, close_server_after: int | None = None
) -> tuple[str, list[str], ArenaClient, ArenaServer]:
    server = ArenaServer(Game(seed=4), tick_rate=50)
    await server.start()
    bot = await Bot.join("127.0.0.1", server.port, "bot1", seed=1)
    client = await ArenaClient.connect("127.0.0.1", server.port, "ada")
    steered: list[str] = []
    real_steer = client.steer

    def steer(direction: str) -> None:
        steered.append(direction)
        real_steer(direction)

    client.steer = steer  # type: ignore[method-assign]

    async def close_server(frame: int) -> None:
        # A generous timeout: on a loaded machine 10 frames may take seconds.
        await client.wait_for_frame(frame, timeout=25)
        await server.close()

    ticking = asyncio.create_task(server.run())
    closing = asyncio.create_task(close_server(close_server_after or 10**9))
    try:
        reason = await run_tui(client, duration=duration, stdscr=cast("curses.window", window))
        return reason, steered, client, server
    finally:
        server.stop()
        await ticking
        if not closing.done():
            closing.cancel()
        await asyncio.gather(closing, return_exceptions=True)
        await bot.client.close()
        await client.close()
        await server.close()


def test_run_tui_draws_steers_and_quits() -> None:
    window = FakeWindow()
    window.keys = [curses.KEY_LEFT, ord("d"), ord("K"), ord(" "), ord("x"), ord("q"), ord("w")]
    reason, steered, client, _ = run(lambda: _tui_session(window))
    assert reason == "quit"
    assert steered == ["W", "E", "N", "."]
    assert window.keys == [ord("w")]  # nothing read after q
    assert window.modes == {"nodelay": True, "keypad": True}
    assert window.rows[0] == "#" * 40 + "  players"
    assert client.listeners == []  # its redraw callback is gone


def test_run_tui_ends_when_the_time_is_up() -> None:
    window = FakeWindow(height=12, width=60)

    async def main() -> tuple[str, list[str], ArenaClient, ArenaServer]:
        session = asyncio.create_task(_tui_session(window, duration=0.5))
        # A resize while it runs: the screen is cleared and drawn at the new size.
        while window.draws < 2 and not session.done():
            await asyncio.sleep(0.01)
        window.height, window.width = 8, 30
        window.rows = [""] * 8
        window.keys.append(curses.KEY_RESIZE)
        return await session

    reason, steered, _, _ = run(main)
    assert reason == "time is up"
    assert steered == []
    assert window.clears == 1
    assert len(window.rows) == 8
    assert all(len(row) <= 30 for row in window.rows)
    assert window.rows[-1].startswith("frame ")
    assert "B" in "".join(window.rows[:5])  # ada, on the board cropped around her
    assert window.draws >= 3


def test_run_tui_ends_when_the_server_goes() -> None:
    window = FakeWindow()
    reason, _, client, _ = run(lambda: _tui_session(window, duration=28, close_server_after=10))
    assert reason == "the server said goodbye: the server is shutting down"
    assert reason == client.goodbye


def test_the_status_line() -> None:
    async def main() -> tuple[str, str]:
        server = ArenaServer(Game(seed=4), name="den", tick_rate=50)
        await server.start()
        client = await ArenaClient.connect("127.0.0.1", server.port, "ada")
        before = status_line(client)
        await server.run(ticks=3)
        await client.wait_for_frame(3)
        server.game.state["players"][client.pid].score = 7
        await server.run(ticks=1)
        await client.wait_for_frame(4)
        client.rtt = 0.0123
        after = status_line(client)
        await client.close()
        await server.close()
        return before, after

    before, after = run(main)
    assert before == "frame - | 0 B/s | ping - ms | score - | server den | q quits"
    assert after.startswith("frame 4 | ")
    assert after.endswith(" | ping 12 ms | score 7 | server den | q quits")
    assert "B/s" in after


def test_the_keys() -> None:
    assert {KEYS[curses.KEY_UP], KEYS[ord("w")], KEYS[ord("k")]} == {"N"}
    assert {KEYS[curses.KEY_DOWN], KEYS[ord("s")], KEYS[ord("j")]} == {"S"}
    assert {KEYS[curses.KEY_LEFT], KEYS[ord("a")], KEYS[ord("h")]} == {"W"}
    assert {KEYS[curses.KEY_RIGHT], KEYS[ord("d")], KEYS[ord("l")]} == {"E"}
    assert {KEYS[ord(" ")], KEYS[ord(".")]} == {"."}


# -- the real program in a pseudo-terminal ---------------------------------------------

ROWS, COLS = 30, 100
UP, DOWN, RIGHT, LEFT = "\x1bOA", "\x1bOB", "\x1bOC", "\x1bOD"  # what xterm sends after keypad(1)

#: A server with two bots; prints its port, runs until its stdin closes.
SERVER = """
import asyncio, sys
from arena.bot import Bot
from arena.game import Game
from arena.server import ArenaServer

async def main():
    server = ArenaServer(Game(seed=5), tick_rate=20, idle_timeout=60)
    await server.start("127.0.0.1", 0)
    bots = [await Bot.join("127.0.0.1", server.port, f"bot{n}", seed=n) for n in (1, 2)]
    ticking = asyncio.create_task(server.run())
    print(server.port, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    server.stop()
    await ticking
    for bot in bots:
        await bot.client.close()
    await server.close()

asyncio.run(main())
"""

#: The terminal client, as `python -m arena play` runs it; then whether the terminal is restored.
CLIENT = """
import asyncio, sys, termios
from arena.client import ArenaClient
from arena.tui import run_tui

async def main():
    client = await ArenaClient.connect("127.0.0.1", int(sys.argv[1]), "tester")
    try:
        return await run_tui(client, duration=60)
    finally:
        await client.close()

before = termios.tcgetattr(sys.stdin)
try:
    reason = asyncio.run(main())
except KeyboardInterrupt:
    reason = "interrupted"
print("ended:", reason)
print("restored:", termios.tcgetattr(sys.stdin) == before)
"""


def _env(term: str) -> dict[str, str]:
    env = dict(os.environ, TERM=term, LANG="C.UTF-8", LC_ALL="C.UTF-8")
    env.pop("LINES", None)
    env.pop("COLUMNS", None)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(EXAMPLES), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    return env


@pytest.fixture(scope="module")
def server_port() -> Iterator[int]:
    with subprocess.Popen(
        [sys.executable, "-c", SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=_env("dumb"),
        text=True,
    ) as server:
        assert server.stdin is not None
        assert server.stdout is not None
        try:
            yield int(server.stdout.readline())
        finally:
            server.stdin.close()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:  # pragma: no cover - a wedged server
                server.kill()
                server.wait()


class _Screen(pyte.Screen):
    """pyte's screen, plus REP (``CSI n b``: repeat the last character), which ncurses uses."""

    last = " "

    def draw(self, data: str) -> None:
        super().draw(data)
        if data:
            self.last = data[-1]

    def repeat_last(self, count: int = 1, *args: Any, **kwargs: Any) -> None:
        self.draw(self.last * max(1, count))


class _Stream(pyte.ByteStream):
    csi = {**pyte.ByteStream.csi, "b": "repeat_last"}  # noqa: RUF012 - pyte's own style


class Terminal:
    """The client's pseudo-terminal, read through a terminal emulator."""

    def __init__(self, port: int, term: str) -> None:
        self.pexpect = pexpect = pytest.importorskip("pexpect")
        self.child = pexpect.spawn(
            sys.executable,
            ["-c", CLIENT, str(port)],
            env=_env(term),
            dimensions=(ROWS, COLS),
            timeout=10,
        )
        self.screen = _Screen(COLS, ROWS)
        self.stream = _Stream(self.screen)
        self.output = bytearray()
        self.ended = False

    def pump(self) -> None:
        try:
            data = self.child.read_nonblocking(1 << 16, timeout=0.05)
        except self.pexpect.TIMEOUT:
            return
        except self.pexpect.EOF:
            self.ended = True
            return
        self.output += data
        self.stream.feed(data)

    def wait_for(self, check: Callable[[list[str]], T | None], timeout: float = 10.0) -> T:
        """Read until ``check(screen lines)`` gives something other than ``None``."""
        deadline = time.monotonic() + timeout
        while True:
            found = check(self.screen.display)
            if found is not None:
                return found
            if self.ended or time.monotonic() > deadline:
                screen = "\n".join(self.screen.display)
                raise AssertionError(f"not on the screen after {timeout} s:\n{screen}")
            self.pump()

    def wait_for_exit(self, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while not self.ended and time.monotonic() < deadline:
            self.pump()
        assert self.ended, "the client did not exit"
        self.child.close()
        return self.output.decode("utf-8", "replace")

    def glyph_of(self, name: str, lines: list[str]) -> str | None:
        """The glyph the panel lists for ``name``."""
        for line in lines:
            words = line[BOARD_COLS:].split()
            if name in words:
                return words[words.index(name) - 1]
        return None

    def find(self, glyph: str, lines: list[str]) -> tuple[int, int] | None:
        """Where ``glyph`` is on the board."""
        for row, line in enumerate(lines[:BOARD_ROWS]):
            col = line.find(glyph, 0, BOARD_COLS)
            if col >= 0:
                return row, col
        return None


BOARD_ROWS, BOARD_COLS = 20, 40  # Game()'s default size, which SERVER plays


@pytest.fixture(params=["xterm-256color", "vt100"])
def terminal(request: pytest.FixtureRequest, server_port: int) -> Iterator[Terminal]:
    terminal = Terminal(server_port, request.param)
    try:
        yield terminal
    finally:
        if terminal.child.isalive():
            terminal.child.terminate(force=True)
        terminal.child.close()


def test_the_terminal_shows_the_game(terminal: Terminal) -> None:
    def ready(lines: list[str]) -> tuple[tuple[int, int], tuple[int, int]] | None:
        # The whole board, the own player (C) and a bot on it, the scoreboard, the log, the status.
        me, bot = terminal.glyph_of("tester", lines), terminal.glyph_of("bot1", lines)
        if me is None or bot is None:
            return None
        mine, theirs = terminal.find(me, lines), terminal.find(bot, lines)
        walled = all(line[0] + line[BOARD_COLS - 1] == "##" for line in lines[:BOARD_ROWS])
        shown = (
            walled
            and lines[0].startswith("#" * BOARD_COLS + "  players")
            and lines[BOARD_ROWS - 1].startswith("#" * BOARD_COLS + " ")
            and any(line.rstrip().endswith(f"> {me} tester   0 you") for line in lines)
            and any(line[BOARD_COLS:].strip() == "welcome, tester" for line in lines)
            and re.fullmatch(
                r"frame \d+ \| \d+ B/s \| ping \d+ ms \| score 0 \| "
                r"server arena \| q quits *",
                lines[BOARD_ROWS],
            )
        )
        return (mine, theirs) if shown and mine and theirs else None

    mine, theirs = terminal.wait_for(ready)
    # The own player stands out without colors too (reverse video); the others do not.
    assert terminal.screen.buffer[mine[0]][mine[1]].reverse
    assert not terminal.screen.buffer[theirs[0]][theirs[1]].reverse
    terminal.child.send("q")
    assert "ended: quit" in terminal.wait_for_exit()


def test_the_terminal_steers_and_quits_cleanly(terminal: Terminal) -> None:
    me = terminal.wait_for(lambda lines: terminal.glyph_of("tester", lines))
    start = terminal.wait_for(lambda lines: terminal.find(me, lines))
    lines = terminal.screen.display
    row, col = start
    keys = {UP: (-1, 0), DOWN: (1, 0), LEFT: (0, -1), RIGHT: (0, 1)}
    free = [key for key, (dr, dc) in keys.items() if lines[row + dr][col + dc] in ".*"]
    assert free, "boxed in"
    terminal.child.send(free[0])
    moved = terminal.wait_for(
        lambda lines: spot if (spot := terminal.find(me, lines)) not in (None, start) else None
    )
    assert moved != start
    terminal.child.send(" ")
    terminal.child.send("q")
    output = terminal.wait_for_exit()
    assert terminal.child.exitstatus == 0
    assert "ended: quit" in output
    assert "restored: True" in output
    assert "Traceback" not in output


def test_ctrl_c_restores_the_terminal(terminal: Terminal) -> None:
    # The client is in its loop, the terminal in cbreak mode: its status line shows a frame.
    terminal.wait_for(
        lambda lines: (
            terminal.glyph_of("tester", lines)
            if any(re.match(r"frame \d+ \|", line) for line in lines)
            else None
        ),
        timeout=60,
    )
    terminal.child.send("\x03")  # the terminal turns it into SIGINT
    # Generous: under load the shutdown (goodbye, curses teardown) may take a while, and on
    # Python 3.11 asyncio.wait_for can swallow the cancellation that SIGINT brings (fixed in
    # 3.12), so that the client only ends at its 60 s duration, still as interrupted.
    output = terminal.wait_for_exit(timeout=120)
    assert terminal.child.exitstatus == 0, output
    assert "ended: interrupted" in output
    assert "restored: True" in output
