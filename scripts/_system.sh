# Sourced (not run) by scripts/check.sh: system programs that some checks need
# and that PyPI does not carry (Debian's chromium for the browser test,
# redis-server for the relay's Redis backend).
#
#     _flatsync_need_program redis-server redis-server
#
# makes sure the command $1 exists, installing Debian's package $2 with apt-get
# when it does not and this user can (root, or sudo without a password). A
# program it cannot find or install fails the check, saying what to install:
# a missing piece never skips a test silently.

_flatsync_apt_updated=""

# Install Debian's package $1 (for $2, said in messages) with apt-get, as root
# or through sudo without a password; fails, saying what to install, when it
# cannot. apt's output goes to .venv/apt.log.
_flatsync_apt_install() {
    local package=$1 what=$2 sudo=""
    if [[ $(id -u) -ne 0 ]]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo="sudo -n"
        else
            echo "error: $what is missing; install Debian's package $package (apt-get install $package)" >&2
            return 1
        fi
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "error: $what is missing and there is no apt-get here; install the package $package" >&2
        return 1
    fi
    echo "installing Debian's $package (for $what); apt's output goes to .venv/apt.log"
    mkdir -p .venv
    if [[ -z "$_flatsync_apt_updated" ]]; then
        $sudo apt-get update >>.venv/apt.log 2>&1 || true
        _flatsync_apt_updated=1
    fi
    if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends \
        "$package" >>.venv/apt.log 2>&1; then
        tail -20 .venv/apt.log >&2
        echo "error: could not install $package (for $what)" >&2
        return 1
    fi
}

_flatsync_need_program() {
    local program=$1 package=$2
    if command -v "$program" >/dev/null 2>&1; then
        return 0
    fi
    _flatsync_apt_install "$package" "$program" || return 1
    command -v "$program" >/dev/null 2>&1 || {
        echo "error: $package installed but $program is still not on PATH" >&2
        return 1
    }
}

# Makes sure the file $1 exists (a library, say), installing Debian's package $2
# when it does not, as _flatsync_need_program does for commands.
_flatsync_need_file() {
    local file=$1 package=$2
    if [[ -e "$file" ]]; then
        return 0
    fi
    _flatsync_apt_install "$package" "$file" || return 1
    [[ -e "$file" ]] || {
        echo "error: $package installed but $file is still missing" >&2
        return 1
    }
}
