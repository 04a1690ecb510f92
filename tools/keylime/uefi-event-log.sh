#!/usr/bin/env bash
# Capture a real UEFI event log: Debian's OVMF boots Debian's kernel under
# QEMU (TCG, no KVM needed) with a TPM 2.0 on swtpm; a busybox initramfs
# prints /sys/kernel/security/tpm0/binary_bios_measurements, base64, on
# the serial console.
#   uefi-event-log.sh OUTDIR    writes OUTDIR/binary_bios_measurements
# Needs (Debian 12): qemu-system-x86 ovmf swtpm cpio; downloads the
# linux-image and busybox-static packages with apt-get download.
set -euo pipefail

# shellcheck source=tools/common.sh
. "$(dirname "$0")/../common.sh"

OUT=$(mkdir -p "$1" && cd "$1" && pwd)
apt_install qemu-system-x86 ovmf swtpm cpio
WORK=$(mktemp -d)
SWTPM_PID=
cleanup() {
    [ -z "$SWTPM_PID" ] || kill "$SWTPM_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"
KERNEL_PKG=$(apt-cache depends linux-image-amd64 \
    | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
apt-get download -q "$KERNEL_PKG" busybox-static >/dev/null
dpkg-deb -x busybox-static_*.deb bb
dpkg-deb --fsys-tarfile linux-image-*.deb | tar -x --wildcards './boot/vmlinuz-*'
mkdir -p initrd/bin initrd/proc initrd/sys initrd/dev tpm
cp bb/bin/busybox initrd/bin/
cat >initrd/init <<'INIT'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t securityfs securityfs /sys/kernel/security
echo EVLOG-BEGIN
/bin/busybox base64 /sys/kernel/security/tpm0/binary_bios_measurements
echo EVLOG-END
/bin/busybox poweroff -f
INIT
chmod +x initrd/init
(cd initrd && find . | cpio -o -H newc 2>/dev/null | gzip >../initrd.gz)
cp /usr/share/OVMF/OVMF_VARS_4M.fd vars.fd
swtpm socket --tpm2 --tpmstate dir=tpm --terminate \
    --ctrl type=unixio,path=swtpm-sock --flags startup-clear &
SWTPM_PID=$!
sleep 1
log "booting OVMF and the kernel under QEMU (TCG; a minute or two)"
timeout 900 qemu-system-x86_64 -accel tcg -m 512 -machine q35 -smp 1 \
    -drive if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd \
    -drive if=pflash,format=raw,file=vars.fd \
    -chardev socket,id=chrtpm,path=swtpm-sock \
    -tpmdev emulator,id=tpm0,chardev=chrtpm -device tpm-tis,tpmdev=tpm0 \
    -kernel boot/vmlinuz-* -initrd initrd.gz \
    -append 'console=ttyS0 panic=-1' -display none -monitor none \
    -serial file:serial.log -no-reboot
tr -d '\r' <serial.log | sed -n '/^EVLOG-BEGIN/,/^EVLOG-END/p' \
    | sed '1d;$d' | base64 -d >"$OUT/binary_bios_measurements"
log "wrote $OUT/binary_bios_measurements" \
    "($(wc -c <"$OUT/binary_bios_measurements") bytes)"
