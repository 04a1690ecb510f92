#!/usr/bin/env bash
# Figures of an attestation against a real Keylime: starts the harness
# Keylime in a fresh RUNDIR, runs tools/keylime/benchmark.py against it
# and stops it again. Only one Keylime can run on a machine: run it under
# the same lock as the functional tests, e.g.
#   flock /work/keylime-stack.lock tools/keylime/benchmark.sh --runs 5
# PYTHON: a Python with ironic-keylime installed (default: python3).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
export IRONIC_KEYLIME_HARNESS_DIR=${IRONIC_KEYLIME_HARNESS_DIR:-$TOP/.harness}
# shellcheck source=tools/common.sh
. "$TOP/tools/common.sh"

"$HERE/harness.sh" setup
mkdir -p "$IRONIC_KEYLIME_HARNESS_DIR"
RUN=$(mktemp -d "$IRONIC_KEYLIME_HARNESS_DIR/bench.XXXXXX")
trap '"$HERE/harness.sh" stop "$RUN"' EXIT
"$HERE/harness.sh" start "$RUN"
echo "machine: $(nproc) cores, $(uname -sr)," \
    "$("${PYTHON:-python3}" -V 2>&1), keylime_tenant 7.14.3"
"${PYTHON:-python3}" "$HERE/benchmark.py" "$RUN" "$@"
