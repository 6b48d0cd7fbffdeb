"""A real installed Debian boots in the lab with its own firmware, bootloader and kernel.

This is the ground the rebuild tests stand on: the image from
tests/lab/os_image.py is installed onto a lab disk by a lab guest, then the
disk alone is booted by the firmware: SeaBIOS starting GRUB from the BIOS
boot partition, or OVMF starting GRUB from the ESP through the NVRAM entry
the install wrote.  The marker unit must report multi-user.target active, no
failed unit, the firmware, and the installed kernel started by GRUB with the
root filesystem by the UUID the install gave it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.lab.fixtures import GuestFactory
from tests.lab.installed import (
    MARKER_PREFIX,
    install_bios_step_script,
    install_uefi_step_script,
    marker_facts,
)
from tests.lab.os_image import ensure_image
from tests.lab.vm import DiskSpec, Step
from tests.tiers import TierUnavailable, skip_or_fail

pytestmark = pytest.mark.lab

FACTS = r"""
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


def step_facts(stdout: str) -> dict[str, list[str]]:
    """``key value`` lines of the facts step, by key."""
    facts: dict[str, list[str]] = {}
    for line in stdout.splitlines():
        key, _, value = line.partition(" ")
        facts.setdefault(key, []).append(value)
    return facts


@pytest.fixture(scope="module")
def debian_image() -> Path:
    try:
        return ensure_image()
    except TierUnavailable as exc:
        skip_or_fail(str(exc))
        raise


@pytest.mark.parametrize("firmware", ["bios", "uefi"])
def test_an_installed_debian_boots_from_its_own_disk(
    lab_guest: GuestFactory, debian_image: Path, tmp_path: Path, firmware: str
) -> None:
    install_script: Callable[[Path, str], str] = (
        install_uefi_step_script if firmware == "uefi" else install_bios_step_script)
    guest = lab_guest([DiskSpec("3G", serial="sys0")], keep_images=True, firmware=firmware)
    install = guest.run_steps(
        [Step("install", install_script(debian_image, "sys0"), timeout=900),
         Step("facts", FACTS, timeout=60)],
        timeout=1200, stop_on_error=True, results_dir=tmp_path / "install")
    assert install.ok, install.describe()
    found = step_facts(install["facts"].stdout)
    (root_uuid,), (installed_kernel,) = found["uuid"], found["kernel"]
    if firmware == "uefi":
        # GRUB in the ESP with no removable-media fallback beside it, and the entry
        # the install made first in BootOrder: the boot below goes through NVRAM.
        (esp,) = found["esp"]
        assert "EFI/debian/grubx64.efi" in esp.split() and "EFI/BOOT" not in esp, esp
        efi = found["efi"]
        (entry,) = [line for line in efi if line.endswith(" debian")]
        order = next(line for line in efi if line.startswith("BootOrder:"))
        assert order.split()[1].split(",")[0] == entry[4:8], efi

    booted = guest.boot_disks(timeout=900)
    facts = marker_facts(booted.lines(MARKER_PREFIX))
    assert "done" in facts, booted.console[-4000:]
    assert booted.powered_off
    assert facts["multi-user"] == "active"
    assert facts["failed-units"] == "0", booted.console[-4000:]
    assert facts["firmware"] == firmware
    # GRUB started the installed kernel by its path, finding the root by UUID;
    # the lab's own boots start the lab kernel directly, with no BOOT_IMAGE.
    assert facts["kernel"] == installed_kernel
    assert f"BOOT_IMAGE=/boot/vmlinuz-{installed_kernel}" in facts["cmdline"]
    assert f"root=UUID={root_uuid}" in facts["cmdline"]
    assert facts["root"] == "/dev/vda2 ext4"
