#!/usr/bin/env bash
# A real Keylime on 127.0.0.1 for the functional tests, from nothing:
# Keylime 7.14.3 verifier, registrar and tenant (PyPI, own virtualenv), the
# Keylime 6.6.0 Python agent (the last one on PyPI) on swtpm with an EK
# certificate, reading a synthetic IMA log whose entries are extended into
# PCR 10.
#
#   harness.sh setup                    system packages, virtualenvs
#   harness.sh start RUNDIR             start everything, write keylime.env
#   harness.sh stop RUNDIR              stop every process it started
#   harness.sh tamper RUNDIR PATH       measure a new file as PATH
#   harness.sh reset RUNDIR             a clean node again (same agent)
#   harness.sh other-tpm RUNDIR [NAME]  the agent (same UUID, same ports)
#                                       on another TPM, state RUNDIR/tpm-NAME
#                                       (default "other"); reset goes back
#   harness.sh stop-service RUNDIR verifier|registrar
#   harness.sh start-service RUNDIR verifier|registrar
#
# Virtualenvs and sdists are kept in $IRONIC_KEYLIME_HARNESS_DIR; everything
# of one run (configs, state, logs/) in RUNDIR. Only one stack can run on a
# machine at a time: the ports are Keylime's defaults.
set -euo pipefail
# keylime.models skips importing its submodules when TOX_ENV_NAME is set
# (Keylime's own static checks), and its servers then fail to start
# (ImportError: da_manager). Our tests do run under tox.
unset TOX_ENV_NAME

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
export IRONIC_KEYLIME_HARNESS_DIR=${IRONIC_KEYLIME_HARNESS_DIR:-$TOP/.harness}
# shellcheck source=tools/common.sh
. "$TOP/tools/common.sh"

KEYLIME_VERSION=7.14.3
AGENT_VERSION=6.6.0
# The keylime wheels declare no dependencies.
DEPS=(cryptography tornado pyyaml requests sqlalchemy alembic packaging
    psutil lark pyasn1 pyasn1-modules jinja2 jsonschema typing-extensions)
VENVS=$IRONIC_KEYLIME_HARNESS_DIR/venvs
KL=$VENVS/keylime7
AG=$VENVS/agent66
SDIST=$IRONIC_KEYLIME_HARNESS_DIR/sdist
AGENT_UUID=4e5a1a7e-1c0d-4e11-8b3a-1d0c0ffee001
SWTPM_PORT=2321
VERIFIER_PORT=8881
REGISTRAR_PORTS=(8890 8891)
AGENT_PORT=9002
PORTS=("$SWTPM_PORT" 2322 "$VERIFIER_PORT" "${REGISTRAR_PORTS[@]}"
    "$AGENT_PORT")
# Files measured into the IMA log of a clean node.
CLEAN_FILES=(/usr/bin/bash /usr/bin/ls /usr/bin/cat)
export TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$SWTPM_PORT"

make_venv() {  # make_venv DIR KEYLIME_VERSION
    [ -f "$1/.ready-$2" ] && return 0
    log "creating $1 (keylime $2)"
    rm -rf "$1"
    python3 -m venv "$1"
    "$1/bin/pip" install -q "keylime==$2" "${DEPS[@]}"
    # keylime.signing imports gpg; only Debian's python3-gpg works.
    local site
    site=$("$1/bin/python" -c \
        'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    ln -sfn /usr/lib/python3/dist-packages/gpg "$site/gpg"
    touch "$1/.ready-$2"
}

setup() {
    # libefivar1: keylime-policy create measured-boot (tpm_bootlog_enrich).
    apt_install swtpm swtpm-tools tpm2-tools python3-gpg curl libefivar1
    ensure_venv_support
    make_venv "$KL" "$KEYLIME_VERSION"
    make_venv "$AG" "$AGENT_VERSION"
    # The configuration templates are only in the sdists.
    local v
    for v in "$KEYLIME_VERSION" "$AGENT_VERSION"; do
        [ -d "$SDIST/keylime-$v/templates" ] && continue
        mkdir -p "$SDIST"
        "$KL/bin/pip" download -q --no-deps --no-binary :all: \
            "keylime==$v" -d "$SDIST"
        tar xzf "$SDIST/keylime-$v.tar.gz" -C "$SDIST" "keylime-$v/templates"
    done
}

# Start a process in its own session and process group; the pid (also
# the group id) goes to RUNDIR/pids/NAME.
start_bg() {  # start_bg NAME CMD...
    local name=$1
    shift
    setsid "$@" >>"$RUN/logs/$name.log" 2>&1 </dev/null &
    echo $! >"$RUN/pids/$name"
}

# Stop a process group started by start_bg: TERM, then KILL after 10 s.
stop_bg() {  # stop_bg NAME
    local pidfile=$RUN/pids/$1 pid
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    # CONT: a frozen service (the tests freeze one) must see the TERM.
    kill -CONT -- "-$pid" 2>/dev/null || true
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 -- "-$pid" 2>/dev/null || break
        sleep 0.2
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$pidfile"
}

# Wait until a process of start_bg listens on PORT; fail as soon as it
# died (its log says why).
wait_up() {  # wait_up NAME PORT SECONDS
    local end
    end=$(( $(date +%s) + $3 ))
    until (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; do
        if ! kill -0 "$(cat "$RUN/pids/$1")" 2>/dev/null; then
            log "$1 exited; see $RUN/logs/$1.log"
            return 1
        fi
        if [ "$(date +%s)" -ge "$end" ]; then
            log "$1 not listening on port $2 after $3 s"
            return 1
        fi
        sleep 0.2
    done
}

ima() {  # ima ARGS... (see ima_tool.py)
    KEYLIME_LOGGING_CONFIG=$RUN/etc/logging.conf \
        "$KL/bin/python" "$HERE/ima_tool.py" "$@" 2>>"$RUN/logs/ima.log"
}

start_swtpm() {
    port_free "$SWTPM_PORT"
    # PCRs start from zero at each start (startup-clear); the EK persists.
    start_bg swtpm swtpm socket --tpm2 --tpmstate dir="$TPM_STATE" \
        --server type=tcp,port="$SWTPM_PORT",bindaddr=127.0.0.1 \
        --ctrl type=tcp,port=2322,bindaddr=127.0.0.1 \
        --flags not-need-init,startup-clear
    wait_up swtpm "$SWTPM_PORT" 20
    # An unorderly stop counts against dictionary-attack protection: after
    # a few resets the TPM would refuse the agent's AK (lockout).
    tpm2_dictionarylockout --clear-lockout >>"$RUN/logs/swtpm.log" 2>&1 ||
        log "could not clear the TPM's lockout (see $RUN/logs/swtpm.log)"
}

stop_swtpm() {
    tpm2_shutdown >>"$RUN/logs/swtpm.log" 2>&1 || true
    stop_bg swtpm
}

# A clean node: boot_aggregate and CLEAN_FILES, extended into PCR 10.
init_ima() {
    local f
    ima init "$RUN/ima/ascii_runtime_measurements"
    for f in "${CLEAN_FILES[@]}"; do
        ima add "$RUN/ima/ascii_runtime_measurements" "$f"
    done
    ima check "$RUN/ima/ascii_runtime_measurements" >>"$RUN/logs/ima.log"
}

start_service() {  # start_service verifier|registrar
    local port
    case $1 in
        verifier) port=$VERIFIER_PORT ;;
        registrar) port=${REGISTRAR_PORTS[1]} ;;
        *) log "unknown service $1"; return 2 ;;
    esac
    # Already running: nothing to do.
    if kill -0 "$(cat "$RUN/pids/$1" 2>/dev/null)" 2>/dev/null; then
        return 0
    fi
    port_free "$port"
    (
        # shellcheck disable=SC1091
        . "$RUN/etc/server.env"
        start_bg "$1" "$KL/bin/keylime_$1"
    )
    wait_up "$1" "$port" 60
    if [ "$1" = registrar ]; then
        wait_up registrar "${REGISTRAR_PORTS[0]}" 30
    fi
}

start_agent() {
    port_free "$AGENT_PORT"
    (
        mkdir -p "$AGENT_HOME"
        cd "$AGENT_HOME"
        export KEYLIME_TEST=on KEYLIME_DIR=$AGENT_HOME \
            KEYLIME_AGENT_CONFIG=$RUN/etc-agent/agent-harness.conf \
            KEYLIME_LOGGING_CONFIG=$RUN/etc-agent/logging.conf \
            KL_IMA_ML=$RUN/ima/ascii_runtime_measurements KL_REG7_COMPAT=1
        start_bg agent "$AG/bin/python" "$HERE/agent_wrapper.py"
    )
    # The agent listens once it registered its AK, a few ms before the
    # registrar has activated it: wait for both, so that a test (or the
    # EK check of the conductor) never meets a half-registered agent.
    wait_up agent "$AGENT_PORT" 90
    wait_active 30
}

configure() {
    mkdir -p "$RUN"/{etc,etc-agent,kl,agent,ima,tpm,swtpm-ca/state}
    mkdir -p "$RUN"/{tpm_cert_store,certs,tenant-home,bin,tmp}
    "$KL/bin/keylime_upgrade_config" --defaults \
        --templates "$SDIST/keylime-$KEYLIME_VERSION/templates" \
        --out "$RUN/etc" >"$RUN/logs/upgrade_config.log" 2>&1
    "$AG/bin/keylime_upgrade_config" --defaults \
        --templates "$SDIST/keylime-$AGENT_VERSION/templates" \
        --out "$RUN/etc-agent" >>"$RUN/logs/upgrade_config.log" 2>&1
    # 7.14.3's defaults bind 127.0.0.1, keep sqlite in KEYLIME_DIR and
    # make the verifier generate its CA (KEYLIME_DIR/cv_ca).
    sed -i "s#^tpm_cert_store = .*#tpm_cert_store = $RUN/tpm_cert_store#" \
        "$RUN/etc/tenant.conf"
    sed -e "s/^uuid = .*/uuid = \"$AGENT_UUID\"/" \
        -e 's/^run_as = .*/run_as = ""/' \
        -e 's/^\(enable_revocation_notifications\) = .*/\1 = false/' \
        -e "s#^trusted_client_ca = .*#trusted_client_ca = \
[\"$RUN/kl/cv_ca/cacert.crt\"]#" \
        "$RUN/etc-agent/agent.conf" >"$RUN/etc-agent/agent-harness.conf"
    cat >"$RUN/etc/server.env" <<EOF
export KEYLIME_DIR=$RUN/kl
export KEYLIME_VERIFIER_CONFIG=$RUN/etc/verifier.conf
export KEYLIME_REGISTRAR_CONFIG=$RUN/etc/registrar.conf
export KEYLIME_CA_CONFIG=$RUN/etc/ca.conf
export KEYLIME_LOGGING_CONFIG=$RUN/etc/logging.conf
EOF
    # The tenant as the conductor runs it: its KEYLIME_DIR holds no
    # certificates, [keylime]tenant_cert_dir must say where they are.
    cat >"$RUN/bin/keylime_tenant" <<EOF
#!/bin/sh
unset TOX_ENV_NAME
export KEYLIME_DIR=$RUN/tenant-home
export KEYLIME_LOGGING_CONFIG=$RUN/etc/logging.conf
exec $KL/bin/keylime_tenant "\$@"
EOF
    chmod +x "$RUN/bin/keylime_tenant"

    # swtpm with an EK certificate from a private CA, which the tenant
    # trusts (tpm_cert_store).
    cat >"$RUN/swtpm-ca/swtpm_setup.conf" <<EOF
create_certs_tool = /usr/bin/swtpm_localca
create_certs_tool_config = $RUN/swtpm-ca/swtpm-localca.conf
create_certs_tool_options = $RUN/swtpm-ca/swtpm-localca.options
active_pcr_banks = sha256
EOF
    cat >"$RUN/swtpm-ca/swtpm-localca.conf" <<EOF
statedir = $RUN/swtpm-ca/state
signingkey = $RUN/swtpm-ca/state/signkey.pem
issuercert = $RUN/swtpm-ca/state/issuercert.pem
certserial = $RUN/swtpm-ca/state/certserial
EOF
    printf -- '--platform-manufacturer %s\n--platform-version 2.1\n%s\n' \
        IronicKeylime '--platform-model swtpm' \
        >"$RUN/swtpm-ca/swtpm-localca.options"
    setup_tpm "$RUN/tpm"
    cp "$RUN/swtpm-ca/state/swtpm-localca-rootca-cert.pem" \
        "$RUN/swtpm-ca/state/issuercert.pem" "$RUN/tpm_cert_store/"
}

# A TPM state with an EK and its certificate from the harness's local CA.
setup_tpm() {  # setup_tpm STATEDIR
    mkdir -p "$1"
    TMPDIR=$RUN/tmp swtpm_setup --tpm2 --tpmstate "$1" \
        --create-ek-cert --overwrite --config "$RUN/swtpm-ca/swtpm_setup.conf" \
        --logfile "$RUN/logs/swtpm_setup.log" >/dev/null
}

write_env() {
    cat >"$RUN/keylime.env" <<EOF
KEYLIME_HARNESS_DIR=$RUN
KEYLIME_HARNESS_TENANT=$RUN/bin/keylime_tenant
KEYLIME_HARNESS_POLICY_TOOL=$KL/bin/keylime-policy
KEYLIME_HARNESS_TENANT_CONFIG=$RUN/etc/tenant.conf
KEYLIME_HARNESS_CERT_DIR=$RUN/certs
KEYLIME_HARNESS_VERIFIER=127.0.0.1
KEYLIME_HARNESS_VERIFIER_PORT=$VERIFIER_PORT
KEYLIME_HARNESS_REGISTRAR=127.0.0.1
KEYLIME_HARNESS_REGISTRAR_PORT=${REGISTRAR_PORTS[1]}
KEYLIME_HARNESS_AGENT_UUID=$AGENT_UUID
KEYLIME_HARNESS_AGENT_ADDRESS=127.0.0.1
KEYLIME_HARNESS_AGENT_PORT=$AGENT_PORT
KEYLIME_HARNESS_ALLOWLIST=$RUN/ima/allowlist
KEYLIME_HARNESS_EXCLUDELIST=$RUN/ima/excludelist
KEYLIME_HARNESS_IMA_LOG=$RUN/ima/ascii_runtime_measurements
KEYLIME_HARNESS_LOG_DIR=$RUN/logs
KEYLIME_HARNESS_SCRIPT=$HERE/harness.sh
KEYLIME_HARNESS_TPM2TOOLS_TCTI=$TPM2TOOLS_TCTI
EOF
}

start() {
    local port
    for port in "${PORTS[@]}"; do
        port_free "$port"
    done
    mkdir -p "$RUN/logs" "$RUN/pids"
    configure
    start_swtpm
    init_ima
    ima allowlist "$RUN/ima/ascii_runtime_measurements" "$RUN/ima/allowlist"
    printf '%s\n' '/tmp/.*' '/var/log/.*' >"$RUN/ima/excludelist"
    # The verifier first: it creates the CA the others use.
    start_service verifier
    start_service registrar
    cp "$RUN"/kl/cv_ca/{cacert.crt,client-cert.crt,client-private.pem} \
        "$RUN/certs/"
    start_agent
    write_env
    log "Keylime is up; see $RUN/keylime.env"
}

stop() {
    local name
    [ -d "$RUN/pids" ] || return 0
    for name in agent registrar verifier; do
        stop_bg "$name"
    done
    if [ -f "$RUN/pids/swtpm" ]; then
        stop_swtpm
    fi
    rmdir /run/keylime 2>/dev/null || true
}

tamper() {  # tamper PATH: measure a new file (random content) as PATH
    local content=$RUN/tmp/tamper.$$
    head -c 64 /dev/urandom >"$content"
    ima add "$RUN/ima/ascii_runtime_measurements" "$1" "$content"
    rm -f "$content"
}

tenant() {  # tenant ARGS...: the tenant as the tests run it
    KEYLIME_TENANT_CONFIG=$RUN/etc/tenant.conf \
        KEYLIME_TENANT_TLS_DIR=$RUN/certs \
        KEYLIME_TENANT_TRUSTED_SERVER_CA="['$RUN/certs/cacert.crt']" \
        "$RUN/bin/keylime_tenant" "$@" >>"$RUN/logs/harness-tenant.log" 2>&1
}

reset() {
    # The restarted agent has a new AK: the registrar only takes it once
    # the old registration is gone.
    tenant -c delete -u "$AGENT_UUID" || true
    tenant -c regdelete -u "$AGENT_UUID" || true
    stop_bg agent
    stop_swtpm
    start_swtpm
    init_ima
    start_agent
}

# Wait until the registrar answers the agent's record (it is activated).
wait_active() {  # wait_active SECONDS
    local end
    end=$(( $(date +%s) + $1 ))
    until curl -sf -o /dev/null --cacert "$RUN/certs/cacert.crt" \
            --cert "$RUN/certs/client-cert.crt" \
            --key "$RUN/certs/client-private.pem" \
            "https://127.0.0.1:${REGISTRAR_PORTS[1]}/v2.1/agents/$AGENT_UUID"; do
        if [ "$(date +%s)" -ge "$end" ]; then
            log "the registrar has not activated agent $AGENT_UUID after $1 s"
            return 1
        fi
        sleep 0.2
    done
}

# The same agent UUID and ports on another TPM (another EK): what a node
# whose TPM or mainboard was replaced, or a node impersonating another,
# looks like to Keylime. The agent keeps its TPM data apart
# (RUNDIR/agent-NAME); "reset" brings back the original TPM and agent.
other_tpm() {  # other_tpm NAME
    local name=${1:-other}
    case $name in
        *[!A-Za-z0-9_-]*|'') log "bad TPM name $name"; return 2 ;;
    esac
    tenant -c delete -u "$AGENT_UUID" || true
    # A 7.x registrar refuses another EK for a registered UUID.
    tenant -c regdelete -u "$AGENT_UUID" || true
    stop_bg agent
    stop_swtpm
    TPM_STATE=$RUN/tpm-$name
    AGENT_HOME=$RUN/agent-$name
    [ -f "$TPM_STATE/tpm2-00.permall" ] || setup_tpm "$TPM_STATE"
    start_swtpm
    init_ima
    start_agent
}

cmd=${1:-}
RUN=${2:-}
if [ "$cmd" != setup ]; then
    if [ -z "$RUN" ]; then
        echo "usage: $0 setup | start|stop|reset RUNDIR |" \
            "other-tpm RUNDIR [NAME] |" \
            "tamper RUNDIR PATH | start-service|stop-service RUNDIR" \
            "verifier|registrar" >&2
        exit 2
    fi
    mkdir -p "$RUN"
    RUN=$(cd "$RUN" && pwd)
    # The original TPM and the agent's data; other-tpm changes them.
    TPM_STATE=$RUN/tpm
    AGENT_HOME=$RUN/agent
fi
case $cmd in
    setup) setup ;;
    start)
        # Whatever fails, nothing is left running.
        trap 'log "start failed (logs: $RUN/logs)"; stop' EXIT
        start
        trap - EXIT
        ;;
    stop) stop ;;
    tamper) tamper "$3" ;;
    reset) reset ;;
    other-tpm) other_tpm "${3:-other}" ;;
    stop-service) stop_bg "$3" ;;
    start-service) start_service "$3" ;;
    *) echo "unknown command $cmd" >&2; exit 2 ;;
esac
