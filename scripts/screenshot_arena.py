"""Take the docs' screenshot of the demo game's terminal client.

Runs ``python -m arena demo`` in a pseudo-terminal (pexpect), reads the screen
as a terminal would draw it (pyte), steers the player a little, and draws the
screen, colours included, into a PNG with Pillow::

    pip install -e '.[dev,bench]'   # pexpect and pyte (dev), Pillow (with matplotlib)
    python scripts/screenshot_arena.py docs/images/arena.png

It also prints the screen as text (the docs show both).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

import pexpect
import pyte
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
ROWS, COLS = 24, 80
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf"
COLOURS = {
    "default": (220, 220, 220),
    "black": (30, 30, 30),
    "red": (224, 108, 117),
    "green": (152, 195, 121),
    "brown": (229, 192, 123),
    "yellow": (229, 192, 123),
    "blue": (97, 175, 239),
    "magenta": (198, 120, 221),
    "cyan": (86, 182, 194),
    "white": (220, 220, 220),
}
BACKGROUND = (40, 44, 52)


Cells = list[list[pyte.screens.Char]]


def capture(seconds: float) -> Cells:
    """Run the demo for a while, steering, and return the last screen."""
    screen = pyte.Screen(COLS, ROWS)
    stream = pyte.ByteStream(screen)
    env = {**os.environ, "TERM": "xterm-256color", "PYTHONPATH": str(ROOT / "examples")}
    child = pexpect.spawn(
        sys.executable,
        ["-m", "arena", "demo", "--seed", "4", "--duration", str(seconds + 3)],
        cwd=str(ROOT / "examples"),
        env=env,
        dimensions=(ROWS, COLS),
    )
    keys = ["\x1b[C", "\x1b[B", "\x1b[D", "\x1b[A"]
    end = time.monotonic() + seconds
    turn = 0
    while time.monotonic() < end:
        with contextlib.suppress(pexpect.TIMEOUT):
            stream.feed(child.read_nonblocking(65536, timeout=0.1))
        if time.monotonic() > end - seconds + turn * 1.0 and turn < len(keys):
            child.send(keys[turn])
            turn += 1
    shot = [[screen.buffer[row][col] for col in range(COLS)] for row in range(ROWS)]
    child.send("q")
    child.expect(pexpect.EOF, timeout=20)
    child.close()
    return shot


def draw(screen: Cells, path: Path) -> None:
    """Draw the cells of a screen into a PNG at ``path``."""
    font, bold = ImageFont.truetype(FONT, 16), ImageFont.truetype(BOLD, 16)
    left, _, right, _ = font.getbbox("M")
    width, height = right - left + 1, 20
    image = Image.new("RGB", (COLS * width + 20, ROWS * height + 20), BACKGROUND)
    pen = ImageDraw.Draw(image)
    for row in range(ROWS):
        line = screen[row]
        for col in range(COLS):
            char = line[col]
            fg = COLOURS.get(char.fg, COLOURS["default"])
            bg = COLOURS.get(char.bg, BACKGROUND) if char.bg != "default" else BACKGROUND
            if char.reverse:
                fg, bg = bg if bg != BACKGROUND else BACKGROUND, fg
            x, y = 10 + col * width, 10 + row * height
            if bg != BACKGROUND:
                pen.rectangle((x, y, x + width - 1, y + height - 1), fill=bg)
            pen.text((x, y), char.data, font=bold if char.bold else font, fill=fg)
    image.save(path)


def main() -> None:
    """Capture, print the screen as text, and draw it."""
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "images" / "arena.png"
    screen = capture(5.0)
    print("\n".join("".join(char.data for char in line).rstrip() for line in screen))
    draw(screen, out)
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
