#!/bin/bash
# laptop layout, one disk: GPT; p1 ESP vfat (/boot/efi); p2 /boot ext4;
# p3 LUKS2 -> LVM VG "laptopvg": root ext4, swap, home xfs.
# Usage: laptop.sh build|mount|verify DISK
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
LAYOUT=laptop
VG=laptopvg
CRYPT=laptop_crypt
FILES='
boot/efi/EFI/hostbook/efi.dat 65536 laptop-esp
boot/hostbook/boot.dat 262144 laptop-boot
etc/hostbook/root.dat 1048576 laptop-root
home/user/home.dat 1048576 laptop-home
home/user/notes.txt 4000 laptop-notes
'

build() {
    local disk=$1 esp boot luks
    lab_partition "$disk" 3 <<'TABLE'
label: gpt
name=esp, size=256MiB, type=U
name=boot, size=512MiB, type=L
name=cryptroot, type=L
TABLE
    esp=$(lab_part "$disk" 1); boot=$(lab_part "$disk" 2); luks=$(lab_part "$disk" 3)
    mkfs.vfat -F 32 -n ESP "$esp" > /dev/null
    mkfs.ext4 -q -L boot "$boot"
    lab_luks_format "$luks" laptop-luks
    lab_luks_open "$luks" "$CRYPT"
    pvcreate --quiet --yes "/dev/mapper/$CRYPT"
    vgcreate --quiet --yes "$VG" "/dev/mapper/$CRYPT"
    lvcreate --quiet --yes -W y -L 1200M -n root "$VG"
    lvcreate --quiet --yes -W y -L 256M -n swap "$VG"
    lvcreate --quiet --yes -W y -L 1G -n home "$VG"
    lab_wait "/dev/$VG/root" "/dev/$VG/swap" "/dev/$VG/home"
    mkfs.ext4 -q -L root "/dev/$VG/root"
    mkswap -L swap "/dev/$VG/swap" > /dev/null
    mkfs.xfs -q -L home "/dev/$VG/home"
    mount_layout "$disk"
    swapon "/dev/$VG/swap"
    mkdir -p "$LAB_MNT/$LAYOUT/etc"
    {
        lab_fstab_line "/dev/$VG/root" / ext4 errors=remount-ro 1
        lab_fstab_line "$boot" /boot ext4 defaults 2
        lab_fstab_line "$esp" /boot/efi vfat umask=0077 1
        lab_fstab_line "/dev/$VG/home" /home xfs defaults 2
        printf '/dev/mapper/%s-swap\tnone\tswap\tsw\t0\t0\n' "$VG"
    } > "$LAB_MNT/$LAYOUT/etc/fstab"
    printf '%s\tUUID=%s\tnone\tluks,discard\n' "$CRYPT" "$(blkid -s UUID -o value "$luks")" \
        > "$LAB_MNT/$LAYOUT/etc/crypttab"
}

activate() {
    lab_wait "$(lab_part "$1" 3)"
    lab_luks_open "$(lab_part "$1" 3)" "$CRYPT"
    vgchange --quiet -ay "$VG" > /dev/null
    lab_wait "/dev/$VG/root" "/dev/$VG/home"
}

mount_layout() {
    local root=$LAB_MNT/$LAYOUT
    lab_mount "/dev/$VG/root" "$root"
    lab_mount "$(lab_part "$1" 2)" "$root/boot"
    lab_mount "$(lab_part "$1" 1)" "$root/boot/efi" -o umask=0077
    lab_mount "/dev/$VG/home" "$root/home"
}

lab_main "$@"
