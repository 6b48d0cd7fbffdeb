"""Filesystems on target devices: a block smaller than the device's sector is refused."""

from __future__ import annotations

from tests.unit.restore.plan.lab_plans import disks, layout_doc, plan_for, same_disks


def test_512_layout_onto_4k_disk_is_refused_with_a_reason() -> None:
    doc = layout_doc("server")
    plan = plan_for("server", same_disks(doc, sector={d.id: 4096 for d in disks(doc)}))
    assert plan.refused
    assert any("block size 1024 is below the target device's 4096-byte" in r
               for r in plan.refusals)
