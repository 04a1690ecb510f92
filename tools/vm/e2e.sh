#!/usr/bin/env bash
# The whole chain on a virtual machine (issue 14), on its own: build the
# deploy ramdisk from our elements (or reuse it: tools/vm/build-ramdisk.sh
# keys it by the elements' content), then run the functional test
# test_vm_real: the ramdisk boots in qemu with its own swtpm as a node of
# a real Ironic, whose cleaning attests it with the real Keylime harness.
# Ends with the figures the test measured (the "VM FIGURE" lines: build
# time and size, boot to first heartbeat, enrollment, provide to
# available with and without attestation). The README's test command
# runs the same test with the rest of the functional suite.
#
#   tools/vm/e2e.sh [STESTR FILTER]   default: test_vm_ (both VM tests)
#
# The Keylime harness uses fixed ports: the test run holds
# /tmp/ik-functional.lock (the image build does not).
set -euo pipefail

# shellcheck source=tools/common.sh
. "$(dirname "$0")/../common.sh"

apt_install qemu-system-x86 swtpm swtpm-tools util-linux
log "building (or reusing) the ramdisk"
"$TOP/tools/vm/build-ramdisk.sh"
FILTER=${1:-test_vm_}
OUT=$(mktemp /tmp/ik-vm-e2e.XXXXXX)
set +e
flock /tmp/ik-functional.lock "$TOP/tools/run-tests.sh" \
    -e functional -- "$FILTER" 2>&1 | tee "$OUT"
rc=${PIPESTATUS[0]}
set -e
echo
log "figures (TCG, 1 vCPU; full output: $OUT)"
grep -h '^VM FIGURE' "$OUT" | sed 's/^VM FIGURE /  /' || true
exit "$rc"
