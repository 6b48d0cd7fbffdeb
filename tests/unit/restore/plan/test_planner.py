"""The planner over every lab layout: identities, order, the guard, refusals.

Checks are about relations: the table written is what sfdisk --dump printed
at capture, every recorded identity reaches the command that recreates it,
steps come after what they build on, the guard allows the plan and nothing
else, identities another disk carries are refused.
"""

from __future__ import annotations

import shlex

import pytest

from hostbook.manifest.errors import RuntimeFailure
from hostbook.manifest.sections.storage import (
    FilesystemEntry,
    LuksEntry,
    LvEntry,
    MdEntry,
    PartitionEntry,
    PvEntry,
    SwapEntry,
)
from hostbook.restore.plan.steps import Command, Step
from tests.unit.restore.plan.lab_plans import (
    GIB,
    LAYOUT_NAMES,
    argv_of,
    disks,
    layout_doc,
    plan_for,
    policy,
    recorded_dump,
    same_disks,
    step,
)


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
