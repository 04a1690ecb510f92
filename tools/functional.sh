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
#   4. builds the deploy ramdisk of the virtual-machine test in the
#      background (tools/vm/build-ramdisk.sh, reused while its content
#      does not change);
#   5. stops every process it started, also when a test fails, and prints
#      the service logs when one did.
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
    dosfstools
if [ $# -eq 0 ]; then
    "$TOP/tools/vm/build-ramdisk.sh" prepare
    setsid "$TOP/tools/vm/build-ramdisk.sh" >"$RUN/vm-build.log" 2>&1 &
    VM_BUILD_PID=$!
    log "building the VM ramdisk in the background ($RUN/vm-build.log)"
fi
export IRONIC_KEYLIME_RUN_DIR=$RUN
log "run directory (services, logs): $RUN"

# shellcheck disable=SC2329  # run by the EXIT trap
stop_all() {
    if [ -n "${VM_BUILD_PID:-}" ] && kill -0 "$VM_BUILD_PID" 2>/dev/null; then
        kill -- -"$VM_BUILD_PID" || true
    fi
    "$TOP/tools/swift/harness.sh" stop "$RUN/swift" || true
    "$TOP/tools/keylime/harness.sh" stop "$RUN/keylime" || true
}
trap stop_all EXIT

"$TOP/tools/keylime/harness.sh" start "$RUN/keylime" \
    --agents "${IRONIC_KEYLIME_AGENTS:-4}" --verifiers 2
"$TOP/tools/swift/harness.sh" start "$RUN/swift"
set -a
# shellcheck disable=SC1091
. "$RUN/keylime/keylime.env"
# shellcheck disable=SC1091
. "$RUN/swift/swift.env"
set +a
# keylime.models skips its imports under tox (TOX_ENV_NAME); the real
# tenants the tests run must not see it.
unset TOX_ENV_NAME

rc=0
# stestr keeps the functional runs in .stestr-functional/.stestr.
mkdir -p .stestr-functional
stestr --test-path ./ironic_keylime/tests/functional --top-dir ./ \
    --repo-url .stestr-functional run --concurrency 1 --slowest "$@" || rc=$?
if [ $rc != 0 ]; then
    log "functional tests failed; service logs follow"
    find "$RUN" -name '*.log' -type f | sort | while read -r f; do
        echo "===== $f (last 60 lines)"
        tail -n 60 "$f"
    done
fi
exit $rc
