"""Sphinx configuration for the flatsync docs.

Built by scripts/check.sh with ``-n -W``: every cross-reference must resolve and
every warning fails the build.
"""

from __future__ import annotations

import sys
from importlib.metadata import version as _version
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.errors import PycodeError
from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging

import flatsync

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

_logger = logging.getLogger("flatsync.docs")


def _public_target(target: str) -> str | None:
    """``flatsync._data.DataHandler.diff`` -> ``flatsync.DataHandler.diff``."""
    parts = target.split(".")
    if parts[0] != "flatsync" or not any(p.startswith("_") for p in parts[1:-1]):
        return None
    return ".".join([parts[0], *(p for p in parts[1:-1] if not p.startswith("_")), parts[-1]])


def _resolve_private_module(
    app: Sphinx, env: BuildEnvironment, node: Any, contnode: nodes.TextElement
) -> nodes.reference | None:
    """Resolve references to a private module's object to its public name.

    Type hints name the class where it is defined (``flatsync._data.DataHandler``),
    while the API page documents it where users import it (``flatsync.DataHandler``).
    """
    if node.get("refdomain") != "py":
        return None
    public = _public_target(node.get("reftarget", ""))
    if public is None:
        return None
    domain: Any = env.get_domain("py")
    result: nodes.reference | None = domain.resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], public, node, contnode
    )
    return result


def _attribute_doc_from_private_module(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """Give ``flatsync.NAME`` (autodata) the docstring written under ``NAME`` in its private module.

    autodoc looks for a data item's docstring in the module it is documented in
    (``flatsync``), but it is written where the item is assigned
    (``DELETED = ...`` then a docstring, in ``flatsync._markers``); without this,
    ``DELETED`` would show the docstring of its enum class.
    """
    if what != "data" or not name.startswith("flatsync.") or name.count(".") != 1:
        return
    attr = name.split(".", 1)[1]
    for modname in sorted(m for m in sys.modules if m.startswith("flatsync._")):
        try:
            attr_docs = ModuleAnalyzer.for_module(modname).find_attr_docs()
        except PycodeError:
            continue
        if ("", attr) in attr_docs:
            lines[:] = list(attr_docs["", attr])
            return


def _check_public_names_documented(app: Sphinx, env: BuildEnvironment) -> None:
    """Warn (so -W fails) when a name in ``flatsync.__all__`` is missing from the API page."""
    objects: Any = env.get_domain("py").objects  # type: ignore[attr-defined]
    for name in flatsync.__all__:
        if name.startswith("__"):
            continue
        if f"flatsync.{name}" not in objects:
            _logger.warning("flatsync.%s is public (in __all__) but not documented in api.md", name)


def setup(app: Sphinx) -> None:
    app.connect("missing-reference", _resolve_private_module)
    app.connect("env-check-consistency", _check_public_names_documented)
    app.connect("autodoc-process-docstring", _attribute_doc_from_private_module)
