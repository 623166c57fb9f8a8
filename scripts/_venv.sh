# Sourced (not run) by scripts/check.sh and scripts/demo.sh, with the repo root as cwd.
#
# Makes sure .venv exists and holds this package (editable) with the extras in
# FLATSYNC_EXTRAS (default dev; demo.sh installs none),
# then activates it. Needs only Python >= 3.11 on PATH (python3.11, python3 or
# python; or set PYTHON=/path/to/python). pip's output goes to .venv/pip.log and
# is shown only when the install fails.
#
# It also defines _flatsync_test_venvs, which scripts/check.sh calls: the test
# suite runs on every Python in FLATSYNC_TEST_PYTHONS (3.11 and 3.13), each in
# a venv of its own (.venv for the Python of .venv, .venv-3.13 and so on for the
# others), built the same way.

# The Pythons the test suite runs on. CI (CI=true) needs every one of them.
FLATSYNC_TEST_PYTHONS=(3.11 3.13)

_flatsync_find_python() {
    local candidate
    for candidate in ${PYTHON:-} python3.11 python3 python; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    echo "error: flatsync needs Python >= 3.11 (python3.11, python3 or python on PATH, or PYTHON=...)" >&2
    return 1
}

# The X.Y version of the interpreter $1 ("" when it does not run).
_flatsync_version_of() {
    "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true
}

# An interpreter of version $1 (e.g. 3.13): PYTHON3_13=/path if set, else
# python3.13 on PATH, else pyenv's (PYENV_ROOT, or ~/.pyenv) even when pyenv does
# not put it on PATH. A version named in FLATSYNC_HIDE_PYTHONS (e.g. "3.13") is
# never found: that is how to see what the check does on a machine without it.
_flatsync_find_version() {
    local version=$1 override candidate
    override="PYTHON${version/./_}"
    if [[ " ${FLATSYNC_HIDE_PYTHONS:-} " == *" $version "* ]]; then
        return 1
    fi
    local candidates=()
    if [[ -n "${!override:-}" ]]; then
        candidates+=("${!override}")
    fi
    candidates+=("python$version")
    local pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}"
    if [[ -d "$pyenv_root/versions" ]]; then
        # The newest patch release first.
        while IFS= read -r candidate; do
            candidates+=("$candidate")
        done < <(compgen -G "$pyenv_root/versions/$version.*/bin/python$version" | sort -rV)
    fi
    for candidate in "${candidates[@]}"; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            [[ "$(_flatsync_version_of "$candidate")" == "$version" ]]; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

# Makes the venv $1 with the interpreter $2 unless it is there, then installs the
# package (editable) with the extras in FLATSYNC_EXTRAS (default: dev, the whole
# toolchain; empty: the package alone, which is all the demo needs) into it. $3 is the X.Y version the venv
# must have ("" for any >= 3.11): a venv of another version, or whose
# interpreter is gone (e.g. copied from another machine), is rebuilt.
_flatsync_make_venv() {
    local venv=$1 python=$2 version=$3 have
    export PIP_DISABLE_PIP_VERSION_CHECK=1
    if [[ -d "$venv" ]]; then
        have="$(_flatsync_version_of "$venv/bin/python")"
        if [[ -z "$have" ]] || ! "$venv/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null ||
            [[ -n "$version" && "$have" != "$version" ]]; then
            echo "==> $venv is broken or of another Python (${have:-none}): recreating it"
            rm -rf "$venv"
        fi
    fi
    if [[ ! -d "$venv" ]]; then
        if [[ -z "$python" ]]; then
            python="$(_flatsync_find_python)" || return 1
        fi
        echo "==> creating $venv with $python ($("$python" --version 2>&1))"
        "$python" -m venv "$venv" || return 1
        if ! "$venv/bin/python" -m pip install -q --upgrade pip >"$venv/pip.log" 2>&1; then
            cat "$venv/pip.log" >&2
            echo "error: upgrading pip in $venv failed (log above)" >&2
            return 1
        fi
    fi
    local spec="." what="flatsync (editable, no extras)"
    if [[ -n "${FLATSYNC_EXTRAS-dev}" ]]; then
        spec=".[${FLATSYNC_EXTRAS-dev}]"
        what="flatsync (editable) with its ${FLATSYNC_EXTRAS-dev} extra"
    fi
    echo "==> installing $what into $venv (pip's output: $venv/pip.log)"
    if ! "$venv/bin/python" -m pip install -q -e "$spec" >"$venv/pip.log" 2>&1; then
        cat "$venv/pip.log" >&2
        echo "error: pip install -e '$spec' into $venv failed (log above)" >&2
        return 1
    fi
}

_flatsync_setup_venv() {
    _flatsync_make_venv .venv "" "" || return 1
    # shellcheck disable=SC1091
    source .venv/bin/activate
}

# Sets FLATSYNC_TEST_VENVS (the venvs to run the tests in, .venv first; each
# with its Python's version in FLATSYNC_TEST_VERSIONS) and FLATSYNC_MISSING_PYTHONS
# (the versions of FLATSYNC_TEST_PYTHONS not found), making the venvs it needs.
# With CI=true a missing version is an error (return 1).
_flatsync_test_venvs() {
    local main version python
    main="$(_flatsync_version_of .venv/bin/python)"
    FLATSYNC_TEST_VENVS=(.venv)
    FLATSYNC_TEST_VERSIONS=("$(.venv/bin/python -c 'import platform; print(platform.python_version())')")
    FLATSYNC_MISSING_PYTHONS=()
    for version in "${FLATSYNC_TEST_PYTHONS[@]}"; do
        if [[ "$version" == "$main" ]]; then
            continue
        fi
        if python="$(_flatsync_find_version "$version")"; then
            _flatsync_make_venv ".venv-$version" "$python" "$version" || return 1
            FLATSYNC_TEST_VENVS+=(".venv-$version")
            FLATSYNC_TEST_VERSIONS+=("$(".venv-$version/bin/python" -c 'import platform; print(platform.python_version())')")
        else
            FLATSYNC_MISSING_PYTHONS+=("$version")
        fi
    done
    local found=() i
    for i in "${!FLATSYNC_TEST_VENVS[@]}"; do
        found+=("${FLATSYNC_TEST_VERSIONS[$i]} (${FLATSYNC_TEST_VENVS[$i]})")
    done
    echo "==> Pythons found for the tests: ${found[*]}"
    if ((${#FLATSYNC_MISSING_PYTHONS[@]} == 0)); then
        return 0
    fi
    local how=()
    for version in "${FLATSYNC_MISSING_PYTHONS[@]}"; do
        how+=("python$version on PATH, \`pyenv install $version\`, or PYTHON${version/./_}=/path/to/python$version")
    done
    if [[ "${CI:-}" == "true" ]]; then
        echo "error: CI=true and Python ${FLATSYNC_MISSING_PYTHONS[*]} was not found: CI runs" \
            "the tests on every one of Python ${FLATSYNC_TEST_PYTHONS[*]}, so the check fails." \
            "Provide it: ${how[*]}." >&2
        return 1
    fi
    echo "==> NOT FOUND: Python ${FLATSYNC_MISSING_PYTHONS[*]}: the tests will not run on it" \
        "here (CI runs them on ${FLATSYNC_TEST_PYTHONS[*]}). To run them on it too: ${how[*]}."
}

_flatsync_setup_venv
