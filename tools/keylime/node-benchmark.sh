#!/usr/bin/env bash
# The time one node's deploy and clean take with and without Keylime
# attestation (no-attestation, keylime with verifier_api tenant and rest)
# on a real all-in-one Ironic: starts the harness Keylime in a fresh
# RUNDIR, runs tools/keylime/node-benchmark.py against it (each setting
# starts its own Ironic on a free port) and stops it again. Keylime uses
# its default ports unless IRONIC_KEYLIME_BASE_PORT is set (harness.sh
# start reads it): run it under the lock of the functional tests, e.g.
#   flock /tmp/ik-functional.lock tools/keylime/node-benchmark.sh --runs 3
# or with a base port of its own, e.g.
#   IRONIC_KEYLIME_BASE_PORT=25000 tools/keylime/node-benchmark.sh --runs 3
# PYTHON: a Python with ironic-keylime, Ironic and openstacksdk installed
# (default: the functional tox environment's).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tools/common.sh
. "$(dirname "$0")/../common.sh"
PYTHON=${PYTHON:-$TOP/.tox/functional/bin/python}

keylime_for_benchmark node-bench
echo "machine: $(nproc) cores, $(uname -sr), $("$PYTHON" -V 2>&1)"
"$PYTHON" "$HERE/node-benchmark.py" "$RUN" "$@"
