#!/usr/bin/env bash
# Ironic and python-ironicclient with the native attestation interface
# (the patch series of contrib/ironic-native/), built from their PyPI
# source distributions into a virtualenv:
#
#   build.sh [build]     download the pinned sdists (pip checks their
#                        sha256), apply each patch (exactly: no fuzz; fail
#                        naming the patch that no longer applies), install
#                        both, python-openstackclient and ironic-keylime
#                        (this checkout) into $IRONIC_NATIVE_VENV; nothing
#                        is done when the virtualenv was built from the
#                        same patches
#   build.sh unit-tests  Ironic's and the client's own unit tests of the
#                        modules the patches touch, on the patched trees
#   build.sh venv | src  print the virtualenv's path, the sources' path
#
# IRONIC_NATIVE_VENV (default .harness/venvs/ironic-native) and
# IRONIC_NATIVE_SRC (default .harness/ironic-native: the patched trees, and
# the released Ironic in unpatched/ironic) move them. Nothing fetched is
# kept in the repository.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
export IRONIC_KEYLIME_HARNESS_DIR=${IRONIC_KEYLIME_HARNESS_DIR:-$TOP/.harness}
# shellcheck source=tools/common.sh
. "$TOP/tools/common.sh"

CONTRIB=$TOP/contrib/ironic-native
VENV=${IRONIC_NATIVE_VENV:-$IRONIC_KEYLIME_HARNESS_DIR/venvs/ironic-native}
SRC=${IRONIC_NATIVE_SRC:-$IRONIC_KEYLIME_HARNESS_DIR/ironic-native}
# Project name on PyPI, and the directory of its patches.
PROJECTS=(ironic python-ironicclient)

# Ironic's and the client's unit tests of the modules the patches touch.
IRONIC_TESTS=(
    ironic.tests.unit.drivers.test_base
    ironic.tests.unit.drivers.test_generic
    ironic.tests.unit.drivers.test_fake_hardware
    ironic.tests.unit.common.test_driver_factory
    ironic.tests.unit.common.test_release_mappings
    ironic.tests.unit.conductor.test_steps
    ironic.tests.unit.objects.test_node
    ironic.tests.unit.objects.test_objects
    ironic.tests.unit.db.sqlalchemy.test_migrations
    ironic.tests.unit.api.controllers.v1.test_driver
    ironic.tests.unit.api.controllers.v1.test_node
    ironic.tests.unit.api.controllers.v1.test_utils
    ironic.tests.unit.api.controllers.v1.test_versions
)
CLIENT_TESTS=(
    ironicclient.tests.unit.osc.v1.test_baremetal_node
    ironicclient.tests.unit.osc.v1.test_baremetal_driver
    ironicclient.tests.unit.v1.test_node
    ironicclient.tests.unit.v1.test_resource_fields
    ironicclient.tests.unit.common.test_http
)
TEST_DEPS=(ddt fixtures oslotest requests-mock stestr testtools WebTest)

# What the virtualenv is built from: the patches, the pins, this script.
stamp() {
    (cd "$TOP" && find contrib/ironic-native tools/ironic-native -type f \
        -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1
}

# Unpack an sdist into DEST/PROJECT: unpack PROJECT ARCHIVE DEST.
unpack() {
    rm -rf "${3:?}/$1"
    mkdir -p "$3/$1"
    tar -xzf "$2" -C "$3/$1" --strip-components=1 --no-same-owner
}

# Without git, pbr installs the files that the sdist's egg-info/SOURCES.txt
# lists (Ironic's migrations are not a package): add the files a patch
# creates. add_new_files PATCH DIR
add_new_files() {
    local sources
    sources=$(find "$2" -maxdepth 2 -path '*.egg-info/SOURCES.txt')
    [ -n "$sources" ] || return 0
    awk '/^--- \/dev\/null/ {n = 1; next}
/^\+\+\+ b\// {if (n) print substr($0, 7); n = 0}' "$1" >>"$sources"
}

# Apply every patch of contrib/ironic-native/PROJECT to DIR, in order.
apply_patches() {
    local project=$1 dir=$2 p out
    for p in "$CONTRIB/$project"/*.patch; do
        # -F0: the context must match exactly; -N: an applied patch is
        # an error too.
        if ! out=$(patch -p1 -F0 -N --batch --dry-run -d "$dir" -i "$p" \
                2>&1); then
            log "contrib/ironic-native/$project/$(basename "$p") no longer" \
                "applies to $(basename "$dir") as pinned in" \
                "contrib/ironic-native/requirements.txt:"
            echo "$out" >&2
            return 1
        fi
        patch -p1 -F0 -N --batch --quiet -d "$dir" -i "$p"
        add_new_files "$p" "$dir"
        log "applied $project/$(basename "$p")"
    done
}

build() {
    local want dl
    want=$(stamp)
    if [ -x "$VENV/bin/ironic" ] && [ "$(cat "$VENV/.native-stamp" \
            2>/dev/null)" = "$want" ]; then
        if [ "$TOP/setup.cfg" -nt "$VENV/.native-stamp" ]; then
            log "reinstalling ironic-keylime into $VENV (setup.cfg changed)"
            "$VENV/bin/pip" install -q --no-deps -e "$TOP"
            touch "$VENV/.native-stamp"
        fi
        return 0
    fi
    ensure_venv_support
    rm -rf "$SRC" "$VENV"
    mkdir -p "$SRC/dl"
    dl=$SRC/dl
    log "downloading the pinned sdists"
    python3 -m pip download -q --no-deps --no-binary :all: \
        --require-hashes -r "$CONTRIB/requirements.txt" -d "$dl"
    unpack ironic "$dl"/ironic-*.tar.gz "$SRC"
    # Unpatched, not installed: the functional tests run its ironic-dbsync
    # (PYTHONPATH) to make a database as the released Ironic does.
    unpack ironic "$dl"/ironic-*.tar.gz "$SRC/unpatched"
    unpack python-ironicclient "$dl"/python_ironicclient-*.tar.gz "$SRC"
    local project
    for project in "${PROJECTS[@]}"; do
        apply_patches "$project" "$SRC/$project"
    done
    log "creating $VENV (patched Ironic and client, ironic-keylime)"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q "$SRC/ironic" "$SRC/python-ironicclient" \
        python-openstackclient openstacksdk
    # ironic>=39.0.0 and python-ironicclient are satisfied by the patched
    # ones: pip keeps them.
    "$VENV/bin/pip" install -q -e "$TOP"
    "$VENV/bin/python" - <<'EOF'
from ironic.objects import node
import ironicclient.osc.v1.baremetal_node as cli
assert 'attestation_interface' in node.Node.fields, 'Ironic is not patched'
assert 'attestation' in cli.SUPPORTED_INTERFACES, 'client is not patched'
EOF
    echo "$want" >"$VENV/.native-stamp"
    log "built $VENV"
}

# Run a project's unit tests with stestr; the whole output goes to
# SRC/PROJECT-unit-tests.log, the summary (or the end, on failure) here.
# run_stestr PROJECT TEST_PATH TESTS...
run_stestr() {
    local project=$1 path=$2 out
    shift 2
    out=$SRC/$project-unit-tests.log
    log "$project's unit tests: $*"
    if (cd "$SRC/$project" && "$VENV/bin/python" -m stestr --test-path \
            "$path" --top-dir . run --concurrency 2 "$@") >"$out" 2>&1; then
        grep -E '^ - (Passed|Failed|Skipped):|^Sum of' "$out" >&2 || true
        return 0
    fi
    tail -n 200 "$out" >&2
    log "$project's unit tests failed; see $out"
    return 1
}

unit_tests() {
    build
    "$VENV/bin/pip" install -q "${TEST_DEPS[@]}"
    local rc=0
    run_stestr ironic ironic/tests/unit "${IRONIC_TESTS[@]}" || rc=1
    run_stestr python-ironicclient ironicclient/tests/unit \
        "${CLIENT_TESTS[@]}" || rc=1
    return $rc
}

case "${1:-build}" in
    build) build ;;
    unit-tests) unit_tests ;;
    venv) echo "$VENV" ;;
    src) echo "$SRC" ;;
    *)
        echo "usage: $0 [build | unit-tests | venv | src]" >&2
        exit 2
        ;;
esac
