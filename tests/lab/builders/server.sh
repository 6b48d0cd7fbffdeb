#!/bin/bash
# server layout, two disks, each GPT: p1 BIOS boot; p2, p3 Linux RAID.
# md raid1 "server-boot" (p2+p2, metadata 1.0) -> /boot ext4;
# md raid1 "server-root" (p3+p3) -> LVM VG "servervg": root ext4, var ext4, data xfs.
# Usage: server.sh build|mount|verify DISK1 DISK2
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
LAYOUT=server
VG=servervg
MD_BOOT=/dev/md/server-boot
MD_ROOT=/dev/md/server-root
FILES='
boot/hostbook/boot.dat 262144 server-boot
etc/hostbook/root.dat 1048576 server-root
var/lib/hostbook/var.dat 524288 server-var
srv/data/data.dat 2097152 server-data
'

build() {
    [ $# -eq 2 ] || { log "needs two disks"; return 2; }
    local d
    for d in "$1" "$2"; do
        lab_partition "$d" 3 <<'TABLE'
label: gpt
name=bios, size=1MiB, type=21686148-6449-6E6F-744E-656564454649
name=md-boot, size=512MiB, type=R
name=md-root, type=R
TABLE
    done
    # --assume-clean: both halves are blank, and a resync would only burn TCG time.
    mdadm --create "$MD_BOOT" --run --quiet --level=1 --raid-devices=2 --metadata=1.0 \
        --assume-clean --name=server-boot "$(lab_part "$1" 2)" "$(lab_part "$2" 2)" < /dev/null
    mdadm --create "$MD_ROOT" --run --quiet --level=1 --raid-devices=2 --metadata=1.2 \
        --assume-clean --name=server-root "$(lab_part "$1" 3)" "$(lab_part "$2" 3)" < /dev/null
    lab_wait "$MD_BOOT" "$MD_ROOT"
    mkfs.ext4 -q -L boot "$MD_BOOT"
    pvcreate --quiet --yes "$MD_ROOT"
    vgcreate --quiet --yes "$VG" "$MD_ROOT"
    lvcreate --quiet --yes -W y -L 1G -n root "$VG"
    lvcreate --quiet --yes -W y -L 512M -n var "$VG"
    lvcreate --quiet --yes -W y -L 600M -n data "$VG"
    lab_wait "/dev/$VG/root" "/dev/$VG/var" "/dev/$VG/data"
    mkfs.ext4 -q -L root "/dev/$VG/root"
    mkfs.ext4 -q -L var "/dev/$VG/var"
    mkfs.xfs -q -L data "/dev/$VG/data"
    mount_layout "$@"
    mkdir -p "$LAB_MNT/$LAYOUT/etc/mdadm"
    {
        lab_fstab_line "/dev/$VG/root" / ext4 errors=remount-ro 1
        lab_fstab_line "$MD_BOOT" /boot ext4 defaults 2
        lab_fstab_line "/dev/$VG/var" /var ext4 defaults 2
        lab_fstab_line "/dev/$VG/data" /srv/data xfs defaults 2
    } > "$LAB_MNT/$LAYOUT/etc/fstab"
    mdadm --detail --scan > "$LAB_MNT/$LAYOUT/etc/mdadm/mdadm.conf"
}

activate() {
    # udev's incremental assembly usually has the arrays up already.
    [ -e "$MD_BOOT" ] && [ -e "$MD_ROOT" ] ||
        mdadm --assemble --scan --run > /dev/null 2>&1 || true
    lab_wait "$MD_BOOT" "$MD_ROOT"
    vgchange --quiet -ay "$VG" > /dev/null
    lab_wait "/dev/$VG/root" "/dev/$VG/var" "/dev/$VG/data"
}

mount_layout() {
    local root=$LAB_MNT/$LAYOUT
    lab_mount "/dev/$VG/root" "$root"
    lab_mount "$MD_BOOT" "$root/boot"
    lab_mount "/dev/$VG/var" "$root/var"
    lab_mount "/dev/$VG/data" "$root/srv/data"
}

lab_main "$@"
