"""The package's layers, held: which layer may import which, no cycles, no I/O in the core.

The layers, from the inside out (the concepts page draws the same picture):

====================  ===================================================================
``_native``           the optional C accelerator's loader (imports nothing of flatsync's)
``_tree``             values, errors, events, markers, the protocol-tree algebra
``_handlers``         the tracked containers and the contract they share
``_codecs``           protocol trees to bytes and back (they know trees, not handlers)
``_session``          frames, publisher, replica, views (sans-I/O)
``net``               asyncio transports (the only layer that opens sockets)
``relay``             brokers and gateways, past one machine
``_debug``            printers, byte accounting, recordings, the command line (on top)
``testing``           strategies and harnesses for tests (on top)
====================  ===================================================================

The public faces (``flatsync``, ``flatsync.protocol``, ``flatsync.debug``) only re-export.
Every import between flatsync's modules is read from the source with ``ast``, wherever it
stands (a function-level import counts), and checked against :data:`ALLOWED`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import flatsync

SRC = Path(flatsync.__file__).resolve().parent

#: The layer of each top-level part of the package (``None``: a public face).
LAYER_OF: dict[str, str | None] = {
    "_native": "native",
    "_tree": "tree",
    "_handlers": "handlers",
    "_codecs": "codecs",
    "_session": "session",
    "net": "net",
    "relay": "relay",
    "_debug": "debug",
    "debug": "face",
    "testing": "testing",
    "__init__": "face",
    "__main__": "face",
    "protocol": "face",
    "_public": "public",
}

#: Which layers each layer may import (its own layer always).
ALLOWED: dict[str, frozenset[str]] = {
    "public": frozenset(),
    "native": frozenset(),
    "tree": frozenset({"native"}),
    "handlers": frozenset({"native", "tree"}),
    "codecs": frozenset({"native", "tree"}),
    "session": frozenset({"native", "tree", "handlers", "codecs"}),
    "net": frozenset({"tree", "handlers", "codecs", "session", "face", "public"}),
    "relay": frozenset({"tree", "handlers", "codecs", "session", "net", "face", "public"}),
    "debug": frozenset({"native", "tree", "handlers", "codecs", "session"}),
    "testing": frozenset({"native", "tree", "handlers", "codecs", "session", "face", "public"}),
    "face": frozenset(
        {"native", "tree", "handlers", "codecs", "session", "debug", "face", "public"}
    ),
}

#: Standard-library modules that do I/O the sans-I/O core must not touch.
IO_MODULES = frozenset(
    {"asyncio", "socket", "socketserver", "ssl", "select", "selectors", "threading"}
)
#: The layers that may use them.
IO_LAYERS = frozenset({"net", "relay"})


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        yield ".".join(("flatsync", *parts)), path


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "flatsync":
        return None
    if len(parts) == 1:
        return "face"
    return LAYER_OF.get(parts[1], "unknown")


def _package(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _imports(module: str, path: Path) -> Iterator[tuple[int, str, bool]]:
    """``(line, imported module, at module level)`` for every import in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    top = {id(node) for node in tree.body}
    for statement in tree.body:  # imports under a module-level `if` or `try` count as top
        if isinstance(statement, ast.If | ast.Try):
            top.update(id(child) for child in ast.walk(statement))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, id(node) in top
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package(module, path).split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield node.lineno, target, id(node) in top
            # ``from . import debug`` imports a module, not a name.
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if any(sub == name for name, _ in _modules()):
                    yield node.lineno, sub, id(node) in top


def _edges() -> list[tuple[str, str, int, bool]]:
    return [
        (module, imported, line, top)
        for module, path in _modules()
        for line, imported, top in _imports(module, path)
    ]


def test_every_part_of_the_package_has_a_layer() -> None:
    unknown = sorted({m for m, _ in _modules() if _layer(m) == "unknown"})
    assert not unknown, f"add these to LAYER_OF in {__file__}: {unknown}"


def test_imports_point_inward() -> None:
    wrong = []
    for module, imported, line, _ in _edges():
        source, target = _layer(module), _layer(imported)
        if target is None or source is None or source == target:
            continue
        if target not in ALLOWED[source]:
            wrong.append(f"{module}:{line} ({source}) imports {imported} ({target})")
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_no_function_level_import_of_flatsync() -> None:
    inner = [
        f"{module}:{line} imports {imported} inside a function or class"
        for module, imported, line, top in _edges()
        if not top and imported.split(".")[0] == "flatsync"
    ]
    assert not inner, "\n".join(inner)


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = {}
    known = {module for module, _ in _modules()}
    for module, imported, _, _ in _edges():
        # A package's own __init__ importing its submodules is how it re-exports.
        if imported in known and imported != module and not imported.startswith(module + "."):
            graph.setdefault(module, set()).add(imported)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            pytest.fail("import cycle: " + " -> ".join(cycle))


def test_no_io_below_the_transports() -> None:
    wrong = [
        f"{module}:{line} imports {imported}"
        for module, imported, line, _ in _edges()
        if imported.split(".")[0] in IO_MODULES and _layer(module) not in IO_LAYERS
    ]
    assert not wrong, "the sans-I/O core imports I/O modules:\n" + "\n".join(wrong)


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    """The walker resolves relative imports, function-level ones included."""
    bad = tmp_path / "mod.py"
    bad.write_text("from ..x import y\n\ndef f():\n    from .._session import _core\n")
    found = list(_imports("flatsync._tree.mod", bad))
    assert (1, "flatsync.x", True) in found
    assert (4, "flatsync._session", False) in found
