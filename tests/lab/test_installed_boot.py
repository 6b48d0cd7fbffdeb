"""A real installed Debian boots in the lab with its own firmware, bootloader and kernel.

This is the ground the rebuild tests stand on: the image from
tests/lab/os_image.py is installed onto a lab disk by a lab guest (GPT, BIOS
boot partition, ext4 root, GRUB for i386-pc), then the disk alone is booted
by SeaBIOS.  The marker unit must report multi-user.target active, the
image's own kernel (not the lab's), the root filesystem by the UUID fstab
names, and no failed unit.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.lab.fixtures import GuestFactory
from tests.lab.installed import MARKER_PREFIX, install_bios_step_script, marker_facts
from tests.lab.os_image import ensure_image
from tests.lab.vm import DiskSpec, Step
from tests.tiers import TierUnavailable, skip_or_fail

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def debian_image() -> Path:
    try:
        return ensure_image()
    except TierUnavailable as exc:
        skip_or_fail(str(exc))
        raise


def test_an_installed_debian_boots_from_its_own_disk_with_seabios(
    lab_guest: GuestFactory, debian_image: Path, tmp_path: Path
) -> None:
    guest = lab_guest([DiskSpec("3G", serial="sys0")], keep_images=True)
    facts_script = ("blkid -s UUID -o value /dev/disk/by-id/virtio-sys0-part2\n"
                    "mount /dev/disk/by-id/virtio-sys0-part2 /mnt && "
                    "ls /mnt/boot | sed -n 's/^vmlinuz-//p'; umount /mnt")
    install = guest.run_steps(
        [Step("install", install_bios_step_script(debian_image, "sys0"), timeout=900),
         Step("facts", facts_script, timeout=60)],
        timeout=1200, stop_on_error=True, results_dir=tmp_path / "install")
    assert install.ok, install.describe()
    root_uuid, installed_kernel = install["facts"].stdout.split()

    booted = guest.boot_disks(timeout=900)
    facts = marker_facts(booted.lines(MARKER_PREFIX))
    assert "done" in facts, booted.console[-4000:]
    assert booted.powered_off
    assert facts["multi-user"] == "active"
    assert facts["failed-units"] == "0", booted.console[-4000:]
    assert facts["firmware"] == "bios"
    # GRUB started the installed kernel by its path, finding the root by UUID;
    # the lab's own boots start the lab kernel directly, with no BOOT_IMAGE.
    assert facts["kernel"] == installed_kernel
    assert f"BOOT_IMAGE=/boot/vmlinuz-{installed_kernel}" in facts["cmdline"]
    assert f"root=UUID={root_uuid}" in facts["cmdline"]
    assert facts["root"] == "/dev/vda2 ext4"
