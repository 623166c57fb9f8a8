"""Hatch build hook: compile flatsync's optional C accelerator when a compiler is there.

The accelerator (``src/flatsync/_native/_speedups.c``) is optional: flatsync is
complete in pure Python, and uses the extension when it imports. This hook
builds it with setuptools' ``build_ext`` (the compiler Python itself was built
with). Without a working compiler it warns and the build goes on, pure Python:
``pip install`` of the sdist always works. For a wheel the extension is added
to the wheel (which is then tagged for this interpreter and platform); for an
editable install it is built in place, beside its source, where the editable
package is imported from. ``FLATSYNC_NO_EXTENSION=1`` skips it.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

_SOURCE = Path("src", "flatsync", "_native", "_speedups.c")
_MODULE = "flatsync._native._speedups"


def _compile(root: Path, build_dir: Path) -> Path:
    """Compile the extension into ``build_dir`` and return the built file."""
    from setuptools import Distribution, Extension  # noqa: PLC0415 - a build-time dependency
    from setuptools.command.build_ext import build_ext  # noqa: PLC0415 - same

    extension = Extension(
        _MODULE,
        sources=[str(root / _SOURCE)],
        extra_compile_args=[] if sys.platform == "win32" else ["-std=c11"],
    )
    dist = Distribution({"name": "flatsync", "ext_modules": [extension]})
    command = build_ext(dist)
    command.build_lib = str(build_dir / "lib")
    command.build_temp = str(build_dir / "temp")
    command.ensure_finalized()
    command.run()
    return Path(command.get_ext_fullpath(_MODULE))


class NativeBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    """Builds ``flatsync._native._speedups`` for wheels and editable installs."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or os.environ.get("FLATSYNC_NO_EXTENSION"):
            return
        root = Path(self.root)
        with tempfile.TemporaryDirectory() as tmp:
            try:
                built = _compile(root, Path(tmp))
            except Exception as exc:  # no compiler, no headers, no setuptools: pure Python
                warnings.warn(
                    f"flatsync's C accelerator was not built ({type(exc).__name__}: {exc}); "
                    "flatsync works without it, in pure Python",
                    stacklevel=1,
                )
                print(f"warning: flatsync's C accelerator was not built: {exc}", file=sys.stderr)
                return
            target = root / _SOURCE.parent / built.name
            if version == "editable":
                # The editable package is imported from src/: put it beside its source.
                shutil.copy2(built, target)
                return
            kept = Path(self.directory) / ".native" / built.name
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(built, kept)
        build_data["force_include"][str(kept)] = f"flatsync/_native/{built.name}"
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
