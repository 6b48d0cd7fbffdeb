"""A laptop rebuilt bare-metal from its manifest and backups boots again (UEFI, LUKS2, LVM).

The chain the rebuild promises, on a real Debian 12 (tests/lab/rebuild_laptop.py):

1. a lab guest with OVMF installs the laptop onto disk sys0 (GRUB in the ESP,
   its NVRAM entry, the root unlocked by a key file in the initramfs) and
   hostbook into it; the backup disk is made;
2. the laptop boots from its disk through that entry, and its marker runs
   ``hostbook capture`` and ``hostbook run`` (restic for root, borg for home,
   tar for /boot and the ESP) onto the backup disk, then powers off;
3. sys0 is zeroed (every layer gone) and the firmware's variables too; the
   live lab guest (OVMF) runs ``hostbook rebuild`` from the single-file build
   on the system's python3 (no virtualenv) onto another disk, sys1, 1.5x as
   large, with another serial (``--map``); the first run is killed with
   SIGKILL while restic restores the root, and the same command then finishes;
4. sys1 alone boots with OVMF from the NVRAM entry the rebuild wrote; the
   marker reports multi-user.target, no failed unit, the files written before
   the backup identical.

Cost: four boots under TCG, about 15 minutes (see the report at the end of
each run in the test's output when it fails).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.lab.fixtures import GuestFactory
from tests.lab.installed import MARKER_PREFIX, build_wheels, marker_facts
from tests.lab.rebuild_laptop import LUKS_PASSPHRASE, install_script, rebuild_script
from tests.lab.vm import DiskSpec, Step
from tests.paths import REPO_ROOT

pytestmark = pytest.mark.lab

WORK = Path("/var/tmp/hostbook-lab-rebuild")


def single_file() -> Path:
    import subprocess
    import sys

    output = WORK / "hostbook-lab-x86_64"
    subprocess.run([sys.executable, str(REPO_ROOT / "packaging" / "single_file.py"),
                    "--installed", "--output", str(output)], check=True, capture_output=True)
    return output


def test_the_laptop_rebuilt_onto_a_larger_disk_boots_after_a_kill_in_its_data_phase(
    lab_guest: GuestFactory, debian_image: Path, tmp_path: Path
) -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    wheels = build_wheels(WORK / "wheels")
    built = single_file()
    passphrase = WORK / "luks.pass"
    passphrase.write_text(LUKS_PASSPHRASE)
    guest = lab_guest([DiskSpec("4G", serial="sys0"), DiskSpec("3G", serial="backup0"),
                       DiskSpec("6G", serial="sys1")], keep_images=True, firmware="uefi")
    install = guest.run_steps([Step("install", install_script(debian_image, wheels),
                                    timeout=1500)],
                              timeout=1800, stop_on_error=True, results_dir=tmp_path / "install")
    assert install.ok, install.describe()

    backed_up = guest.boot_disks(timeout=1500)
    facts = marker_facts(backed_up.lines(MARKER_PREFIX))
    assert facts.get("multi-user") == "active", backed_up.console[-4000:]
    assert facts.get("firmware") == "uefi"
    assert (facts.get("capture"), facts.get("commit"), facts.get("run")) == ("0", "0", "0"), (
        facts, backed_up.console[-4000:])

    sys0 = guest.disk_paths[0]
    with open(sys0, "r+b") as image:  # every layer gone: the disk reads as zeros
        image.truncate(0)
        image.truncate(4 << 30)
    guest.nvram_path.unlink()  # and the firmware knows no boot entry
    rebuilt = guest.run_steps(
        [Step("rebuild", rebuild_script(built, passphrase,
                                        "--map sys0=/dev/disk/by-id/virtio-sys1", True),
              timeout=3000)],
        timeout=3300, results_dir=tmp_path / "rebuild")
    results = tmp_path / "rebuild"
    log = (results / "rebuild.log").read_text() if (results / "rebuild.log").exists() else ""
    assert rebuilt.ok, rebuilt.describe() + log[-6000:]
    assert (results / "killed").exists(), "restic was not running when the rebuild was killed"
    first = (results / "first.log").read_text()
    assert "== data" in first and "rebuilt (" not in first
    assert "== data" in log and "rebuilt (" in log, log[-4000:]
    assert "restored and verified before" in log or "lv-laptopvg-root:" in log

    booted = guest.boot_disks(timeout=1200, boot_disk=2)
    after = marker_facts(booted.lines(MARKER_PREFIX))
    assert "done" in after, booted.console[-4000:]
    assert after["multi-user"] == "active"
    assert after["failed-units"] == "0", booted.console[-4000:]
    assert after["firmware"] == "uefi"
    assert after["files"] == "identical"
    assert after["root"].split()[-1] == "ext4"
    assert "/dev/mapper/laptopvg-root" in after["root"]
