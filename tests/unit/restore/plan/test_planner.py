"""The restore planner on storage.yaml captured from the VM-lab layouts.

The manifests come from replaying the lab's capture recordings
(tests/fixtures/storage-<layout>/), so they are what real hosts produce.
The planner is pure: the target disks are described here (a disk of the
recorded size, or a larger or smaller one), nothing is read from this
machine.  Checks are about relations: the table script is the manifest's
own sfdisk dump, every recorded identity reaches the command that recreates
it, steps come after what they build on, sizes follow the stated arithmetic.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from functools import cache
from pathlib import Path

import pytest

from hostbook.capture.collect import collect_sections
from hostbook.manifest.errors import BadInputError, RuntimeFailure
from hostbook.manifest.sections.config import ConfigDocument
from hostbook.manifest.sections.restore import RestoreDocument
from hostbook.manifest.sections.storage import (
    DiskEntry,
    FilesystemEntry,
    LuksEntry,
    LvEntry,
    MdEntry,
    PartitionEntry,
    PvEntry,
    StorageDocument,
    SwapEntry,
)
from hostbook.process.recording import ReplayRunner
from hostbook.restore.plan.planner import Plan, PlanInput, make_plan
from hostbook.restore.plan.script import render_script
from hostbook.restore.plan.steps import Command, Step
from hostbook.restore.target.diskmap import DiskIdentity, MapEntry
from tests.lab.layouts import LAYOUTS
from tests.paths import FIXTURES

GIB = 1 << 30
MIB = 1 << 20
LAYOUT_NAMES = ("laptop", "server", "legacy", "btrfs", "thin")


@cache
def layout_doc(name: str) -> StorageDocument:
    """storage.yaml of a lab layout: its recording replayed with only its disks."""
    directory = FIXTURES / f"storage-{name}"
    plain = ConfigDocument.model_validate({"schema": "hostbook/config/v1"})
    everything = collect_sections(ReplayRunner(directory), plain, ["storage"], {})
    serials = LAYOUTS[name].serials
    others = [e["name"] for e in everything.documents["storage"]["entries"]
              if e["type"] == "disk" and e.get("serial") not in serials]
    config = ConfigDocument.model_validate(
        {"schema": "hostbook/config/v1", "storage": {"exclude_devices": others}})
    doc = collect_sections(ReplayRunner(directory), config, ["storage"], {})
    storage = StorageDocument.model_validate(doc.documents["storage"])
    assert not storage.incomplete, storage.incomplete
    return storage


def recorded_dump(name: str, device: str) -> str:
    """What ``sfdisk --dump DEVICE`` printed when the layout was captured."""
    data = json.loads((FIXTURES / f"storage-{name}" / "recording.json").read_text())
    return next(c["stdout"] for c in data["commands"]
                if c["argv"] == ["sfdisk", "--dump", device])


def disks(doc: StorageDocument) -> list[DiskEntry]:
    return [e for e in doc.entries if isinstance(e, DiskEntry)]


def policy(**data: object) -> RestoreDocument:
    return RestoreDocument.model_validate({"schema": "hostbook/restore/v1", **data})


def same_disks(doc: StorageDocument, sizes: dict[str, int] | None = None,
               sector: dict[str, int] | None = None) -> list[MapEntry]:
    """Each recorded disk onto a target /dev/sdX (recorded size unless given)."""
    entries = []
    for index, disk in enumerate(disks(doc)):
        recorded = DiskIdentity(disk.id, disk.name, disk.size, disk.logical_sector_size,
                                disk.wwn, disk.serial, disk.by_path, disk.model)
        size = (sizes or {}).get(disk.id, disk.size)
        lss = (sector or {}).get(disk.id, disk.logical_sector_size)
        target = DiskIdentity(f"sd{'abcdef'[index]}", f"sd{'abcdef'[index]}", size, lss,
                              serial=f"NEW{index}", model="Test Disk")
        entries.append(MapEntry(recorded, target, "given"))
    return entries


def plan_for(name: str, mapping: list[MapEntry] | None = None,
             rules: RestoreDocument | None = None, **extra: object) -> Plan:
    doc = layout_doc(name)
    return make_plan(PlanInput(host=name, storage=doc, policy=rules or policy(),
                               mapping=mapping or same_disks(doc), target_root="/mnt/target",
                               **extra))  # type: ignore[arg-type]


def step(plan: Plan, ident: str) -> Step:
    return next(s for s in plan.steps if s.id == ident)


def argv_of(plan: Plan, ident: str, index: int = 0) -> list[str]:
    return list(step(plan, ident).commands[index].argv)


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


# --------------------------------------------------------------------------------------
# Every layout, onto disks like the recorded ones
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", LAYOUT_NAMES)
def test_exact_plan_reproduces_every_identity(name: str) -> None:
    doc = layout_doc(name)
    plan = plan_for(name)
    assert plan.refusals == []
    text = " ".join(shlex.join(c.argv) for s in plan.steps for c in s.commands)
    for entry in doc.entries:
        if isinstance(entry, FilesystemEntry | SwapEntry | LuksEntry | PvEntry):
            uuid = entry.uuid
            assert uuid, entry.id
            wanted = uuid.replace("-", "") if getattr(entry, "fstype", "") == "vfat" else uuid
            assert wanted in text, f"{entry.id}: {uuid} not in any command"
        if isinstance(entry, MdEntry):
            assert entry.uuid in text
        if isinstance(entry, LvEntry) and not entry.snapshot:
            assert f"--name {entry.lv_name}" in text
    # the table written is, byte for byte, what sfdisk --dump printed at capture
    for mapped in plan.mapping:
        owner = doc.entries[[e.id for e in doc.entries].index(mapped.recorded.key)]
        if getattr(owner, "table", None) is None:
            continue
        table = step(plan, f"table:{owner.id}")
        dump = recorded_dump(name, mapped.recorded.path)
        assert table.commands[0].stdin == dump.replace(mapped.recorded.path,
                                                       mapped.target.path)
    # nothing is resized on disks of the recorded size
    assert plan.sizing.resized == set()
    assert plan.sizing.problems == []


@pytest.mark.parametrize("name", LAYOUT_NAMES)
def test_steps_come_after_what_they_build_on(name: str) -> None:
    plan = plan_for(name)
    position = {s.id: i for i, s in enumerate(plan.steps)}
    created: dict[str, int] = {}
    for s in plan.steps:
        for path in s.wait_for:
            created.setdefault(path, position[s.id])
    for s in plan.steps:
        for command in s.commands:
            for arg in command.argv:
                if arg in created and s.layer not in ("wipe",):
                    assert created[arg] <= position[s.id], (s.id, arg)
    layers = [s.layer for s in plan.steps]
    assert layers[0] == "wipe"
    assert layers.index("mount") > max(i for i, layer in enumerate(layers)
                                       if layer in ("filesystem", "swap", "lvm", "luks"))
    assert layers[-1] in ("mount", "keyfile", "subvolume")


@pytest.mark.parametrize("name", LAYOUT_NAMES)
def test_guard_allows_the_plan_and_nothing_else(name: str) -> None:
    plan = plan_for(name)
    for s in plan.steps:
        plan.guard.check_step(s)
    for foreign in ("/dev/vda", "/dev/sdz1", "/dev/mapper/other", "/dev/md/other"):
        rogue = Step("rogue", "wipe", "rogue", (Command(("wipefs", "--all", foreign)),))
        with pytest.raises(RuntimeFailure, match="not name"):
            plan.guard.check_step(rogue)
    hidden = Step("rogue", "partition", "x",
                  (Command(("sfdisk", "/dev/sda"), stdin="device: /dev/vda\n"),))
    with pytest.raises(RuntimeFailure, match="/dev/vda"):
        plan.guard.check_step(hidden)


@pytest.mark.parametrize("name", LAYOUT_NAMES)
def test_script_is_valid_bash(name: str, tmp_path: Path) -> None:
    script = tmp_path / "restore.sh"
    script.write_text(render_script(plan_for(name)))
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr


def test_script_guards_activations_so_it_runs_after_create_and_again() -> None:
    text = render_script(plan_for("server"))
    assert "if mdadm --detail --export /dev/md/server-root 2>/dev/null | grep -qx" in text
    assert "if findmnt --mountpoint /mnt/target >/dev/null; then" in text
    laptop = render_script(plan_for("laptop"))
    assert "if cryptsetup status laptop_crypt >/dev/null 2>&1; then" in laptop
    assert "if test -s /mnt/target/etc/keys/laptop.key" not in laptop  # no key file here
    # destructive steps are never guarded: the script is for blank disks
    assert "then\n    echo '    already done'\nelse\n    mkfs" not in text


def test_mounts_follow_fstab_under_the_target_root() -> None:
    doc = layout_doc("laptop")
    plan = plan_for("laptop")
    mounts = [m.mountpoint for m in plan.mounts]
    fstab = [line.mountpoint for line in doc.fstab.entries if line.fstype != "swap"]
    assert mounts == fstab  # fstab's order already has parents first
    assert plan.mounts[0].path == "/mnt/target"
    esp = next(m for m in plan.mounts if m.mountpoint == "/boot/efi")
    assert esp.options == "umask=0077"


def test_btrfs_subvolumes_default_and_mount_options() -> None:
    doc = layout_doc("btrfs")
    plan = plan_for("btrfs")
    fs = next(e for e in doc.entries if isinstance(e, FilesystemEntry) and e.fstype == "btrfs")
    assert fs.btrfs is not None
    made = [s.id.rsplit(":", 1)[1] for s in plan.steps if s.id.startswith("subvolume:")]
    assert made == [s.path for s in sorted(fs.btrfs.subvolumes, key=lambda s: s.id)]
    default = next(s.path for s in fs.btrfs.subvolumes if s.id == fs.btrfs.default_subvolume)
    assert argv_of(plan, f"btrfs-default:{fs.uuid}")[-1].endswith(f"/{default}")
    mkfs = argv_of(plan, fs.id)
    assert option(mkfs, "-m") == fs.btrfs.metadata_profile
    assert option(mkfs, "-d") == fs.btrfs.data_profile
    by_point = {m.mountpoint: m for m in plan.mounts}
    assert by_point["/home"].subvolume == "@home"
    assert by_point["/"].subvolume is None  # the default subvolume


def test_laptop_luks_is_made_with_the_recorded_parameters() -> None:
    doc = layout_doc("laptop")
    luks = next(e for e in doc.entries if isinstance(e, LuksEntry))
    plan = plan_for("laptop")
    fmt = step(plan, f"luks:{luks.uuid}").commands[0]
    assert fmt.secret == luks.id and fmt.stdin is None
    argv = list(fmt.argv)
    assert option(argv, "--cipher") == luks.cipher
    assert option(argv, "--key-size") == str(luks.key_size)
    assert option(argv, "--label") == luks.label
    assert option(argv, "--sector-size") == str(luks.sector_size)
    assert int(option(argv, "--offset")) * 512 == luks.data_offset
    slot = min(luks.keyslots, key=lambda k: k.slot)
    assert slot.kdf is not None
    assert option(argv, "--pbkdf") == slot.kdf.type
    assert option(argv, "--pbkdf-force-iterations") == str(slot.kdf.iterations)
    opened = step(plan, f"luks-open:{luks.uuid}")
    assert opened.commands[0].argv[-1] == luks.crypttab_name
    assert not opened.destructive
    pv = next(e for e in doc.entries if isinstance(e, PvEntry))
    assert argv_of(plan, f"pv:{pv.uuid}")[-1] == f"/dev/mapper/{luks.crypttab_name}"


def test_server_md_arrays_are_made_with_members_in_slot_order() -> None:
    doc = layout_doc("server")
    plan = plan_for("server")
    targets = {m.recorded.key: m.target.path for m in plan.mapping}
    for md in (e for e in doc.entries if isinstance(e, MdEntry)):
        argv = argv_of(plan, f"md:{md.uuid}")
        assert option(argv, "--uuid") == md.uuid
        assert option(argv, "--metadata") == md.metadata
        assert option(argv, "--level") == md.level
        assert option(argv, "--name") == md.array_name
        members = sorted(md.members, key=lambda m: int(m.role))
        expected = []
        for member in members:
            part = next(e for e in doc.entries if e.id == member.device)
            assert isinstance(part, PartitionEntry)
            expected.append(f"{targets[part.disk]}{part.number}")
        assert argv[-len(expected):] == expected
        assert "--assume-clean" not in argv
    quiet = plan_for("server", rules=policy(md_resync=False))
    assert all("--assume-clean" in c.argv for s in quiet.steps if s.layer == "md"
               and s.destructive for c in s.commands)


def test_thin_pool_before_its_thin_volumes() -> None:
    plan = plan_for("thin")
    lvs = [s for s in plan.steps if s.id.startswith("lv:")]
    kinds = [option(list(s.commands[0].argv), "--type") if "--type" in s.commands[0].argv
             else "linear" for s in lvs]
    assert kinds[0] == "thin-pool"
    assert set(kinds[1:]) == {"thin"}
    for s in lvs[1:]:
        argv = list(s.commands[0].argv)
        assert option(argv, "--thinpool") == "pool"
        assert "--virtualsize" in argv


# --------------------------------------------------------------------------------------
# Other disks: larger, smaller, other sector size
# --------------------------------------------------------------------------------------


def test_larger_disk_grows_the_last_partition_and_the_policy_lv() -> None:
    doc = layout_doc("laptop")
    disk = disks(doc)[0]
    rules = policy(lvs=[{"id": "lv:laptopvg/home", "free_percent": 100}])
    plan = plan_for("laptop", same_disks(doc, {disk.id: disk.size * 2}), rules)
    assert plan.refusals == []
    fit = plan.fits[disk.id]
    grown = {p.entry.number: p for p in fit.partitions}
    recorded = {p.number: p for p in doc.entries if isinstance(p, PartitionEntry)}
    assert grown[3].size == recorded[3].size + disk.size  # 4 GiB more, a MiB multiple
    assert grown[1].size == recorded[1].size and grown[2].start == recorded[2].start
    assert any("partition 3 grows by 4 GiB" in line for line in plan.sizing.lines)
    home = step(plan, "lv:laptopvg/home")
    assert "100%FREE" in home.commands[0].argv
    lv_ids = [s.id for s in plan.steps if s.id.startswith("lv:")]
    assert lv_ids[-1] == "lv:laptopvg/home"  # after the fixed-size LVs
    home_size = plan.sizing.planned["lv:laptopvg/home"]
    assert home_size > 4 * GIB
    assert "-d" not in argv_of(plan, "fs:lv:laptopvg/home")  # xfs fills the grown LV


def test_grow_policy_none_and_named_partition() -> None:
    doc = layout_doc("legacy")
    disk = disks(doc)[0]
    bigger = same_disks(doc, {disk.id: disk.size + GIB})
    kept = plan_for("legacy", bigger, policy(disks=[{"id": disk.id, "grow": "none"}]))
    assert kept.sizing.resized == {disk.id}
    named = plan_for("legacy", bigger, policy(disks=[{"id": disk.id, "grow": 1}]))
    parts = {p.entry.number: p for p in named.fits[disk.id].partitions}
    recorded = {p.number: p for p in doc.entries if isinstance(p, PartitionEntry)}
    assert parts[1].size == recorded[1].size + GIB
    for number in (2, 5, 6):  # the extended partition and its logicals move up
        assert parts[number].start == recorded[number].start + GIB
        assert parts[number].size == recorded[number].size
    extended = plan_for("legacy", bigger, policy(disks=[{"id": disk.id, "grow": 2}]))
    assert any("extended partition" in r for r in extended.refusals)


def test_larger_mbr_disk_grows_the_last_logical_and_its_extended() -> None:
    doc = layout_doc("legacy")
    disk = disks(doc)[0]
    plan = plan_for("legacy", same_disks(doc, {disk.id: disk.size + GIB}))
    parts = {p.entry.number: p for p in plan.fits[disk.id].partitions}
    recorded = {p.number: p for p in doc.entries if isinstance(p, PartitionEntry)}
    assert parts[6].size == recorded[6].size + GIB
    assert parts[2].size == recorded[2].size + GIB
    assert parts[5].size == recorded[5].size


def test_smaller_disk_that_fits_shows_the_arithmetic() -> None:
    doc = layout_doc("legacy")
    disk = disks(doc)[0]
    plan = plan_for("legacy", same_disks(doc, {disk.id: 1536 * MIB}))
    assert plan.refusals == []
    assert any("partition 6 shrinks by" in line for line in plan.sizing.lines)
    home = next(e for e in doc.entries if isinstance(e, FilesystemEntry)
                and e.label == "legacy-home")
    assert any(line.startswith(f"ext4 {home.label}:") and line.endswith(": fits")
               for line in plan.sizing.lines)
    mkfs = argv_of(plan, home.id)
    assert "-N" not in mkfs and "-i" in mkfs  # resized: inodes follow the size


def test_smaller_disk_that_does_not_fit_is_refused_with_the_arithmetic() -> None:
    doc = layout_doc("laptop")
    disk = disks(doc)[0]
    plan = plan_for("laptop", same_disks(doc, {disk.id: 2 * GIB}))
    assert plan.refused
    assert any(r.startswith("VG laptopvg: needs") and "short" in r for r in plan.refusals)
    assert any(line.startswith("VG laptopvg:") for line in plan.sizing.lines)
    text = render_script(plan)
    assert "REFUSED" in text and "exit 2" in text


def test_4k_layout_onto_512_disk_is_converted() -> None:
    doc = layout_doc("btrfs")
    disk = disks(doc)[0]
    assert disk.logical_sector_size == 4096
    plan = plan_for("btrfs", same_disks(doc, sector={disk.id: 512}))
    assert plan.refusals == []
    script = step(plan, f"table:{disk.id}").commands[0].stdin or ""
    assert "sector-size: 512" in script
    for part in (e for e in doc.entries if isinstance(e, PartitionEntry)):
        assert f"start={part.start // 512:>12}" in script


def test_512_layout_onto_4k_disk_is_refused_with_a_reason() -> None:
    doc = layout_doc("server")
    plan = plan_for("server", same_disks(doc, sector={d.id: 4096 for d in disks(doc)}))
    assert plan.refused
    assert any("block size 1024 is below the target device's 4096-byte" in r
               for r in plan.refusals)


# --------------------------------------------------------------------------------------
# Policy and refusals
# --------------------------------------------------------------------------------------


def test_skip_removes_an_entry_and_what_is_built_on_it() -> None:
    plan = plan_for("laptop", rules=policy(skip=["lv:laptopvg/home"]))
    assert plan.refusals == []
    ids = {s.id for s in plan.steps}
    assert "lv:laptopvg/home" not in ids and "fs:lv:laptopvg/home" not in ids
    assert "mount:/home" not in ids
    assert "lv:laptopvg/root" in ids
    by_mountpoint = plan_for("laptop", rules=policy(skip=["/home"]))
    assert "lv:laptopvg/home" in {s.id for s in by_mountpoint.steps}
    assert "mount:/home" not in {s.id for s in by_mountpoint.steps}
    with pytest.raises(BadInputError, match="neither an entry id nor a mountpoint"):
        plan_for("laptop", rules=policy(skip=["lv:nope/none"]))


def test_unmapped_disk_and_foreign_identities_are_refused() -> None:
    doc = layout_doc("server")
    one = same_disks(doc)[:1]
    plan = plan_for("server", one)
    assert any("has no target in the disk map" in r for r in plan.refusals)
    fs = next(e for e in doc.entries if isinstance(e, FilesystemEntry))
    clash = plan_for("server", foreign={str(fs.uuid): "/dev/sdq1",
                                        "vg:servervg": "/dev/mapper/servervg-root"})
    assert any(f"UUID {fs.uuid}" in r and "/dev/sdq1" in r for r in clash.refusals)
    assert any("VG name servervg" in r for r in clash.refusals)


def test_share_policy_only_on_plain_lvs() -> None:
    plan = plan_for("thin", rules=policy(lvs=[{"id": "lv:thinvg/pool", "free_percent": 50}]))
    assert any("only linear and striped" in r for r in plan.refusals)


def test_wipe_step_lists_found_signatures_and_existing_partitions() -> None:
    doc = layout_doc("legacy")
    mapping = same_disks(doc)
    path = mapping[0].target.path
    plan = plan_for("legacy", mapping, signatures={path: [f"{path}: dos at offset 0x1fe"]},
                    existing={path: [f"{path}1", f"{path}2"]})
    wipe = plan.steps[0]
    assert [c.argv[-1] for c in wipe.commands] == [f"{path}2", f"{path}1", path]
    assert wipe.notes == (f"found: {path}: dos at offset 0x1fe",)
    assert wipe.done is not None and wipe.done.kind == "ptable"
    # the wipe is the same step whatever was found: a resumed run recognises it
    again = plan_for("legacy", mapping)
    assert again.steps[0].fingerprint() == wipe.fingerprint()
