"""The checked-in test vectors (``vectors/``) equal what the library generates now.

The JavaScript package decodes and re-encodes every vector; this test keeps them
from going stale: a change to the wire format fails here until
``python vectors/generate.py`` is run again and the new files are committed.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

VECTORS = Path(__file__).resolve().parent.parent / "vectors"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("flatsync_vectors", VECTORS / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    module = _generator()
    return {name: module.dump(content) for name, content in module.generate().items()}


def test_every_file_is_generated(generated: dict[str, str]) -> None:
    on_disk = {path.name for path in VECTORS.glob("*.json")}
    assert on_disk == set(generated)


@pytest.mark.parametrize(
    "name", ["codec-cbor.json", "codec-json.json", "patches.json", "sessions.json"]
)
def test_vectors_are_current(generated: dict[str, str], name: str) -> None:
    text = (VECTORS / name).read_text(encoding="utf-8")
    assert text == generated[name], f"vectors/{name} is stale: run python vectors/generate.py"
