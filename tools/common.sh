# Shared shell helpers of the tools (sourced, not run).
# shellcheck shell=bash

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
    while ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
        if [ "$(date +%s)" -ge "$end" ]; then
            log "port $1 not up after $2 s"
            return 1
        fi
        sleep 0.2
    done
}

# Fail when 127.0.0.1:PORT is already taken: port_free PORT.
port_free() {
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
        log "port $1 on 127.0.0.1 is already in use"
        return 1
    fi
}
