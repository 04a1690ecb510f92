#!/usr/bin/env bash
# Checks of the DIB elements of ironic-keylime (elements/):
#   1. bashate and shellcheck on every hook script, environment file and
#      shell script of the elements;
#   2. the tpm-emulator element's service: its ExecStartPre/ExecStart
#      commands, run here as written (ports and state directory changed),
#      make a TPM 2.0 that tpm2-tools reaches through the TCTI the
#      element gives the Keylime agent, with an EK certificate in NV;
#   3. the build-time lists: see ironic_keylime/tests/unit/ipa/
#      test_image_lists.py and the functional test
#      test_ipa_extension.ImageListsAcceptedByKeylime.
# Needs shellcheck, swtpm, swtpm-tools, tpm2-tools (installed from Debian
# as root when missing) and bashate (pip).
#   tools/elements/check.sh            # all
#   tools/elements/check.sh lint       # 1 only
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
    local unit=$TOP/elements/tpm-emulator/files/tpm-emulator.service
    local cmd
    local -a argv
    while read -r cmd; do
        read -r -a argv <<< "$cmd"
        case "${argv[0]}" in
            /usr/local/bin/tpm-emulator-warning)
                argv[0]=$TOP/elements/tpm-emulator/files/tpm-emulator-warning
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
        log "tpm-emulator service: a TPM 2.0 with an EK certificate"
    else
        log "tpm-emulator service: FAILED"
    fi
    return $rc
}

case "${1:-all}" in
    lint) lint ;;
    swtpm) swtpm_unit ;;
    all) lint; swtpm_unit ;;
    *) echo "usage: $0 [all|lint|swtpm]" >&2; exit 2 ;;
esac
