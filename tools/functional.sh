#!/usr/bin/env bash
# Functional tests against real services on 127.0.0.1 (run by
# "tox -e functional"):
#   1. installs what the harnesses need (system packages as root, the
#      Keylime and Swift virtualenvs under $IRONIC_KEYLIME_HARNESS_DIR, the
#      patched Ironic of contrib/ironic-native, whose own unit tests of the
#      patched modules run here with the whole suite);
#   2. starts a real Keylime (two verifiers, a registrar and
#      $IRONIC_KEYLIME_AGENTS agents on swtpm, default 4: the
#      several-conductors test gives each node its own agent) and a real
#      Swift, and exports where they are (tools/*/harness.sh);
#      IRONIC_KEYLIME_BASE_PORT moves every Keylime port (a second run on
#      the same machine);
#   3. runs the tests of ironic_keylime/tests/functional one at a time
#      (they share the services; each real Ironic is started by its test);
#      with the whole suite (no test filter) in two streams at once: the
#      virtual-machine tests (IRONIC_KEYLIME_VM_STREAM_REGEX, default
#      test_vm_*; each keeps one core busy with qemu under TCG) one at a
#      time in the background, on a Keylime of their own (two verifiers,
#      one agent; ports from P+400, P being IRONIC_KEYLIME_BASE_PORT or
#      8000) and their own stestr repository (.stestr-vm), and all the
#      other tests one at a time meanwhile (.stestr-functional;
#      IRONIC_KEYLIME_MAIN_STREAM_REGEX narrows them, to try the two
#      streams in minutes); the VM stream's output follows the other's,
#      and the run fails when either does. With a filter, one stream as
#      before;
#   4. builds the deploy ramdisk of the virtual-machine test in the
#      background (tools/vm/build-ramdisk.sh, reused while its content
#      does not change);
#   5. stops every process it started, also when a test fails or the run
#      is interrupted, and prints the service logs when a test failed.
set -euo pipefail

# shellcheck source=tools/common.sh
. "$(dirname "$0")/common.sh"

"$TOP/tools/keylime/harness.sh" setup
"$TOP/tools/swift/harness.sh" setup
# The policy test's real Keystone (test_step_policy_real: each test class
# starts its own with tools/keystone/harness.sh); installed once.
"$TOP/tools/keystone/harness.sh" setup
# The several-conductors test's real database (test_conductors_real: a
# private cluster, started and stopped by the test).
apt_install postgresql
# Ironic and python-ironicclient with the native attestation interface
# (contrib/ironic-native), for test_native_real; built once, then reused.
"$TOP/tools/ironic-native/build.sh"
IRONIC_NATIVE_VENV=$("$TOP/tools/ironic-native/build.sh" venv)
IRONIC_NATIVE_SRC=$("$TOP/tools/ironic-native/build.sh" src)
export IRONIC_NATIVE_VENV IRONIC_NATIVE_SRC
# Their own unit tests of the modules the patches touch (about 1.5 min):
# with the whole suite, or IRONIC_NATIVE_UNIT_TESTS=1.
if [ $# -eq 0 ] || [ "${IRONIC_NATIVE_UNIT_TESTS:-0}" = 1 ]; then
    "$TOP/tools/ironic-native/build.sh" unit-tests
fi

mkdir -p "$IRONIC_KEYLIME_HARNESS_DIR"
RUN=$(mktemp -d "$IRONIC_KEYLIME_HARNESS_DIR/run.XXXXXX")
# The whole chain on a virtual machine (test_vm_real): qemu and swtpm,
# and the deploy ramdisk built from our elements (tools/vm), once per
# image content. With the whole suite it builds in the background while
# the services start and the other tests run (system packages first:
# apt is not shared); test_vm_real waits for it (one build at a time).
apt_install qemu-system-x86 swtpm swtpm-tools tpm2-tools ovmf grub-efi-amd64-bin mtools \
    dosfstools fdisk
if [ $# -eq 0 ]; then
    "$TOP/tools/vm/build-ramdisk.sh" prepare
    setsid "$TOP/tools/vm/build-ramdisk.sh" >"$RUN/vm-build.log" 2>&1 &
    VM_BUILD_PID=$!
    log "building the VM ramdisk in the background ($RUN/vm-build.log)"
fi
export IRONIC_KEYLIME_RUN_DIR=$RUN
log "run directory (services, logs): $RUN"

# With the whole suite, the virtual-machine tests are a second stream
# (see the header): their own Keylime, in RUN/keylime-vm, from P+400 (P:
# IRONIC_KEYLIME_BASE_PORT, else 8000), clear of the first Keylime (P to
# P+3, P+10 to P+99, P+200 to P+379 with up to 90 agents) and of
# test_keylime6_real's (P+500 to P+503, P+510, P+700 and P+701).
VM_STREAM=0
if [ $# -eq 0 ]; then
    VM_STREAM=1
    VM_REGEX_DEFAULT='ironic_keylime\.tests\.functional\.test_vm_'
    VM_REGEX=${IRONIC_KEYLIME_VM_STREAM_REGEX:-$VM_REGEX_DEFAULT}
    case ${IRONIC_KEYLIME_BASE_PORT:-8000} in
        ''|*[!0-9]*)
            log "IRONIC_KEYLIME_BASE_PORT must be a port number"
            exit 2
            ;;
    esac
    VM_BASE_PORT=$((${IRONIC_KEYLIME_BASE_PORT:-8000} + 400))
fi

# A test stream still running when the script ends (interrupted): SIGINT
# first, as Ctrl-C would give it (the running test's own clean-ups run,
# e.g. its VM's stop; a test class's tearDownClass does not), up to 60 s,
# then stop_group (TERM, KILL). Its pid file is gone once the stream was
# waited for: stop_stream PIDFILE.
# shellcheck disable=SC2329  # run by the EXIT trap
stop_stream() {
    [ -f "$1" ] || return 0
    kill -INT -- "-$(cat "$1")" 2>/dev/null || true
    for _ in $(seq 300); do
        kill -0 -- "-$(cat "$1")" 2>/dev/null || break
        sleep 0.2
    done
    stop_group "$1" 50 0.2
}

# shellcheck disable=SC2329  # run by the EXIT trap
stop_all() {
    if [ -n "${VM_BUILD_PID:-}" ] && kill -0 "$VM_BUILD_PID" 2>/dev/null; then
        kill -- -"$VM_BUILD_PID" || true
    fi
    stop_stream "$RUN/main-stream.pid"
    stop_stream "$RUN/vm-stream.pid"
    "$TOP/tools/swift/harness.sh" stop "$RUN/swift" || true
    "$TOP/tools/keylime/harness.sh" stop "$RUN/keylime" || true
    if [ -d "$RUN/keylime-vm" ]; then
        "$TOP/tools/keylime/harness.sh" stop "$RUN/keylime-vm" || true
    fi
}
trap stop_all EXIT

"$TOP/tools/keylime/harness.sh" start "$RUN/keylime" \
    --agents "${IRONIC_KEYLIME_AGENTS:-4}" --verifiers 2
"$TOP/tools/swift/harness.sh" start "$RUN/swift"
if [ $VM_STREAM = 1 ]; then
    # One agent: the VM tests attest the agent in the VM, but keylime.env
    # (keylime_env_file.REQUIRED) names an agent of the harness; the
    # second verifier is test_vm_uefi_real's accept-all one.
    "$TOP/tools/keylime/harness.sh" start "$RUN/keylime-vm" \
        --agents 1 --verifiers 2 --base-port "$VM_BASE_PORT"
fi
set -a
# shellcheck disable=SC1091
. "$RUN/swift/swift.env"
set +a
# keylime.models skips its imports under tox (TOX_ENV_NAME); the real
# tenants the tests run must not see it.
unset TOX_ENV_NAME

STESTR=(stestr --test-path ./ironic_keylime/tests/functional --top-dir ./)
if [ $VM_STREAM = 1 ]; then
    # stestr keeps the VM stream's runs in .stestr-vm/.stestr; its own
    # process group (stopped by stop_all), the second Keylime's
    # keylime.env only, output to RUN/vm-stream.log.
    mkdir -p .stestr-vm
    # shellcheck disable=SC2016  # expanded by the stream's own shell
    start_group "$RUN/vm-stream.pid" "$RUN/vm-stream.log" \
        env --default-signal=INT bash -c '
        unset "${!KEYLIME_HARNESS_@}"
        set -a
        . "$1"
        set +a
        shift
        exec "$@"' vm-stream "$RUN/keylime-vm/keylime.env" \
        "${STESTR[@]}" --repo-url .stestr-vm run --concurrency 1 --slowest \
        "$VM_REGEX"
    VM_STREAM_PID=$(cat "$RUN/vm-stream.pid")
    log "VM stream ($VM_REGEX) started in the background: its Keylime" \
        "$RUN/keylime-vm (ports from $VM_BASE_PORT), output" \
        "$RUN/vm-stream.log"
    # The other stream: everything else (or what
    # IRONIC_KEYLIME_MAIN_STREAM_REGEX selects of it).
    set -- --exclude-regex "$VM_REGEX"
    if [ -n "${IRONIC_KEYLIME_MAIN_STREAM_REGEX:-}" ]; then
        set -- "$@" "$IRONIC_KEYLIME_MAIN_STREAM_REGEX"
    fi
fi
set -a
# shellcheck disable=SC1091
. "$RUN/keylime/keylime.env"
set +a

rc=0
# stestr keeps the functional runs in .stestr-functional/.stestr. Its
# own process group as well, waited for (an interrupted script's EXIT
# trap stops it before the services, instead of leaving it to run on
# against stopped ones); its output goes where ours does. A background
# command of a script ignores SIGINT: env gives it back (stop_stream).
mkdir -p .stestr-functional
setsid env --default-signal=INT "${STESTR[@]}" \
    --repo-url .stestr-functional run --concurrency 1 --slowest "$@" &
echo $! >"$RUN/main-stream.pid"
wait "$(cat "$RUN/main-stream.pid")" || rc=$?
rm -f "$RUN/main-stream.pid"
if [ $rc != 0 ]; then
    log "functional tests failed (rc $rc)"
fi
if [ $VM_STREAM = 1 ]; then
    log "waiting for the VM stream ($RUN/vm-stream.log)"
    vm_rc=0
    wait "$VM_STREAM_PID" || vm_rc=$?
    rm -f "$RUN/vm-stream.pid"
    echo "===== the VM stream: $VM_REGEX ($RUN/vm-stream.log)"
    cat "$RUN/vm-stream.log"
    if [ $vm_rc != 0 ]; then
        log "the VM stream failed (rc $vm_rc)"
        [ $rc != 0 ] || rc=$vm_rc
    fi
fi
if [ $rc != 0 ]; then
    log "service logs follow"
    find "$RUN" -name '*.log' ! -name vm-stream.log -type f | sort |
        while read -r f; do
            echo "===== $f (last 60 lines)"
            tail -n 60 "$f"
        done
fi
exit $rc
