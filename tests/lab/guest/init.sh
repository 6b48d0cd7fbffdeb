#!/bin/busybox sh
# hostbook VM-lab initramfs /init (busybox sh). Mounts this machine's root over 9p
# READ-ONLY with a tmpfs overlay on top, mounts the writable job share at /lab, and
# hands over to /lab/stage2.sh. The @INSMOD@ line is replaced by the harness with the insmod
# lines for virtio_pci, 9pnet_virtio, 9p and overlay (kernel-version specific).
/bin/busybox mkdir -p /bin /sbin /proc /sys /dev /lower /ovl /newroot
/bin/busybox --install -s /bin
export PATH=/bin:/sbin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

fail() {
    echo "HOSTBOOK-LAB-INITRAMFS-FAILED: $*"
    sleep 1
    echo o > /proc/sysrq-trigger
    sleep 60
}

@INSMOD@

root_tag=; share_tag=; stage2=/lab/stage2.sh
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        hostbook.root=*) root_tag=${arg#hostbook.root=} ;;
        hostbook.share=*) share_tag=${arg#hostbook.share=} ;;
    esac
done
[ -n "$root_tag" ] && [ -n "$share_tag" ] || fail "hostbook.root/hostbook.share not on cmdline"

opts=trans=virtio,version=9p2000.L,msize=512000
mount -t 9p -o "$opts,ro,cache=loose" "$root_tag" /lower || fail "mount 9p root"
mount -t tmpfs -o mode=0755 tmpfs /ovl || fail "tmpfs"
mkdir -p /ovl/upper /ovl/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/ovl/upper,workdir=/ovl/work /newroot \
    || fail "overlay"
mkdir -p /newroot/lab
mount -t 9p -o "$opts,rw" "$share_tag" /newroot/lab || fail "mount 9p share"
[ -f /newroot$stage2 ] || fail "no $stage2 in the share"
for d in proc sys dev; do mount --move /$d /newroot/$d || fail "move /$d"; done
exec switch_root /newroot /bin/bash $stage2
fail "switch_root"
