"""The terminal client: draw a replica with :mod:`curses`, steer with the keyboard.

Two layers, so that the screen can be tested without a terminal:

* :func:`render` is pure: it turns a state (a replica's, or the game's own)
  into the lines of text the screen shows, cut to the terminal's size;
* :func:`run_tui` owns the terminal: it sets curses up (and always restores
  it), redraws when the :class:`~arena.client.ArenaClient` applies a packet and
  a few times a second for the status line, and turns keys into steering.

The screen, on a terminal wide enough for the board and the panel beside it::

    ##########  players
    #.....*..#  > A ada   1 you
    #...##...#    B bob   0
    #........#
    #*...A.B.#  welcome, ada
    ##########  gem at 4,5: 1 points
    frame 2 | 1.3 kB/s | ping 2 ms | score 1 | server demo | q quits

Walls are ``#``, gems ``*``, floor ``.``, players their glyph letter. On a
narrower terminal the panel goes under the board; on one smaller than the
board, the board is cropped around the own player.

Keys: the arrows, ``WASD`` or ``HJKL`` steer, space or ``.`` stops, ``q`` quits.
"""

from __future__ import annotations

import asyncio
import contextlib
import curses
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any, Final

from .client import ArenaClient
from .game import FLOOR, GEM, WALL

__all__ = ["KEYS", "WAITING", "render", "render_text", "run_tui", "status_line"]

#: What the screen says before the first snapshot.
WAITING: Final = "waiting for the server…"

#: Keys and the direction they steer (``"."`` stops).
KEYS: Final[dict[int, str]] = {
    curses.KEY_UP: "N",
    curses.KEY_DOWN: "S",
    curses.KEY_LEFT: "W",
    curses.KEY_RIGHT: "E",
    **{ord(key): "N" for key in "wWkK"},
    **{ord(key): "S" for key in "sSjJ"},
    **{ord(key): "W" for key in "aAhH"},
    **{ord(key): "E" for key in "dDlL"},
    ord(" "): ".",
    ord("."): ".",
}
_QUIT: Final = frozenset({ord("q"), ord("Q"), 3})  # 3: Ctrl-C when the terminal is raw

_CELLS: Final = {FLOOR: ".", WALL: "#", GEM: "*"}
_STYLE_OF_CELL: Final = {".": "floor", "#": "wall", "*": "gem"}
#: The side panel's narrowest width; below it, the panel goes under the board.
_PANEL_MIN: Final = 20
#: The gap between the board and the side panel.
_GAP: Final = 2
#: The fewest board rows the bottom layout keeps before it gives rows to the panel.
_MIN_BOARD_ROWS: Final = 5
#: Seconds between two polls of the keyboard (and at most between two redraws).
_POLL: Final = 0.03
#: Seconds between two redraws when no frame arrives (the status line's ping and rate).
_REFRESH: Final = 0.25

#: A line of the screen: runs of text, each with a style name (see :func:`_attributes`).
_Line = list[tuple[str, str]]


# -- the pure part ------------------------------------------------------------------------


def _clean(text: object) -> str:
    """``text`` as one screen cell per character: control, wide and combining characters become ``?``."""
    return "".join(
        ch
        if ch.isprintable()
        and not unicodedata.combining(ch)
        and unicodedata.east_asian_width(ch) not in "WF"
        else "?"
        for ch in str(text)
    )


def _cells(board: Any) -> tuple[int, int, Callable[[int, int], int]]:
    """The board's rows, columns, and a fast ``cell(row, col)``."""
    rows, cols = (int(n) for n in board.shape)
    if getattr(board, "item", "u8") == "u8" and hasattr(board, "tobytes"):
        data: Sequence[int] = board.tobytes()
    else:
        data = [int(value) for row in board.tolist() for value in row]
    return rows, cols, lambda row, col: data[row * cols + col]


def _start(center: int, size: int, total: int) -> int:
    """The first of ``size`` cells out of ``total`` that keeps ``center`` in the middle."""
    if size >= total:
        return 0
    return max(0, min(center - size // 2, total - size))


def _board_lines(state: Any, pid: int, rows: int, cols: int) -> list[_Line]:
    """The board cut to ``rows`` × ``cols`` around player ``pid`` (the middle when it is not in)."""
    height, width, cell = _cells(state["board"])
    players = state.get("players", {})
    me = players.get(pid)
    center = tuple(me.pos) if me is not None else (height // 2, width // 2)
    top = _start(int(center[0]), rows, height)
    left = _start(int(center[1]), cols, width)
    rows, cols = min(rows, height), min(cols, width)
    grid = [
        [_CELLS.get(cell(row, col), "?") for col in range(left, left + cols)]
        for row in range(top, top + rows)
    ]
    styles = [[_STYLE_OF_CELL.get(ch, "text") for ch in line] for line in grid]
    for other, player in players.items():
        row, col = (int(n) for n in player.pos)
        if top <= row < top + rows and left <= col < left + cols:
            glyph = _clean(player.glyph)[:1] or "?"
            grid[row - top][col - left] = glyph
            styles[row - top][col - left] = "me" if other == pid else "player"
    lines: list[_Line] = []
    for chars, kinds in zip(grid, styles, strict=True):
        line: _Line = []
        for ch, kind in zip(chars, kinds, strict=True):
            if line and line[-1][1] == kind:
                line[-1] = (line[-1][0] + ch, kind)
            else:
                line.append((ch, kind))
        lines.append(line)
    return lines


def _panel_lines(state: Any, pid: int) -> tuple[list[_Line], list[_Line]]:
    """The scoreboard (best first) and the player's private log."""
    players = state.get("players", {})
    ranked = sorted(players.items(), key=lambda item: (-int(item[1].score), str(item[1].glyph)))
    names = {other: _clean(player.name) for other, player in ranked}
    width = max((len(name) for name in names.values()), default=0)
    board: list[_Line] = [[("players", "heading")]]
    for other, player in ranked:
        mine = other == pid
        glyph = _clean(player.glyph)[:1] or "?"
        text = f"{'>' if mine else ' '} {glyph} {names[other]:<{width}} {int(player.score):>3}"
        board.append([(text + (" you" if mine else ""), "you" if mine else "text")])
    private = state.get("private", {}).get(pid, {})
    log: list[_Line] = [[(_clean(line), "log")] for line in private.get("log", ())]
    return board, log


def _crop(line: _Line, width: int) -> _Line:
    """``line`` cut to ``width`` characters."""
    out: _Line = []
    for text, style in line:
        if width <= 0:
            break
        out.append((text[:width], style))
        width -= len(text)
    return out


def _compose(state: Any, pid: int, width: int, height: int, status: str) -> list[_Line]:
    """The screen as styled lines: what :func:`render` shows and :func:`run_tui` draws."""
    if width <= 0 or height <= 0:
        return []
    bottom: list[_Line] = [_crop([(_clean(status), "status")], width)] if status else []
    if height == 1 and bottom:
        return bottom
    room = height - len(bottom)
    if state is None or "board" not in state:
        return [_crop([(WAITING, "heading")], width), *([[]] * (room - 1)), *bottom][:height]
    rows, cols = (int(n) for n in state["board"].shape)
    scores, log = _panel_lines(state, pid)
    panel = [*scores, *([[]] if log else []), *log]
    lines: list[_Line]
    if width - cols - _GAP >= _PANEL_MIN:
        # Side by side: the board on the left, cropped to the height; the panel on the right.
        board = _board_lines(state, pid, room, cols)
        lines = []
        for index in range(min(room, max(len(board), len(panel)))):
            left = board[index] if index < len(board) else [(" " * cols, "text")]
            right = panel[index] if index < len(panel) else []
            lines.append([*left, (" " * _GAP, "text"), *_crop(right, width - cols - _GAP)])
    else:
        # Stacked: the board (cropped to the width) over the scoreboard and the log.
        shown = min(rows, max(room - len(panel), min(room, _MIN_BOARD_ROWS)))
        board = _board_lines(state, pid, shown, width)
        lines = [*board, *(_crop(line, width) for line in panel)][:room]
    return [*lines, *bottom]


def render(state: Any, pid: int, *, width: int, height: int, status: str = "") -> list[str]:
    """The screen player ``pid`` sees, as at most ``height`` lines of at most ``width`` characters.

    ``state`` is a replica's state (or a :class:`~arena.game.Game`'s): the
    board, with the players on it, cropped around player ``pid`` when the
    terminal is smaller; the scoreboard, where ``pid`` is marked ``you``;
    its private log; and ``status`` on the last line. An empty state (before
    the first snapshot) shows :data:`WAITING`. Trailing spaces are cut.

    >>> from arena.game import Game
    >>> game = Game(rows=5, cols=8, gems=1, seed=3)
    >>> ada = game.join("ada")
    >>> print("\\n".join(render(game.state, ada, width=40, height=6, status="frame 0")))
    ########  players
    #....A.#  > A ada   0 you
    #.*....#
    #......#  welcome, ada
    ########
    frame 0
    >>> render({}, 1, width=30, height=3, status="frame 0")
    ['waiting for the server…', '', 'frame 0']
    """
    return [
        "".join(text for text, _ in line).rstrip()
        for line in _compose(state, pid, width, height, status)
    ]


def render_text(
    state: Any, pid: int, *, width: int = 80, height: int = 24, status: str = ""
) -> str:
    """:func:`render`'s lines as one string (for a screenshot in the docs)."""
    return "\n".join(render(state, pid, width=width, height=height, status=status))


def status_line(client: ArenaClient) -> str:
    """The status line: frame, bytes per second received, ping, score, server, and how to quit."""
    rate = client.bytes_per_second
    speed = f"{rate / 1000:.1f} kB/s" if rate >= 1000 else f"{rate:.0f} B/s"
    ping = f"{client.rtt * 1000:.0f} ms" if client.rtt is not None else "- ms"
    me = client.me
    score = me.score if me is not None else "-"
    frame = client.replica.frame
    return (
        f"frame {frame if frame is not None else '-'} | {speed} | ping {ping} | "
        f"score {score} | server {client.server_name} | q quits"
    )


# -- the terminal -------------------------------------------------------------------------


def _attributes() -> dict[str, int]:
    """The curses attribute of each style: colors when the terminal has them, else bold and reverse."""
    attrs = {
        "text": curses.A_NORMAL,
        "floor": curses.A_DIM,
        "wall": curses.A_NORMAL,
        "gem": curses.A_BOLD,
        "me": curses.A_REVERSE | curses.A_BOLD,
        "player": curses.A_BOLD,
        "you": curses.A_BOLD,
        "heading": curses.A_UNDERLINE,
        "log": curses.A_NORMAL,
        "status": curses.A_REVERSE,
    }
    try:
        if not curses.has_colors():
            return attrs
        curses.start_color()
        background = -1
        try:
            curses.use_default_colors()
        except curses.error:
            background = curses.COLOR_BLACK
        colors = {
            "wall": curses.COLOR_BLUE,
            "gem": curses.COLOR_YELLOW,
            "me": curses.COLOR_GREEN,
            "player": curses.COLOR_CYAN,
            "you": curses.COLOR_GREEN,
        }
        for number, (style, color) in enumerate(colors.items(), start=1):
            curses.init_pair(number, color, background)
            attrs[style] |= curses.color_pair(number)
    except curses.error:  # no colors after all (or curses is not set up): plain attributes
        pass
    return attrs


def _encodable(text: str, encoding: str) -> str:
    """``text`` as the terminal's encoding can show it."""
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        text = text.replace("…", "...")
        return text.encode("ascii", "replace").decode("ascii")
    return text


def _draw(window: Any, client: ArenaClient, attrs: dict[str, int]) -> None:
    """Draw the client's state on ``window``."""
    height, width = window.getmaxyx()
    encoding = getattr(window, "encoding", None) or "utf-8"
    lines = _compose(client.state, client.pid, width, height, status_line(client))
    window.erase()
    for row, line in enumerate(lines):
        col = 0
        for text, style in line:
            if text:
                # Writing the bottom-right cell moves the cursor off the screen: an error
                # after the character is written, so ignore it.
                with contextlib.suppress(curses.error):
                    window.addstr(row, col, _encodable(text, encoding), attrs.get(style, 0))
            col += len(text)
    window.refresh()


async def _play(window: Any, client: ArenaClient, duration: float | None) -> str:
    """The loop: keys, redraws, and the end."""
    loop = asyncio.get_running_loop()
    deadline = None if duration is None else loop.time() + duration
    attrs = _attributes()
    changed = asyncio.Event()

    def on_frame(events: list[Any]) -> None:
        changed.set()

    client.listeners.append(on_frame)
    try:
        window.nodelay(True)
        window.keypad(True)
        next_draw = loop.time()
        while True:
            if client.closed.is_set():
                return client.goodbye or "the connection ended"
            if deadline is not None and loop.time() >= deadline:
                return "time is up"
            while (key := window.getch()) != -1:
                if key in _QUIT:
                    return "quit"
                if key == curses.KEY_RESIZE:
                    with contextlib.suppress(curses.error):
                        curses.update_lines_cols()
                    window.clear()
                    changed.set()
                elif key in KEYS:
                    client.steer(KEYS[key])
            if changed.is_set() or loop.time() >= next_draw:
                changed.clear()
                _draw(window, client, attrs)
                next_draw = loop.time() + _REFRESH
            # asyncio.timeout, not wait_for: on Python 3.11, wait_for can swallow a
            # cancellation (Ctrl-C's) that arrives as the wait ends.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_POLL):
                    await changed.wait()
    finally:
        client.listeners.remove(on_frame)


async def run_tui(
    client: ArenaClient, *, duration: float | None = None, stdscr: curses.window | None = None
) -> str:
    """Show ``client``'s game in the terminal and steer it from the keyboard, until it ends.

    Sets curses up when ``stdscr`` is ``None`` (and restores the terminal when
    it returns, raises or is cancelled, Ctrl-C included); with a ``stdscr``
    (from :func:`curses.wrapper`, say) the caller owns the terminal. The
    keyboard is polled every few milliseconds, so the asyncio loop goes on
    with the connection meanwhile; the screen is redrawn when a packet
    applies, and four times a second anyway for the status line.

    Returns:
        Why it ended: ``"quit"`` (the ``q`` key), ``"time is up"`` (after
        ``duration`` seconds), or :attr:`~arena.client.ArenaClient.goodbye`
        when the connection ended. The connection stays open: close the
        client afterwards.
    """
    if stdscr is not None:
        return await _play(stdscr, client, duration)
    window = curses.initscr()
    cursor = 1
    try:
        curses.noecho()
        curses.cbreak()
        window.keypad(True)
        with contextlib.suppress(curses.error):
            cursor = curses.curs_set(0)
        with contextlib.suppress(curses.error, AttributeError):
            curses.set_escdelay(25)
        return await _play(window, client, duration)
    finally:
        with contextlib.suppress(curses.error):
            window.keypad(False)
            curses.nocbreak()
            curses.echo()
        with contextlib.suppress(curses.error):
            curses.curs_set(cursor)
        curses.endwin()
