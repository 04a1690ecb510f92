#!/usr/bin/env bash
# Figures of an attestation against a real Keylime: starts the harness
# Keylime in a fresh RUNDIR, runs tools/keylime/benchmark.py against it
# and stops it again. Only one Keylime can run on a machine: run it under
# the same lock as the functional tests, e.g.
#   flock /work/keylime-stack.lock tools/keylime/benchmark.sh --runs 5
# PYTHON: a Python with ironic-keylime installed (default: python3).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tools/common.sh
. "$(dirname "$0")/../common.sh"

keylime_for_benchmark bench
echo "machine: $(nproc) cores, $(uname -sr)," \
    "$("${PYTHON:-python3}" -V 2>&1), keylime_tenant 7.14.3"
"${PYTHON:-python3}" "$HERE/benchmark.py" "$RUN" "$@"
