"""Tools to look inside trees and packets: print them, weigh them, record them.

The same tools back the ``flatsync`` command line (``python -m flatsync
decode|pack|replay``).
"""

from __future__ import annotations

from ._debug._accounting import PathCost, byte_costs, cost_report
from ._debug._recording import Recording, read_recording, write_recording
from ._debug._show import dig, overview
from ._public import publish

__all__ = [
    "PathCost",
    "Recording",
    "byte_costs",
    "cost_report",
    "dig",
    "overview",
    "read_recording",
    "write_recording",
]

publish("flatsync.debug", globals(), __all__)
