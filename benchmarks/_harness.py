"""Shared helpers for the benchmark scripts: the command line, timing, the machine,
tables, and the one writer of every benchmark's results.

Every benchmark builds its command line with :func:`parser` (``--quick``,
``--json``, ``--markdown``, ``--seed``, plus its own options), collects its
figures in a :class:`Run` and ends with :meth:`Run.write`, which prints the
tables and writes the JSON and Markdown results.

Only the standard library: a benchmark must not depend on what it measures
beyond the package itself and its runtime dependencies.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "REPO",
    "RESULTS",
    "Run",
    "Table",
    "gc_disabled",
    "load_average",
    "machine",
    "machine_table",
    "median",
    "parser",
]

#: The repository root (the parent of ``benchmarks/``).
REPO = Path(__file__).resolve().parent.parent
#: Where results go unless ``--json`` / ``--markdown`` say otherwise.
RESULTS = REPO / "benchmarks" / "results"


# -- the command line and the results ---------------------------------------------------


def parser(script: str, doc: str | None, *, name: str, seed: int = 2024) -> argparse.ArgumentParser:
    """The command line every benchmark shares; the caller adds its own options.

    Args:
        script: The benchmark's ``__file__`` (its name goes into the reports).
        doc: The benchmark's ``__doc__``: its first paragraph is the description.
        name: The stem of its results files: ``benchmarks/results/NAME.json`` and
            ``NAME.md`` (``NAME-quick.*`` with ``--quick``).
        seed: The default random seed.
    """
    description = doc.split("\n\n")[0] if doc else None
    p = argparse.ArgumentParser(description=description)
    p.set_defaults(benchmark_name=name, benchmark_script=Path(script).name)
    p.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run of seconds, as scripts/check.sh runs it: nothing to read into it",
    )
    p.add_argument(
        "--json",
        type=Path,
        metavar="PATH",
        default=None,
        help=f"write every figure here (default benchmarks/results/{name}.json, "
        f"{name}-quick.json with --quick)",
    )
    p.add_argument(
        "--markdown",
        type=Path,
        metavar="PATH",
        default=None,
        help=f"write the tables here as Markdown (default benchmarks/results/{name}.md, "
        f"{name}-quick.md with --quick)",
    )
    p.add_argument("--seed", type=int, default=seed, help=f"the random seed (default {seed})")
    return p


class Run:
    """One run of a benchmark: its results (a JSON tree) and the one writer of them.

    :attr:`results` starts with the benchmark's title, whether the run is
    ``--quick`` and the machine; the benchmark adds its figures, then calls
    :meth:`write`.
    """

    def __init__(self, args: argparse.Namespace, title: str) -> None:
        self.args = args
        self.title = title
        self.name: str = args.benchmark_name
        self.script: str = args.benchmark_script
        self.quick: bool = args.quick
        self.started = time.perf_counter()
        self.machine = machine(_version("flatsync"))
        self.results: dict[str, Any] = {
            "benchmark": title,
            "quick": self.quick,
            "machine": self.machine,
        }

    @property
    def json_path(self) -> Path:
        suffix = "-quick" if self.quick else ""
        path: Path | None = self.args.json
        return path or RESULTS / f"{self.name}{suffix}.json"

    @property
    def markdown_path(self) -> Path:
        suffix = "-quick" if self.quick else ""
        path: Path | None = self.args.markdown
        return path or RESULTS / f"{self.name}{suffix}.md"

    def markdown(self, tables: Sequence[Table]) -> str:
        """The Markdown report: title, the command, the tables and the machine."""
        mode = "quick smoke run: do not read anything into these" if self.quick else "full run"
        command = f"python benchmarks/{self.script}{' --quick' if self.quick else ''}"
        parts = [f"# {self.title}", "", f"`{command}` ({mode}).", ""]
        parts += [table.markdown() + "\n" for table in tables]
        parts += [machine_table(self.machine).markdown(), ""]
        return "\n".join(parts)

    def write(self, tables: Sequence[Table]) -> None:
        """Print the tables and the machine, and write the JSON and Markdown results."""
        self.results["elapsed_s"] = round(time.perf_counter() - self.started, 1)
        self.machine["load at end"] = load_average()
        for table in [*tables, machine_table(self.machine)]:
            print(table.text(), end="\n\n", flush=True)
        json_path, md_path = self.json_path, self.markdown_path
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(
            json.dumps(self.results, indent=2, ensure_ascii=False, default=str) + "\n", "utf-8"
        )
        md_path.parent.mkdir(parents=True, exist_ok=True)
        md_path.write_text(self.markdown(tables), "utf-8")
        print(f"wrote {_shown(json_path)} and {_shown(md_path)} in {self.results['elapsed_s']} s")


def _shown(path: Path) -> str:
    """``path`` relative to the repository when it is inside it."""
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


# -- timing -----------------------------------------------------------------------------


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


# -- the machine ------------------------------------------------------------------------


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
    """The installed version of the distribution ``dist``."""
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


# -- tables -----------------------------------------------------------------------------


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
