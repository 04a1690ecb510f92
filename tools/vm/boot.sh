#!/usr/bin/env bash
# Boot the ramdisk of tools/vm/build-ramdisk.sh as an Ironic node's
# ramdisk: qemu (TCG: KVM does not work on the test machines), 1 vCPU,
# its own swtpm whose state directory is the node's TPM (kept between
# boots), user-mode networking (the guest reaches the host's 127.0.0.1 at
# 10.0.2.2; the host reaches ironic-python-agent and the Keylime agent
# through ports forwarded on 127.0.0.1).
#
#   boot.sh start VMRUN IMAGE_DIR   boot (returns once qemu runs)
#   boot.sh stop VMRUN              power off: stop qemu and its swtpm
#
# Settings (environment):
#   IK_VM_IRONIC_URL   ipa-api-url as the guest sees it (required),
#                      e.g. http://10.0.2.2:6385
#   IK_VM_IPA_PORT     host port forwarded to IPA's 9999 (default 19999)
#   IK_VM_AGENT_PORT   host port forwarded to the Keylime agent's 9002
#                      (default 19002)
#   IK_VM_MAC          the NIC's MAC (default 52:54:00:4b:4c:01): the
#                      node's port in Ironic
#   IK_VM_CACERT       the verifier's CA, handed to the guest (fw_cfg)
#   IK_VM_SWTPM_CONF   swtpm_setup.conf making the TPM's EK certificate
#                      (the harness's local CA); used on the first boot
#   IK_VM_TAMPER       an executable the guest runs at boot (tamper test)
#   IK_VM_SMBIOS_SERIAL  the SMBIOS system serial number: a firmware
#                      setting SeaBIOS measures (PCR 1)
#   IK_VM_REGISTRAR_PORT  the harness registrar's agent (HTTP) port: the
#                      guest's agent registers at 10.0.2.2:PORT whatever
#                      the conductor said (it reaches the registrar at
#                      127.0.0.1, the guest at 10.0.2.2)
#   IK_VM_MEMORY       MiB (default 3072: the initramfs unpacks to
#                      1.05 GiB, into a tmpfs limited to half the RAM;
#                      4096 on ovmf-kernel, where OVMF's kernel loader
#                      keeps its copies of the kernel and initramfs: the
#                      kernel found 1.4 of 3 GiB available, and the
#                      ramdisk's root ran out of space with 3072)
#   IK_VM_APPEND       more kernel parameters
#   IK_VM_DISK         a raw disk image attached as the node's disk
#                      (virtio), on any boot path: a deploy writes to it
#   IK_VM_INITRD       another initramfs to boot than the image's, on any
#                      boot path (a tamper test's changed initrd)
#   IK_VM_BOOT_PATH    how the node boots (default seabios-kernel):
#                      seabios-kernel  SeaBIOS, qemu -kernel: nothing is
#                                      measured into PCRs 8-9
#                      ovmf-kernel     OVMF (UEFI), qemu -kernel: the
#                                      kernel's EFI stub
#                      ovmf-grub       OVMF, GRUB with its tpm module from
#                                      an ESP disk (kernel, initramfs,
#                                      IK_VM_GRUB_CFG), as Ironic's UEFI
#                                      boot does
#   IK_VM_GRUB_CFG     ovmf-grub: the grub.cfg to boot (rendered from
#                      Ironic's template); @APPEND@ in it is replaced by
#                      the kernel parameters above. The kernel is /vmlinuz
#                      and the initramfs /initramfs on the ESP.
#
# VMRUN keeps tpm/ (the node's TPM), vars.fd (its UEFI variables, on OVMF), serial.log (the console), qemu.log,
# swtpm.log and the pids. TEST ONLY (see tools/vm/elements).
set -euo pipefail

# shellcheck source=tools/common.sh
. "$(dirname "$0")/../common.sh"

IPA_PORT=${IK_VM_IPA_PORT:-19999}
AGENT_PORT=${IK_VM_AGENT_PORT:-19002}
MAC=${IK_VM_MAC:-52:54:00:4b:4c:01}
BOOT_PATH=${IK_VM_BOOT_PATH:-seabios-kernel}
case $BOOT_PATH in
    ovmf-kernel) MEMORY=${IK_VM_MEMORY:-4096} ;;
    *) MEMORY=${IK_VM_MEMORY:-3072} ;;
esac
NAME=ipa-keylime
OVMF_CODE=/usr/share/OVMF/OVMF_CODE_4M.fd
OVMF_VARS=/usr/share/OVMF/OVMF_VARS_4M.fd
GRUB_MODULES="tpm fat linux linuxefi normal configfile echo"

alive() {  # alive PIDFILE
    [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

stop_pidfile() {  # stop_pidfile PIDFILE
    local pid
    [ -f "$1" ] || return 0
    pid=$(cat "$1")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$1"
}

start() {
    local run=$1 image=$2
    if [ -z "${IK_VM_IRONIC_URL:-}" ]; then
        log "IK_VM_IRONIC_URL (ipa-api-url as the guest sees it) is required"
        return 2
    fi
    case $BOOT_PATH in
        seabios-kernel|ovmf-kernel|ovmf-grub) ;;
        *) log "unknown IK_VM_BOOT_PATH $BOOT_PATH"; return 2 ;;
    esac
    apt_install qemu-system-x86 swtpm swtpm-tools tpm2-tools
    case $BOOT_PATH in
        ovmf-*) apt_install ovmf ;;
    esac
    [ "$BOOT_PATH" != ovmf-grub ] || \
        apt_install grub-efi-amd64-bin mtools dosfstools
    local f
    # The initramfs of this boot (make_esp, boot_args).
    INITRD=${IK_VM_INITRD:-$image/$NAME.initramfs}
    for f in "$image/$NAME.kernel" "$INITRD"; do
        [ -s "$f" ] || { log "$f is missing (tools/vm/build-ramdisk.sh)"; return 1; }
    done
    if alive "$run/qemu.pid"; then
        log "a VM already runs in $run"
        return 1
    fi
    port_free "$IPA_PORT"
    port_free "$AGENT_PORT"
    mkdir -p "$run/tpm" "$run/fwcfg"
    # The node's TPM: made once, with an EK certificate.
    if [ ! -f "$run/tpm/.made" ]; then
        local conf=()
        if [ -n "${IK_VM_SWTPM_CONF:-}" ]; then
            conf=(--config "$IK_VM_SWTPM_CONF")
        fi
        swtpm_setup --tpm2 --tpmstate "$run/tpm" --create-ek-cert \
            --overwrite "${conf[@]}" --logfile "$run/swtpm_setup.log" \
            >/dev/null
        lenient_lockout "$run"
        touch "$run/tpm/.made"
    fi
    # One swtpm per boot (it exits when qemu disconnects).
    rm -f "$run/swtpm.sock"
    setsid swtpm socket --tpm2 --tpmstate dir="$run/tpm" \
        --ctrl type=unixio,path="$run/swtpm.sock" \
        --log file="$run/swtpm.log" </dev/null >/dev/null 2>&1 &
    echo $! >"$run/swtpm.pid"
    for _ in $(seq 100); do
        [ -S "$run/swtpm.sock" ] && break
        sleep 0.1
    done
    [ -S "$run/swtpm.sock" ] || { log "swtpm did not start ($run/swtpm.log)"; return 1; }

    local fwcfg=()
    if [ -n "${IK_VM_CACERT:-}" ]; then
        fwcfg+=(-fw_cfg "name=opt/org.ironic-keylime/cacert,file=$IK_VM_CACERT")
    fi
    {
        printf '[agent]\ncontact_port = %s\n' "$AGENT_PORT"
        if [ -n "${IK_VM_REGISTRAR_PORT:-}" ]; then
            printf 'registrar_ip = "10.0.2.2"\nregistrar_port = %s\n' \
                "$IK_VM_REGISTRAR_PORT"
        fi
    } >"$run/fwcfg/agent.conf"
    fwcfg+=(-fw_cfg "name=opt/org.ironic-keylime/agent.conf,file=$run/fwcfg/agent.conf")
    if [ -n "${IK_VM_TAMPER:-}" ]; then
        fwcfg+=(-fw_cfg "name=opt/org.ironic-keylime/tamper,file=$IK_VM_TAMPER")
    fi
    # IPA advertises the forwarded port on 127.0.0.1: the conductor on
    # this host reaches it there.
    local append="console=ttyS0 ipa-api-url=$IK_VM_IRONIC_URL"
    append+=" ipa-advertise-host=127.0.0.1 ipa-advertise-port=$IPA_PORT"
    append+=" ipa-insecure=1"
    append+=" ima_template=ima-ng ima_hash=sha256"
    append+=" systemd.journald.forward_to_console=1 ${IK_VM_APPEND:-}"
    # A firmware setting: SeaBIOS measures the SMBIOS tables into PCR 1.
    local smbios=()
    if [ -n "${IK_VM_SMBIOS_SERIAL:-}" ]; then
        smbios=(-smbios "type=1,serial=$IK_VM_SMBIOS_SERIAL")
    fi
    local FIRMWARE BOOT NIC_ROM DISK=()
    firmware_args "$run"
    boot_args "$run" "$image" "$append"
    if [ -n "${IK_VM_DISK:-}" ]; then
        DISK=(-drive "format=raw,file=$IK_VM_DISK,if=virtio")
    fi
    date +%s.%N >"$run/boot-started"
    setsid qemu-system-x86_64 -accel tcg -cpu max -smp 1 -m "$MEMORY" \
        -nodefaults -display none -no-reboot \
        "${FIRMWARE[@]}" "${BOOT[@]}" "${DISK[@]}" \
        -chardev socket,id=chrtpm,path="$run/swtpm.sock" \
        -tpmdev emulator,id=tpm0,chardev=chrtpm -device tpm-tis,tpmdev=tpm0 \
        -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$IPA_PORT-:9999,hostfwd=tcp:127.0.0.1:$AGENT_PORT-:9002" \
        -device "virtio-net-pci,netdev=n0,mac=$MAC$NIC_ROM" \
        "${fwcfg[@]}" "${smbios[@]}" \
        -serial "file:$run/serial.log" </dev/null >"$run/qemu.log" 2>&1 &
    echo $! >"$run/qemu.pid"
    sleep 1
    if ! alive "$run/qemu.pid"; then
        log "qemu exited at once:"
        cat "$run/qemu.log" >&2
        stop_pidfile "$run/swtpm.pid"
        return 1
    fi
    log "VM booting (qemu pid $(cat "$run/qemu.pid"), console $run/serial.log)"
}

# The emulated TPM's dictionary-attack protection, turned off (recovery
# time 0): swtpm allows 3 failed authorizations, and the ramdisk's Keylime
# 6.6.0 Python agent, started at boot and again by configure_agent, made
# a node's TPM refuse tpm2_activatecredential ("DA lockout mode") by its
# fourth boot in the VM chain. Done once, when the TPM is made, through
# a swtpm of its own on a loopback port.
lenient_lockout() {  # lenient_lockout VMRUN
    local port pid
    # Two free ports in a row: tpm2-tools' swtpm TCTI uses the next one
    # as the control channel.
    port=$(python3 -c 'import socket
def free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()
print(next(p for p in range(20000, 32000, 2) if free(p) and free(p + 1)))')
    swtpm socket --tpm2 --tpmstate dir="$1/tpm" \
        --server "type=tcp,port=$port,bindaddr=127.0.0.1" \
        --ctrl "type=tcp,port=$((port + 1)),bindaddr=127.0.0.1" \
        --flags not-need-init,startup-clear </dev/null >/dev/null 2>&1 &
    pid=$!
    local done=1
    for _ in $(seq 50); do
        if tpm2_dictionarylockout -T "swtpm:host=127.0.0.1,port=$port" \
            --setup-parameters --max-tries=4294967295 --recovery-time=0 \
            --lockout-recovery-time=0 2>/dev/null; then
            done=0
            break
        fi
        sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    [ "$done" = 0 ] || { log "could not set the TPM's lockout parameters"; return 1; }
}

# The firmware of a boot path: qemu arguments in FIRMWARE (the node's
# UEFI variables are kept in VMRUN/vars.fd, like its TPM).
firmware_args() {  # firmware_args VMRUN
    case $BOOT_PATH in
        seabios-*) FIRMWARE=() NIC_ROM= ;;
        ovmf-*)
            # No iPXE ROM on the NIC: OVMF boots the ESP, not the network.
            NIC_ROM=,romfile=
            [ -f "$1/vars.fd" ] || cp "$OVMF_VARS" "$1/vars.fd"
            FIRMWARE=(-machine q35
                -drive "if=pflash,format=raw,readonly=on,file=$OVMF_CODE"
                -drive "if=pflash,format=raw,file=$1/vars.fd")
            ;;
    esac
}

# The ESP of the ovmf-grub path: GRUB (standalone, with its tpm module,
# reading /EFI/ironic/grub.cfg), the kernel and the initramfs; made once
# per VMRUN, the grub.cfg written anew at every boot, the initramfs when
# the boot has another.
make_esp() {  # make_esp VMRUN IMAGE_DIR APPEND
    local run=$1 image=$2 append=$3 size
    export MTOOLS_SKIP_CHECK=1
    if [ ! -f "$run/esp.img" ]; then
        printf 'set root=(hd0)\nconfigfile /EFI/ironic/grub.cfg\n' \
            >"$run/embedded.cfg"
        grub-mkstandalone -O x86_64-efi --modules="$GRUB_MODULES" \
            -o "$run/BOOTX64.EFI" "boot/grub/grub.cfg=$run/embedded.cfg"
        # Room for a second initramfs: mcopy -o writes the new one first.
        size=$(( ($(stat -c %s "$image/$NAME.kernel") \
            + 2 * $(stat -c %s "$image/$NAME.initramfs")) / 1024 + 65536 ))
        mkfs.vfat -C -n ESP "$run/esp.img.new" "$size" >/dev/null
        mmd -i "$run/esp.img.new" ::/EFI ::/EFI/BOOT ::/EFI/ironic
        mcopy -i "$run/esp.img.new" "$run/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI
        mcopy -i "$run/esp.img.new" "$image/$NAME.kernel" ::/vmlinuz
        mv "$run/esp.img.new" "$run/esp.img"
    fi
    # The initramfs of this boot, copied when the ESP has another.
    if [ "$(cat "$run/esp.initrd" 2>/dev/null)" != "$INITRD" ]; then
        mcopy -o -i "$run/esp.img" "$INITRD" ::/initramfs
        echo "$INITRD" >"$run/esp.initrd"
    fi
    [ -s "${IK_VM_GRUB_CFG:-}" ] || {
        log "IK_VM_GRUB_CFG (the grub.cfg to boot) is required for ovmf-grub"
        return 2
    }
    sed -e "s|@APPEND@|$append|" "$IK_VM_GRUB_CFG" >"$run/grub.cfg"
    mcopy -o -i "$run/esp.img" "$run/grub.cfg" ::/EFI/ironic/grub.cfg
}

# How the kernel starts, for a boot path: qemu arguments in BOOT.
boot_args() {  # boot_args VMRUN IMAGE_DIR APPEND
    case $BOOT_PATH in
        *-kernel)
            BOOT=(-kernel "$2/$NAME.kernel" -initrd "$INITRD"
                -append "$3")
            ;;
        ovmf-grub)
            make_esp "$1" "$2" "$3"
            BOOT=(-drive "format=raw,file=$1/esp.img,if=virtio,readonly=on")
            ;;
    esac
}

stop() {
    local run=$1
    stop_pidfile "$run/qemu.pid"
    stop_pidfile "$run/swtpm.pid"
}

case "${1:-}" in
    start) start "$2" "$3" ;;
    stop) stop "$2" ;;
    *) sed -n '2,30p' "$0" >&2; exit 2 ;;
esac
