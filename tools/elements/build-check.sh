#!/usr/bin/env bash
# Optional check: build a whole image with the ironic-keylime-agent and
# ironic-keylime-tpm-emulator elements and have Keylime 7 judge the lists
# it exports.
#
# Builds Debian 12 (debian-minimal, debootstrap from deb.debian.org) as a
# tar with both elements and a stand-in for ironic-python-agent-builder's
# ironic-python-agent-ramdisk (whose sources come from opendev.org): IPA
# from PyPI wheels in /opt/ironic-python-agent, as the real element
# lays it out. Debian has no package of the Rust Keylime agent, so
# DIB_KEYLIME_AGENT_BINARY is a stand-in script: this checks the
# element's plumbing, not the agent. In the image it checks that IPA
# loads the keylime extension and what the element configured; on the
# exported lists it runs tools/elements/keylime_accepts_lists.py with
# binaries extracted from the image.
#
# Needs root (chroot, mounts), network to deb.debian.org and PyPI, the
# host's Python equal to the image's (3.11 for Debian 12: the IPA wheels
# are downloaded here), about 3 GB in /tmp and 3-5 minutes. The Keylime 7
# virtualenv comes from tools/keylime/harness.sh setup.
#   tools/elements/build-check.sh [WORKDIR]
set -euo pipefail

# shellcheck source=tools/common.sh
. "$(dirname "$0")/../common.sh"

WORK=${1:-$(mktemp -d /tmp/ik-dib.XXXXXX)}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
DIB_VENV=$IRONIC_KEYLIME_HARNESS_DIR/venvs/dib
KEYLIME_PY=$IRONIC_KEYLIME_HARNESS_DIR/venvs/keylime7/bin/python
IPA_VERSION=${IPA_VERSION:-13.0.0}

if [ ! -x "$KEYLIME_PY" ]; then
    log "no Keylime 7 virtualenv: run tools/keylime/harness.sh setup"
    exit 1
fi
apt_install debootstrap sudo
ensure_venv_support
if [ ! -x "$DIB_VENV/bin/disk-image-create" ]; then
    log "installing diskimage-builder into $DIB_VENV"
    python3 -m venv "$DIB_VENV"
    "$DIB_VENV/bin/pip" install -q diskimage-builder
fi

log "work directory: $WORK"
rm -rf "$WORK/wheel" "$WORK/stub"
python3 -m pip wheel -q --no-deps -w "$WORK/wheel" "$TOP" 2> /dev/null
WHEEL=$(ls "$WORK"/wheel/ironic_keylime-*.whl)

STUB=$WORK/stub/ipa-venv-stub
mkdir -p "$STUB/extra-data.d" "$STUB/install.d" "$STUB/post-install.d" \
    "$STUB/wheels"
python3 -m pip download -q -d "$STUB/wheels" \
    "ironic-python-agent==$IPA_VERSION"
echo package-installs > "$STUB/element-deps"
printf 'python3-venv:\n' > "$STUB/package-installs.yaml"
cat > "$STUB/extra-data.d/50-ipa-wheels" << EOS
#!/bin/bash
set -eu
mkdir -p "\$TMP_HOOKS_PATH/ipa-wheels"
cp "$STUB"/wheels/* "\$TMP_HOOKS_PATH/ipa-wheels/"
EOS
cat > "$STUB/install.d/60-ipa-venv-stub" << EOS
#!/bin/bash
set -eux
python3 -m venv /opt/ironic-python-agent
/opt/ironic-python-agent/bin/pip install -q --no-index \
    --find-links /tmp/in_target.d/ipa-wheels \
    ironic-python-agent==$IPA_VERSION
EOS
cat > "$STUB/post-install.d/99-ipa-keylime-check" << 'EOS'
#!/bin/bash
set -eux
/opt/ironic-python-agent/bin/python - << 'PY'
from stevedore import extension
names = extension.ExtensionManager('ironic_python_agent.extensions').names()
print('IPA extensions: %s' % sorted(names))
assert 'keylime' in names, names
from ironic_keylime.ipa import agent_config
print('agent configuration: %s' % agent_config.effective_config())
PY
cat /etc/ironic-python-agent.d/keylime.conf
test -x /usr/bin/keylime_agent
test -f /etc/ima/ima-policy
echo "keylime_agent.service: $(systemctl is-enabled keylime_agent.service \
    || true)"
echo "tpm-emulator.service: $(systemctl is-enabled tpm-emulator.service \
    || true)"
EOS
cat > "$WORK/stub/keylime_agent" << 'EOS'
#!/bin/sh
echo "stand-in keylime_agent (no Debian package of the Rust agent)" >&2
exit 1
EOS
chmod +x "$STUB"/*.d/* "$WORK/stub/keylime_agent"

export ELEMENTS_PATH=$TOP/elements:$WORK/stub
export DIB_RELEASE=bookworm
export DIB_DISTRIBUTION_MIRROR=${DIB_DISTRIBUTION_MIRROR:-http://deb.debian.org/debian}
export DIB_DEBIAN_SECURITY_MIRROR=${DIB_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
export DIB_KEYLIME_AGENT_BINARY=$WORK/stub/keylime_agent
export DIB_KEYLIME_AGENT_REGISTRAR_IP=192.0.2.1
export DIB_IRONIC_KEYLIME_SOURCE=$WHEEL
log "disk-image-create (log: $WORK/build.log)"
rc=0
"$DIB_VENV/bin/disk-image-create" --no-tmpfs -t tar -o "$WORK/ik-test" \
    debian-minimal ipa-venv-stub ironic-keylime-agent \
    ironic-keylime-tpm-emulator > "$WORK/build.log" 2>&1 \
    || rc=$?
if [ $rc != 0 ]; then
    tail -n 40 "$WORK/build.log"
    log "the image build failed ($rc)"
    exit $rc
fi
grep -E 'IPA extensions|agent configuration|(keylime_agent|tpm-emulator).service:' \
    "$WORK/build.log" | sed 's/^[^|]*| //'

LISTS=$WORK/ik-test.keylime
(cd "$LISTS" && sha256sum --check allowlist_checksum)
SAMPLES=(usr/bin/bash usr/bin/keylime_agent
    usr/lib/x86_64-linux-gnu/libc.so.6)
rm -rf "$WORK/sample" "$WORK/judge"
mkdir -p "$WORK/sample" "$WORK/judge"
tar -C "$WORK/sample" -xf "$WORK/ik-test.tar" "${SAMPLES[@]/#/./}"
ARGS=()
for s in "${SAMPLES[@]}"; do
    ARGS+=(--sample "/$s")
done
log "$(wc -l < "$LISTS/allowlist") allowlist lines; Keylime judges them"
"$KEYLIME_PY" "$TOP/tools/elements/keylime_accepts_lists.py" \
    --lists "$LISTS" --root "$WORK/sample" --workdir "$WORK/judge" \
    "${ARGS[@]}" > "$WORK/judge.json" 2> "$WORK/judge.log" || rc=$?
python3 -m json.tool "$WORK/judge.json"
if [ $rc != 0 ]; then
    log "Keylime does not accept the lists (see $WORK/judge.log)"
    exit $rc
fi
log "image build check passed; image and lists in $WORK"
