#!/usr/bin/env bash
# Build ironic-python-agent's deploy ramdisk with ironic-keylime's
# keylime-agent element, Debian 12 (bookworm), for the virtual-machine
# tests (tools/vm/e2e.sh). Everything comes from PyPI and Debian's archive:
# ironic-python-agent-builder and diskimage-builder from PyPI, and the git
# repositories its elements clone (ironic-python-agent, requirements,
# glean) made locally from PyPI sdists.
#
#   build-ramdisk.sh          build (or reuse) the image; print its directory
#                             (one build at a time: others wait for it)
#   build-ramdisk.sh prepare  only install what the build needs (system
#                             packages: run it before a background build)
#
# The image is kept in $IRONIC_KEYLIME_VM_DIR/images/<key>/ (default
# ~/.cache/ironic-keylime-vm, outside the tree: CI reuses it), <key> being a hash of the elements, this
# script and the IPA extension's sources: a second run with the same
# content reuses it. The directory holds ipa-keylime.kernel,
# ipa-keylime.initramfs, the element's lists (ipa-keylime.keylime/) and
# build.json (build time, size).
#
# TEST ONLY: the ramdisk carries the Keylime 6.6.0 Python agent
# (DIB_KEYLIME_AGENT_PYTHON_TEST_ONLY) and the ironic-keylime-vm-test
# element; it is not a production ramdisk.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
# shellcheck source=tools/common.sh
. "$TOP/tools/common.sh"

VMDIR=${IRONIC_KEYLIME_VM_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ironic-keylime-vm}
DIB_VERSION=3.43.0
IPAB_VERSION=7.4.0
IPA_VERSION=${IRONIC_KEYLIME_VM_IPA_VERSION:-13.0.0}
GLEAN_VERSION=1.25.1
KEYLIME_AGENT_VERSION=6.6.0
MIRROR=${IRONIC_KEYLIME_VM_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${IRONIC_KEYLIME_VM_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
NAME=ipa-keylime

# What the image is made of: its key.
image_key() {
    (
        cd "$TOP"
        find elements tools/vm/elements tools/vm/build-ramdisk.sh \
            ironic_keylime/ipa setup.cfg -type f ! -name '*.pyc' \
            ! -path '*__pycache__*' -print0 | LC_ALL=C sort -z \
            | xargs -0 sha256sum
        echo "$DIB_VERSION $IPAB_VERSION $IPA_VERSION $GLEAN_VERSION"
        echo "$KEYLIME_AGENT_VERSION $MIRROR $SECURITY_MIRROR"
    ) | sha256sum | cut -c1-16
}

tools() {
    apt_install debootstrap cpio gzip sudo qemu-utils squashfs-tools \
        kpartx python3-venv
    local venv=$VMDIR/venv
    if [ ! -f "$venv/.ready-$DIB_VERSION-$IPAB_VERSION" ]; then
        log "installing diskimage-builder $DIB_VERSION and" \
            "ironic-python-agent-builder $IPAB_VERSION into $venv"
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q "diskimage-builder==$DIB_VERSION" \
            "ironic-python-agent-builder==$IPAB_VERSION"
        touch "$venv/.ready-$DIB_VERSION-$IPAB_VERSION"
    fi
}

# A local git repository holding a PyPI sdist: repo_from_sdist NAME VERSION
repo_from_sdist() {
    local repo=$VMDIR/repos/$1-$2 tmp
    if [ ! -d "$repo/.git" ]; then
        log "making a git repository of $1 $2 (PyPI sdist)"
        tmp=$(mktemp -d)
        "$VMDIR/venv/bin/pip" download -q --no-deps --no-binary :all: \
            "$1==$2" -d "$tmp"
        rm -rf "$repo"
        mkdir -p "$repo"
        tar xzf "$tmp"/*.tar.gz -C "$repo" --strip-components=1
        rm -rf "$tmp"
        git -C "$repo" init -q -b master
        git -C "$repo" add -A
        git -C "$repo" -c user.name=ironic-keylime \
            -c user.email=ironic-keylime@localhost commit -q -m "$1 $2"
    fi
    echo "$repo"
}

# requirements: only its upper-constraints.txt is read. None from PyPI:
# an empty one lets pip resolve ironic-python-agent's own requirements.
requirements_repo() {
    local repo=$VMDIR/repos/requirements
    if [ ! -d "$repo/.git" ]; then
        mkdir -p "$repo"
        echo '# ironic-keylime tools/vm: no constraints' \
            >"$repo/upper-constraints.txt"
        git -C "$repo" init -q -b master
        git -C "$repo" add -A
        git -C "$repo" -c user.name=ironic-keylime \
            -c user.email=ironic-keylime@localhost commit -q -m requirements
    fi
    echo "$repo"
}

build() {
    local key out start end
    key=$(image_key)
    out=$VMDIR/images/$key
    if [ -f "$out/build.json" ]; then
        log "ramdisk $key already built: $out"
        echo "$out"
        return 0
    fi
    tools
    mkdir -p "$VMDIR/repos"
    export DIB_REPOLOCATION_ironic_python_agent DIB_REPOLOCATION_requirements
    export DIB_REPOLOCATION_glean
    DIB_REPOLOCATION_ironic_python_agent=$(repo_from_sdist \
        ironic-python-agent "$IPA_VERSION")
    DIB_REPOLOCATION_glean=$(repo_from_sdist glean "$GLEAN_VERSION")
    DIB_REPOLOCATION_requirements=$(requirements_repo)
    export DIB_REPOREF_ironic_python_agent=master DIB_REPOREF_glean=master
    export DIB_REPOREF_requirements=master
    export DIB_RELEASE=bookworm DIB_DISTRIBUTION_MIRROR=$MIRROR
    export DIB_DEBIAN_SECURITY_MIRROR=$SECURITY_MIRROR
    # No non-free firmware: a VM needs none, and the image is smaller.
    export DIB_DEBIAN_COMPONENTS=main
    export DIB_KEYLIME_AGENT_PYTHON_TEST_ONLY=$KEYLIME_AGENT_VERSION
    export DIB_KEYLIME_AGENT_LISTS_DIR=$out.tmp/$NAME.keylime
    export DIB_IRONIC_KEYLIME_SOURCE=$TOP
    # pip in the chroot trusts what this host trusts (a proxy may re-sign
    # the index's certificates); the element keeps it out of the image.
    export DIB_IK_VM_BUILD_CA=${IRONIC_KEYLIME_VM_BUILD_CA:-/etc/ssl/certs/ca-certificates.crt}
    unset PIP_FIND_LINKS PIP_EXTRA_INDEX_URL PIP_INDEX_URL
    # The tree is root's; builds run as root here (CI, developers' VMs).
    export TMPDIR=${IRONIC_KEYLIME_VM_TMPDIR:-$VMDIR/tmp}
    mkdir -p "$TMPDIR"
    rm -rf "$out.tmp"
    mkdir -p "$out.tmp"
    log "building ramdisk $key (log: $out.tmp/build.log)"
    start=$(date +%s)
    if ! PATH=$VMDIR/venv/bin:$PATH \
        "$VMDIR/venv/bin/ironic-python-agent-builder" \
        -o "$out.tmp/$NAME" -r bookworm \
        --elements-path "$TOP/elements:$HERE/elements" \
        -e keylime-agent -e ironic-keylime-vm-test debian-minimal \
        >"$out.tmp/build.log" 2>&1; then
        log "the ramdisk build failed; last lines of $out.tmp/build.log:"
        tail -n 40 "$out.tmp/build.log" >&2
        return 1
    fi
    end=$(date +%s)
    local f
    for f in "$NAME.kernel" "$NAME.initramfs" "$NAME.keylime/allowlist"; do
        if [ ! -s "$out.tmp/$f" ]; then
            log "the build made no $f (see $out.tmp/build.log)"
            return 1
        fi
    done
    cat >"$out.tmp/build.json" <<EOJ
{"key": "$key", "build_seconds": $((end - start)),
 "initramfs_bytes": $(stat -c %s "$out.tmp/$NAME.initramfs"),
 "kernel_bytes": $(stat -c %s "$out.tmp/$NAME.kernel"),
 "allowlist_entries": $(($(wc -l <"$out.tmp/$NAME.keylime/allowlist") - 1)),
 "ironic_python_agent": "$IPA_VERSION", "keylime_agent": "$KEYLIME_AGENT_VERSION",
 "distribution": "debian bookworm"}
EOJ
    rm -rf "$out"
    mv "$out.tmp" "$out"
    log "ramdisk built in $((end - start)) s: $out"
    echo "$out"
}

# One build at a time: a second caller (the functional tests while
# tools/functional.sh builds it in the background) waits, then reuses it.
mkdir -p "$VMDIR"
exec 9>"$VMDIR/build.lock"
flock 9
if [ "${1:-}" = prepare ]; then
    tools
else
    build
fi
