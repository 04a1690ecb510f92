#!/usr/bin/env bash
# Benchmark the Swift list source on a real Swift (tools/swift/harness.sh):
# upload a large allowlist, read it through the project's code, print time,
# throughput and peak memory growth of the reading process.
#   tools/swift/benchmark.sh [--size-mib 100]
# PYTHON: the interpreter with ironic-keylime installed (default: python3).
set -euo pipefail

# shellcheck source=tools/common.sh
. "$(dirname "$0")/../common.sh"

PYTHON=${PYTHON:-python3}
"$TOP/tools/swift/harness.sh" setup
mkdir -p "$IRONIC_KEYLIME_HARNESS_DIR"
RUN=$(mktemp -d "$IRONIC_KEYLIME_HARNESS_DIR/bench.XXXXXX")
cleanup() {
    "$TOP/tools/swift/harness.sh" stop "$RUN/swift" || true
    rm -rf "$RUN"
}
trap cleanup EXIT
"$TOP/tools/swift/harness.sh" start "$RUN/swift"
set -a
# shellcheck disable=SC1091
. "$RUN/swift/swift.env"
set +a
echo "machine: $(nproc) cores, $(uname -sr), $("$PYTHON" --version 2>&1)"
"$PYTHON" "$TOP/tools/swift/benchmark.py" "$@"
