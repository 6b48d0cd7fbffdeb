#!/bin/bash
# legacy layout, one disk, MBR (dos): p1 primary bootable ext4 (/); p2 extended;
# p5 logical swap; p6 logical ext4 (/home).
# Usage: legacy.sh build|mount|verify DISK
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
LAYOUT=legacy
FILES='
etc/hostbook/root.dat 1048576 legacy-root
boot/hostbook/boot.dat 131072 legacy-boot
home/user/home.dat 1048576 legacy-home
'

build() {
    local disk=$1
    sfdisk --quiet --wipe always --wipe-partitions always "$(lab_dev "$disk")" <<'TABLE'
label: dos
size=1GiB, type=83, bootable
type=5
size=256MiB, type=82
type=83
TABLE
    lab_wait "$(lab_part "$disk" 1)" "$(lab_part "$disk" 5)" "$(lab_part "$disk" 6)"
    mkfs.ext4 -q -L legacy-root "$(lab_part "$disk" 1)"
    mkswap -L legacy-swap "$(lab_part "$disk" 5)" > /dev/null
    mkfs.ext4 -q -L legacy-home "$(lab_part "$disk" 6)"
    mount_layout "$disk"
    swapon "$(lab_part "$disk" 5)"
    mkdir -p "$LAB_MNT/$LAYOUT/etc"
    {
        lab_fstab_line "$(lab_part "$disk" 1)" / ext4 errors=remount-ro 1
        lab_fstab_line "$(lab_part "$disk" 6)" /home ext4 defaults 2
        printf 'UUID=%s\tnone\tswap\tsw\t0\t0\n' \
            "$(blkid -s UUID -o value "$(lab_part "$disk" 5)")"
    } > "$LAB_MNT/$LAYOUT/etc/fstab"
}

activate() { lab_wait "$(lab_part "$1" 1)" "$(lab_part "$1" 6)"; }

mount_layout() {
    lab_mount "$(lab_part "$1" 1)" "$LAB_MNT/$LAYOUT"
    lab_mount "$(lab_part "$1" 6)" "$LAB_MNT/$LAYOUT/home"
}

lab_main "$@"
