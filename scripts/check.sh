#!/usr/bin/env bash
# The one check script: sets up .venv if needed, then runs every check in order
# and stops at the first failure (non-zero exit). Runnable from any directory:
#
#     bash scripts/check.sh
#
# Needs only Python >= 3.11 and PyPI. The steps: formatting, lint, types, tests
# (with the docstring examples, hypothesis profile "ci"), the docs' examples, the
# docs themselves, and a smoke run of the benchmarks when benchmarks/run.py exists.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

start=$SECONDS
current="setup"
finish() {
    local status=$?
    local elapsed=$((SECONDS - start))
    echo
    if [[ $status -eq 0 ]]; then
        printf '==> all checks passed in %dm%02ds\n' $((elapsed / 60)) $((elapsed % 60))
    else
        printf '==> FAILED at "%s" (exit %d) after %dm%02ds\n' \
            "$current" "$status" $((elapsed / 60)) $((elapsed % 60)) >&2
    fi
}
trap finish EXIT

section() {
    current="$1"
    printf '\n==> %s\n' "$1"
}

section "setup: .venv"
source scripts/_venv.sh

section "ruff format --check"
ruff format --check .

section "ruff check"
ruff check .

section "mypy (strict: src, tests, examples)"
mypy

section "pytest (tests + docstring examples of the library and the demo game, HYPOTHESIS_PROFILE=ci)"
HYPOTHESIS_PROFILE=ci pytest tests src/flatsync examples/arena

section "demo game (headless smoke run: 2 s)"
(cd examples && python -m arena demo --headless --duration 2 --rate 20)

# -E: read every page afresh, so that a warning in an unchanged page is not
# hidden by a cached environment and -W really fails the build.
section "sphinx doctest (examples in the docs)"
sphinx-build -n -W --keep-going -E -b doctest docs docs/_build/doctest

section "sphinx html"
sphinx-build -n -W --keep-going -E -q -b html docs docs/_build/html

# Smoke runs only: they print tables and assert no times.
section "benchmarks: core (smoke run: --quick)"
python benchmarks/run.py --quick

section "benchmarks: peers (smoke run: --quick)"
python benchmarks/peers.py --quick

section "benchmarks: boards (smoke run: --quick)"
python benchmarks/boards.py --quick

section "benchmarks: sessions (smoke run: --quick)"
python benchmarks/sessions.py --quick
