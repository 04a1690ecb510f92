#!/usr/bin/env bash
# The main job of ironic-keylime, end to end, on local defaults.
#
# On a fresh Debian 12 machine (run as root to let it install system
# packages), this:
#   1. installs what is missing: system packages, and virtualenvs for
#      Keylime, Swift and Ironic 39 with ironic-keylime (under .harness/);
#   2. starts a real Keylime (verifier, registrar, tenant) with an agent
#      on a software TPM, a real Swift, and a real Ironic started with
#      ironic-attest, all on 127.0.0.1;
#   3. uploads the node's golden lists to Swift;
#   4. enrolls a node with the keylime attestation interface;
#   5. deploys it: Keylime attests it, PASS;
#   6. records the node's golden boot state (the manual clean step
#      enroll_boot_state, its PCRs read by a ramdisk: ironic-python-agent
#      with the keylime extension, run on 127.0.0.1), cleans it: PASS;
#      changes its firmware (PCR 0 of the software TPM is extended): the
#      cleaning fails and names PCR 0; enrolls it again: PASS;
#   7. tampers with the node (a file that is not in the allowlist is
#      measured) and deploys it again: FAIL, the deployment fails, and
#      Ironic says why;
#   8. prints a summary, and stops everything it started.
#
# It prints the stages, the verdicts and a summary; what the installers
# and the services print goes to log files under .harness/ (a failing
# step names its log and shows its last lines).
#
# Exit status 0 when both verdicts came out as expected.
# IRONIC_KEYLIME_DEMO_KEEP=1 keeps the run directory (logs, configs).
set -euo pipefail

# shellcheck source=tools/common.sh
. "$(dirname "$0")/common.sh"

KEYLIME=$TOP/tools/keylime/harness.sh
SWIFT=$TOP/tools/swift/harness.sh
IRONIC=$TOP/tools/ironic/harness.sh
NODE=demo-node
CONTAINER=demo-node-lists
TAMPERED_FILE=/usr/bin/not-in-the-allowlist
WAIT=300

STAGE=0
stage() {
    STAGE=$((STAGE + 1))
    echo
    echo "==> [$STAGE/11] $*"
}

say() {
    echo "    $*"
}

# Run a command with its output in a log file: quietly LOG CMD...
# On failure, say where the log is and show its last lines.
quietly() {
    local out=$1
    shift
    if "$@" >>"$out" 2>&1; then
        return 0
    else
        local rc=$?
        say "FAILED (exit status $rc): $*"
        say "output in $out; its last lines:"
        tail -n 20 "$out" | sed 's/^/      /'
        return $rc
    fi
}

RUN=
cleanup() {
    local rc=$?
    trap - EXIT
    if [ -n "$RUN" ]; then
        echo
        echo "==> Stopping everything the demo started"
        "$IRONIC" stop "$RUN/ironic" >/dev/null 2>&1 || true
        "$SWIFT" stop "$RUN/swift" >/dev/null 2>&1 || true
        "$KEYLIME" stop "$RUN/keylime" >/dev/null 2>&1 || true
        if [ $rc -ne 0 ] || [ -n "${IRONIC_KEYLIME_DEMO_KEEP:-}" ]; then
            say "logs and configuration kept in $RUN"
        else
            rm -rf "$RUN"
        fi
    fi
    exit $rc
}
trap cleanup EXIT

mkdir -p "$IRONIC_KEYLIME_HARNESS_DIR"
INSTALL_LOG=$IRONIC_KEYLIME_HARNESS_DIR/demo-install.log
stage "Installing what is missing (system packages as root; virtualenvs" \
    "in $IRONIC_KEYLIME_HARNESS_DIR)"
: >"$INSTALL_LOG"
quietly "$INSTALL_LOG" "$KEYLIME" setup
quietly "$INSTALL_LOG" "$SWIFT" setup
quietly "$INSTALL_LOG" "$IRONIC" setup
say "done (installer output: $INSTALL_LOG)"

RUN=$(mktemp -d "$IRONIC_KEYLIME_HARNESS_DIR/demo.XXXXXX")
SERVICES_LOG=$RUN/services.log

stage "Starting Keylime 7.14.3 (verifier, registrar) and an agent on a" \
    "software TPM (swtpm)"
quietly "$SERVICES_LOG" "$KEYLIME" start "$RUN/keylime"
set -a
# shellcheck disable=SC1091
. "$RUN/keylime/keylime.env"
set +a
say "verifier $KEYLIME_HARNESS_VERIFIER:$KEYLIME_HARNESS_VERIFIER_PORT," \
    "registrar $KEYLIME_HARNESS_REGISTRAR:$KEYLIME_HARNESS_REGISTRAR_PORT," \
    "agent $KEYLIME_HARNESS_AGENT_UUID"

stage "Starting Swift (one-replica cluster, tempauth)"
quietly "$SERVICES_LOG" "$SWIFT" start "$RUN/swift"
set -a
# shellcheck disable=SC1091
. "$RUN/swift/swift.env"
set +a
say "proxy $SWIFT_HARNESS_AUTH_URL"

stage "Starting Ironic 39 with ironic-keylime (ironic-attest: sqlite," \
    "noauth, fake-hardware)"
quietly "$SERVICES_LOG" "$IRONIC" start "$RUN/ironic"
set -a
# shellcheck disable=SC1091
. "$RUN/ironic/ironic.env"
set +a
export OS_AUTH_TYPE=none OS_ENDPOINT=$IRONIC_HARNESS_URL
BM=$IRONIC_HARNESS_BIN/baremetal
# The stock python-openstackclient, with ironic-keylime next to it.
OPENSTACK=$IRONIC_HARNESS_BIN/openstack
say "attestation interfaces of fake-hardware:" \
    "$("$BM" driver show fake-hardware -f value \
        -c enabled_attestation_interfaces)"

stage "Uploading the node's golden allowlist and excludelist to Swift" \
    "container $CONTAINER"
OS_AUTH_TYPE=v1password OS_AUTH_URL=$SWIFT_HARNESS_AUTH_URL \
    OS_USERNAME=$SWIFT_HARNESS_USER OS_PASSWORD=$SWIFT_HARNESS_KEY \
    "$IRONIC_HARNESS_BIN/ironic-keylime-lists" upload \
    --container "$CONTAINER" \
    --allowlist "$KEYLIME_HARNESS_ALLOWLIST" \
    --excludelist "$KEYLIME_HARNESS_EXCLUDELIST" | sed 's/^/    /'

stage "Enrolling node $NODE with the keylime attestation interface"
# --attestation-interface stores driver_info/attestation_interface.
# fake-hardware has no ramdisk to report the node's Keylime agent: name
# the harness's agent in driver_info.
say "openstack baremetal node create --driver fake-hardware" \
    "--attestation-interface keylime ..."
"$OPENSTACK" baremetal node create --driver fake-hardware --name "$NODE" \
    --attestation-interface keylime \
    --driver-info "keylime_v=$KEYLIME_HARNESS_VERIFIER" \
    --driver-info "keylime_vp=$KEYLIME_HARNESS_VERIFIER_PORT" \
    --driver-info "keylime_r=$KEYLIME_HARNESS_REGISTRAR" \
    --driver-info "keylime_rp=$KEYLIME_HARNESS_REGISTRAR_PORT" \
    --driver-info "keylime_container=$CONTAINER" \
    --driver-info "keylime_agent_uuid=$KEYLIME_HARNESS_AGENT_UUID" \
    --driver-info "keylime_agent_address=$KEYLIME_HARNESS_AGENT_ADDRESS" \
    --driver-info "keylime_agent_port=$KEYLIME_HARNESS_AGENT_PORT" \
    -f value -c uuid | sed 's/^/    node uuid: /'
say "attestation interface: $("$OPENSTACK" baremetal node show "$NODE" \
    -f value -c attestation_interface)"
"$OPENSTACK" baremetal node validate "$NODE" -f value -c Interface -c Result \
    | grep -E '^(attestation|deploy|power) ' | sed 's/^/    validate: /'
quietly "$SERVICES_LOG" "$BM" node manage "$NODE" --wait 60
say "automated cleaning runs the attest clean step too ..."
quietly "$SERVICES_LOG" "$BM" node provide "$NODE" --wait "$WAIT"
say "node is $("$BM" node show "$NODE" -f value -c provision_state)"

# The attestation verdicts of the node's history, oldest first.
verdicts() {
    "$BM" node history list "$NODE" --long -f json \
        | "$IRONIC_HARNESS_BIN/python" "$TOP/tools/ironic/verdicts.py"
}

stage "Deploying $NODE: Keylime attests it before the image is written" \
    "(expect PASS)"
first_rc=0
"$BM" node deploy "$NODE" --wait "$WAIT" >>"$SERVICES_LOG" 2>&1 \
    || first_rc=$?
FIRST_STATE=$("$BM" node show "$NODE" -f value -c provision_state)
FIRST_VERDICT=$(verdicts | tail -n 1)
say "node is $FIRST_STATE"
say "verdict: $FIRST_VERDICT"
[ $first_rc -eq 0 ] || say "deployment failed: $("$BM" node show "$NODE" \
    -f value -c last_error)"
say "undeploying (cleaning attests again) ..."
"$BM" node undeploy "$NODE" --wait "$WAIT" >>"$SERVICES_LOG" 2>&1 || true

# The golden boot state. Its steps read the node's TPM in the ramdisk:
# the node's cleaning boots one (the direct deploy interface), which here
# is ironic-python-agent with the keylime extension on 127.0.0.1, reading
# the software TPM; it looks the node up and heartbeats as a ramdisk does.
NODE_UUID=$("$BM" node show "$NODE" -f value -c uuid)
ENROLL='[{"interface": "attestation", "step": "enroll_boot_state"}]'

# wait_state STATE...: print the provision state once it is one of them.
wait_state() {
    local end state s
    end=$(( $(date +%s) + WAIT ))
    while :; do
        state=$("$BM" node show "$NODE" -f value -c provision_state)
        for s in "$@"; do
            if [ "$state" = "$s" ]; then
                echo "$state"
                return 0
            fi
        done
        if [ "$(date +%s)" -ge "$end" ]; then
            echo "$state"
            return 1
        fi
        sleep 1
    done
}

# with_ramdisk CMD...: start a cleaning, boot the ramdisk once Ironic
# waits for it, print the state the node settles in, power it off.
with_ramdisk() {
    local dir state
    quietly "$SERVICES_LOG" "$@"
    wait_state "clean wait" >/dev/null
    dir=$(mktemp -d "$RUN/ramdisk.XXXXXX")
    quietly "$SERVICES_LOG" "$IRONIC_HARNESS_BIN/python" -m \
        ironic_keylime.tests.functional.ipa_env boot --workdir "$dir" \
        --api-url "$IRONIC_HARNESS_URL" --node-uuid "$NODE_UUID" \
        --tcti "$KEYLIME_HARNESS_TPM2TOOLS_TCTI"
    state=$(wait_state manageable available "clean failed") || true
    kill "$(cat "$dir/ipa.pid")" 2>/dev/null || true
    echo "$state"
}

# The last verdict or enrollment of the node's history, without its
# severity and state.
last_event() {
    verdicts | tail -n 1 | sed 's/^[A-Z]* \[[^]]*\] //'
}

# PCR 0 of the last enrollment, shortened: "PCR 0=1a2b3c4d...".
enrolled_pcr0() {
    last_event | grep -o 'PCR 0=[0-9a-f]*\.\.\.' | head -n 1
}

stage "Golden boot state: enrolling $NODE (manual clean step" \
    "enroll_boot_state; the ramdisk reads PCRs 0-7)"
quietly "$SERVICES_LOG" "$BM" node manage "$NODE" --wait 60
quietly "$SERVICES_LOG" "$BM" node set "$NODE" --deploy-interface direct
say "baremetal node clean $NODE --clean-steps '$ENROLL'"
ENROLL_STATE=$(with_ramdisk "$BM" node clean "$NODE" --clean-steps "$ENROLL")
say "node is $ENROLL_STATE; node history: Golden boot state enrolled" \
    "(sha256 bank, PCRs 0-7): $(enrolled_pcr0), ..."
say "(a software TPM: no firmware measured into it, its PCRs 0-7 are zero)"
BOOT_PASS_STATE=$(with_ramdisk "$BM" node provide "$NODE")
BOOT_PASS_VERDICT=$(last_event)
say "cleaning with the golden boot state: node is $BOOT_PASS_STATE;" \
    "verdict: $BOOT_PASS_VERDICT"

stage "Changing the node's firmware (PCR 0 extended, as a firmware" \
    "update would) and cleaning it (expect FAIL)"
quietly "$SERVICES_LOG" "$BM" node manage "$NODE" --wait 60
quietly "$SERVICES_LOG" env TPM2TOOLS_TCTI="$KEYLIME_HARNESS_TPM2TOOLS_TCTI" \
    tpm2_pcrextend "0:sha256=$(echo 'new firmware' | sha256sum | cut -c1-64)"
BOOT_FAIL_STATE=$(with_ramdisk "$BM" node provide "$NODE")
BOOT_FAIL_ERROR=$("$BM" node show "$NODE" -f value -c last_error)
say "node is $BOOT_FAIL_STATE (and in maintenance)"
say "last_error: ${BOOT_FAIL_ERROR%% The node?s boot*}"

stage "Enrolling $NODE again (the firmware update was deliberate) and" \
    "cleaning it (expect PASS)"
quietly "$SERVICES_LOG" "$BM" node maintenance unset "$NODE"
quietly "$SERVICES_LOG" "$BM" node manage "$NODE" --wait 60
REENROLL_STATE=$(with_ramdisk "$BM" node clean "$NODE" --clean-steps \
    "$ENROLL")
say "node is $REENROLL_STATE; node history: Golden boot state enrolled:" \
    "$(enrolled_pcr0), ...; $(last_event | sed 's/.*Replaces/replaces/')"
BOOT_REPASS_STATE=$(with_ramdisk "$BM" node provide "$NODE")
BOOT_REPASS_VERDICT=$(last_event)
say "node is $BOOT_REPASS_STATE; verdict: $BOOT_REPASS_VERDICT"
# Back to the fake deploy interface for the next deployment.
quietly "$SERVICES_LOG" "$BM" node manage "$NODE" --wait 60
quietly "$SERVICES_LOG" "$BM" node set "$NODE" --deploy-interface fake
quietly "$SERVICES_LOG" "$BM" node provide "$NODE" --wait "$WAIT"

stage "Tampering with the node ($TAMPERED_FILE is executed and measured;" \
    "it is not in the allowlist) and deploying again (expect FAIL)"
quietly "$SERVICES_LOG" "$KEYLIME" tamper "$RUN/keylime" "$TAMPERED_FILE"
second_rc=0
"$BM" node deploy "$NODE" --wait "$WAIT" >>"$SERVICES_LOG" 2>&1 \
    || second_rc=$?
SECOND_STATE=$("$BM" node show "$NODE" -f value -c provision_state)
SECOND_ERROR=$("$BM" node show "$NODE" -f value -c last_error)
say "node is $SECOND_STATE (deploy command exit status $second_rc)"
say "last_error: $SECOND_ERROR"

stage "What the fleet's attestations look like to an operator" \
    "(openstack baremetal node attestation list)"
ATTESTATION_LIST=$("$OPENSTACK" baremetal node attestation list \
    -c name -c provision_state -c enrolled -c ek_pinned -c last_verdict \
    -c last_operation)
while IFS= read -r line; do
    echo "    $line"
done <<< "$ATTESTATION_LIST"
LAST_VERDICT=$("$OPENSTACK" baremetal node attestation show "$NODE" \
    -f value -c last_verdict)

echo
echo "==> Summary"
echo "    Node $NODE (fake-hardware, attestation interface keylime, lists" \
    "from Swift container $CONTAINER):"
echo "    Attestation verdicts in the node's history (oldest first):"
verdicts | sed 's/^/      /'
echo "    1st deployment (untouched node): $FIRST_STATE"
echo "    Golden boot state: enrolled -> cleaning $BOOT_PASS_STATE;" \
    "firmware changed -> $BOOT_FAIL_STATE; enrolled again -> cleaning" \
    "$BOOT_REPASS_STATE"
echo "    2nd deployment (tampered node):  $SECOND_STATE"
echo "        reason: $SECOND_ERROR"
ok=1
[ "$FIRST_STATE" = active ] && [[ $FIRST_VERDICT == *PASS* ]] || ok=0
[ "$ENROLL_STATE" = manageable ] && [ "$BOOT_PASS_STATE" = available ] \
    && [[ $BOOT_PASS_VERDICT == *PASS* ]] || ok=0
[ "$BOOT_FAIL_STATE" = "clean failed" ] \
    && [[ $BOOT_FAIL_ERROR == *invalid_pcr_0* ]] || ok=0
[ "$REENROLL_STATE" = manageable ] && [ "$BOOT_REPASS_STATE" = available ] \
    && [[ $BOOT_REPASS_VERDICT == *PASS* ]] || ok=0
[ "$SECOND_STATE" = "deploy failed" ] && [[ $SECOND_ERROR == *FAIL* ]] \
    || ok=0
[ "$LAST_VERDICT" = FAIL ] || ok=0
if [ $ok = 1 ]; then
    echo "    RESULT: as expected - the untouched node passed attestation" \
        "and was deployed; its changed firmware failed cleaning until it" \
        "was enrolled again; the tampered node failed attestation and was" \
        "not deployed (${SECONDS} s in all)."
else
    echo "    RESULT: NOT as expected; see the logs in $RUN"
    IRONIC_KEYLIME_DEMO_KEEP=1
    exit 1
fi
