#!/usr/bin/env bash
# A tenant's whole-disk UEFI image for the VM chain's deploy (issue 21):
# a GPT disk with one EFI system partition that holds Debian's GRUB
# (grub-efi-amd64-bin's monolithic grubx64.efi) as the removable-media
# loader \EFI\BOOT\BOOTX64.EFI, as distribution images have one.
# ironic-python-agent writes it to the node's disk and, finding that
# loader on the ESP, registers a UEFI boot entry for it with efibootmgr
# (a new Boot#### first in BootOrder): what a deploy changes in PCR 1.
#
#   deploy-image.sh OUT     write the image (raw, 34 MiB) to OUT
#
# Made from nothing in seconds, without root or loop devices (mtools on a
# file, sfdisk on a file). TEST ONLY.
set -euo pipefail

# shellcheck source=tools/common.sh
. "$(dirname "$0")/../common.sh"

[ $# -eq 1 ] || { sed -n '2,12p' "$0" >&2; exit 2; }
OUT=$1
ESP_MIB=32
LOADER=/usr/lib/grub/x86_64-efi/monolithic/grubx64.efi
# The GPT type of an EFI system partition.
ESP_TYPE=C12A7328-F81F-11D2-BA4B-00A0C93EC93B

apt_install grub-efi-amd64-bin mtools dosfstools fdisk
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export MTOOLS_SKIP_CHECK=1
mkfs.vfat -C -n EFI "$WORK/esp.img" $((ESP_MIB * 1024)) >/dev/null
mmd -i "$WORK/esp.img" ::/EFI ::/EFI/BOOT
mcopy -i "$WORK/esp.img" "$LOADER" ::/EFI/BOOT/BOOTX64.EFI
# 1 MiB for the GPT before the ESP, 1 MiB for its backup after it.
truncate -s $(((ESP_MIB + 2) * 1024 * 1024)) "$WORK/disk.img"
printf 'label: gpt\nstart=2048, size=%d, type=%s, name="EFI System"\n' \
    $((ESP_MIB * 2048)) "$ESP_TYPE" | sfdisk -q "$WORK/disk.img"
dd if="$WORK/esp.img" of="$WORK/disk.img" bs=1M seek=1 conv=notrunc \
    status=none
mv "$WORK/disk.img" "$OUT"
