#!/usr/bin/env bash
# The one check script: sets up .venv if needed, then runs every check in order
# and stops at the first failure (non-zero exit). Runnable from any directory:
#
#     bash scripts/check.sh
#
# Needs only Python >= 3.11 and PyPI. The steps: formatting, lint, types, tests
# (with the docstring examples, hypothesis profile "ci") on every Python of
# FLATSYNC_TEST_PYTHONS it finds (3.11 and 3.13: see scripts/_venv.sh), the
# docs' examples, branch coverage of the package over all of those (printed,
# with a floor: fail_under in pyproject.toml), the demo game, the docs, and a
# smoke run of each benchmark.
#
# Where CI=true, every Python of FLATSYNC_TEST_PYTHONS must be found or the check
# fails; elsewhere it runs the tests on those it finds and says which it did
# not find. FLATSYNC_HIDE_PYTHONS="3.13" pretends 3.13 is not installed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

start=$SECONDS
current="setup"
tested=()
finish() {
    local status=$?
    local elapsed=$((SECONDS - start))
    echo
    if ((${#tested[@]})); then
        echo "==> the tests passed on Python ${tested[*]}"
    fi
    if [[ -n "${FLATSYNC_MISSING_PYTHONS:-}" ]]; then
        echo "==> NOT FOUND, so the tests did not run on: Python ${FLATSYNC_MISSING_PYTHONS[*]}"
    fi
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
source scripts/_system.sh

section "setup: a venv for each Python the tests run on (${FLATSYNC_TEST_PYTHONS[*]})"
_flatsync_test_venvs

section "ruff format --check"
ruff format --check .

section "ruff check"
ruff check .

section "mypy (strict: src, tests, examples)"
mypy

# The suite, under coverage, in the venv $1 (its interpreter and its tools first
# on PATH). Exit 5 (no test collected) is a failure too, said as such.
run_tests() {
    local venv=$1 status=0
    PATH="$PWD/$venv/bin:$PATH" VIRTUAL_ENV="$PWD/$venv" HYPOTHESIS_PROFILE=ci \
        "$venv/bin/python" -m coverage run -m pytest tests src/flatsync examples/arena ||
        status=$?
    if [[ $status -eq 5 ]]; then
        echo "error: pytest collected no tests in $venv" >&2
    fi
    return "$status"
}

coverage erase
for i in "${!FLATSYNC_TEST_VENVS[@]}"; do
    section "pytest on Python ${FLATSYNC_TEST_VERSIONS[$i]} (${FLATSYNC_TEST_VENVS[$i]}): tests + docstring examples of the library and the demo game, HYPOTHESIS_PROFILE=ci, under coverage"
    run_tests "${FLATSYNC_TEST_VENVS[$i]}"
    tested+=("${FLATSYNC_TEST_VERSIONS[$i]}")
done

# -E: read every page afresh, so that a warning in an unchanged page is not
# hidden by a cached environment and -W really fails the build.
section "sphinx doctest (examples in the docs, under coverage)"
coverage run -m sphinx -n -W --keep-going -E -b doctest docs docs/_build/doctest

section "coverage: branches of flatsync, over the tests on Python ${FLATSYNC_TEST_VERSIONS[*]} and the docs' examples (floor: fail_under in pyproject.toml)"
coverage combine -q
coverage report

section "demo game (headless smoke run: 2 s)"
(cd examples && python -m arena demo --headless --duration 2 --rate 20)

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

section "benchmarks: networking (smoke run: --quick, real sockets on 127.0.0.1)"
python benchmarks/net.py --quick

# The JavaScript package (js/): its pinned dev dependencies from the lock file,
# the type check, its tests (which read the vectors in vectors/), and a smoke
# run of its benchmark. (tests/test_js_*.py, in pytest above, build it too.)
section "javascript: npm ci, tsc, node --test (js/)"
_flatsync_need_program node nodejs
_flatsync_need_program npm npm
_flatsync_need_program chromium chromium  # tests/test_js_browser.py installs it too
(cd js && npm ci --no-audit --no-fund --loglevel=error && npm test && npm run --silent bench -- --quick)
