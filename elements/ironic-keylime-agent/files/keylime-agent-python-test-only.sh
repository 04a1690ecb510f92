#!/bin/bash
# TEST ONLY, NOT FOR PRODUCTION. In the chroot: the Keylime Python agent
# VERSION (6.6.0, the last one on PyPI) in its own virtualenv, as
# /usr/bin/keylime_agent with the element's unit, running as root. The
# Rust agent is the production agent; Debian has no package of it, so
# ironic-keylime's virtual-machine tests (tools/vm) use this one, the same
# agent as the functional harness (tools/keylime/harness.sh).
#
#   keylime-agent-python-test-only.sh VERSION SRC_DIR
set -eu
set -o pipefail

VERSION=$1
SRC=$2
VENV=/opt/keylime-agent-python-test-only
# The Keylime wheels declare no dependencies: those of the harness.
DEPS=(cryptography tornado pyyaml requests sqlalchemy alembic packaging
    psutil lark pyasn1 pyasn1-modules jinja2 jsonschema typing-extensions)

python3 -m venv "$VENV"
"$VENV/bin/pip" install -q "keylime==$VERSION" "${DEPS[@]}"
SITE=$("$VENV/bin/python" -c \
    'import sysconfig; print(sysconfig.get_paths()["purelib"])')
ln -sfn /usr/lib/python3/dist-packages/gpg "$SITE/gpg"

# The configuration templates are only in the sdist.
TMPD=$(mktemp -d)
"$VENV/bin/pip" download -q --no-deps --no-binary :all: \
    "keylime==$VERSION" -d "$TMPD"
tar xzf "$TMPD/keylime-$VERSION.tar.gz" -C "$TMPD" "keylime-$VERSION/templates"
mkdir -p /etc/keylime "$TMPD/etc"
"$VENV/bin/keylime_upgrade_config" --defaults \
    --templates "$TMPD/keylime-$VERSION/templates" --out "$TMPD/etc" \
    > /dev/null
install -m 0644 "$TMPD/etc/agent.conf" /etc/keylime/agent.conf
# The Python agent configures its logging from this file at import time.
install -m 0644 "$TMPD/etc/logging.conf" /etc/keylime/logging.conf
rm -rf "$TMPD"

# The element's drop-in (80-) and the conductor's (90-) come after this.
mkdir -p /etc/keylime/agent.conf.d
cat > /etc/keylime/agent.conf.d/70-python-test-only.conf << EOC
# TEST ONLY, NOT FOR PRODUCTION (ironic-keylime-agent element,
# DIB_KEYLIME_AGENT_PYTHON_TEST_ONLY): the Keylime $VERSION Python agent,
# as root, without revocation notifications (they need zmq).
[agent]
run_as = ""
enable_revocation_notifications = false
EOC

install -D -m 0755 "$SRC/keylime_agent_python_test_only.py" \
    /usr/bin/keylime_agent
sed -i "1s#.*#\#!$VENV/bin/python3#" /usr/bin/keylime_agent
UNIT=/usr/lib/systemd/system/keylime_agent.service
install -D -m 0644 "$SRC/keylime_agent.service" "$UNIT"
# The kernel's TPM resource manager (no tpm2-abrmd in the ramdisk).
sed -i '/^\[Service\]/a Environment=TPM2TOOLS_TCTI=device:/dev/tpmrm0' \
    "$UNIT"
