"""The wipe and the partition table: found signatures, existing partitions, sectors."""

from __future__ import annotations

from hostbook.manifest.sections.storage import PartitionEntry
from tests.unit.restore.plan.lab_plans import disks, layout_doc, plan_for, same_disks, step


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
