# Shared shell helpers of the tools (sourced, not run). Sourcing it sets
# TOP (the checkout) and exports IRONIC_KEYLIME_HARNESS_DIR (default
# TOP/.harness), so that a script's prologue is one line:
#   # shellcheck source=tools/common.sh
#   . "$(dirname "$0")/../common.sh"
# shellcheck shell=bash

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export IRONIC_KEYLIME_HARNESS_DIR=${IRONIC_KEYLIME_HARNESS_DIR:-$TOP/.harness}

log() {
    echo "[ironic-keylime $(date +%T)] $*" >&2
}

# Install Debian packages that are missing, when we may (root).
apt_install() {
    local missing=()
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null \
            | grep -q 'install ok installed' || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ]; then
        log "missing system packages: ${missing[*]} (install them as root)"
        return 1
    fi
    log "apt-get install ${missing[*]}"
    if [ ! -f "${IRONIC_KEYLIME_HARNESS_DIR:-/tmp}/.apt-updated" ]; then
        apt-get update -q >/dev/null
        mkdir -p "${IRONIC_KEYLIME_HARNESS_DIR:-/tmp}"
        touch "${IRONIC_KEYLIME_HARNESS_DIR:-/tmp}/.apt-updated"
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" \
        >/dev/null
}

# python3 -m venv needs python3-venv on a Debian system Python.
ensure_venv_support() {
    if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
        apt_install python3-venv
    fi
}

# Wait until 127.0.0.1:PORT accepts connections: wait_port PORT SECONDS.
wait_port() {
    local end
    end=$(( $(date +%s) + $2 ))
    while ! port_open "$1"; do
        if [ "$(date +%s)" -ge "$end" ]; then
            log "port $1 not up after $2 s"
            return 1
        fi
        sleep 0.2
    done
}

# Fail when 127.0.0.1:PORT is already taken: port_free PORT.
port_free() {
    if port_open "$1"; then
        log "port $1 on 127.0.0.1 is already in use"
        return 1
    fi
}

# Whether 127.0.0.1:PORT accepts connections: port_open PORT.
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Start a command in the background in its own session and process
# group; its PID (also the group id) goes to PIDFILE, its output is
# appended to LOG: start_group PIDFILE LOG CMD...
start_group() {
    local pidfile=$1 out=$2
    shift 2
    setsid "$@" >>"$out" 2>&1 </dev/null &
    echo $! >"$pidfile"
}

# Stop the process group of start_group: CONT (a frozen service must see
# the TERM), TERM, up to TRIES waits of SECONDS for the group to go, then
# KILL for whatever is left: stop_group PIDFILE TRIES SECONDS.
stop_group() {
    local pidfile=$1 tries=$2 pause=$3 pid
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    kill -CONT -- "-$pid" 2>/dev/null || true
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq "$tries"); do
        kill -0 -- "-$pid" 2>/dev/null || break
        sleep "$pause"
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$pidfile"
}

# Run CMD until it succeeds; fail as soon as the process of PIDFILE has
# exited, or after SECONDS: wait_until SECONDS PIDFILE WHAT CMD...
wait_until() {
    local seconds=$1 pidfile=$2 what=$3 end
    shift 3
    end=$(( $(date +%s) + seconds ))
    until "$@"; do
        if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
            log "$what exited"
            return 1
        fi
        if [ "$(date +%s)" -ge "$end" ]; then
            log "$what not up after $seconds s"
            return 1
        fi
        sleep 0.2
    done
}

# A benchmark's Keylime: set up the harness, start it in a new run
# directory RUN (IRONIC_KEYLIME_HARNESS_DIR/PREFIX.XXXXXX) and stop it
# when the script exits: keylime_for_benchmark PREFIX.
keylime_for_benchmark() {
    "$TOP/tools/keylime/harness.sh" setup
    mkdir -p "$IRONIC_KEYLIME_HARNESS_DIR"
    RUN=$(mktemp -d "$IRONIC_KEYLIME_HARNESS_DIR/$1.XXXXXX")
    # shellcheck disable=SC2064  # RUN is fixed now
    trap "'$TOP/tools/keylime/harness.sh' stop '$RUN'" EXIT
    "$TOP/tools/keylime/harness.sh" start "$RUN"
}
