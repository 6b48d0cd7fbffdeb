"""A real installed Debian boots in the lab with UEFI firmware, its own GRUB and kernel.

This is the ground the rebuild tests stand on: the image from
tests/lab/os_image.py is installed onto a lab disk by a lab guest booted
with OVMF (GPT, ESP, ext4 root, GRUB for x86_64-efi and its NVRAM entry),
then the disk alone is booted: OVMF starts GRUB through that entry, with no
removable-media fallback to fall back on.  The marker unit must report
multi-user.target active, no failed unit, UEFI, and the installed kernel
started by GRUB with the root by its UUID.  The BIOS boot (SeaBIOS, a BIOS
boot partition) is proved by the same checks in tests/lab/test_capture_timer.py,
whose installed system boots that way.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.lab.fixtures import GuestFactory
from tests.lab.installed import (
    FACTS_SCRIPT,
    check_booted_from_disk,
    install_uefi_step_script,
    step_facts,
)
from tests.lab.vm import DiskSpec, Step

pytestmark = pytest.mark.lab


def test_an_installed_debian_boots_from_its_own_disk_through_its_nvram_entry(
    lab_guest: GuestFactory, debian_image: Path, tmp_path: Path
) -> None:
    guest = lab_guest([DiskSpec("3G", serial="sys0")], keep_images=True, firmware="uefi")
    install = guest.run_steps(
        [Step("install", install_uefi_step_script(debian_image, "sys0"), timeout=900),
         Step("facts", FACTS_SCRIPT, timeout=60)],
        timeout=1200, stop_on_error=True, results_dir=tmp_path / "install")
    assert install.ok, install.describe()
    found = step_facts(install["facts"].stdout)
    # GRUB in the ESP with no removable-media fallback beside it, and the entry the
    # install made first in BootOrder: the boot below goes through NVRAM.
    (esp,) = found["esp"]
    assert "EFI/debian/grubx64.efi" in esp.split() and "EFI/BOOT" not in esp, esp
    efi = found["efi"]
    (entry,) = [line for line in efi if line.endswith(" debian")]
    order = next(line for line in efi if line.startswith("BootOrder:"))
    assert order.split()[1].split(",")[0] == entry[4:8], efi

    check_booted_from_disk(guest.boot_disks(timeout=900), found, "uefi")
