# Sourced (not run) by scripts/check.sh and scripts/demo.sh, with the repo root as cwd.
#
# Makes sure .venv exists and holds this package (editable) with its dev extra,
# then activates it. Needs only Python >= 3.11 on PATH (python3.11, python3 or
# python; or set PYTHON=/path/to/python). pip's output goes to .venv/pip.log and
# is shown only when the install fails.

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

_flatsync_setup_venv() {
    local python
    export PIP_DISABLE_PIP_VERSION_CHECK=1
    # A .venv whose interpreter is gone (e.g. copied from another machine) is rebuilt.
    if [[ -d .venv ]] && ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "==> .venv is broken or too old: recreating it"
        rm -rf .venv
    fi
    if [[ ! -d .venv ]]; then
        python="$(_flatsync_find_python)" || return 1
        echo "==> creating .venv with $python ($("$python" --version 2>&1))"
        "$python" -m venv .venv || return 1
        if ! .venv/bin/python -m pip install -q --upgrade pip >.venv/pip.log 2>&1; then
            cat .venv/pip.log >&2
            echo "error: upgrading pip in .venv failed (log above)" >&2
            return 1
        fi
    fi
    echo "==> installing flatsync (editable) with its dev extra into .venv"
    if ! .venv/bin/python -m pip install -q -e '.[dev]' >.venv/pip.log 2>&1; then
        cat .venv/pip.log >&2
        echo "error: pip install -e '.[dev]' failed (log above)" >&2
        return 1
    fi
    # shellcheck disable=SC1091
    source .venv/bin/activate
}

_flatsync_setup_venv
