"""Installing a real Debian onto lab disks, and the marker it reports with when it boots.

The image (tests/lab/os_image.py) is unpacked by a lab guest onto the disks
the layout gave it; GRUB goes on as the firmware needs it.  The installed
system then boots on its own (``Guest.boot_disks``): no shared root, no
``-kernel``.  It has no network and nobody logs in, so a marker unit,
started once multi-user.target is reached, writes what the test checks to
the serial console (one ``hostbook-marker:`` line per fact) and powers the
machine off.
"""

from __future__ import annotations

import shlex
from pathlib import Path

MARKER_PREFIX = "hostbook-marker:"

MARKER_SCRIPT = r"""#!/bin/sh
# Reports on the serial console what the boot reached, then powers off.
say() { echo "hostbook-marker: $*" > /dev/ttyS0; }
say "kernel $(uname -r)"
say "root $(findmnt -no SOURCE /) $(findmnt -no FSTYPE /)"
say "cmdline $(cat /proc/cmdline)"
say "firmware $( [ -d /sys/firmware/efi ] && echo uefi || echo bios)"
say "multi-user $(systemctl is-active multi-user.target)"
say "failed-units $(systemctl list-units --state=failed --no-legend --plain | wc -l)"
if [ -f /etc/hostbook-lab/checksums ]; then
    if (cd / && sha256sum --quiet -c /etc/hostbook-lab/checksums) > /dev/null 2>&1; then
        say "files identical"
    else
        say "files differ"
    fi
fi
say "done"
systemctl --no-block poweroff
"""

MARKER_UNIT = """[Unit]
Description=Report the boot to the lab on the serial console
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/hostbook-marker

[Install]
WantedBy=multi-user.target
"""


def install_bios_step_script(image: Path, serial: str) -> str:
    """Bash for a lab guest: GPT with a BIOS boot partition and an ext4 root, the image
    unpacked, fstab, serial-console GRUB on the disk, the marker unit enabled."""
    return f"""
set -euo pipefail
disk=$(readlink -f /dev/disk/by-id/virtio-{shlex.quote(serial)})
sfdisk -q "$disk" <<'EOF'
label: gpt
size=1MiB, type=21686148-6449-6E6F-744E-656564454649, name=bios
type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=root
EOF
udevadm settle
mkfs.ext4 -q -L root "${{disk}}2"
target=/mnt/target
mkdir -p "$target"
mount "${{disk}}2" "$target"
tar -xpf {shlex.quote(str(image))} -C "$target" --numeric-owner
uuid=$(blkid -s UUID -o value "${{disk}}2")
echo "UUID=$uuid / ext4 errors=remount-ro 0 1" > "$target/etc/fstab"
{_marker_files('"$target"')}
cat >> "$target/etc/default/grub" <<'EOF'
GRUB_TIMEOUT=0
GRUB_TERMINAL=serial
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB_CMDLINE_LINUX="console=ttyS0,115200 mitigations=off tsc=reliable no_timer_check"
GRUB_DISABLE_OS_PROBER=true
EOF
for fs in dev proc sys run; do mount --rbind "/$fs" "$target/$fs"; done
chroot "$target" grub-install --target=i386-pc "$disk"
chroot "$target" update-grub
umount -R "$target"
"""


def _marker_files(target: str) -> str:
    """Shell that writes the marker script and unit into ``target`` and enables it."""
    wants = f"{target}/etc/systemd/system/multi-user.target.wants"
    return f"""install -d {target}/usr/local/sbin {wants}
cat > {target}/usr/local/sbin/hostbook-marker <<'MARKER'
{MARKER_SCRIPT}MARKER
chmod 755 {target}/usr/local/sbin/hostbook-marker
cat > {target}/etc/systemd/system/hostbook-marker.service <<'UNIT'
{MARKER_UNIT}UNIT
ln -sf ../hostbook-marker.service {wants}/"""


def marker_facts(lines: list[str]) -> dict[str, str]:
    """``hostbook-marker: kernel 6.1.0-x`` lines as {"kernel": "6.1.0-x", ...}."""
    facts: dict[str, str] = {}
    for line in lines:
        body = line.removeprefix(MARKER_PREFIX).strip()
        key, _, value = body.partition(" ")
        facts[key] = value
    return facts
