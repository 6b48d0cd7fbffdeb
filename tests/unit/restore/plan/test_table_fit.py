"""A recorded table fitted to a larger disk: which partition grows, which move."""

from __future__ import annotations

from hostbook.manifest.sections.storage import PartitionEntry
from tests.unit.restore.plan.lab_plans import GIB, disks, layout_doc, plan_for, policy, same_disks


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
