#!/usr/bin/env bash
# A fleet cleaned at once: starts the harness Keylime with as many agents
# as the largest fleet, runs tools/keylime/fleet_benchmark.py against it
# (a real Ironic per verifier API, N nodes provided at once for each N)
# and stops it again. Installer and service noise goes to a log file;
# the figures to the screen.
#
#   tools/keylime/fleet-benchmark.sh [--sizes 1,5,10,20]
#       [--apis none,tenant,rest] [--set keylime.max_concurrent_checks=8]
#       [--reads 5]
#
# Options go to fleet_benchmark.py (--set: any ironic.conf option, for
# every run). The harness uses Keylime's default ports unless
# IRONIC_KEYLIME_BASE_PORT is set: run it under the functional tests'
# lock, or with a base port of its own, e.g.
#   flock /tmp/ik-functional.lock tools/keylime/fleet-benchmark.sh
# PYTHON: a Python with ironic-keylime, Ironic and openstacksdk (default:
# the functional tox environment's, .tox/functional/bin/python).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tools/common.sh
. "$(dirname "$0")/../common.sh"

PYTHON=${PYTHON:-$TOP/.tox/functional/bin/python}
sizes=1,5,10,20
args=("$@")
while [ $# -gt 0 ]; do
    case $1 in
        --sizes) sizes=$2; shift 2 ;;
        *) shift ;;
    esac
done
agents=$(tr ',' '\n' <<<"$sizes" | sort -n | tail -1)

mkdir -p "$IRONIC_KEYLIME_HARNESS_DIR"
RUN=$(mktemp -d "$IRONIC_KEYLIME_HARNESS_DIR/fleet.XXXXXX")
LOG=$RUN/fleet-benchmark.log
log "installing and starting Keylime with $agents agents (log: $LOG)"
if [ ! -x "$PYTHON" ]; then
    "$TOP/tools/run-tests.sh" -e functional --notest >>"$LOG" 2>&1
fi
"$HERE/harness.sh" setup >>"$LOG" 2>&1
trap '"$HERE/harness.sh" stop "$RUN/keylime" >>"$LOG" 2>&1' EXIT
"$HERE/harness.sh" start "$RUN/keylime" --agents "$agents" >>"$LOG" 2>&1
echo "machine: $(nproc) cores, $(free -g | awk '/^Mem/ {print $2}') GiB," \
    "$(uname -sr), keylime_tenant 7.14.3, $agents agents on swtpm"
# keylime.models skips its imports under tox (TOX_ENV_NAME).
env -u TOX_ENV_NAME "$PYTHON" -W ignore "$HERE/fleet_benchmark.py" \
    "$RUN/keylime" "${args[@]}" 2>>"$LOG"
