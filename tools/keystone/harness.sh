#!/usr/bin/env bash
# A real Keystone on 127.0.0.1 for the functional tests of Ironic's
# policies under auth_strategy = keystone: PyPI keystone in its own
# virtualenv, sqlite, Fernet tokens, served by gunicorn; every file of a
# Keystone under its RUNDIR.
#
#   harness.sh setup               # venv (idempotent, ready-marker)
#   harness.sh start RUNDIR PORT   # writes RUNDIR/keystone.env
#   harness.sh stop RUNDIR         # stops by the recorded PID
#
# keystone-manage bootstrap makes the user "admin" (a random password,
# in RUNDIR/keystone.env), admin of the project "admin" and of the
# system, and the identity endpoint http://127.0.0.1:PORT/v3.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
export IRONIC_KEYLIME_HARNESS_DIR=${IRONIC_KEYLIME_HARNESS_DIR:-$TOP/.harness}
# shellcheck source=tools/common.sh
. "$TOP/tools/common.sh"

KEYSTONE_VERSION=${KEYSTONE_VERSION:-30.0.0}
GUNICORN_VERSION=${GUNICORN_VERSION:-27.0.1}
VENV=$IRONIC_KEYLIME_HARNESS_DIR/venvs/keystone
READY=$VENV/.ready-$KEYSTONE_VERSION-$GUNICORN_VERSION

usage() {
    sed -n '2,13p' "$0" >&2
    exit 2
}

setup() {
    if [ -f "$READY" ]; then
        return 0
    fi
    ensure_venv_support
    log "installing keystone $KEYSTONE_VERSION into $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q "keystone==$KEYSTONE_VERSION" \
        "gunicorn==$GUNICORN_VERSION"
    # keystone.wsgi.api builds the application when imported (it needs a
    # configuration): only check that it is there.
    "$VENV/bin/python" -c 'import importlib.util as u, sys
sys.exit(u.find_spec("keystone.wsgi.api") is None)'
    touch "$READY"
}

# The PID of RUNDIR's gunicorn, if it is still that process (its working
# directory is RUNDIR/etc).
server_pid() {
    local rundir=$1 pid
    [ -f "$rundir/keystone.pid" ] || return 1
    pid=$(cat "$rundir/keystone.pid")
    [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$rundir/etc" ] \
        || return 1
    echo "$pid"
}

write_config() {
    local rundir=$1 port=$2
    cat >"$rundir/etc/keystone.conf" <<EOF
[DEFAULT]
log_file = $rundir/log/keystone.log
use_stderr = false

[database]
connection = sqlite:///$rundir/keystone.sqlite

[token]
provider = fernet

[fernet_tokens]
key_repository = $rundir/fernet-keys

[fernet_receipts]
key_repository = $rundir/fernet-keys

[credential]
key_repository = $rundir/credential-keys
EOF
    # gunicorn reads ./gunicorn.conf.py; it gets no arguments, because
    # Keystone parses the process's arguments as its own (oslo.config).
    cat >"$rundir/etc/gunicorn.conf.py" <<EOF
wsgi_app = 'keystone.wsgi.api:application'
bind = '127.0.0.1:$port'
workers = 1
timeout = 60
errorlog = '$rundir/log/gunicorn.log'
control_socket_disable = True
EOF
}

manage() {
    local rundir=$1
    shift
    "$VENV/bin/keystone-manage" --config-file "$rundir/etc/keystone.conf" \
        "$@" >>"$rundir/log/keystone-manage.log" 2>&1 || {
        log "keystone-manage $1 failed; see $rundir/log/keystone-manage.log"
        tail -n 20 "$rundir/log/keystone-manage.log" >&2
        return 1
    }
}

start() {
    local rundir=$1 port=$2 password
    setup
    mkdir -p "$rundir"
    rundir=$(cd "$rundir" && pwd)
    if server_pid "$rundir" >/dev/null; then
        log "$rundir has a running Keystone; stop it first"
        return 1
    fi
    port_free "$port"
    rm -rf "${rundir:?}/etc" "${rundir:?}/log" "${rundir:?}/fernet-keys" \
        "${rundir:?}/credential-keys" "${rundir:?}/keystone.sqlite"
    mkdir -p "$rundir/etc" "$rundir/log"
    install -d -m 700 "$rundir/fernet-keys" "$rundir/credential-keys"
    write_config "$rundir" "$port"
    password=$("$VENV/bin/python" -c \
        'import secrets; print(secrets.token_urlsafe(24))')
    manage "$rundir" db_sync
    manage "$rundir" fernet_setup --keystone-user "$(id -u)" \
        --keystone-group "$(id -g)"
    manage "$rundir" credential_setup --keystone-user "$(id -u)" \
        --keystone-group "$(id -g)"
    # The password reaches keystone-manage through its environment, not
    # its argument list (visible to every user in /proc).
    OS_BOOTSTRAP_PASSWORD=$password manage "$rundir" bootstrap \
        --bootstrap-username admin --bootstrap-project-name admin \
        --bootstrap-role-name admin \
        --bootstrap-admin-url "http://127.0.0.1:$port/v3" \
        --bootstrap-public-url "http://127.0.0.1:$port/v3" \
        --bootstrap-internal-url "http://127.0.0.1:$port/v3" \
        --bootstrap-region-id RegionOne
    # One worker: the tests make a few dozen requests. Its own session
    # (setsid): stop signals this group and nothing else.
    (cd "$rundir/etc" \
        && OS_KEYSTONE_CONFIG_FILES=$rundir/etc/keystone.conf \
        exec setsid "$VENV/bin/gunicorn" \
        </dev/null >>"$rundir/log/gunicorn.log" 2>&1) &
    echo $! >"$rundir/keystone.pid"
    wait_port "$port" 60 || { stop "$rundir"; return 1; }
    (umask 077 && cat >"$rundir/keystone.env" <<EOF
KEYSTONE_HARNESS_DIR=$rundir
KEYSTONE_HARNESS_AUTH_URL=http://127.0.0.1:$port/v3
KEYSTONE_HARNESS_ADMIN_USER=admin
KEYSTONE_HARNESS_ADMIN_PASSWORD=$password
KEYSTONE_HARNESS_ADMIN_PROJECT=admin
EOF
    )
    log "Keystone on http://127.0.0.1:$port/v3 ($rundir)"
}

stop() {
    local rundir=$1 pid
    rundir=$(cd "$rundir" && pwd)
    pid=$(server_pid "$rundir") || { rm -f "$rundir/keystone.pid"; return 0; }
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$rundir/keystone.pid"
}

case ${1:-} in
    setup) setup ;;
    start) [ $# -eq 3 ] || usage; start "$2" "$3" ;;
    stop) [ $# -eq 2 ] || usage; stop "$2" ;;
    *) usage ;;
esac
