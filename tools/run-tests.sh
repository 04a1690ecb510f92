#!/usr/bin/env bash
# Run the tests of ironic-keylime from nothing: pep8, the unit tests on
# Ironic's own test helpers, the functional tests against a real
# Keylime, Swift and Ironic on 127.0.0.1 (tools/functional.sh), and the
# documentation and release notes builds (warnings are errors).
#
# Needs Debian 12 (or similar) with Python 3.10+; installs tox into
# .harness/venvs/tox and, as root, the system packages it needs.
#   tools/run-tests.sh                 # pep8, py3, functional, docs,
#                                      # releasenotes
#   tools/run-tests.sh -e py3          # only the unit tests
set -euo pipefail

# shellcheck source=tools/common.sh
. "$(dirname "$0")/common.sh"

ensure_venv_support
TOX_VENV=$IRONIC_KEYLIME_HARNESS_DIR/venvs/tox
if [ ! -x "$TOX_VENV/bin/tox" ]; then
    log "installing tox into $TOX_VENV"
    python3 -m venv "$TOX_VENV"
    "$TOX_VENV/bin/pip" install -q tox
fi

cd "$TOP"
if [ $# -eq 0 ]; then
    set -- -e pep8,py3,functional,docs,releasenotes
fi
rc=0
"$TOX_VENV/bin/tox" "$@" || rc=$?
"$TOX_VENV/bin/python" "$TOP/tools/test_summary.py" "$TOP" || true
exit $rc
