"""Bootloader capture under real firmware: UEFI boot entries and BIOS GRUB.

Two guests boot in turn, one per firmware:

- ``uefi`` (OVMF): the ``laptop`` layout, its ESP where a host has it
  (/boot/efi), a loader file on it and two firmware boot entries made with
  ``efibootmgr -c`` (``debian``, active, first in BootOrder; ``hostbook spare``,
  inactive) plus a boot menu timeout, then ``hostbook capture --only storage
  --record``.
- ``grubpc`` (SeaBIOS): the ``legacy`` layout (MBR) with Debian's grub-pc
  installed for real from its packages: install_devices preseeded with the
  layout disk's /dev/disk/by-id path, ``dpkg -i``, then ``grub-install`` onto
  that device as the installer does, with /boot bind-mounted from the layout's
  root so GRUB lands on its ext4.  The guest's root is a tmpfs overlay, so
  nothing of this reaches this machine; the packages are fetched here with
  ``apt-get download`` into tests/lab/.cache/grub-pc/ and reused.  After the
  capture the guest records other real output shapes (no install device, a
  disk that is gone, efibootmgr under BIOS) for the unit tests.

Each capture is checked against what the guest's own tools said (efibootmgr,
blkid, debconf-show, the disk's first sector).  With HOSTBOOK_UPDATE_FIXTURES=1
the recordings become tests/fixtures/storage-uefi/ and storage-grubpc/ for the
unit tests, with those extra outputs in outputs.json.
HOSTBOOK_BOOT_LAB_RESULTS=DIR checks the results folder of an earlier run
instead of booting.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hostbook.capture.parsers.boot import parse_debconf_show, parse_efibootmgr
from hostbook.manifest.merge import to_plain
from hostbook.manifest.sections.storage import StorageDocument
from hostbook.manifest.yamlio import parse_text
from tests.lab import vm
from tests.lab.layouts import LAYOUTS, build_step, disks_for
from tests.lab.vm import CACHE_DIR, Guest, GuestError, Step, check_lab
from tests.paths import FIXTURES
from tests.tiers import TierUnavailable, available, skip_or_fail

pytestmark = pytest.mark.lab

#: Debian's BIOS GRUB and the packages it needs beyond what this machine has.
GRUB_PACKAGES = ("grub-pc", "grub-pc-bin", "grub2-common", "grub-common")
DEBS_DIR = CACHE_DIR / "grub-pc"
SPARE_LABEL = "hostbook spare"
LOADER = r"\EFI\debian\grubx64.efi"
EFI_TIMEOUT = 3

# Inside the UEFI guest, after the laptop layout is built.
EFI_SCRIPT = f"""
spare_label={shlex.quote(SPARE_LABEL)} loader={shlex.quote(LOADER)} timeout={EFI_TIMEOUT}
""" + r"""
set -euo pipefail
grep -qw hostbook.lab=1 /proc/cmdline
mountpoint -q /sys/firmware/efi/efivars
disk=/dev/disk/by-id/virtio-laptop0
kdisk=$(readlink -f "$disk")
mkdir -p /boot/efi
mount --bind /mnt/lab/laptop/boot/efi /boot/efi
mkdir -p /boot/efi/EFI/debian
printf 'hostbook lab loader\n' > /boot/efi/EFI/debian/grubx64.efi
efibootmgr -q -c -d "$kdisk" -p 1 -L "$spare_label" -l '\EFI\hostbook\spare.efi'
spare=$(efibootmgr | awk -v want="$spare_label" \
    'substr($0, 1, 4) == "Boot" && substr($0, 11) == want { print substr($0, 5, 4) }')
efibootmgr -q -b "$spare" -A
efibootmgr -q -c -d "$kdisk" -p 1 -L debian -l "$loader"
efibootmgr -q -t "$timeout"
out=$LAB_RESULTS/truth
mkdir -p "$out"
efibootmgr -v > "$out/efibootmgr.txt"
blkid -p -o value -s PART_ENTRY_UUID "$disk-part1" > "$out/esp-partuuid"
mkdir -p "$LAB_RESULTS/outputs"
efibootmgr > "$LAB_RESULTS/outputs/efibootmgr.stdout"  # the listing without -v
echo 0 > "$LAB_RESULTS/outputs/efibootmgr.rc"
: > "$LAB_RESULTS/outputs/efibootmgr.stderr"
"""

# Inside the BIOS guest, after the legacy layout is built: grub-pc as Debian
# installs it, documentation left out (the man-db trigger alone takes minutes
# under TCG).
GRUB_SCRIPT = r"""
set -euo pipefail
grep -qw hostbook.lab=1 /proc/cmdline
disk=/dev/disk/by-id/virtio-legacy0
mount --bind /mnt/lab/legacy/boot /boot
echo "grub-pc grub-pc/install_devices multiselect $disk" | debconf-set-selections
rm -f /var/lib/man-db/auto-update
DEBIAN_FRONTEND=noninteractive dpkg --force-confdef --force-confold --force-unsafe-io \
    --path-exclude='/usr/share/man/*' --path-exclude='/usr/share/doc/*' \
    --path-exclude='/usr/share/info/*' --path-exclude='/usr/share/locale/*' \
    -i %(debs)s > /dev/null
device=$(debconf-show grub-pc | sed -n 's/^[* ] grub-pc\/install_devices: //p')
[ "$device" = "$disk" ]
grub-install --target=i386-pc "$device"
out=$LAB_RESULTS/truth
mkdir -p "$out"
debconf-show grub-pc > "$out/debconf-show.txt"
dpkg-query -W -f '${Status}' grub-pc > "$out/grub-pc-status"
dd if="$disk" of="$out/mbr.bin" bs=512 count=1 status=none
ls /boot/grub/i386-pc > "$out/i386-pc.txt"
"""

# Inside the BIOS guest, after its capture: the other shapes of the tools' output
# that a host can show, for the unit tests.  An install device list that is empty
# and one that names a disk that is gone; debconf's database unreadable to the
# capturing user; efibootmgr on BIOS firmware.
OUTPUTS_SCRIPT = r"""
set -euo pipefail
grep -qw hostbook.lab=1 /proc/cmdline
disk=/dev/disk/by-id/virtio-legacy0
out=$LAB_RESULTS/outputs
mkdir -p "$out"
record() {  # name command...: its stdout, stderr and exit code
    local name=$1 rc=0
    shift
    "$@" > "$out/$name.stdout" 2> "$out/$name.stderr" || rc=$?
    echo "$rc" > "$out/$name.rc"
}
echo "grub-pc grub-pc/install_devices multiselect" | debconf-set-selections
record debconf-show-empty debconf-show grub-pc
echo "grub-pc grub-pc/install_devices multiselect /dev/disk/by-id/virtio-gone0, $disk" \
    | debconf-set-selections
record debconf-show-replaced debconf-show grub-pc
db=/var/cache/debconf/config.dat
chmod 000 "$db"  # a database the capturing user may not read
record debconf-show-unreadable setpriv --reuid=65534 --regid=65534 --clear-groups \
    debconf-show grub-pc
chmod 644 "$db"
record efibootmgr-bios efibootmgr -v
"""

# Inside either guest (the project's python): one capture with --record.
CAPTURE_SCRIPT = r"""
import json, os, shutil, time
from pathlib import Path
from click.testing import CliRunner
from hostbook.cli import cli

name, layout = %(name)r, %(layout)r
out = Path(os.environ["LAB_RESULTS"]) / "capture"
out.mkdir(parents=True)
config = out / "config.json"  # JSON is YAML: load_config reads it
config.write_text(json.dumps({"schema": "hostbook/config/v1", "storage": {"exclude_devices": []}}))
for tab in ("fstab", "crypttab"):  # the guest's own /etc is a tmpfs overlay
    source, target = Path(f"/mnt/lab/{layout}/etc/{tab}"), Path(f"/etc/{tab}")
    if source.exists():
        shutil.copyfile(source, target)
    elif target.exists():
        target.unlink()
args = ["capture", "--only", "storage", "--repo", f"/tmp/repo-{name}", "--host", name,
        "--config", str(config), "--json", "--no-commit", "--record", str(out / "rec")]
started = time.monotonic()
result = CliRunner().invoke(cli, args, catch_exceptions=False)
(out / "result.json").write_text(json.dumps(
    {"exit_code": result.exit_code, "stdout": result.stdout, "stderr": result.stderr,
     "seconds": time.monotonic() - started}))
shutil.copyfile(f"/tmp/repo-{name}/hosts/{name}/storage.yaml", out / "storage.yaml")
"""


# --------------------------------------------------------------------------------------
# grub-pc's packages, fetched here
# --------------------------------------------------------------------------------------


def _apt(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["apt-get", "-q", "-o", "APT::Sandbox::User=root", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=300, check=False)


def fetch_grub_debs() -> list[Path]:
    """The .deb files that install grub-pc on a system like this machine.

    apt resolves them against this machine's installed packages (the guest's
    root is this machine's), with an empty archive directory so that nothing
    it has cached is left out; GRUB's own packages are always included, in
    case this machine has them installed.  Files already in DEBS_DIR are
    reused, so a later run needs no network.  TierUnavailable says why they
    cannot be had.
    """
    if shutil.which("apt-get") is None:
        raise TierUnavailable("grub-pc packages: no apt-get on this machine")
    with tempfile.TemporaryDirectory() as empty:
        (Path(empty) / "partial").mkdir()
        res = _apt(["install", "--print-uris", "-qq", "--no-install-recommends",
                    "-o", f"Dir::Cache::archives={empty}", *GRUB_PACKAGES])
    if res.returncode != 0:
        raise TierUnavailable(
            "grub-pc packages: apt cannot resolve them (run apt-get update): "
            + (res.stderr.strip().splitlines() or ["?"])[-1])
    files = {shlex.split(line)[1] for line in res.stdout.splitlines() if line.startswith("'")}
    names = {f.split("_", 1)[0] for f in files}
    if set(GRUB_PACKAGES) - names:  # installed here: apt lists nothing to fetch for them
        res = _apt(["download", "--print-uris", *sorted(set(GRUB_PACKAGES) - names)])
        files |= {shlex.split(line)[1] for line in res.stdout.splitlines()
                  if line.startswith("'")}
    missing = sorted(f for f in files if not (DEBS_DIR / f).is_file())
    if missing:
        DEBS_DIR.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=DEBS_DIR) as tmp:
            wanted = []
            for name in missing:
                package, version, _ = name.split("_", 2)
                wanted.append(f"{package}={urllib.parse.unquote(version)}")
            res = _apt(["download", *wanted], cwd=Path(tmp))
            if res.returncode != 0:
                raise TierUnavailable(
                    "grub-pc packages: apt-get download failed: "
                    + (res.stderr.strip().splitlines() or ["?"])[-1])
            for name in missing:
                if not (Path(tmp) / name).is_file():
                    raise TierUnavailable(f"grub-pc packages: apt-get download gave no {name}")
                os.replace(Path(tmp) / name, DEBS_DIR / name)
    return sorted(DEBS_DIR / f for f in files)


# --------------------------------------------------------------------------------------
# The two boots
# --------------------------------------------------------------------------------------


@dataclass
class Captured:
    """One guest's capture and what its tools said."""

    name: str
    out: Path

    @property
    def result(self) -> dict[str, Any]:
        return json.loads((self.out / "capture" / "result.json").read_text())

    @property
    def outcome(self) -> dict[str, Any]:
        return json.loads(self.result["stdout"])

    @property
    def doc(self) -> dict[str, Any]:
        text = (self.out / "capture" / "storage.yaml").read_text()
        return to_plain(parse_text(text, "storage.yaml"))

    @property
    def boot(self) -> dict[str, Any]:
        return self.doc["boot"]

    def truth(self, name: str) -> str:
        return (self.out / "truth" / name).read_text()

    def copy_to_fixtures(self) -> None:
        target = FIXTURES / f"storage-{self.name}"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.out / "capture" / "rec" / "recording.json",
                        target / "recording.json")
        config = json.loads((self.out / "capture" / "config.json").read_text())
        (target / "capture.json").write_text(json.dumps({"config": config}, indent=1) + "\n")
        (target / "outputs.json").write_text(json.dumps(self.outputs, indent=1) + "\n")

    @property
    def outputs(self) -> dict[str, dict[str, Any]]:
        """The extra tool outputs the guest recorded: name -> returncode, stdout, stderr."""
        folder = self.out / "outputs"
        return {
            rc.stem: {"returncode": int(rc.read_text()),
                      "stdout": (folder / f"{rc.stem}.stdout").read_text(),
                      "stderr": (folder / f"{rc.stem}.stderr").read_text()}
            for rc in sorted(folder.glob("*.rc"))
        }


def capture_step(name: str, layout: str) -> Step:
    return Step("capture", CAPTURE_SCRIPT % {"name": name, "layout": layout}, "python",
                timeout=900)


@dataclass
class Unavailable:
    """A guest that could not run here (its packages out of reach): skip, or
    fail under CI."""

    reason: str


@dataclass
class Failed:
    """A guest whose steps failed: its tests fail with the report."""

    report: str


Outcome = Captured | Unavailable | Failed


@pytest.fixture(scope="module")
def boots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Both guests, one after the other (two TCG guests side by side on two cores
    took longer than in turn): name -> what came of it."""
    earlier = os.environ.get("HOSTBOOK_BOOT_LAB_RESULTS")
    results: dict[str, Outcome] = {}
    if earlier:
        for name in ("uefi", "grubpc"):
            out = Path(earlier) / name
            results[name] = Captured(name, out) if out.is_dir() else Unavailable(f"no {out}")
        return results
    available(lambda: check_lab("uefi"))
    plans = {"uefi": ("laptop", [build_step("laptop", timeout=300),
                                 Step("efi", EFI_SCRIPT, timeout=120),
                                 capture_step("uefi", "laptop")])}
    try:
        debs = fetch_grub_debs()
    except TierUnavailable as exc:
        results["grubpc"] = Unavailable(str(exc))
    else:
        script = GRUB_SCRIPT % {"debs": " ".join(shlex.quote(str(d)) for d in debs)}
        plans["grubpc"] = ("legacy", [build_step("legacy", timeout=300),
                                      Step("grub", script, timeout=600),
                                      capture_step("grubpc", "legacy"),
                                      Step("outputs", OUTPUTS_SCRIPT, timeout=300)])
    root = tmp_path_factory.mktemp("boot-lab")
    for name, (layout, steps) in plans.items():
        with Guest(disks_for(layout), firmware="uefi" if name == "uefi" else "bios") as guest:
            try:
                run = guest.run_steps(steps, timeout=1800, stop_on_error=True,
                                      results_dir=root / name)
            except GuestError as exc:
                results[name] = Failed(str(exc))
                continue
        print(f"{name}: {run.describe()}")
        results[name] = Captured(name, root / name) if run.ok else Failed(run.describe())
    if os.environ.get("HOSTBOOK_UPDATE_FIXTURES") == "1":
        for outcome in results.values():
            if isinstance(outcome, Captured):
                outcome.copy_to_fixtures()
    return results


def guest_result(boots: dict[str, Outcome], name: str) -> Captured:
    """The guest's capture, or skip/fail the test with why there is none."""
    got = boots[name]
    if isinstance(got, Unavailable):
        skip_or_fail(got.reason)
    if isinstance(got, Failed):
        pytest.fail(f"{name} guest failed:\n{got.report}", pytrace=False)
    assert isinstance(got, Captured)
    return got


# --------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ("uefi", "grubpc"))
def test_capture_is_complete_and_valid(boots: dict[str, Outcome], name: str) -> None:
    cap = guest_result(boots, name)
    assert cap.result["exit_code"] == 0, cap.result["stderr"]
    assert not cap.outcome["warnings"] and not cap.outcome["partial"]
    StorageDocument.model_validate(cap.doc)


def test_uefi_entries_as_efibootmgr_lists_them(boots: dict[str, Outcome]) -> None:
    cap = guest_result(boots, "uefi")
    boot = cap.boot
    told = parse_efibootmgr(cap.truth("efibootmgr.txt"))
    assert not told.unknown
    assert boot["firmware"] == "uefi"
    assert boot["efi_boot_order"] == told.order and told.order
    assert boot["efi_timeout"] == EFI_TIMEOUT == told.timeout
    entries = {e["label"]: e for e in boot["efi_entries"]}
    assert [e["number"] for e in boot["efi_entries"]] == sorted(
        str(e["number"]) for e in told.entries)
    partuuid = cap.truth("esp-partuuid").strip()
    esp = f"disk:{LAYOUTS['laptop'].disk_paths[0].rsplit('/', 1)[1]}-part1"
    debian = entries["debian"]
    assert debian["active"] is True and debian["id"] == f"efi:Boot{debian['number']}"
    assert partuuid and partuuid.lower() in debian["path"].lower()
    assert debian["partition"] == esp and debian["loader"] == LOADER
    assert boot["efi_boot_order"][0] == debian["number"]  # -c puts a new entry first
    spare = entries[SPARE_LABEL]
    assert spare["active"] is False and spare["partition"] == esp
    firmware_own = [e for e in boot["efi_entries"] if e["label"] not in ("debian", SPARE_LABEL)]
    assert all(e.get("partition") is None for e in firmware_own)  # OVMF's UiApp and such


def test_uefi_esp_facts(boots: dict[str, Outcome]) -> None:
    cap = guest_result(boots, "uefi")
    boot = cap.boot
    esp = f"disk:{LAYOUTS['laptop'].disk_paths[0].rsplit('/', 1)[1]}-part1"
    assert boot["esp"] == [esp]
    assert boot["esp_mounted"] == f"fs:{esp}"
    assert boot["efi_loaders"] == ["debian", "hostbook"]
    assert boot["grub_install_devices"] == [] and boot["bios_boot"] == []


def test_grub_pc_install_devices_as_debconf_has_them(
    boots: dict[str, Outcome]
) -> None:
    cap = guest_result(boots, "grubpc")
    boot = cap.boot
    told = parse_debconf_show(cap.truth("debconf-show.txt"))
    disk = LAYOUTS["legacy"].disk_paths[0]
    assert told["grub-pc/install_devices"] == disk
    assert boot["firmware"] == "bios"
    assert boot["grub_install_devices"] == [disk]
    assert boot["grub_install_device_ids"] == [f"disk:{disk.rsplit('/', 1)[1]}"]
    assert "efi_entries" not in boot or boot["efi_entries"] == []


def test_grub_pc_really_installed_grub(boots: dict[str, Outcome]) -> None:
    """The package is configured and GRUB's boot code is in the MBR."""
    cap = guest_result(boots, "grubpc")
    assert cap.truth("grub-pc-status") == "install ok installed"
    mbr = (cap.out / "truth" / "mbr.bin").read_bytes()
    assert len(mbr) == 512 and mbr[510:] == b"\x55\xaa"
    assert b"GRUB" in mbr[:440]  # boot.img's own name, in the boot code area
    assert "core.img" in cap.truth("i386-pc.txt").split()


def test_missing_ovmf_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without the ovmf package a UEFI guest is refused up front, saying what to install;
    BIOS guests do not need it."""
    monkeypatch.setattr(vm, "OVMF_PFLASH", ((tmp_path / "CODE.fd", tmp_path / "VARS.fd"),))
    monkeypatch.setattr(vm, "OVMF_COMBINED", tmp_path / "OVMF.fd")
    with pytest.raises(TierUnavailable, match=r"apt-get install ovmf"):
        vm.find_ovmf()
    available(lambda: check_lab("bios"))
    with pytest.raises(TierUnavailable, match=r"UEFI guests need OVMF"):
        check_lab("uefi")


def test_other_output_shapes_were_recorded(boots: dict[str, Outcome]) -> None:
    """What the unit tests replay besides the captures is what those states print."""
    plain = guest_result(boots, "uefi").outputs["efibootmgr"]
    assert plain["returncode"] == 0 and "\t" not in plain["stdout"]
    grub = guest_result(boots, "grubpc").outputs
    empty = parse_debconf_show(grub["debconf-show-empty"]["stdout"])
    assert empty["grub-pc/install_devices"] == ""
    replaced = parse_debconf_show(grub["debconf-show-replaced"]["stdout"])
    assert replaced["grub-pc/install_devices"].startswith("/dev/disk/by-id/virtio-gone0, ")
    assert grub["efibootmgr-bios"]["returncode"] != 0
    unreadable = grub["debconf-show-unreadable"]
    assert unreadable["returncode"] != 0 and "config.dat" in unreadable["stderr"]
