"""Test-suite configuration: the hypothesis profiles, and where the demo game lives.

The demo game's tests (``tests/examples``) import it as ``arena`` from the
``examples`` folder, which is put on ``sys.path`` here.

Choose one with the ``HYPOTHESIS_PROFILE`` environment variable (default ``dev``):

* ``ci``: what ``scripts/check.sh`` runs. Derandomized, so that a run is
  reproducible; prints the blob that replays a failure.
* ``dev``: a developer's plain ``pytest``. Random, 100 examples per test.
* ``long``: 5,000 examples per test, for hunting bugs by hand, e.g.
  ``HYPOTHESIS_PROFILE=long pytest tests/test_machine.py``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from flatsync import Record
from flatsync.testing import record_registry

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=100,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile("long", max_examples=5000, deadline=None)

settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))


@pytest.fixture
def records() -> Iterator[Mapping[str, type[Record]]]:
    """The registered record classes by name; the registry is put back after the test.

    For tests that declare record classes or add schemas (see
    :func:`flatsync.testing.record_registry`).
    """
    with record_registry() as classes:
        yield classes
