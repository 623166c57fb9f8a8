#!/usr/bin/env bash
# Sets up .venv if needed (the package alone), then runs the demo game (examples/arena): a server
# on 127.0.0.1 with three bots. In a terminal you join as a fourth player
# (arrows or WASD move, q quits); without one (or with --headless) it runs for
# 10 seconds and prints a summary. Extra arguments go to `python -m arena demo`
# (see --help). Runnable from any directory:
#
#     bash scripts/demo.sh
#     bash scripts/demo.sh --headless --duration 5 --bots 6
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The demo needs the package alone (it plays over TCP; curses is in the standard
# library): not the test and docs toolchain that scripts/check.sh installs.
FLATSYNC_EXTRAS="" source scripts/_venv.sh

echo
cd examples
exec python -m arena demo "$@"
