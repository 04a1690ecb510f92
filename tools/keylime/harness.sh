#!/usr/bin/env bash
# A real Keylime on 127.0.0.1 for the functional tests, from nothing:
# Keylime 7.14.3 verifier, registrar and tenant (PyPI, own virtualenv), the
# Keylime 6.6.0 Python agent (the last one on PyPI) on swtpm with an EK
# certificate, reading a synthetic IMA log whose entries are extended into
# PCR 10.
#
#   harness.sh setup                    system packages, virtualenvs
#   harness.sh start RUNDIR [--agents N] [--verifiers 1|2] [--base-port P]
#                                       start everything, write keylime.env
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
# of one run (configs, state, logs/) in RUNDIR.
#
# start's options (defaults from the environment, then 1, 1, none):
#   --agents N      (IRONIC_KEYLIME_AGENTS) N agents, each on its own swtpm
#                   with its own state, ports and UUID, all registered with
#                   the one registrar; agent 1 is the one of keylime.env's
#                   AGENT_* (tamper, reset and other-tpm act on it), agent K
#                   is KEYLIME_HARNESS_AGENT_K_{UUID,PORT,TCTI,IMA_LOG}.
#   --verifiers 2   (IRONIC_KEYLIME_VERIFIERS) a second verifier, its own
#                   port and database, the same CA and registrar
#                   (KEYLIME_HARNESS_VERIFIER2_PORT).
#   --keylime-version 6.8.0
#                   the Keylime 6.8.0 verifier, registrar and tenant (the
#                   last 6.x release; venvs/keylime6) instead of 7.14.3;
#                   the agent is the 6.6.0 one either way.
#   --base-port P   (IRONIC_KEYLIME_BASE_PORT) every port from P up:
#                   verifiers P and P+1, registrar P+2 (http) and P+3
#                   (TLS), agent K P+10+K-1, its swtpm P+200+2(K-1) and the
#                   next; a second harness on the machine needs one.
#                   Without it: Keylime's default ports (verifier 8881,
#                   registrar 8890/8891, agent 9002, swtpm 2321) as before,
#                   second verifier 8883, agent K 9002+K-1, swtpm
#                   2321+2(K-1).
# The options are kept in RUNDIR/harness.opts for the other subcommands.
set -euo pipefail
# keylime.models skips importing its submodules when TOX_ENV_NAME is set
# (Keylime's own static checks), and its servers then fail to start
# (ImportError: da_manager). Our tests do run under tox.
unset TOX_ENV_NAME

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tools/common.sh
. "$(dirname "$0")/../common.sh"

KEYLIME_VERSION=7.14.3
# The servers and tenant of --keylime-version 6.8.0.
KEYLIME6_VERSION=6.8.0
AGENT_VERSION=6.6.0
# The keylime wheels declare no dependencies.
DEPS=(cryptography tornado pyyaml requests sqlalchemy alembic packaging
    psutil lark pyasn1 pyasn1-modules jinja2 jsonschema typing-extensions)
VENVS=$IRONIC_KEYLIME_HARNESS_DIR/venvs
KL=$VENVS/keylime7
KL6=$VENVS/keylime6
AG=$VENVS/agent66
SDIST=$IRONIC_KEYLIME_HARNESS_DIR/sdist
AGENT_UUID=4e5a1a7e-1c0d-4e11-8b3a-1d0c0ffee001
MAX_AGENTS=90

# Ports of a run: set_ports (reads AGENTS, VERIFIERS, BASE_PORT).
set_ports() {
    if [ -n "$BASE_PORT" ]; then
        VERIFIER_PORT=$BASE_PORT
        VERIFIER2_PORT=$((BASE_PORT + 1))
        REGISTRAR_PORTS=($((BASE_PORT + 2)) $((BASE_PORT + 3)))
        AGENT_PORT0=$((BASE_PORT + 10))
        SWTPM_PORT0=$((BASE_PORT + 200))
    else
        VERIFIER_PORT=8881
        VERIFIER2_PORT=8883
        REGISTRAR_PORTS=(8890 8891)
        AGENT_PORT0=9002
        SWTPM_PORT0=2321
    fi
    SWTPM_PORT=$SWTPM_PORT0
    AGENT_PORT=$AGENT_PORT0
    PORTS=("$VERIFIER_PORT" "${REGISTRAR_PORTS[@]}")
    [ "$VERIFIERS" = 2 ] && PORTS+=("$VERIFIER2_PORT")
    local k
    for k in $(seq "$AGENTS"); do
        PORTS+=("$(agent_port "$k")" "$(swtpm_port "$k")"
            $(($(swtpm_port "$k") + 1)))
    done
}

agent_port() { echo $((AGENT_PORT0 + $1 - 1)); }
swtpm_port() { echo $((SWTPM_PORT0 + 2 * ($1 - 1))); }
# Agent 1 keeps the UUID of the single-agent harness.
agent_uuid() { printf '4e5a1a7e-1c0d-4e11-8b3a-1d0c0ffee%03d\n' "$1"; }
# Files measured into the IMA log of a clean node.
CLEAN_FILES=(/usr/bin/bash /usr/bin/ls /usr/bin/cat)

make_venv() {  # make_venv DIR KEYLIME_VERSION [MORE REQUIREMENTS...]
    [ -f "$1/.ready-$2" ] && return 0
    log "creating $1 (keylime $2)"
    rm -rf "$1"
    python3 -m venv "$1"
    "$1/bin/pip" install -q "keylime==$2" "${DEPS[@]}" "${@:3}"
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
    # Keylime 6.x servers need the SQLAlchemy 1.x API.
    make_venv "$KL6" "$KEYLIME6_VERSION" 'sqlalchemy<2' 'alembic<1.14'
    # The configuration templates are only in the sdists.
    local v
    for v in "$KEYLIME_VERSION" "$KEYLIME6_VERSION" "$AGENT_VERSION"; do
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
    start_group "$RUN/pids/$name" "$RUN/logs/$name.log" "$@"
}

# Stop a process group started by start_bg: TERM, then KILL after 10 s
# (the tests freeze a service: stop_group continues it first).
stop_bg() {  # stop_bg NAME
    stop_group "$RUN/pids/$1" 50 0.2
}

# Wait until a process of start_bg listens on PORT; fail as soon as it
# died (its log says why).
wait_up() {  # wait_up NAME PORT SECONDS
    wait_until "$3" "$RUN/pids/$1" "$1 (port $2)" port_open "$2" || {
        log "see $RUN/logs/$1.log"
        return 1
    }
}

ima() {  # ima ARGS... (see ima_tool.py)
    KEYLIME_LOGGING_CONFIG=$RUN/etc/logging.conf \
        "$VENVS/keylime7/bin/python" "$HERE/ima_tool.py" "$@" \
        2>>"$RUN/logs/ima.log"
}

# Select agent K (1..N): its names, ports, UUID, TPM and IMA log. Agent 1
# keeps the paths of the single-agent harness (other-tpm changes its
# TPM_STATE and AGENT_HOME afterwards).
select_agent() {  # select_agent K
    K=$1
    AGENT_PORT=$(agent_port "$K")
    SWTPM_PORT=$(swtpm_port "$K")
    AGENT_ID=$(agent_uuid "$K")
    export TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$SWTPM_PORT"
    if [ "$K" = 1 ]; then
        SFX=
        TPM_STATE=$RUN/tpm
        AGENT_HOME=$RUN/agent
        IMA_LOG=$RUN/ima/ascii_runtime_measurements
        AGENT_CONF=$RUN/etc-agent/agent-harness.conf
    else
        SFX=-$K
        TPM_STATE=$RUN/agents/$K/tpm
        AGENT_HOME=$RUN/agents/$K/agent
        IMA_LOG=$RUN/agents/$K/ascii_runtime_measurements
        AGENT_CONF=$RUN/etc-agent/agent-harness-$K.conf
    fi
}

start_swtpm() {
    port_free "$SWTPM_PORT"
    # PCRs start from zero at each start (startup-clear); the EK persists.
    start_bg "swtpm$SFX" swtpm socket --tpm2 --tpmstate dir="$TPM_STATE" \
        --server type=tcp,port="$SWTPM_PORT",bindaddr=127.0.0.1 \
        --ctrl type=tcp,port=$((SWTPM_PORT + 1)),bindaddr=127.0.0.1 \
        --flags not-need-init,startup-clear
    wait_up "swtpm$SFX" "$SWTPM_PORT" 20
    # An unorderly stop counts against dictionary-attack protection: after
    # a few resets the TPM would refuse the agent's AK (lockout).
    tpm2_dictionarylockout --clear-lockout >>"$RUN/logs/swtpm$SFX.log" 2>&1 ||
        log "could not clear the TPM's lockout (see $RUN/logs/swtpm$SFX.log)"
}

stop_swtpm() {
    tpm2_shutdown >>"$RUN/logs/swtpm$SFX.log" 2>&1 || true
    stop_bg "swtpm$SFX"
}

# A clean node: boot_aggregate and CLEAN_FILES, extended into PCR 10.
init_ima() {
    local f
    ima init "$IMA_LOG"
    for f in "${CLEAN_FILES[@]}"; do
        ima add "$IMA_LOG" "$f"
    done
    ima check "$IMA_LOG" >>"$RUN/logs/ima.log"
}

start_service() {  # start_service verifier|verifier2|registrar
    local port
    case $1 in
        verifier) port=$VERIFIER_PORT ;;
        verifier2) port=$VERIFIER2_PORT ;;
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
        if [ "$1" = verifier2 ]; then
            # Same KEYLIME_DIR (the CA all clients trust), own port and
            # database.
            export KEYLIME_VERIFIER_CONFIG=$RUN/etc/verifier2.conf
            start_bg verifier2 "$KL/bin/keylime_verifier"
        else
            start_bg "$1" "$KL/bin/keylime_$1"
        fi
    )
    wait_up "$1" "$port" 60
    if [ "$1" = registrar ]; then
        wait_up registrar "${REGISTRAR_PORTS[0]}" 30
    fi
}

# Start the selected agent; unless "nowait", wait until it is active.
start_agent() {  # start_agent [nowait]
    port_free "$AGENT_PORT"
    write_agent_conf
    (
        mkdir -p "$AGENT_HOME"
        cd "$AGENT_HOME"
        export KEYLIME_TEST=on KEYLIME_DIR=$AGENT_HOME \
            KEYLIME_AGENT_CONFIG=$AGENT_CONF \
            KEYLIME_LOGGING_CONFIG=$RUN/etc-agent/logging.conf \
            KL_IMA_ML=$IMA_LOG KL_REG7_COMPAT=$REG7_COMPAT
        start_bg "agent$SFX" "$AG/bin/python" "$HERE/agent_wrapper.py"
    )
    [ "${1:-}" = nowait ] || wait_agent
}

# The agent listens once it registered its AK, a few ms before the
# registrar has activated it: wait for both, so that a test (or the EK
# check of the conductor) never meets a half-registered agent.
wait_agent() {
    wait_up "agent$SFX" "$AGENT_PORT" 90
    wait_active 60
}

write_agent_conf() {
    sed -e "s/^uuid = .*/uuid = \"$AGENT_ID\"/" \
        -e 's/^run_as = .*/run_as = ""/' \
        -e "s/^port = .*/port = $AGENT_PORT/" \
        -e "s/^contact_port = .*/contact_port = $AGENT_PORT/" \
        -e "s/^registrar_port = .*/registrar_port = ${REGISTRAR_PORTS[0]}/" \
        -e 's/^\(enable_revocation_notifications\) = .*/\1 = false/' \
        -e "s#^trusted_client_ca = .*#trusted_client_ca = \
[\"$RUN/kl/cv_ca/cacert.crt\"]#" \
        "$RUN/etc-agent/agent.conf" >"$AGENT_CONF"
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
    sed -i -e "s/^port = .*/port = $VERIFIER_PORT/" "$RUN/etc/verifier.conf"
    sed -i -e "s/^port = .*/port = ${REGISTRAR_PORTS[0]}/" \
        -e "s/^tls_port = .*/tls_port = ${REGISTRAR_PORTS[1]}/" \
        "$RUN/etc/registrar.conf"
    sed -e "s/^port = .*/port = $VERIFIER2_PORT/" \
        -e "s#^database_url = .*#database_url = \
sqlite:///$RUN/kl/cv_data2.sqlite#" \
        "$RUN/etc/verifier.conf" >"$RUN/etc/verifier2.conf"
    sed -i -e "s/^registrar_port = .*/registrar_port = ${REGISTRAR_PORTS[1]}/" \
        -e "s/^verifier_port = .*/verifier_port = $VERIFIER_PORT/" \
        "$RUN/etc/tenant.conf"
    # The first verifier runs ironic-keylime's measured-boot engine, as
    # [keylime]golden_boot_events needs (Keylime 7.12 and newer), on
    # every quote (the conductor's one-shot check of the engine is
    # evaluated only then); verifier2 keeps Keylime's default engine,
    # accept-all.
    case $KEYLIME_VERSION in
        7.*)
            sed -i -e "s/^measured_boot_policy_name = .*/\
measured_boot_policy_name = ironic-keylime/" \
                -e "s/^measured_boot_imports = .*/\
measured_boot_imports = ['ironic_keylime.verifier_engine.policy']/" \
                -e "s/^measured_boot_evaluate = .*/\
measured_boot_evaluate = always/" \
                "$RUN/etc/verifier.conf"
            ;;
    esac
    cat >"$RUN/etc/server.env" <<EOF
export KEYLIME_DIR=$RUN/kl
export KEYLIME_VERIFIER_CONFIG=$RUN/etc/verifier.conf
export KEYLIME_REGISTRAR_CONFIG=$RUN/etc/registrar.conf
export KEYLIME_CA_CONFIG=$RUN/etc/ca.conf
export KEYLIME_LOGGING_CONFIG=$RUN/etc/logging.conf
# The verifier imports ironic-keylime's engine from this checkout.
export PYTHONPATH=$TOP
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
KEYLIME_HARNESS_VERIFIERS=$VERIFIERS
KEYLIME_HARNESS_AGENTS=$AGENTS
KEYLIME_HARNESS_REGISTRAR=127.0.0.1
KEYLIME_HARNESS_REGISTRAR_PORT=${REGISTRAR_PORTS[1]}
KEYLIME_HARNESS_REGISTRAR_HTTP_PORT=${REGISTRAR_PORTS[0]}
KEYLIME_HARNESS_AGENT_UUID=$AGENT_UUID
KEYLIME_HARNESS_AGENT_ADDRESS=127.0.0.1
KEYLIME_HARNESS_AGENT_PORT=$AGENT_PORT
KEYLIME_HARNESS_ALLOWLIST=$RUN/ima/allowlist
KEYLIME_HARNESS_EXCLUDELIST=$RUN/ima/excludelist
KEYLIME_HARNESS_IMA_LOG=$RUN/ima/ascii_runtime_measurements
KEYLIME_HARNESS_LOG_DIR=$RUN/logs
KEYLIME_HARNESS_SCRIPT=$HERE/harness.sh
KEYLIME_HARNESS_TPM2TOOLS_TCTI=swtpm:host=127.0.0.1,port=$SWTPM_PORT0
KEYLIME_HARNESS_KEYLIME_VERSION=$KEYLIME_VERSION
EOF
    if [ "$VERIFIERS" = 2 ]; then
        echo "KEYLIME_HARNESS_VERIFIER2_PORT=$VERIFIER2_PORT" \
            >>"$RUN/keylime.env"
    fi
    local k
    for k in $(seq "$AGENTS"); do
        select_agent "$k"
        cat >>"$RUN/keylime.env" <<EOF
KEYLIME_HARNESS_AGENT_${k}_UUID=$AGENT_ID
KEYLIME_HARNESS_AGENT_${k}_PORT=$AGENT_PORT
KEYLIME_HARNESS_AGENT_${k}_TCTI=$TPM2TOOLS_TCTI
KEYLIME_HARNESS_AGENT_${k}_IMA_LOG=$IMA_LOG
EOF
    done
    select_agent 1
}

start() {
    local port
    for port in "${PORTS[@]}"; do
        port_free "$port"
    done
    mkdir -p "$RUN/logs" "$RUN/pids"
    configure
    local k
    for k in $(seq "$AGENTS"); do
        select_agent "$k"
        [ "$k" = 1 ] || setup_tpm "$TPM_STATE"
        start_swtpm
        init_ima
    done
    # Every agent measures the same files on a TPM started the same way:
    # one allowlist fits them all.
    select_agent 1
    ima allowlist "$RUN/ima/ascii_runtime_measurements" "$RUN/ima/allowlist"
    printf '%s\n' '/tmp/.*' '/var/log/.*' >"$RUN/ima/excludelist"
    # The verifier first: it creates the CA the others use.
    start_service verifier
    start_service registrar
    if [ "$VERIFIERS" = 2 ]; then
        start_service verifier2
    fi
    cp "$RUN"/kl/cv_ca/{cacert.crt,client-cert.crt,client-private.pem} \
        "$RUN/certs/"
    # All agents at once (each registers its own AK), then each is waited
    # for until the registrar has activated it.
    for k in $(seq "$AGENTS"); do
        select_agent "$k"
        start_agent nowait
    done
    for k in $(seq "$AGENTS"); do
        select_agent "$k"
        wait_agent
    done
    select_agent 1
    write_env
    log "Keylime is up; see $RUN/keylime.env"
}

stop() {
    local name
    [ -d "$RUN/pids" ] || return 0
    local k
    for k in $(seq "$AGENTS"); do
        select_agent "$k"
        stop_bg "agent$SFX"
    done
    for name in registrar verifier verifier2; do
        stop_bg "$name"
    done
    for k in $(seq "$AGENTS"); do
        select_agent "$k"
        if [ -f "$RUN/pids/swtpm$SFX" ]; then
            stop_swtpm
        fi
    done
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
    # Keylime 6.x's registrar certificate names the host "server" only.
    local name=127.0.0.1
    [ "$KEYLIME_VERSION" = "$KEYLIME6_VERSION" ] && name=server
    until curl -sf -o /dev/null --cacert "$RUN/certs/cacert.crt" \
            --cert "$RUN/certs/client-cert.crt" \
            --key "$RUN/certs/client-private.pem" \
            --resolve "$name:${REGISTRAR_PORTS[1]}:127.0.0.1" \
            "https://$name:${REGISTRAR_PORTS[1]}/v2.1/agents/$AGENT_ID"; do
        if [ "$(date +%s)" -ge "$end" ]; then
            log "the registrar has not activated agent $AGENT_ID after $1 s"
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
    AGENTS=${IRONIC_KEYLIME_AGENTS:-1}
    VERIFIERS=${IRONIC_KEYLIME_VERIFIERS:-1}
    BASE_PORT=${IRONIC_KEYLIME_BASE_PORT:-}
    if [ "$cmd" = start ]; then
        shift 2
        while [ $# -gt 0 ]; do
            case $1 in
                --agents) AGENTS=$2; shift 2 ;;
                --verifiers) VERIFIERS=$2; shift 2 ;;
                --base-port) BASE_PORT=$2; shift 2 ;;
                --keylime-version) KEYLIME_VERSION=$2; shift 2 ;;
                *) echo "unknown option $1" >&2; exit 2 ;;
            esac
        done
        case $AGENTS in
            ''|*[!0-9]*) echo "--agents: 1 to $MAX_AGENTS" >&2; exit 2 ;;
        esac
        if [ "$AGENTS" -lt 1 ] || [ "$AGENTS" -gt "$MAX_AGENTS" ]; then
            echo "--agents: 1 to $MAX_AGENTS" >&2
            exit 2
        fi
        case $VERIFIERS in
            1|2) ;;
            *) echo "--verifiers: 1 or 2" >&2; exit 2 ;;
        esac
        case $BASE_PORT in
            *[!0-9]*) echo "--base-port: a port number" >&2; exit 2 ;;
        esac
        case $KEYLIME_VERSION in
            7.14.3|"$KEYLIME6_VERSION") ;;
            *) echo "--keylime-version: 7.14.3 or $KEYLIME6_VERSION" >&2
                exit 2 ;;
        esac
        printf 'AGENTS=%s\nVERIFIERS=%s\nBASE_PORT=%s\n' "$AGENTS" \
            "$VERIFIERS" "$BASE_PORT" >"$RUN/harness.opts"
        echo "KEYLIME_VERSION=$KEYLIME_VERSION" >>"$RUN/harness.opts"
    elif [ -f "$RUN/harness.opts" ]; then
        # shellcheck disable=SC1091
        . "$RUN/harness.opts"
    fi
    set_ports
    # The 6.6.0 agent needs its adjustments for a 7.x registrar only.
    REG7_COMPAT=1
    if [ "$KEYLIME_VERSION" = "$KEYLIME6_VERSION" ]; then
        KL=$KL6
        REG7_COMPAT=0
    fi
    # Agent 1: the original TPM and the agent's data; other-tpm changes
    # them.
    select_agent 1
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
