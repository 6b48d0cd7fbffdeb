#!/bin/bash
# Record what the guest's own tools say about its storage, for tests to assert on:
# $LAB_RESULTS/${1:-state}/
#   lsblk.json          lsblk -J -b -O (every column, every device)
#   blkid.txt           blkid -c /dev/null -o export (low-level probe of every device)
#   sfdisk-<dev>.json   sfdisk --json, per virtio disk
#   byid.txt            "<serial> <kernel name>" for /dev/disk/by-id/virtio-*
#   lvs.json            lvs -a, every LV and segment field (JSON, bytes)
#   fullreport.json     lvm fullreport: PVs, VGs, LVs, segments (what capture reads)
#   crypt-<name>.status cryptsetup status; crypt-<name>.luksDump
#   md-<name>.detail    mdadm --detail; md-<name>.export (--detail --export)
#   mdstat.txt          /proc/mdstat
#   findmnt.json        findmnt -J (all mounts)
#   swaps.txt           /proc/swaps
#   btrfs-<label>.subvolumes / .default   for each mounted btrfs filesystem
# Read-only: it activates, assembles and mounts nothing.
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
LAYOUT=collect
set +e
trap - ERR
out=$LAB_RESULTS/${1:-state}
mkdir -p "$out"
udevadm settle --timeout=30

lsblk -J -b -O > "$out/lsblk.json"
blkid -c /dev/null -o export > "$out/blkid.txt"
for link in /dev/disk/by-id/virtio-*; do
    [ -e "$link" ] || continue
    case "$link" in *-part*) continue ;; esac
    dev=$(readlink -f "$link")
    echo "${link#/dev/disk/by-id/virtio-} ${dev#/dev/}" >> "$out/byid.txt"
    sfdisk --json "$dev" > "$out/sfdisk-${dev#/dev/}.json" 2> /dev/null ||
        rm -f "$out/sfdisk-${dev#/dev/}.json"
done
lvm_opts=(--reportformat json --units b --nosuffix)
lvs -a "${lvm_opts[@]}" -o vg_name,lv_all,seg_all > "$out/lvs.json"
lvm fullreport "${lvm_opts[@]}" > "$out/fullreport.json"
for name in $(dmsetup ls --target crypt 2> /dev/null | awk '$1 != "No" {print $1}'); do
    cryptsetup status "$name" > "$out/crypt-$name.status"
    dev=$(awk '$1 == "device:" {print $2}' "$out/crypt-$name.status")
    [ -n "$dev" ] && cryptsetup luksDump "$dev" > "$out/crypt-$name.luksDump"
done
for md in /dev/md/*; do
    [ -e "$md" ] || continue
    name=$(basename "$md")
    mdadm --detail "$md" > "$out/md-$name.detail"
    mdadm --detail --export "$md" > "$out/md-$name.export"
done
cat /proc/mdstat > "$out/mdstat.txt" 2> /dev/null
findmnt -J > "$out/findmnt.json"
cat /proc/swaps > "$out/swaps.txt"
findmnt -rn -t btrfs -o TARGET,LABEL | while read -r target label; do
    [ -e "$out/btrfs-$label.subvolumes" ] && continue
    btrfs subvolume list -a -p -u -q -R "$target" > "$out/btrfs-$label.subvolumes"
    btrfs subvolume get-default "$target" > "$out/btrfs-$label.default"
done
exit 0
