"""Sphinx configuration for the flatsync docs.

Built by scripts/check.sh with ``-n -W``: every cross-reference must resolve and
every warning fails the build.
"""

from __future__ import annotations

import sys
from importlib.metadata import version as _version
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util import logging

import flatsync
import flatsync.net
import flatsync.relay
import flatsync.relay.local
import flatsync.testing

# The tutorial and the debugging page run the demo game, imported as `arena`.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

# -- Project -----------------------------------------------------------------

project = "flatsync"
author = "The flatsync developers"
copyright = "2026, The flatsync developers"
release = _version("flatsync")
version = ".".join(release.split(".")[:2])

# -- General -----------------------------------------------------------------

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.doctest",
    "sphinx.ext.intersphinx",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

nitpicky = True

# The build machines reach no documentation hosts, so intersphinx fetches
# nothing. References into the standard library and other packages therefore
# cannot resolve: the regex below ignores dotted targets outside flatsync (e.g.
# ``collections.abc.Mapping``, ``enum.Enum``, ``cbor2.CBOREncoder``,
# ``attrs.evolve``). Builtins (``int``, ``bytes``) and ``typing`` names are
# already accepted by Sphinx. Every reference to flatsync itself, and every
# unqualified name, must still resolve.
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}
nitpick_ignore_regex = [(r"py:.*", r"(?!flatsync\.)[A-Za-z_]\w*\.[\w.]+")]

# -- MyST --------------------------------------------------------------------

myst_enable_extensions = [
    "colon_fence",
    "deflist",
    "fieldlist",
    "attrs_inline",
    "smartquotes",
]
myst_heading_anchors = 3

# -- autodoc / napoleon ------------------------------------------------------

autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_member_order = "bysource"
autodoc_preserve_defaults = True
autodoc_default_options = {"members": True, "show-inheritance": True}
python_use_unqualified_type_names = True

napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_attr_annotations = True

# -- doctest -----------------------------------------------------------------

# Narrative pages test their examples in ```{doctest} blocks. Plain ``>>>``
# blocks (docstrings pulled in by autodoc) are left to pytest --doctest-modules,
# which runs them with their module's globals.
doctest_test_doctest_blocks = ""
doctest_global_setup = "import flatsync"

# -- HTML --------------------------------------------------------------------

html_theme = "furo"
html_title = f"flatsync {release}"

# -- Public names ------------------------------------------------------------
#
# Every re-exported object names its public module (``flatsync._public.publish``,
# as cbor2 does), so type hints and references resolve without private paths.

_logger = logging.getLogger("flatsync.docs")


def _check_public_names_documented(app: Sphinx, env: BuildEnvironment) -> None:
    """Warn (so -W fails) when a public name of a namespace is missing from the API page."""
    objects: Any = env.get_domain("py").objects  # type: ignore[attr-defined]
    for module in (
        flatsync,
        flatsync.protocol,
        flatsync.debug,
        flatsync.testing,
        flatsync.net,
        flatsync.relay,
        flatsync.relay.local,
    ):
        for name in module.__all__:
            documented = f"{module.__name__}.{name}" in objects
            # flatsync.protocol re-exports three root names, documented at the root.
            if name.startswith("__") or documented or getattr(flatsync, name, None) is not None:
                continue
            _logger.warning(
                "%s.%s is public (in __all__) but not documented in api.md", module.__name__, name
            )


def _hide_native_bases(app: Sphinx, name: str, obj: Any, options: Any, bases: list[Any]) -> None:
    """DataHandler derives from the C accelerator's dict (where built): show ``dict``."""
    bases[:] = [
        dict if getattr(b, "__module__", "").startswith("flatsync._native") else b for b in bases
    ]


def setup(app: Sphinx) -> None:
    app.connect("env-check-consistency", _check_public_names_documented)
    app.connect("autodoc-process-bases", _hide_native_bases)
