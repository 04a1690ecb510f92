#!/usr/bin/env bash
# A real, one-replica OpenStack Swift on 127.0.0.1 for the functional tests
# and the benchmark: proxy, account, container and object servers (PyPI
# swift, own virtualenv), tempauth with Fernet tokens, no memcached, every
# file under RUNDIR.
#
#   harness.sh setup                       # venv (idempotent)
#   harness.sh start RUNDIR                # writes RUNDIR/swift.env
#   harness.sh stop RUNDIR                 # stops by the recorded PIDs
#   harness.sh stop-service RUNDIR KIND    # KIND: proxy|account|container|
#   harness.sh start-service RUNDIR KIND   #       object (error tests)
#   harness.sh pause-service RUNDIR KIND   # SIGSTOP: accepts connections,
#   harness.sh resume-service RUNDIR KIND  # never answers (timeouts)
#
# Users (tempauth): test:tester/testing (admin of account AUTH_test) and
# test:reader/reading (no rights on containers without an ACL: 403).
set -euo pipefail

# shellcheck source=tools/common.sh
. "$(dirname "$0")/../common.sh"

SWIFT_VERSION=${SWIFT_VERSION:-2.38.3}
VENV=$IRONIC_KEYLIME_HARNESS_DIR/venvs/swift
KINDS="account container object proxy"
HELPER=$TOP/tools/swift/helper.py

usage() {
    sed -n '2,16p' "$0" >&2
    exit 2
}

setup() {
    if [ -x "$VENV/bin/swift-proxy-server" ] \
        && "$VENV/bin/python" -c 'import swift' 2>/dev/null; then
        return 0
    fi
    ensure_venv_support
    log "installing swift $SWIFT_VERSION into $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q "swift==$SWIFT_VERSION"
}

# The PID of a server of RUNDIR, if it is still that server.
server_pid() {
    local rundir=$1 kind=$2 pid
    [ -f "$rundir/run/$kind.pid" ] || return 1
    pid=$(cat "$rundir/run/$kind.pid")
    [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' '\n' <"/proc/$pid/cmdline" \
        | grep -qx "$rundir/etc/$kind-server.conf" || return 1
    echo "$pid"
}

port_of() {
    local rundir=$1 kind=$2
    sed -n 's/^bind_port = //p' "$rundir/etc/$kind-server.conf"
}

start_server() {
    local rundir=$1 kind=$2
    "$VENV/bin/swift-$kind-server" "$rundir/etc/$kind-server.conf" -v \
        </dev/null >>"$rundir/log/$kind.log" 2>&1 &
    echo $! >"$rundir/run/$kind.pid"
}

# Wait until a server answers OK on /healthcheck: wait_ready RUNDIR KIND.
wait_ready() {
    local rundir=$1 kind=$2
    "$VENV/bin/python" "$HELPER" wait-ready \
        "$(port_of "$rundir" "$kind")" \
        "$(cat "$rundir/run/$kind.pid")" || {
        log "$kind-server did not start; see $rundir/log/$kind.log"
        tail -n 20 "$rundir/log/$kind.log" >&2
        return 1
    }
}

write_configs() {
    local rundir=$1 ports kind
    read -r -a ports < <("$VENV/bin/python" "$HELPER" ports 4)
    local secrets
    read -r -a secrets < <("$VENV/bin/python" "$HELPER" secrets)
    # With swift_dir other than /etc/swift only [swift-hash] is read.
    cat >"$rundir/etc/swift.conf" <<EOF
[swift-hash]
swift_hash_path_prefix = ${secrets[0]}
swift_hash_path_suffix = ${secrets[1]}

[storage-policy:0]
name = Policy-0
default = yes
EOF
    local i=0 port
    for kind in $KINDS; do
        port=${ports[$i]}
        i=$((i + 1))
        cat >"$rundir/etc/$kind-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $port
workers = 0
user = $(id -un)
swift_dir = $rundir/etc
devices = $rundir/srv
mount_check = false
disable_fallocate = true
fallocate_reserve = 0
bind_timeout = 5
log_name = $kind-server
log_level = INFO
log_udp_host = 127.0.0.1

EOF
        if [ "$kind" != proxy ]; then
            cat >>"$rundir/etc/$kind-server.conf" <<EOF
[pipeline:main]
pipeline = healthcheck $kind-server

[app:$kind-server]
use = egg:swift#$kind

[filter:healthcheck]
use = egg:swift#healthcheck
EOF
            "$VENV/bin/swift-ring-builder" "$rundir/etc/$kind.builder" \
                create 8 1 0 >/dev/null
            "$VENV/bin/swift-ring-builder" "$rundir/etc/$kind.builder" \
                add "r1z1-127.0.0.1:$port/d1" 100 >/dev/null
            # rc 1 is a warning (one device, one replica).
            "$VENV/bin/swift-ring-builder" "$rundir/etc/$kind.builder" \
                rebalance >/dev/null 2>&1 || [ $? -le 1 ]
            continue
        fi
        # The proxy. error_suppression_interval = 0: a backend that was
        # stopped by a test is used again as soon as it is back.
        cat >>"$rundir/etc/$kind-server.conf" <<EOF
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging listing_formats tempauth copy dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true
error_suppression_interval = 0

[filter:tempauth]
use = egg:swift#tempauth
# Fernet tokens validate themselves: no memcached.
fernet_key_k1 = ${secrets[2]}
active_fernet_key_id = k1
user_test_tester = testing .admin
user_test_reader = reading

[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:copy]
use = egg:swift#copy
[filter:dlo]
use = egg:swift#dlo
EOF
    done
}

start() {
    local rundir=$1 kind
    setup
    if [ -d "$rundir/run" ] && ls "$rundir"/run/*.pid >/dev/null 2>&1; then
        log "$rundir has running servers; stop it first"
        return 1
    fi
    mkdir -p "$rundir"
    rundir=$(cd "$rundir" && pwd)
    rm -rf "${rundir:?}/etc" "${rundir:?}/srv" "${rundir:?}/run" \
        "${rundir:?}/log"
    mkdir -p "$rundir/etc" "$rundir/srv/d1" "$rundir/run" "$rundir/log"
    write_configs "$rundir"
    for kind in $KINDS; do
        start_server "$rundir" "$kind"
    done
    for kind in $KINDS; do
        wait_ready "$rundir" "$kind" || { stop "$rundir"; return 1; }
    done
    local proxy_port storage_url
    proxy_port=$(port_of "$rundir" proxy)
    storage_url=$("$VENV/bin/python" "$HELPER" storage-url "$proxy_port" \
        test:tester testing) || { stop "$rundir"; return 1; }
    cat >"$rundir/swift.env" <<EOF
SWIFT_HARNESS_DIR=$rundir
SWIFT_HARNESS_BIN=$VENV/bin
SWIFT_HARNESS_AUTH_URL=http://127.0.0.1:$proxy_port/auth/v1.0
SWIFT_HARNESS_USER=test:tester
SWIFT_HARNESS_KEY=testing
SWIFT_HARNESS_READER_USER=test:reader
SWIFT_HARNESS_READER_KEY=reading
SWIFT_HARNESS_STORAGE_URL=$storage_url
SWIFT_HARNESS_PROXY_PORT=$proxy_port
SWIFT_HARNESS_HARNESS=$TOP/tools/swift/harness.sh
EOF
    log "swift up on 127.0.0.1:$proxy_port ($rundir/swift.env)"
}

stop_one() {
    local rundir=$1 kind=$2 pid
    if pid=$(server_pid "$rundir" "$kind"); then
        kill -TERM "$pid" 2>/dev/null || true
        # A paused (SIGSTOP) server only sees SIGTERM once continued.
        kill -CONT "$pid" 2>/dev/null || true
        for _ in $(seq 50); do
            [ -e "/proc/$pid" ] || break
            [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] \
                || break
            sleep 0.1
        done
        if [ -e "/proc/$pid" ]; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$rundir/run/$kind.pid"
}

stop() {
    local rundir=$1 kind
    [ -d "$rundir/run" ] || return 0
    rundir=$(cd "$rundir" && pwd)
    for kind in $KINDS; do
        stop_one "$rundir" "$kind"
    done
}

check_kind() {
    case ${1:-} in
        proxy|account|container|object) ;;
        *) usage ;;
    esac
}

case ${1:-} in
    setup) setup ;;
    start) [ $# -eq 2 ] || usage; start "$2" ;;
    stop) [ $# -eq 2 ] || usage; stop "$2" ;;
    stop-service)
        [ $# -eq 3 ] || usage
        check_kind "$3"
        stop_one "$(cd "$2" && pwd)" "$3"
        ;;
    start-service)
        [ $# -eq 3 ] || usage
        check_kind "$3"
        rundir=$(cd "$2" && pwd)
        if ! server_pid "$rundir" "$3" >/dev/null; then
            start_server "$rundir" "$3"
        fi
        wait_ready "$rundir" "$3"
        ;;
    pause-service|resume-service)
        [ $# -eq 3 ] || usage
        check_kind "$3"
        pid=$(server_pid "$(cd "$2" && pwd)" "$3") || {
            log "$3-server of $2 is not running"
            exit 1
        }
        if [ "$1" = pause-service ]; then
            kill -STOP "$pid"
        else
            kill -CONT "$pid"
        fi
        ;;
    *) usage ;;
esac
