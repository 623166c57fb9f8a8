"""The benchmarks measure what a user can write: none of them reaches a private module.

A private module or name is any dotted part after ``flatsync`` that starts with an
underscore (``flatsync._session``, ``flatsync.testing._conformance``,
``from flatsync import _public``); dunders such as ``flatsync.__version__`` are
public.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPTS = sorted(BENCHMARKS.glob("*.py"))
_DOTTED = re.compile(r"flatsync(\.\w+)+")


def _private(dotted: str) -> bool:
    """Whether ``dotted`` is a private part of flatsync."""
    parts = dotted.split(".")
    return parts[0] == "flatsync" and any(
        part.startswith("_") and not (part.startswith("__") and part.endswith("__"))
        for part in parts[1:]
    )


def _dotted(node: ast.expr, bound: dict[str, str]) -> str | None:
    """``a.b.c`` as the module path it names, when ``a`` was bound by an import of flatsync."""
    attrs: list[str] = []
    while isinstance(node, ast.Attribute):
        attrs.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in bound:
        return None
    return ".".join([bound[node.id], *reversed(attrs)])


def private_uses(source: str) -> list[str]:
    """The private parts of flatsync that ``source`` imports or reaches, with their lines.

    Imports (``import``, ``from ... import``), attribute chains on a name that an
    import bound to flatsync or one of its modules, and strings that spell a
    dotted flatsync path (``importlib.import_module("flatsync._tree")``).
    """
    tree = ast.parse(source)
    bound: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "flatsync":
                    bound[alias.asname or "flatsync"] = alias.name if alias.asname else "flatsync"
        elif (
            isinstance(node, ast.ImportFrom)
            and not node.level
            and (node.module or "").split(".")[0] == "flatsync"
        ):
            for alias in node.names:
                bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    found: set[tuple[int, str]] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Attribute):
            name = _dotted(node, bound)
            names = [name] if name is not None else []
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names = [match.group(0) for match in _DOTTED.finditer(node.value)]
        line: int = getattr(node, "lineno", 0)
        found.update((line, name) for name in names if _private(name))
    return [f"line {line}: {name}" for line, name in sorted(found)]


def test_the_benchmarks_are_there() -> None:
    names = {path.name for path in SCRIPTS}
    assert {"_harness.py", "run.py", "peers.py", "boards.py", "sessions.py"} <= names


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_no_benchmark_reaches_a_private_module(script: Path) -> None:
    assert private_uses(script.read_text("utf-8")) == []


@pytest.mark.parametrize(
    "source",
    [
        "import flatsync._session",
        "import flatsync._session._views as views",
        "from flatsync._session._views import ViewCompiler",
        "from flatsync import _public",
        "from flatsync.testing._conformance import check_codec",
        "import flatsync\nflatsync._tree._values.ATOMS",
        "import flatsync as fs\nfs._codecs",
        "from flatsync import testing\ntesting._conformance",
        "import importlib\nimportlib.import_module('flatsync._handlers._data')",
    ],
)
def test_private_uses_are_found(source: str) -> None:
    assert private_uses(source) != []


@pytest.mark.parametrize(
    "source",
    [
        "import flatsync\nflatsync.__version__",
        "from flatsync import ANY, DataHandler, Publisher, View",
        "from flatsync.testing import assert_strict_equal",
        "import flatsync.protocol\nflatsync.protocol.Marker",
        "from _harness import Run\nRun._private",
        "import flatsync\nx = flatsync.DataHandler()\nx._secret",
    ],
)
def test_public_uses_pass(source: str) -> None:
    assert private_uses(source) == []
