"""Tools to look inside trees and packets: print them, weigh them, record them.

The same tools back the ``flatsync`` command line (``python -m flatsync
decode|pack|replay``).
"""

from __future__ import annotations

from ._debug._accounting import PathCost, byte_costs, cost_report
from ._debug._recording import Recording, read_recording, write_recording
from ._debug._show import dig, overview
from ._native import ACTIVE
from ._public import publish

__all__ = [
    "PathCost",
    "Recording",
    "accelerated",
    "byte_costs",
    "cost_report",
    "dig",
    "overview",
    "read_recording",
    "write_recording",
]

#: Whether flatsync runs its hot paths (CBOR decoding and encoding, a replica's
#: ``patch``) in its optional C accelerator: ``True`` where it was built at
#: install time (a C compiler was there) and the environment variable
#: ``FLATSYNC_PURE`` was not set (to anything but ``0``) when flatsync was
#: imported; ``False`` on the pure-Python path, which gives the same results.
accelerated: bool = ACTIVE

publish("flatsync.debug", globals(), __all__)
