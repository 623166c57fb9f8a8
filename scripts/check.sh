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

section "setup: redis-server (the relay's Redis tests start one; nats-server comes from the venv)"
_flatsync_need_program redis-server redis-server

section "setup: a venv for each Python the tests run on (${FLATSYNC_TEST_PYTHONS[*]})"
_flatsync_test_venvs

section "ruff format --check"
ruff format --check .

section "ruff check"
ruff check .

section "mypy (strict: src, tests, examples)"
mypy

# The suite, under coverage, in the venv $1 (its interpreter and its tools first
# on PATH), on the path $2: "native" (the C accelerator, which must then be
# built and active) or "pure" (FLATSYNC_PURE=1). Exit 5 (no test collected) is
# a failure too, said as such.
run_tests() {
    local venv=$1 path=$2 status=0 pure="" expect=1
    if [[ "$path" == "pure" ]]; then
        pure=1 expect=""
    fi
    PATH="$PWD/$venv/bin:$PATH" VIRTUAL_ENV="$PWD/$venv" HYPOTHESIS_PROFILE=ci \
        FLATSYNC_PURE="$pure" FLATSYNC_EXPECT_NATIVE="$expect" \
        "$venv/bin/python" -m coverage run -m pytest tests src/flatsync examples/arena ||
        status=$?
    if [[ $status -eq 5 ]]; then
        echo "error: pytest collected no tests in $venv" >&2
    fi
    return "$status"
}

# The whole suite runs on both paths: the C accelerator on the first Python
# (3.11), the pure-Python path (FLATSYNC_PURE=1) on the others (3.13); the
# differential tests (tests/test_native.py) compare the two on every Python.
coverage erase
for i in "${!FLATSYNC_TEST_VENVS[@]}"; do
    test_path=native
    if ((i > 0)); then
        test_path=pure
    fi
    section "pytest on Python ${FLATSYNC_TEST_VERSIONS[$i]} (${FLATSYNC_TEST_VENVS[$i]}), the $test_path path: tests + docstring examples of the library and the demo game, HYPOTHESIS_PROFILE=ci, under coverage"
    run_tests "${FLATSYNC_TEST_VENVS[$i]}" "$test_path"
    tested+=("${FLATSYNC_TEST_VERSIONS[$i]} ($test_path)")
done

# The C accelerator's hostile-input paths under AddressSanitizer, driven by
# libFuzzer (clang from Debian): decode, re-encode and patch whatever it finds.
section "C accelerator: libFuzzer + AddressSanitizer (20 s)"
_flatsync_need_program clang-14 clang-14
_flatsync_need_file "$(clang-14 -print-resource-dir)/lib/linux/libclang_rt.fuzzer-x86_64.a" libclang-rt-14-dev
fuzz_dir=.venv/fuzz-native
rm -rf "$fuzz_dir" && mkdir -p "$fuzz_dir/corpus"
clang-14 -g -O1 -fsanitize=fuzzer,address \
    -I"$(python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')" \
    src/flatsync/_native/fuzz_speedups.c \
    -L"$(python -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')" \
    -Wl,-rpath,"$(python -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')" \
    "-lpython$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')" -o "$fuzz_dir/fuzz"
python - "$fuzz_dir/corpus" <<'PY'
import sys
import flatsync
from flatsync.protocol import Replace
codec = flatsync.CborCodec()
seeds = [{3: {"hp": 6}}, {1: {"name": "x", "pos": (1.5, 2.0)}, "b": [1, 2, None]},
         Replace({1: 2}), {1: flatsync.DELETED, 2.5: b"x", (1, 2): True, -(2**70): 2**70}]
for i, seed in enumerate(seeds):
    with open(f"{sys.argv[1]}/seed{i}", "wb") as out:
        out.write(codec.encode(seed))
PY
PYTHONPATH="$PWD/src:$(python -c 'import site; print(site.getsitepackages()[0])')" \
    PYTHONMALLOC=malloc ASAN_OPTIONS=detect_leaks=0 \
    "$fuzz_dir/fuzz" -max_total_time=20 -max_len=512 -print_final_stats=1 "$fuzz_dir/corpus" \
    >"$fuzz_dir/log" 2>&1 || { tail -40 "$fuzz_dir/log" >&2; exit 1; }
grep -E "^stat::number_of_executed_units|^Done" "$fuzz_dir/log"

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

section "benchmarks: relay fan-out (smoke run: --quick, real brokers and gateway processes on 127.0.0.1)"
python benchmarks/fanout.py --quick

# The JavaScript package (js/): its pinned dev dependencies from the lock file,
# the type check, its tests (which read the vectors in vectors/), and a smoke
# run of its benchmark. (tests/test_js_*.py, in pytest above, build it too.)
section "javascript: npm ci, tsc, node --test (js/)"
_flatsync_need_program node nodejs
_flatsync_need_program npm npm
_flatsync_need_program chromium chromium  # tests/test_js_browser.py installs it too
(cd js && npm ci --no-audit --no-fund --loglevel=error && npm test && npm run --silent bench -- --quick && node bench/colyseus.mjs --quick --scattered)
