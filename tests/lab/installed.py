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
import subprocess
import sys
from pathlib import Path

from tests.lab.vm import DiskBoot
from tests.paths import REPO_ROOT

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
# A test's own checks, with say() at hand (the capture-timer test waits for a commit).
[ -f /etc/hostbook-lab/extra.sh ] && . /etc/hostbook-lab/extra.sh
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


GPT_BIOS_BOOT = "21686148-6449-6E6F-744E-656564454649"
GPT_ESP = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
GPT_LINUX = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"


def install_bios_step_script(image: Path, serial: str) -> str:
    """Bash for a lab guest: GPT with a BIOS boot partition and an ext4 root, the image
    unpacked, fstab, serial-console GRUB on the disk, the marker unit enabled."""
    return _install_script(
        image, serial,
        table=f"size=1MiB, type={GPT_BIOS_BOOT}, name=bios\ntype={GPT_LINUX}, name=root",
        esp=None, grub='grub-install --target=i386-pc "$disk"')


def install_uefi_step_script(image: Path, serial: str) -> str:
    """Bash for a lab guest booted with OVMF: GPT with an ESP and an ext4 root, GRUB for
    x86_64-efi in the ESP and its NVRAM entry (efibootmgr through the guest's
    efivarfs), the marker unit enabled.  No removable-media fallback is written, so
    the boot that follows proves the NVRAM entry."""
    return _install_script(
        image, serial,
        table=f"size=200MiB, type={GPT_ESP}, name=esp\ntype={GPT_LINUX}, name=root",
        esp="1",
        grub=("grub-install --target=x86_64-efi --efi-directory=/boot/efi "
              "--bootloader-id=debian --no-nvram && "
              "efibootmgr -q -c -d \"$disk\" -p 1 -L debian "
              "-l '\\EFI\\debian\\grubx64.efi'"))


def _install_script(image: Path, serial: str, *, table: str, esp: str | None,
                    grub: str) -> str:
    """The steps both firmwares share; ``grub`` runs in the chroot with ``$disk`` set."""
    esp_lines = "" if esp is None else f"""
mkfs.vfat -n ESP "${{disk}}{esp}" > /dev/null
mkdir -p "$target/boot/efi"
mount "${{disk}}{esp}" "$target/boot/efi"
echo "UUID=$(blkid -s UUID -o value "${{disk}}{esp}") /boot/efi vfat umask=0077 0 1" \\
    >> "$target/etc/fstab"
"""
    return f"""
set -euo pipefail
disk=$(readlink -f /dev/disk/by-id/virtio-{shlex.quote(serial)})
sfdisk -q "$disk" <<'EOF'
label: gpt
{table}
EOF
udevadm settle
mkfs.ext4 -q -L root "${{disk}}2"
target=/mnt/target
mkdir -p "$target"
mount "${{disk}}2" "$target"
tar -xpf {shlex.quote(str(image))} -C "$target" --numeric-owner
uuid=$(blkid -s UUID -o value "${{disk}}2")
echo "UUID=$uuid / ext4 errors=remount-ro 0 1" > "$target/etc/fstab"
{esp_lines}
{_marker_files('"$target"')}
cat >> "$target/etc/default/grub" <<'EOF'
{GRUB_SERIAL_DEFAULTS}EOF
for fs in dev proc sys run; do mount --rbind "/$fs" "$target/$fs"; done
chroot "$target" env disk="$disk" sh -c {shlex.quote(grub)}
chroot "$target" update-grub
umount -R "$target"
"""


GRUB_SERIAL_DEFAULTS = """GRUB_TIMEOUT=0
GRUB_TERMINAL=serial
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB_CMDLINE_LINUX="console=ttyS0,115200 mitigations=off tsc=reliable no_timer_check"
GRUB_DISABLE_OS_PROBER=true
"""
"""/etc/default/grub lines: no menu delay, GRUB and the kernel on the serial console."""


def marker_files(target: str) -> str:
    """Shell that installs the marker script and unit under ``target`` (see MARKER_SCRIPT)."""
    return _marker_files(target)


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


def build_wheels(dest: Path) -> Path:
    """hostbook and every dependency as wheels in ``dest``: what an installed system
    without network installs hostbook from (the pip cache makes this quick).
    ``dest`` must be outside /tmp, which a lab guest mounts afresh."""
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--wheel-dir", str(dest),
                    str(REPO_ROOT)], check=True, stdout=subprocess.DEVNULL)
    return dest


def install_hostbook_script(wheels: Path) -> str:
    """Bash, after an install script left the root at ``$target`` unmounted: mount it
    again and install hostbook from ``wheels`` into /opt/hostbook in the chroot, the
    way ``.ci/install`` does on a host, with /usr/local/bin/hostbook."""
    return f"""
set -euo pipefail
target=/mnt/target
mountpoint -q "$target" || mount "$(blkid -L root)" "$target"
for fs in dev proc sys run; do
    mountpoint -q "$target/$fs" || mount --rbind "/$fs" "$target/$fs"
done
mkdir -p "$target/tmp/wheels"
cp {shlex.quote(str(wheels))}/*.whl "$target/tmp/wheels/"
chroot "$target" python3 -m venv /opt/hostbook
chroot "$target" /opt/hostbook/bin/pip install -q --no-index --find-links /tmp/wheels hostbook
ln -sf /opt/hostbook/bin/hostbook "$target/usr/local/bin/hostbook"
rm -rf "$target/tmp/wheels"
"""


FACTS_SCRIPT = r"""
part=/dev/disk/by-id/virtio-sys0-part
echo "uuid $(blkid -s UUID -o value ${part}2)"
mount ${part}2 /mnt
echo "kernel $(ls /mnt/boot | sed -n 's/^vmlinuz-//p')"
umount /mnt
if [ -d /sys/firmware/efi ]; then
    mount ${part}1 /mnt
    echo "esp $(cd /mnt && find EFI -type f | sort | tr '\n' ' ')"
    umount /mnt
    efibootmgr | sed 's/^/efi /'
fi
"""
"""A lab step after an install onto the disk with serial sys0: ``key value`` lines."""


def step_facts(stdout: str) -> dict[str, list[str]]:
    """``key value`` lines of the facts step, by key."""
    facts: dict[str, list[str]] = {}
    for line in stdout.splitlines():
        key, _, value = line.partition(" ")
        facts.setdefault(key, []).append(value)
    return facts


def check_booted_from_disk(booted: DiskBoot, installed: dict[str, list[str]],
                           firmware: str) -> dict[str, str]:
    """Assert the installed system itself booted and reached multi-user; its facts.

    GRUB started the installed kernel by its path, finding the root by the UUID
    the install gave it; the lab's own boots start the lab kernel directly, with
    no BOOT_IMAGE.
    """
    (root_uuid,), (kernel,) = installed["uuid"], installed["kernel"]
    facts = marker_facts(booted.lines(MARKER_PREFIX))
    assert "done" in facts, booted.console[-4000:]
    assert booted.powered_off
    assert facts["multi-user"] == "active"
    assert facts["failed-units"] == "0", booted.console[-4000:]
    assert facts["firmware"] == firmware
    assert facts["kernel"] == kernel
    assert f"BOOT_IMAGE=/boot/vmlinuz-{kernel}" in facts["cmdline"]
    assert f"root=UUID={root_uuid}" in facts["cmdline"]
    assert facts["root"] == "/dev/vda2 ext4"
    return facts
