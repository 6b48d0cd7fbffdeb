#!/bin/bash
# thin layout, one disk: GPT; p1 LVM PV -> VG "thinvg" with a thin pool "pool" and two
# thin volumes: "vol1" (2 GiB virtual: over-provisioned) ext4, "vol2" xfs.
# Usage: thin.sh build|mount|verify DISK
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
LAYOUT=thin
VG=thinvg
FILES='
vol1/hostbook/vol1.dat 1048576 thin-vol1
vol2/hostbook/vol2.dat 1048576 thin-vol2
'

build() {
    local disk=$1 pv
    lab_partition "$disk" 1 <<'TABLE'
label: gpt
name=lvm, type=V
TABLE
    pv=$(lab_part "$disk" 1)
    pvcreate --quiet --yes "$pv"
    vgcreate --quiet --yes "$VG" "$pv"
    lvcreate --quiet --yes --type thin-pool -L 1G -n pool "$VG"
    lvcreate --quiet --yes -V 2G --thin -n vol1 "$VG/pool"
    lvcreate --quiet --yes -V 1G --thin -n vol2 "$VG/pool"
    lab_wait "/dev/$VG/vol1" "/dev/$VG/vol2"
    mkfs.ext4 -q -L vol1 "/dev/$VG/vol1"
    mkfs.xfs -q -L vol2 "/dev/$VG/vol2"
    mount_layout "$disk"
}

activate() {
    lab_wait "$(lab_part "$1" 1)"
    vgchange --quiet -ay "$VG" > /dev/null
    lab_wait "/dev/$VG/vol1" "/dev/$VG/vol2"
}

mount_layout() {
    lab_mount "/dev/$VG/vol1" "$LAB_MNT/$LAYOUT/vol1"
    lab_mount "/dev/$VG/vol2" "$LAB_MNT/$LAYOUT/vol2"
}

lab_main "$@"
