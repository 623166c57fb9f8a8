#!/usr/bin/env bash
# Sets up .venv if needed, then plays the seed example end to end: a server
# state, a tracked change, the packets' bytes, and a replica that catches up.
# Runnable from any directory:
#
#     bash scripts/demo.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

source scripts/_venv.sh

echo
python examples/seed_example.py
