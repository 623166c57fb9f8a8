"""The optional C accelerator, if it was built and is wanted (the lowest layer).

``speedups`` is the compiled module ``flatsync._native._speedups``, or ``None``
where it was not built (no compiler at install time) or where the environment
variable ``FLATSYNC_PURE`` is set to anything but ``""`` or ``"0"``, which
forces the pure-Python path. The pure-Python code is complete without it, and
is the oracle the accelerator is tested against: every fast path in C either
gives exactly what the Python path gives or declines to it, having changed
nothing. :data:`flatsync.debug.accelerated` says which path is active.

This module imports nothing of flatsync's: the modules that use the
accelerator hand it the objects it needs when they are imported.
"""

from __future__ import annotations

import os
from types import ModuleType

__all__ = ["ACTIVE", "PURE_FORCED", "compiled", "speedups"]

#: Whether ``FLATSYNC_PURE`` forces the pure-Python path.
PURE_FORCED = os.environ.get("FLATSYNC_PURE", "") not in {"", "0"}


_compiled: ModuleType | None
try:
    from . import _speedups as _compiled
except ImportError:  # not built: no compiler at install time
    _compiled = None

#: The compiled accelerator module whatever ``FLATSYNC_PURE`` says (tests compare
#: the two paths in one process), or ``None`` where it was not built.
compiled: ModuleType | None = _compiled
#: The accelerator the hot paths use, or ``None`` (the pure-Python path).
speedups: ModuleType | None = None if PURE_FORCED else compiled
#: Whether the hot paths use the accelerator.
ACTIVE = speedups is not None
