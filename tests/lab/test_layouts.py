"""Every layout builder, checked with the guest's own tools, then across reboots.

Boots:
  1. the session's build boot (``built_layouts``, shared with the other lab tests
     that start from built layouts): all five layouts built on their own disks,
     lsblk/blkid/lvs/cryptsetup/mdadm/findmnt/btrfs output recorded;
  2. on a copy of those disks: re-activate and mount every layout from disk (md
     assembly, LUKS open, LVM activation), verify every file's checksum, record the
     state again, wipe all disks and record their state once more (nothing left),
     and check the guest runs this checkout's hostbook.
The assertions read what the guest's tools reported, never the builders' own claims.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.lab.fixtures import BuiltLayouts
from tests.lab.layouts import (
    ALL_LAYOUTS,
    LAYOUTS,
    GuestState,
    collect_step,
    verify_step,
    wipe_step,
)
from tests.lab.vm import BootResult, Guest, Kernel, Step
from tests.paths import REPO_ROOT

pytestmark = pytest.mark.lab

ALL = ALL_LAYOUTS
ESP_GUID = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
LINUX_FS_GUID = "0fc63daf-8483-4772-8e79-3d69d8477de4"
LINUX_RAID_GUID = "a19d880f-05fc-4d3b-a006-743f0f84911e"
LINUX_LVM_GUID = "e6d6d379-f507-44c2-a23c-238f2a3df928"
BIOS_BOOT_GUID = "21686148-6449-6e6f-744e-656564454649"
WRITE_PROBE = f".lab-write-probe-{uuid.uuid4().hex}"

WHOAMI = f"""
import json, os, sys
import hostbook
probe = os.path.join({str(REPO_ROOT)!r}, {WRITE_PROBE!r})
open(probe, "w").write("written in the guest")  # lands in the tmpfs overlay only
print(json.dumps({{"hostbook": hostbook.__file__, "python": sys.executable,
                  "uid": os.getuid(), "hostname": os.uname().nodename,
                  "release": os.uname().release, "lab": os.environ.get("HOSTBOOK_LAB"),
                  "results": os.environ.get("LAB_RESULTS")}}))
"""


@pytest.fixture(scope="module")
def built(built_layouts: BuiltLayouts) -> BootResult:
    return built_layouts.boot


@pytest.fixture(scope="module")
def rebooted(built_layouts: BuiltLayouts, tmp_path_factory: pytest.TempPathFactory
             ) -> BootResult:
    """Boot 2, on a copy of the built disks: everything up from disk, then wiped."""
    built_layouts.check()
    disks = built_layouts.copies(tmp_path_factory.mktemp("layouts-copy", numbered=True))
    try:
        with Guest(list(disks.values())) as guest:
            result = guest.run_steps(
                [*(verify_step(n) for n in ALL), collect_step("after-reboot"),
                 wipe_step(*ALL), collect_step("blank"), Step("whoami", WHOAMI, "python")],
                timeout=900, results_dir=tmp_path_factory.mktemp("layouts-reboot"))
    finally:
        for spec in disks.values():
            Path(str(spec.path)).unlink(missing_ok=True)
    print("\nreboot+verify+wipe boot:", result.describe())
    return result


@pytest.fixture(scope="module")
def state(built: BootResult) -> GuestState:
    return GuestState.load(built.results_dir / "state")


def _require_built(built: BootResult, name: str) -> None:
    step = built[f"build-{name}"]
    assert step.ok, built.describe()


def _by_name(nodes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {n["name"]: n for n in nodes}


# ------------------------------------------------------------------ the guest itself


def test_guest_runs_this_checkout_as_root_with_read_only_host(rebooted: BootResult,
                                                             kernel_version: str) -> None:
    step = rebooted["whoami"]
    assert step.ok, step.stderr
    info = json.loads(step.stdout)
    repo = REPO_ROOT
    assert info["hostbook"] == str(repo / "hostbook" / "__init__.py")
    assert Path(info["python"]).parent.parent == repo / ".venv"
    assert info["uid"] == 0
    assert info["hostname"] == "hostbook-lab"
    assert info["release"] == kernel_version
    assert info["lab"] == "1"
    assert info["results"] == "/lab/results"
    # The guest wrote into the checkout; that must not reach this machine.
    assert not (repo / WRITE_PROBE).exists()


@pytest.fixture(scope="module")
def kernel_version(lab_tier: tuple[Kernel, str]) -> str:
    return lab_tier[0].version


@pytest.mark.parametrize("name", ALL)
def test_builder_files_have_known_checksums(built: BootResult, name: str) -> None:
    _require_built(built, name)
    listed = (built.results_dir / name / "checksums.sha256").read_text().split("\n")
    got = {line.split(None, 1)[1]: line.split(None, 1)[0] for line in listed if line}
    assert got == LAYOUTS[name].expected_checksums()


# ------------------------------------------------------------------ one test per builder


def test_laptop(built: BootResult, state: GuestState) -> None:
    _require_built(built, "laptop")
    disk = state.lsblk_device("laptop0")
    assert disk["pttype"] == "gpt"
    parts = disk["children"]
    assert [p["parttype"] for p in parts] == [ESP_GUID, LINUX_FS_GUID, LINUX_FS_GUID]
    assert [p["fstype"] for p in parts] == ["vfat", "ext4", "crypto_LUKS"]
    assert parts[0]["mountpoints"] == ["/mnt/lab/laptop/boot/efi"]
    assert parts[1]["mountpoints"] == ["/mnt/lab/laptop/boot"]

    luks = parts[2]
    assert luks["fsver"] == "2"
    assert state.blkid[luks["path"]]["TYPE"] == "crypto_LUKS"
    assert state.blkid[luks["path"]]["LABEL"] == "laptop-luks"
    (crypt,) = luks["children"]
    assert crypt["type"] == "crypt" and crypt["name"] == "laptop_crypt"
    assert crypt["fstype"] == "LVM2_member"
    status = state.crypt_status["laptop_crypt"]
    assert status["type"] == "LUKS2"
    assert status["device"] == luks["path"]
    assert (state.dir / "crypt-laptop_crypt.status").read_text().startswith(
        "/dev/mapper/laptop_crypt is active and is in use.")
    assert "PBKDF:      pbkdf2" in (state.dir / "crypt-laptop_crypt.luksDump").read_text()

    lvs = _by_name(crypt["children"])
    assert {n: (v["type"], v["fstype"]) for n, v in lvs.items()} == {
        "laptopvg-root": ("lvm", "ext4"),
        "laptopvg-swap": ("lvm", "swap"),
        "laptopvg-home": ("lvm", "xfs"),
    }
    assert lvs["laptopvg-root"]["mountpoints"] == ["/mnt/lab/laptop"]
    assert lvs["laptopvg-home"]["mountpoints"] == ["/mnt/lab/laptop/home"]
    assert lvs["laptopvg-swap"]["mountpoints"] == ["[SWAP]"]
    assert int(state.lv("laptopvg", "root")["lv_size"]) == 1200 << 20
    assert int(state.lv("laptopvg", "swap")["lv_size"]) == 256 << 20
    assert int(state.lv("laptopvg", "home")["lv_size"]) == 1 << 30
    assert state.lv("laptopvg", "root")["segtype"] == "linear"
    (pv,) = [p for p in state.pvs if p["vg_name"] == "laptopvg"]
    assert pv["pv_name"] == "/dev/mapper/laptop_crypt"
    assert state.mount("/mnt/lab/laptop/home")["fstype"] == "xfs"


def test_server(built: BootResult, state: GuestState) -> None:
    _require_built(built, "server")
    for serial in ("server0", "server1"):
        disk = state.lsblk_device(serial)
        assert disk["pttype"] == "gpt"
        parts = disk["children"]
        assert [p["parttype"] for p in parts] == [BIOS_BOOT_GUID, LINUX_RAID_GUID,
                                                  LINUX_RAID_GUID]
        assert [p["fstype"] for p in parts] == [None, "linux_raid_member", "linux_raid_member"]
        assert [c["type"] for c in parts[1]["children"]] == ["raid1"]
        assert [c["type"] for c in parts[2]["children"]] == ["raid1"]

    boot = state.md_export["server-boot"]
    root = state.md_export["server-root"]
    assert (boot["MD_LEVEL"], boot["MD_DEVICES"], boot["MD_METADATA"]) == ("raid1", "2", "1.0")
    assert (root["MD_LEVEL"], root["MD_DEVICES"], root["MD_METADATA"]) == ("raid1", "2", "1.2")
    for name in ("server-boot", "server-root"):
        detail = state.md_detail[name]
        assert "Raid Level : raid1" in detail
        assert "Active Devices : 2" in detail
        assert "Failed Devices : 0" in detail
        assert detail.count("active sync") == 2

    md_root = state.lsblk_device("server0")["children"][2]["children"][0]
    assert md_root["fstype"] == "LVM2_member"
    (pv,) = [p for p in state.pvs if p["vg_name"] == "servervg"]
    assert pv["pv_name"] == md_root["path"]
    lvs = _by_name(md_root["children"])
    assert {n: v["fstype"] for n, v in lvs.items()} == {
        "servervg-root": "ext4", "servervg-var": "ext4", "servervg-data": "xfs"}
    assert state.lv("servervg", "data")["lv_size"] == str(600 << 20)
    md_boot = state.lsblk_device("server1")["children"][1]["children"][0]
    assert md_boot["fstype"] == "ext4"
    assert md_boot["mountpoints"] == ["/mnt/lab/server/boot"]
    assert state.mount("/mnt/lab/server/srv/data")["fstype"] == "xfs"


def test_legacy(built: BootResult, state: GuestState) -> None:
    _require_built(built, "legacy")
    disk = state.lsblk_device("legacy0")
    assert disk["pttype"] == "dos"
    name = disk["name"]
    table = json.loads((state.dir / f"sfdisk-{name}.json").read_text())["partitiontable"]
    assert table["label"] == "dos"
    parts = {p["node"]: p for p in table["partitions"]}
    assert sorted(parts) == [f"/dev/{name}{n}" for n in (1, 2, 5, 6)]
    assert parts[f"/dev/{name}1"].get("bootable") is True
    assert [parts[f"/dev/{name}{n}"]["type"] for n in (1, 2, 5, 6)] == ["83", "5", "82", "83"]
    kids = _by_name(disk["children"])
    assert kids[f"{name}1"]["fstype"] == "ext4"
    assert kids[f"{name}1"]["mountpoints"] == ["/mnt/lab/legacy"]
    assert kids[f"{name}5"]["fstype"] == "swap"
    assert kids[f"{name}6"]["mountpoints"] == ["/mnt/lab/legacy/home"]
    assert state.blkid[f"/dev/{name}5"]["TYPE"] == "swap"
    assert state.blkid[f"/dev/{name}6"]["LABEL"] == "legacy-home"
    assert f"/dev/{name}5" in state.swaps


def test_btrfs(built: BootResult, state: GuestState) -> None:
    _require_built(built, "btrfs")
    disk = state.lsblk_device("btrfs0")
    assert (disk["log-sec"], disk["phy-sec"]) == (4096, 4096)
    name = disk["name"]
    table = json.loads((state.dir / f"sfdisk-{name}.json").read_text())["partitiontable"]
    assert table["sectorsize"] == 4096
    esp, root = disk["children"]
    assert (esp["parttype"], esp["fstype"]) == (ESP_GUID, "vfat")
    assert root["fstype"] == "btrfs"
    assert state.blkid[root["path"]]["LABEL"] == "btrfsroot"
    subvols = state.btrfs_subvolumes["btrfsroot"]
    for path in ("<FS_TREE>/@", "<FS_TREE>/@home", "<FS_TREE>/@snapshots",
                 "<FS_TREE>/@snapshots/home-initial"):
        assert any(line.endswith(f"path {path}") for line in subvols.splitlines()), subvols
    assert state.btrfs_default["btrfsroot"].split()[-1] == "@"
    assert state.mount("/mnt/lab/btrfs")["source"].endswith("[/@]")
    assert state.mount("/mnt/lab/btrfs/home")["source"].endswith("[/@home]")
    assert state.mount("/mnt/lab/btrfs/.snapshots")["source"].endswith("[/@snapshots]")


def test_thin(built: BootResult, state: GuestState) -> None:
    _require_built(built, "thin")
    pool = state.lv("thinvg", "pool")
    assert pool["segtype"] == "thin-pool"
    assert int(pool["lv_size"]) == 1 << 30
    vols = {n: state.lv("thinvg", n) for n in ("vol1", "vol2")}
    assert {n: v["segtype"] for n, v in vols.items()} == {"vol1": "thin", "vol2": "thin"}
    assert {n: v["pool_lv"] for n, v in vols.items()} == {"vol1": "pool", "vol2": "pool"}
    assert int(vols["vol1"]["lv_size"]) == 2 << 30  # over-provisioned: pool is 1 GiB
    assert int(vols["vol2"]["lv_size"]) == 1 << 30
    disk = state.lsblk_device("thin0")
    (part,) = disk["children"]
    assert (part["parttype"], part["fstype"]) == (LINUX_LVM_GUID, "LVM2_member")
    assert state.blkid["/dev/mapper/thinvg-vol1"]["TYPE"] == "ext4"
    assert state.blkid["/dev/mapper/thinvg-vol2"]["TYPE"] == "xfs"
    assert state.mount("/mnt/lab/thin/vol2")["fstype"] == "xfs"


# ------------------------------------------------------------------ across reboots


def _identity(state: GuestState) -> list[tuple[str, ...]]:
    """(TYPE, UUID, LABEL, PARTUUID) of every signature blkid found: must survive a
    reboot unchanged. Not keyed by device path: kernel names are volatile (md126 and
    md127 swap when arrays assemble in another order), which is why capture keys
    records by UUID and name."""
    return sorted(
        tuple(info.get(k, "") for k in ("TYPE", "UUID", "LABEL", "PARTUUID"))
        for path, info in state.blkid.items()
        if path.startswith(("/dev/vd", "/dev/mapper/", "/dev/md"))
    )


def test_images_persist_across_boots_then_wipe(rebooted: BootResult,
                                                state: GuestState) -> None:
    """Boot 2 brings every layout back up from the disks alone and finds every file
    intact, then wipes the disks, which then read back blank."""
    second = rebooted
    assert second.ok, second.describe()
    for name in ALL:
        verify = (second.results_dir / name / "verify.txt").read_text().split("\n")
        assert sorted(v for v in verify if v) == sorted(
            f"OK {rel}" for rel in LAYOUTS[name].expected_checksums())
    after = GuestState.load(second.results_dir / "after-reboot")
    assert _identity(after) == _identity(state)
    assert after.md_export["server-root"]["MD_UUID"] == state.md_export[
        "server-root"]["MD_UUID"]

    blank = GuestState.load(second.results_dir / "blank")
    for name in ALL:
        for serial in LAYOUTS[name].serials:
            disk = blank.lsblk_device(serial)
            assert not disk.get("children"), f"{serial}: {disk.get('children')}"
            assert disk["pttype"] is None and disk["fstype"] is None
            assert f"/dev/{disk['name']}" not in blank.blkid
    assert not blank.lvs and not blank.md_detail and not blank.crypt_status
