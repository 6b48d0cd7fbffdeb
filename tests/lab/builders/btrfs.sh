#!/bin/bash
# btrfs layout, one 4096-byte-sector (4Kn) disk: GPT; p1 ESP vfat (512 MiB: FAT32
# with 4 KiB sectors needs >= 65525 clusters); p2 one btrfs filesystem with
# subvolumes @ (the default subvolume, mounted at /), @home, @snapshots, and a
# read-only snapshot @snapshots/home-initial of @home.
# Usage: btrfs.sh build|mount|verify DISK
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
LAYOUT=btrfs
FILES='
boot/efi/EFI/hostbook/efi.dat 65536 btrfs-esp
etc/hostbook/root.dat 1048576 btrfs-root
home/user/home.dat 1048576 btrfs-home
.snapshots/home-initial/user/home.dat 1048576 btrfs-home derived
'

build() {
    local disk=$1 top
    local ss
    ss=$(blockdev --getss "$(lab_dev "$disk")")
    [ "$ss" = 4096 ] || { log "expects a 4096-byte-sector disk, got $ss"; return 2; }
    lab_partition "$disk" 2 <<'TABLE'
label: gpt
name=esp, size=512MiB, type=U
name=root, type=L
TABLE
    mkfs.vfat -F 32 -n ESP "$(lab_part "$disk" 1)" > /dev/null
    modprobe btrfs  # /dev/btrfs-control, for mkfs.btrfs's device registration
    mkfs.btrfs -q -f -L btrfsroot "$(lab_part "$disk" 2)"
    top=$(mktemp -d)
    mount "$(lab_part "$disk" 2)" "$top"
    btrfs -q subvolume create "$top/@"
    btrfs -q subvolume create "$top/@home"
    btrfs -q subvolume create "$top/@snapshots"
    btrfs subvolume set-default "$top/@"
    umount "$top"
    rmdir "$top"
    mount_layout "$disk"
    mkdir -p "$LAB_MNT/$LAYOUT/etc"
    local uuid
    uuid=$(blkid -s UUID -o value "$(lab_part "$disk" 2)")
    {
        printf 'UUID=%s\t/\tbtrfs\tdefaults\t0\t0\n' "$uuid"
        printf 'UUID=%s\t/home\tbtrfs\tsubvol=@home\t0\t0\n' "$uuid"
        printf 'UUID=%s\t/.snapshots\tbtrfs\tsubvol=@snapshots\t0\t0\n' "$uuid"
        lab_fstab_line "$(lab_part "$disk" 1)" /boot/efi vfat umask=0077 1
    } > "$LAB_MNT/$LAYOUT/etc/fstab"
}

# Called by lab_write_files once FILES are written, so the snapshot holds them.
post_build() {
    btrfs -q subvolume snapshot -r "$LAB_MNT/$LAYOUT/home" \
        "$LAB_MNT/$LAYOUT/.snapshots/home-initial"
}

activate() { lab_wait "$(lab_part "$1" 1)" "$(lab_part "$1" 2)"; }

mount_layout() {
    local root=$LAB_MNT/$LAYOUT dev
    dev=$(lab_part "$1" 2)
    lab_mount "$dev" "$root"   # no subvol=: the default subvolume, @
    lab_mount "$dev" "$root/home" -o subvol=@home
    lab_mount "$dev" "$root/.snapshots" -o subvol=@snapshots
    lab_mount "$(lab_part "$1" 1)" "$root/boot/efi" -o umask=0077
}

lab_main "$@"
