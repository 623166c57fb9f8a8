"""``python -m relay``: see :mod:`relay` (run it from the ``examples`` folder)."""

from __future__ import annotations

import sys

from .run import main

if __name__ == "__main__":
    sys.exit(main())
