"""The optional C accelerator, if it was built and is wanted (the lowest layer).

``compiled`` is the compiled module ``flatsync._native._speedups``, or ``None``
where it was not built (no compiler at install time). ``hooks`` holds what the
hot paths call: the accelerator's functions, or ``None`` for the pure-Python
path, which the environment variable ``FLATSYNC_PURE`` (set to anything but
``""`` or ``"0"``) forces at import, and :func:`pure_python` for a block. The
pure-Python code is complete without it and is the oracle the accelerator is
tested against: every fast path in C either gives exactly what the Python path
gives or declines to it, having changed nothing.

This module imports nothing of flatsync's: the modules that use the
accelerator hand it the objects it needs when they are imported.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

__all__ = ["PURE_FORCED", "compiled", "hooks", "pure_python"]

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


class _Hooks:
    """What the hot paths call: the accelerator's functions, or ``None`` (pure Python)."""

    __slots__ = ("decode", "encode", "module", "on_switch", "patch")

    def __init__(self) -> None:
        #: Called with whether the accelerator is now in use, after each switch
        #: (DataHandler puts its C store in or takes it out).
        self.on_switch: list[Callable[[bool], None]] = []
        self.set(compiled if not PURE_FORCED else None)

    def set(self, module: ModuleType | None) -> None:
        self.module = module
        self.decode: Any = None if module is None else module.decode
        self.encode: Any = None if module is None else module.encode
        self.patch: Any = None if module is None else module.patch
        for switch in self.on_switch:
            switch(module is not None)

    @property
    def active(self) -> bool:
        return self.decode is not None


#: The one place the hot paths look (``hooks.decode`` is ``None`` on the pure path).
hooks = _Hooks()


@contextlib.contextmanager
def pure_python() -> Iterator[None]:
    """Run the block on the pure-Python path, whether or not the C accelerator is built.

    For comparing the two paths in one process (the benchmarks do) and for
    ruling the accelerator out when you suspect it: the results, bytes and
    errors are meant to be the same on both. The path in use before comes back
    when the block ends. It switches the whole process: do not use it while
    another thread uses flatsync.

    >>> import flatsync, flatsync.debug
    >>> with flatsync.debug.pure_python():
    ...     flatsync.CborCodec().decode(bytes.fromhex("a1 03 a1 62 68 70 06"))
    {3: {'hp': 6}}
    """
    saved = hooks.module
    hooks.set(None)
    try:
        yield
    finally:
        hooks.set(saved)
