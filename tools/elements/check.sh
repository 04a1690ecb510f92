#!/usr/bin/env bash
# Checks of the DIB elements of ironic-keylime (elements/):
#   1. bashate and shellcheck on every hook script, environment file and
#      shell script of the elements;
#   2. the ironic-keylime-tpm-emulator element's service: its
#      ExecStartPre/ExecStart commands, run here as written (ports and
#      state directory changed), make a TPM 2.0 that tpm2-tools reaches through the TCTI the
#      element gives the Keylime agent, with an EK certificate in NV;
#   3. the element names as diskimage-builder resolves them: the new
#      names bring no package of diskimage-builder's same-named 2021
#      elements, the deprecated old names pull in the new elements
#      (diskimage-builder's own code, no image build);
#   4. the build-time lists: see ironic_keylime/tests/unit/ipa/
#      test_image_lists.py and the functional test
#      test_ipa_extension.ImageListsAcceptedByKeylime.
# Needs shellcheck, swtpm, swtpm-tools, tpm2-tools (installed from Debian
# as root when missing) and bashate (pip).
#   tools/elements/check.sh            # all
#   tools/elements/check.sh lint       # 1 only (swtpm: 2, names: 3)
set -euo pipefail

# shellcheck source=tools/common.sh
. "$(dirname "$0")/../common.sh"

shell_files() {
    find "$TOP/elements" -type f \( -path '*/*.d/*' -o -name '*.bash' \
        -o -name '*.sh' \) -print
    find "$TOP/elements" -path '*/files/*' -type f -perm -u+x \
        ! -name '*.py' -print
}

lint() {
    apt_install shellcheck
    local bashate=bashate
    if ! command -v bashate > /dev/null; then
        bashate=$(dirname "$(command -v python3)")/bashate
    fi
    local files=()
    mapfile -t files < <(shell_files | sort)
    log "bashate and shellcheck on ${#files[@]} files"
    "$bashate" -v --ignore E006,E040 "${files[@]}"
    shellcheck -s bash "${files[@]}"
}

unit_commands() {
    # The Exec lines of the unit, with @PORT@ etc. as install.d sets them.
    sed -n -e 's/^ExecStartPre=//p' -e 's/^ExecStart=//p' "$1" \
        | sed -e "s/@PORT@/$2/g" -e "s/@CTRL_PORT@/$3/g" \
            -e "s#/run/swtpm#$4#g"
}

swtpm_unit() {
    apt_install swtpm swtpm-tools tpm2-tools
    local dir port ctrl pid=""
    dir=$(mktemp -d)
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    ctrl=$((port + 1))
    local unit=$TOP/elements/ironic-keylime-tpm-emulator/files/tpm-emulator.service
    local cmd
    local -a argv
    while read -r cmd; do
        read -r -a argv <<< "$cmd"
        case "${argv[0]}" in
            /usr/local/bin/tpm-emulator-warning)
                argv[0]=$TOP/elements/ironic-keylime-tpm-emulator/files/tpm-emulator-warning
                # Not to this machine's console.
                log "would warn: $(grep -o 'WARNING[^"]*' "${argv[0]}")"
                continue
                ;;
            */swtpm)
                log "running: ${argv[*]}"
                "${argv[@]}" > "$dir.swtpm.log" 2>&1 &
                pid=$!
                ;;
            *)
                log "running: ${argv[*]}"
                "${argv[@]}" > "$dir.setup.log" 2>&1 \
                    || { cat "$dir.setup.log"; return 1; }
                ;;
        esac
    done < <(unit_commands "$unit" "$port" "$ctrl" "$dir")
    [ -n "$pid" ] || { log "no swtpm command in $unit"; return 1; }
    local rc=0
    wait_port "$port" 10 || rc=$?
    local tcti="swtpm:host=127.0.0.1,port=$port"
    if [ $rc = 0 ]; then
        TPM2TOOLS_TCTI=$tcti tpm2_getcap properties-fixed \
            | grep -q TPM2_PT_MANUFACTURER || rc=1
        # The EK certificate (RSA, TCG NV index 0x1c00002).
        TPM2TOOLS_TCTI=$tcti tpm2_nvreadpublic 0x1c00002 > /dev/null \
            || rc=1
    fi
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -rf "$dir" "$dir.swtpm.log" "$dir.setup.log"
    if [ $rc = 0 ]; then
        log "ironic-keylime-tpm-emulator service: a TPM 2.0 with an EK certificate"
    else
        log "ironic-keylime-tpm-emulator service: FAILED"
    fi
    return $rc
}

dib_python() {
    # diskimage-builder's Python: the VM build's or build-check.sh's
    # virtualenv, else a new one (as build-check.sh makes it).
    local vm=${IRONIC_KEYLIME_VM_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ironic-keylime-vm}
    local dib=${IRONIC_KEYLIME_HARNESS_DIR:-$TOP/.harness}/venvs/dib
    local venv
    local probe='import diskimage_builder'
    for venv in "$vm/venv" "$dib"; do
        if "$venv/bin/python" -c "$probe" 2> /dev/null; then
            echo "$venv/bin/python"
            return 0
        fi
    done
    ensure_venv_support
    python3 -m venv "$dib" >&2
    "$dib/bin/pip" install -q diskimage-builder >&2
    echo "$dib/bin/python"
}

# The element names as diskimage-builder resolves them, and the packages
# its package-installs-squash merges for them (Debian, no image build).
names() {
    local py dib expanded squashed
    py=$(dib_python)
    dib=$("$py" -c 'import os, diskimage_builder as d; print(os.path.dirname(d.__file__))')
    local path=$TOP/elements:$dib/elements
    # expand OLD_OR_NEW_NAMES...: IMAGE_ELEMENT; squash ELEMENTS: packages
    expand() {
        (ELEMENTS_PATH=$path "$py" -m diskimage_builder.element_dependencies \
            --env debian-minimal "$@" 2> /dev/null \
            | sed -n "s/^export IMAGE_ELEMENT='\(.*\)'$/\1/p")
    }
    squash() {
        local out
        out=$(mktemp)
        ARCH=amd64 DISTRO_NAME=debian DIB_PYTHON_VERSION=3 \
            DIB_KEYLIME_AGENT_INSTALL=python-test-only "$py" \
            "$dib/elements/package-installs/bin/package-installs-squash" \
            --elements="$1" --path="$path" "$out" > /dev/null 2>&1
        local show='import json, sys; d = json.load(open(sys.argv[1])); '
        show+='print(" ".join(sorted({"%s(%s)" % (p, e) '
        show+='for ph in d.values() for k in ph.values() for p, e in k})))'
        "$py" -c "$show" "$out"
        rm -f "$out"
    }
    local rc=0
    expanded=$(expand ironic-keylime-agent ironic-keylime-tpm-emulator)
    squashed=$(squash "$expanded")
    log "new names: packages: $squashed"
    if [[ " $expanded " =~ \ (keylime-agent|tpm-emulator)\  ]] \
        || [[ "$squashed" =~ \((keylime-agent|tpm-emulator)\) ]]; then
        log "FAILED: the new names pull in the old ones or their packages"
        rc=1
    fi
    expanded=$(expand keylime-agent tpm-emulator)
    squashed=$(squash "$expanded")
    log "deprecated names: packages: $squashed"
    if [[ ! " $expanded " =~ \ ironic-keylime-agent\  ]] \
        || [[ ! " $expanded " =~ \ ironic-keylime-tpm-emulator\  ]]; then
        log "FAILED: the deprecated names do not pull in the new elements"
        rc=1
    fi
    if [ $rc = 0 ]; then
        log "element names: the new names bring no same-named element's" \
            "packages; the deprecated names pull in the new elements"
    fi
    return $rc
}

case "${1:-all}" in
    lint) lint ;;
    swtpm) swtpm_unit ;;
    names) names ;;
    all) lint; swtpm_unit; names ;;
    *) echo "usage: $0 [all|lint|swtpm|names]" >&2; exit 2 ;;
esac
