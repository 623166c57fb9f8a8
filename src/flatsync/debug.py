"""Tools to look inside trees and packets: print them, weigh them, record them.

The same tools back the ``flatsync`` command line (``python -m flatsync
decode|pack|replay``).
"""

from __future__ import annotations

from ._debug._accounting import PathCost, byte_costs, cost_report
from ._debug._recording import Recording, read_recording, write_recording
from ._debug._show import dig, overview
from ._native import hooks, pure_python
from ._public import publish

__all__ = [
    "PathCost",
    "Recording",
    "accelerated",
    "byte_costs",
    "cost_report",
    "dig",
    "overview",
    "pure_python",
    "read_recording",
    "write_recording",
]


def accelerated() -> bool:
    """Whether flatsync runs its hot paths in its optional C accelerator now.

    The hot paths are CBOR decoding and encoding and a replica's ``patch``.
    ``True`` where the accelerator was built at install time (a C compiler was
    there), unless the environment variable ``FLATSYNC_PURE`` was set (to
    anything but ``0``) when flatsync was imported, or inside
    :func:`pure_python`. The pure-Python path gives the same results, bytes and
    errors: the accelerator gives what it gives or leaves the case to it.

    >>> import flatsync.debug
    >>> with flatsync.debug.pure_python():
    ...     flatsync.debug.accelerated()
    False
    """
    return hooks.active


publish("flatsync.debug", globals(), __all__)
