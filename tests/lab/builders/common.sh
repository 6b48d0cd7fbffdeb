#!/bin/bash
# Shared helpers for the VM-lab layout builders. Sourced, never run.
#
# SAFETY: these scripts partition and format the disks they are given. They refuse
# to run anywhere but inside a lab guest (kernel command line hostbook.lab=1, set
# only by tests/lab/vm.py), so a mistaken run on a real machine does nothing.
#
# A builder script defines LAYOUT, FILES (lines "relpath size seed") and the
# functions build, activate and mount_layout, then calls `lab_main "$@"`:
#   <layout>.sh build  DISK...   create the layout, mount it, write FILES,
#                                write checksums to $LAB_RESULTS/<layout>/
#   <layout>.sh mount  DISK...   (later boot) activate md/LUKS/LVM and mount it
#   <layout>.sh verify DISK...   mount, then check FILES against their checksums
# Disks are given as paths, normally /dev/disk/by-id/virtio-<serial>.

set -Eeuo pipefail
# Say which command failed: `set -e` alone exits silently.
lab_on_err() { echo "${BASH_SOURCE[1]}:$1: failed (rc=$2): $3" >&2; }
trap 'lab_on_err "$LINENO" "$?" "$BASH_COMMAND"' ERR
if [ -n "${LAB_TRACE:-}" ]; then  # LAB_TRACE=1: every command, with guest uptime
    PS4='+ $EPOCHREALTIME ${BASH_SOURCE[0]##*/}:$LINENO: '
    set -x
fi

if ! grep -qw 'hostbook.lab=1' /proc/cmdline; then
    echo "refusing to run: not inside a hostbook lab guest (no hostbook.lab=1)" >&2
    exit 99
fi

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
export LVM_SUPPRESS_FD_WARNINGS=1
LAB_RESULTS=${LAB_RESULTS:-/tmp/lab-results}
LAB_MNT=${LAB_MNT:-/mnt/lab}
# The LUKS passphrase of every lab layout (test data, not a secret).
LAB_PASSPHRASE=${LAB_PASSPHRASE:-hostbook-lab-passphrase}
# Fast key derivation: TCG is slow, and the restore must reproduce what was recorded.
LAB_LUKS_OPTS=(--type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --batch-mode)

log() { echo "[$LAYOUT] $*" >&2; }

# Kernel device behind a disk path (by-id links resolved).
lab_dev() { readlink -f "$1"; }

# Partition N of DISK: vda -> vda3, loop0/nvme0n1/md0 -> p3.
lab_part() {
    local d
    d=$(lab_dev "$1")
    case "$d" in
        *[0-9]) echo "${d}p$2" ;;
        *) echo "${d}$2" ;;
    esac
}

# Wait until the given device nodes exist and udev has processed them.
lab_wait() {
    local dev i
    udevadm settle --timeout=30 || true
    for dev in "$@"; do
        for i in $(seq 1 100); do
            [ -b "$dev" ] && break
            sleep 0.1
        done
        [ -b "$dev" ] || { log "device $dev did not appear"; return 1; }
    done
}

# Write a partition table (sfdisk script on stdin) and wait for N partitions.
lab_partition() {
    local disk=$1 count=$2 parts=() i
    sfdisk --quiet --wipe always --wipe-partitions always "$(lab_dev "$disk")"
    for i in $(seq 1 "$count"); do
        parts+=("$(lab_part "$disk" "$i")")
    done
    lab_wait "${parts[@]}"
}

# Deterministic file content: the line "SEED" repeated, cut to SIZE bytes. The
# Python side (tests/lab/layouts.py) computes the same bytes, so checksums are
# known before the guest runs.
lab_content() {
    { yes -- "$2" || true; } | head -c "$1"
}

# Write FILES under the layout's mount root, run the builder's post_build hook if it
# has one, then record every FILES entry's checksum in $LAB_RESULTS/<layout>/. An
# entry whose fourth field is "derived" is not written here: post_build makes it
# (e.g. a btrfs snapshot holding a copy).
lab_write_files() {
    local root=$LAB_MNT/$LAYOUT rel size seed flag out
    out=$LAB_RESULTS/$LAYOUT
    mkdir -p "$out"
    while read -r rel size seed flag; do
        [ -n "$rel" ] && [ "$flag" != derived ] || continue
        mkdir -p "$(dirname "$root/$rel")"
        lab_content "$size" "$seed" > "$root/$rel"
    done <<< "$FILES"
    if declare -F post_build > /dev/null; then post_build; fi
    sync
    (cd "$root" && while read -r rel size seed flag; do
        if [ -n "$rel" ]; then sha256sum "$rel"; fi
    done <<< "$FILES") > "$out/checksums.sha256"
}

lab_verify_files() {
    local root=$LAB_MNT/$LAYOUT out rel size seed expected bad=0
    out=$LAB_RESULTS/$LAYOUT
    mkdir -p "$out"
    : > "$out/verify.txt"
    while read -r rel size seed _flag; do
        [ -n "$rel" ] || continue
        expected=$(lab_content "$size" "$seed" | sha256sum | cut -d' ' -f1)
        if [ -f "$root/$rel" ] && [ "$(sha256sum < "$root/$rel" | cut -d' ' -f1)" = "$expected" ]
        then
            echo "OK $rel" >> "$out/verify.txt"
        else
            echo "BAD $rel" >> "$out/verify.txt"
            bad=1
        fi
    done <<< "$FILES"
    cat "$out/verify.txt" >&2
    return $bad
}

lab_mount() {  # DEV DIR [mount options...]; a no-op if DIR is mounted already
    local dev=$1 dir=$2
    shift 2
    mountpoint -q "$dir" 2> /dev/null && return 0
    mkdir -p "$dir"
    mount "$@" "$dev" "$dir"
}

lab_luks_format() {  # DEV LABEL
    printf '%s' "$LAB_PASSPHRASE" |
        cryptsetup luksFormat "${LAB_LUKS_OPTS[@]}" --label "$2" --key-file=- "$1"
}

lab_luks_open() {  # DEV NAME
    [ -e "/dev/mapper/$2" ] && return 0
    printf '%s' "$LAB_PASSPHRASE" | cryptsetup open --key-file=- "$1" "$2"
}

# fstab line for a device by filesystem UUID.
lab_fstab_line() {  # DEV MOUNTPOINT TYPE OPTIONS PASS
    printf 'UUID=%s\t%s\t%s\t%s\t0\t%s\n' "$(blkid -s UUID -o value "$1")" "$2" "$3" "$4" "$5"
}

# Everything down, deepest first; errors are reported but do not stop the rest.
lab_teardown() {
    set +e
    trap - ERR
    local target name
    # Filesystems on block devices (the guest's root is an overlay, never matched).
    awk '$1 ~ "^/dev/" {print $2}' /proc/mounts | sort -r | while read -r target; do
        umount "$target" || umount -l "$target"
    done
    swapoff -a
    vgchange -an --quiet 2>&1 | grep -v 'logical volume(s) in volume group' >&2
    for name in $(dmsetup ls --target crypt 2>/dev/null | awk '$1 != "No" {print $1}'); do
        cryptsetup close "$name"
    done
    # A VG on top of LUKS is down already; one under LUKS can only go now.
    vgchange -an --quiet > /dev/null 2>&1
    mdadm --stop --scan
    udevadm settle --timeout=30
    set -e
    trap 'lab_on_err "$LINENO" "$?" "$BASH_COMMAND"' ERR
}

# Make the given disks blank, as new (after lab_teardown): for restore tests.
# The lab's disks are sparse files attached with discard=unmap, so discarding the
# whole disk punches holes and every sector reads back as zeros: fast and complete.
# Without discard support, fall back to erasing every signature and both GPT copies.
lab_wipe() {
    local disk dev part
    for disk in "$@"; do
        dev=$(lab_dev "$disk")
        if ! blkdiscard --force "$dev" 2> /dev/null; then
            for part in $(lsblk -nrpo NAME "$dev" | tail -n +2 | sort -r); do
                wipefs --all --quiet "$part" || true
            done
            wipefs --all --quiet "$dev"
            sgdisk --zap-all "$dev" > /dev/null 2>&1 || true
            dd if=/dev/zero of="$dev" bs=1M count=4 conv=fsync status=none
        fi
        blockdev --rereadpt "$dev" || partx --delete "$dev" 2> /dev/null || true
    done
    udevadm settle --timeout=30 || true
}

# Destroy a restore test's disks the way an administrator would, layer by layer
# with the stack still up: unmount and swapoff everything on them, `wipefs -a` every
# device-mapper and md device deepest first, take those devices down (stopping an
# array rewrites its superblock, so members are wiped only after), `wipefs -a` every
# partition and the disk, then zero the first and the last MiB. Fails unless every
# disk reads back blank: no signature, no partition, nothing stacked on it.
lab_wipe_layers() {
    local disk dev node kind size nodes=() mds=() dms=() parts=()
    for disk in "$@"; do
        dev=$(lab_dev "$disk")
        # lsblk lists a node before what it holds; reversed, holders come first.
        while read -r node kind; do
            case " ${nodes[*]} " in *" $node "*) continue ;; esac
            nodes+=("$node")
            case "$kind" in
                raid*) mds+=("$node") ;;
                lvm|crypt|dm) dms+=("$node") ;;
                part) parts+=("$node") ;;
            esac
        done < <(lsblk -nrpo NAME,TYPE "$dev" | tac)
    done
    # Every mount of every node (btrfs subvolumes show as DEV[/subvol]), deepest first.
    findmnt -rn -o TARGET,SOURCE | while read -r target source; do
        for node in "${nodes[@]}"; do
            case "$source" in "$node" | "$node["*) echo "$target" ;; esac
        done
    done | sort -ru | while read -r target; do
        umount "$target"
    done
    for node in "${nodes[@]}"; do
        swapoff "$node" 2> /dev/null || true
    done
    for node in "${dms[@]}" "${mds[@]}"; do
        wipefs --all --force --quiet "$node"
    done
    for node in "${dms[@]}"; do  # holders first, so each is free when removed
        dmsetup remove "$node" 2> /dev/null || dmsetup remove --retry "$node"
    done
    for node in "${mds[@]}"; do
        mdadm --stop "$node" > /dev/null
    done
    udevadm settle --timeout=30 || true
    for node in "${parts[@]}"; do
        wipefs --all --force --quiet "$node"
    done
    for disk in "$@"; do
        dev=$(lab_dev "$disk")
        wipefs --all --force --quiet "$dev"
        size=$(blockdev --getsize64 "$dev")
        dd if=/dev/zero of="$dev" bs=1M count=1 conv=fsync status=none
        dd if=/dev/zero of="$dev" bs=1M count=1 seek=$((size / 1048576 - 1)) conv=fsync \
            status=none
        blockdev --rereadpt "$dev" 2> /dev/null || partx --delete "$dev" 2> /dev/null || true
    done
    udevadm settle --timeout=30 || true
    for disk in "$@"; do
        dev=$(lab_dev "$disk")
        if [ -n "$(wipefs --noheadings "$dev")" ] || [ -n "$(lsblk -nro NAME "$dev" | tail -n +2)" ]
        then
            log "$disk is not blank after the wipe"; lsblk "$dev" >&2; wipefs "$dev" >&2
            return 1
        fi
    done
}

# Have udev read every node under the disks again. udevd drops the "closed after
# write" event of a device whose previous event it is still processing, so a fresh
# filesystem (mkfs.btrfs opens and closes its device several times) can stay unknown
# to udev and to lsblk, which reads udev's database.
lab_udev_refresh() {  # DISK...
    local dev
    udevadm settle --timeout=30 || true
    for dev in $(lsblk -nrpo NAME "$@" | sort -u); do
        udevadm trigger --action=change "$dev"
    done
    udevadm settle --timeout=30 || true
}

lab_main() {
    local cmd=${1:-}
    shift || true
    [ $# -ge 1 ] || { echo "usage: $0 build|mount|verify DISK..." >&2; exit 2; }
    mkdir -p "$LAB_RESULTS/$LAYOUT"
    case "$cmd" in
        build)
            build "$@"
            lab_write_files
            lab_udev_refresh "$@"
            log "built; files written"
            ;;
        mount)
            activate "$@"
            mount_layout "$@"
            ;;
        verify)
            activate "$@"
            mount_layout "$@"
            lab_verify_files
            ;;
        *) echo "unknown command $cmd" >&2; exit 2 ;;
    esac
}
