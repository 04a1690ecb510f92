#!/usr/bin/env bash
# The whole chain on a virtual machine (issue 14): build the deploy
# ramdisk from our elements (or reuse it: tools/vm/build-ramdisk.sh keys
# it by the elements' content), then run the functional test
# test_vm_real: the ramdisk boots in qemu with its own swtpm as a node of
# a real Ironic, whose automated cleaning attests it with the real
# Keylime harness, and prints its figures ("VM FIGURE ...").
#
#   tools/vm/e2e.sh [STESTR FILTER]   default: test_vm_real
#
# The Keylime harness uses fixed ports: the test run holds
# /tmp/ik-functional.lock (the image build does not).
set -euo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tools/common.sh
. "$TOP/tools/common.sh"

apt_install qemu-system-x86 swtpm swtpm-tools util-linux
log "building (or reusing) the ramdisk"
"$TOP/tools/vm/build-ramdisk.sh"
FILTER=${1:-test_vm_real}
# test_vm_real runs only when asked (the README's suite skips it, naming
# this command).
export IRONIC_KEYLIME_VM_E2E=1
exec flock /tmp/ik-functional.lock "$TOP/tools/run-tests.sh" \
    -e functional -- "$FILTER"
