"""Shared helpers for the benchmark scripts: timing, the machine, and tables.

Only the standard library: a benchmark must not depend on what it measures
beyond the package itself and its runtime dependencies.
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import importlib.metadata
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = [
    "REPO",
    "Table",
    "gc_disabled",
    "load_average",
    "machine",
    "median",
]

#: The repository root (the parent of ``benchmarks/``).
REPO = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def gc_disabled() -> Iterator[None]:
    """Collect once, then keep the cyclic collector off inside the block.

    The collector is switched back on afterwards only if it was on before.
    """
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def median(values: Sequence[float]) -> float:
    """The median of a non-empty sequence, as a float."""
    return float(statistics.median(values))


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _git_revision() -> str:
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown (no commit yet)"


def machine(flatsync_version: str) -> dict[str, str]:
    """What the numbers were measured on, for the JSON and Markdown reports."""
    return {
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": str(os.cpu_count()),
        "python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "cbor2": _version("cbor2"),
        "attrs": _version("attrs"),
        "flatsync": flatsync_version,
        "git": _git_revision(),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load at start": load_average(),
    }


def load_average() -> str:
    """The 1-minute load average: more than about one means other processes competed."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "unknown"


class Table:
    """A titled table of strings, rendered as aligned text or as Markdown.

    The first column is left-aligned (a label); the others are right-aligned
    (numbers).
    """

    def __init__(self, title: str, headers: Sequence[str], note: str = "") -> None:
        self.title = title
        self.headers = list(headers)
        self.rows: list[list[str]] = []
        self.note = note

    def add(self, *cells: str) -> None:
        if len(cells) != len(self.headers):
            raise ValueError(f"expected {len(self.headers)} cells, got {len(cells)}")
        self.rows.append(list(cells))

    def text(self) -> str:
        widths = [
            max(len(row[i]) for row in [self.headers, *self.rows]) for i in range(len(self.headers))
        ]

        def line(cells: Sequence[str]) -> str:
            first = cells[0].ljust(widths[0])
            rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
            return "  ".join([first, *rest]).rstrip()

        rule = "  ".join("-" * width for width in widths)
        out = [self.title, "=" * len(self.title), line(self.headers), rule]
        out += [line(row) for row in self.rows]
        if self.note:
            out += ["", self.note]
        return "\n".join(out)

    def markdown(self, level: int = 3) -> str:
        def line(cells: Sequence[str]) -> str:
            return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

        align = "| :--- | " + " | ".join("---:" for _ in self.headers[1:]) + " |"
        out = [f"{'#' * level} {self.title}", "", line(self.headers), align]
        out += [line(row) for row in self.rows]
        if self.note:
            out += ["", self.note]
        return "\n".join(out)


def machine_table(info: dict[str, str]) -> Table:
    """The machine a run was measured on, as a two-column table."""
    table = Table("Machine", ["", "value"])
    for key, value in info.items():
        table.add(key, value)
    return table
