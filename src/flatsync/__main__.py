"""``python -m flatsync``: the command line (see :mod:`flatsync._debug._cli`)."""

import sys

from ._debug._cli import main

if __name__ == "__main__":
    sys.exit(main())
