#!/bin/bash
# hostbook VM-lab stage 2: PID 1 in the guest after switch_root (copied into the job
# share as /lab/stage2.sh for every boot, so editing it needs no initramfs rebuild).
#
# Brings up what a real host has for storage (tmpfs /run and /tmp, udevd, the dm/md
# modules), runs the steps listed in /lab/steps/plan.tsv with each step's stdout,
# stderr, exit code and timing written to /lab/out/, then shuts the storage stack
# down cleanly and powers off. The host harness (tests/lab/vm.py) reads /lab/out.
#
# /lab/config (written by the harness) sets LAB_MODE (batch|shell),
# LAB_STOP_ON_ERROR, LAB_PYTHON, LAB_PATH, LAB_BUILDERS, LAB_CWD, LAB_TERM,
# LAB_CLEAN_SHUTDOWN.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# shellcheck disable=SC1091
. /lab/config

say() { echo "HOSTBOOK-LAB: $*" > /dev/console; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }
phase() { echo "$1 $(uptime_s)" >> /lab/out/phases; }  # boot-time profile

poweroff_now() {
    sync
    echo o > /proc/sysrq-trigger
    sleep 30
}
trap poweroff_now EXIT

# Fresh /run and /tmp, as on a booted host. Paths the steps need from this machine
# (LAB_KEEP: the checkout, its virtualenv) would vanish under them if they live in
# /tmp or /run (a CI clone might), so those are bind-mounted back on top.
keep=()
while IFS= read -r path; do
    [ -n "$path" ] && [ -d "$path" ] || continue
    mkdir -p "/.lab-keep$path" && mount --bind "$path" "/.lab-keep$path" && keep+=("$path")
done <<< "${LAB_KEEP:-}"
mount -t tmpfs -o mode=0755,size=256m tmpfs /run
mount -t tmpfs -o mode=1777,size=512m tmpfs /tmp
for path in "${keep[@]}"; do
    mkdir -p "$path" && mount --move "/.lab-keep$path" "$path"
done
mkdir -p /dev/pts /dev/shm /run/lock /run/lvm /run/mdadm /run/cryptsetup
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
ln -sf /proc/self/fd /dev/fd 2>/dev/null
mount -t configfs configfs /sys/kernel/config 2>/dev/null
# UEFI guests (OVMF): the firmware's variables, where efibootmgr reads and writes
# boot entries, as systemd mounts them on a real host.
if [ -d /sys/firmware/efi ]; then
    modprobe efivarfs 2>/dev/null
    mount -t efivarfs efivarfs /sys/firmware/efi/efivars 2> /lab/out/efivarfs.err
fi
echo hostbook-lab > /etc/hostname
hostname hostbook-lab
phase stage2
say "stage2 up at $(uptime_s)s"

# Only what device discovery needs up front: the disks, the dm and md control nodes,
# loop. dm targets, md personalities and filesystems load on first use through the
# kernel's module autoloading (/sbin/modprobe is on the root), as on a real host, and
# big ones (btrfs, xfs, raid456 with its RAID6 benchmark) cost seconds under TCG.
modprobe -a virtio_blk virtio_rng dm-mod md-mod loop 2> /lab/out/modprobe.err
phase modules

udevd=/lib/systemd/systemd-udevd
[ -x "$udevd" ] || udevd=/usr/lib/systemd/systemd-udevd
"$udevd" --daemon --resolve-names=never 2> /lab/out/udevd.err
phase udevd
# Block devices and device-mapper/md control nodes are what storage code needs from
# udev (ID_* properties, by-id links, dm/md rules); skipping the hundreds of other
# devices saves seconds of TCG time per boot.
udevadm trigger --type=subsystems --action=add
udevadm trigger --type=devices --action=add --subsystem-match=block \
    --subsystem-match=misc --subsystem-match=virtio --subsystem-match=bdi
udevadm settle --timeout=60
phase settled
echo "$(uptime_s)" > /lab/out/ready
say "storage stack ready at $(uptime_s)s"

export HOME=/root LANG=C.UTF-8 LC_ALL=C.UTF-8 HOSTBOOK_LAB=1
export TERM="${LAB_TERM:-vt100}"
export PATH="$LAB_PATH:$PATH"
export LAB_RESULTS=/lab/results LAB_BUILDERS LAB_PYTHON
cd "$LAB_CWD" || cd /

run_step() {  # idx name interpreter timeout
    local idx=$1 name=$2 interp=$3 tmo=$4 script rc
    script=/lab/steps/$idx.script
    local -a cmd
    case "$interp" in
        python) cmd=("$LAB_PYTHON" "$script") ;;
        *) cmd=("$interp" "$script") ;;
    esac
    [ "$tmo" != "0" ] && cmd=(timeout -k 5 "$tmo" "${cmd[@]}")
    say "step $name start"
    echo "$(uptime_s)" > "/lab/out/$idx.start"
    if [ "$LAB_MODE" = shell ]; then
        # Visible on the console too, for people debugging a layout.
        LAB_STEP=$name "${cmd[@]}" < /dev/null \
            > >(tee "/lab/out/$idx.stdout" > /dev/console) \
            2> >(tee "/lab/out/$idx.stderr" > /dev/console)
        rc=$?
    else
        LAB_STEP=$name "${cmd[@]}" < /dev/null > "/lab/out/$idx.stdout" 2> "/lab/out/$idx.stderr"
        rc=$?
    fi
    echo "$(uptime_s)" > "/lab/out/$idx.end"
    echo "$rc" > "/lab/out/$idx.rc"
    say "step $name rc=$rc"
    return "$rc"
}

while IFS=$'\t' read -r idx name interp tmo; do
    [ -n "$idx" ] || continue
    if ! run_step "$idx" "$name" "$interp" "$tmo" && [ "$LAB_STOP_ON_ERROR" = 1 ]; then
        say "stopping after failed step $name"
        break
    fi
done < /lab/steps/plan.tsv

if [ "$LAB_MODE" = shell ]; then
    say "steps done; results in /lab/results. Exit the shell to power off (Ctrl-A X kills)."
    setsid --ctty --wait /bin/bash -l < /dev/ttyS0 > /dev/ttyS0 2>&1
fi

phase steps
if [ "$LAB_CLEAN_SHUTDOWN" = 1 ] && { [ -n "$(ls /dev/mapper | grep -vx control)" ] ||
        grep -q '^md' /proc/mdstat 2>/dev/null || grep -q '^/dev/' /proc/mounts; }; then
    # Like a real host's shutdown: unmount, close LUKS, deactivate LVM, stop md, so
    # the images are consistent for the next boot.
    timeout -k 5 60 bash "$LAB_BUILDERS/teardown.sh" > /lab/out/teardown.log 2>&1
fi
sync
phase shutdown
echo "$(uptime_s)" > /lab/out/done
say "done at $(uptime_s)s"
