#!/usr/bin/env bash
# A real Ironic 39 with ironic-keylime on 127.0.0.1, from nothing: the
# all-in-one ironic-attest (API and conductor in one service), sqlite,
# noauth, no RPC bus, fake-hardware, the attestation interfaces enabled.
#
#   harness.sh setup            virtualenv with Ironic 39, ironic-keylime
#                               (this checkout), python-ironicclient and
#                               python-openstackclient
#   harness.sh start RUNDIR     write ironic.conf, create the database,
#                               start ironic-attest, write ironic.env
#   harness.sh stop RUNDIR      stop the ironic-attest started there
#
# start reads the Keylime harness's environment (KEYLIME_HARNESS_*, for
# [keylime]) and, when present, the Swift harness's (SWIFT_HARNESS_*, for
# Ironic's [swift] group). IRONIC_HARNESS_PORT sets the API port (6385);
# IRONIC_HARNESS_CONF_EXTRA names a file appended to ironic.conf.
set -euo pipefail

# shellcheck source=tools/common.sh
. "$(dirname "$0")/../common.sh"

IRONIC_VERSION='ironic>=39.0.0,<40'
VENV=${IRONIC_HARNESS_VENV:-$IRONIC_KEYLIME_HARNESS_DIR/venvs/ironic}
PORT=${IRONIC_HARNESS_PORT:-6385}

setup() {
    ensure_venv_support
    if [ -f "$VENV/.ready" ] && [ -x "$VENV/bin/openstack" ] \
            && [ ! -x "$VENV/bin/ironic-python-agent" ]; then
        log "adding ironic-python-agent (the demo's ramdisk) to $VENV"
        "$VENV/bin/pip" install -q ironic-python-agent
    fi
    if [ -f "$VENV/.ready" ] && [ -x "$VENV/bin/openstack" ]; then
        # Entry points (the client hooks among them) are written when the
        # package is installed: reinstall it when setup.cfg changed.
        if [ "$TOP/setup.cfg" -nt "$VENV/.ready" ]; then
            log "reinstalling ironic-keylime into $VENV (setup.cfg changed)"
            "$VENV/bin/pip" install -q --no-deps -e "$TOP"
            touch "$VENV/.ready"
        fi
        return 0
    fi
    log "creating $VENV (Ironic 39, ironic-keylime, python-ironicclient," \
        "python-openstackclient)"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    # ironic-python-agent: the demo's ramdisk (its API, with the keylime
    # extension, run on 127.0.0.1 by ironic_keylime.tests.functional.ipa_env).
    "$VENV/bin/pip" install -q "$IRONIC_VERSION" python-ironicclient \
        python-openstackclient ironic-python-agent
    "$VENV/bin/pip" install -q -e "$TOP"
    touch "$VENV/.ready"
}

write_conf() {  # write_conf RUNDIR
    local run=$1
    cat >"$run/ironic.conf" <<EOF
[DEFAULT]
auth_strategy = noauth
rpc_transport = none
host = ironic-keylime-demo
debug = true
log_file = $run/ironic.log
use_stderr = false
state_path = $run/state
tempdir = $run/tmp
enabled_hardware_types = fake-hardware
enabled_boot_interfaces = fake
enabled_console_interfaces = no-console
enabled_deploy_interfaces = fake,direct
enabled_firmware_interfaces = no-firmware
enabled_inspect_interfaces = no-inspect
enabled_management_interfaces = fake
enabled_network_interfaces = noop
enabled_power_interfaces = fake
enabled_raid_interfaces = no-raid
enabled_rescue_interfaces = no-rescue
enabled_storage_interfaces = noop
enabled_vendor_interfaces = no-vendor
enabled_bios_interfaces = no-bios
enabled_attestation_interfaces = no-attestation,keylime
default_attestation_interface = no-attestation
default_resource_class = baremetal

[api]
host_ip = 127.0.0.1
port = $PORT

[conductor]
automated_clean = ${IRONIC_HARNESS_AUTOMATED_CLEAN:-true}
check_provision_state_interval = 2
sync_power_state_interval = 60

[database]
connection = sqlite:///$run/ironic.sqlite

[dhcp]
dhcp_provider = none

[service_catalog]
# The Ironic URL the direct deploy interface gives the ramdisk.
endpoint_override = http://127.0.0.1:$PORT

[deploy]
# The demo's ramdisk runs on this machine: no disk erasure, ever.
erase_devices_priority = 0
erase_devices_metadata_priority = 0

[oslo_concurrency]
lock_path = $run/locks

[keylime]
tenant_path = ${KEYLIME_HARNESS_TENANT:-keylime_tenant}
tenant_config = ${KEYLIME_HARNESS_TENANT_CONFIG:-}
tenant_cert_dir = ${KEYLIME_HARNESS_CERT_DIR:-}
status_poll_interval = 2
attestation_timeout = 120
EOF
    if [ -n "${SWIFT_HARNESS_AUTH_URL:-}" ]; then
        cat >>"$run/ironic.conf" <<EOF

[swift]
auth_type = v1password
auth_url = $SWIFT_HARNESS_AUTH_URL
username = $SWIFT_HARNESS_USER
password = $SWIFT_HARNESS_KEY
EOF
    fi
    if [ -n "${IRONIC_HARNESS_CONF_EXTRA:-}" ]; then
        cat "$IRONIC_HARNESS_CONF_EXTRA" >>"$run/ironic.conf"
    fi
}

# The API answers before the conductor registered its hardware types:
# up when it lists fake-hardware (as ironic_keylime/harness/services.py
# waits for it).
ironic_up() {
    "$VENV/bin/python" - "$PORT" <<'EOF' 2>/dev/null
import sys
import requests
resp = requests.get('http://127.0.0.1:%s/v1/drivers' % sys.argv[1],
                    headers={'X-OpenStack-Ironic-API-Version': 'latest'},
                    timeout=5)
sys.exit(0 if any(d['name'] == 'fake-hardware'
                  for d in resp.json()['drivers']) else 1)
EOF
}

wait_ironic() {  # wait_ironic RUNDIR SECONDS
    wait_until "$2" "$1/ironic.pid" ironic-attest ironic_up || {
        log "end of $1/ironic.log:"
        tail -n 30 "$1/ironic.log" >&2 || true
        return 1
    }
}

start() {  # start RUNDIR
    local run=$1
    mkdir -p "$run/locks" "$run/tmp" "$run/state"
    port_free "$PORT"
    write_conf "$run"
    "$VENV/bin/ironic-dbsync" --config-file "$run/ironic.conf" \
        create_schema >"$run/dbsync.log" 2>&1
    # Its own process group (it forks a worker), stopped as one.
    start_group "$run/ironic.pid" "$run/ironic-attest.out" \
        "$VENV/bin/ironic-attest" --config-file "$run/ironic.conf"
    wait_ironic "$run" 120
    cat >"$run/ironic.env" <<EOF
IRONIC_HARNESS_DIR=$run
IRONIC_HARNESS_URL=http://127.0.0.1:$PORT
IRONIC_HARNESS_BIN=$VENV/bin
IRONIC_HARNESS_CONF=$run/ironic.conf
IRONIC_HARNESS_LOG=$run/ironic.log
EOF
    log "ironic-attest up on 127.0.0.1:$PORT (pid $(cat "$run/ironic.pid"))"
}

stop() {  # stop RUNDIR
    # TERM, 30 s for the group to go, then KILL for workers left.
    stop_group "$1/ironic.pid" 60 0.5
}

case "${1:-}" in
    setup) setup ;;
    start) start "${2:?RUNDIR}" ;;
    stop) stop "${2:?RUNDIR}" ;;
    *)
        echo "usage: $0 setup | start RUNDIR | stop RUNDIR" >&2
        exit 2
        ;;
esac
