"""verify's comparison: what restore promised against what a re-capture found.

The "re-capture" here is the layout's own storage.yaml (a replayed lab
recording) with its disks under their new kernel names, so an untouched copy
must compare clean and each deliberate change must show as one difference.
"""

from __future__ import annotations

from hostbook.manifest.sections.storage import (
    DiskEntry,
    FilesystemEntry,
    LuksEntry,
    LvEntry,
    PartitionEntry,
    StorageDocument,
)
from hostbook.restore.plan.planner import Plan
from hostbook.restore.verify import IdMap, compare
from tests.unit.restore.plan.test_planner import layout_doc, plan_for, policy, same_disks

GIB = 1 << 30


def recaptured(name: str, targets: dict[str, str]) -> StorageDocument:
    """The layout as a capture of its targets reports it (disk names changed)."""
    doc = layout_doc(name).model_copy(deep=True)
    for entry in doc.entries:
        if isinstance(entry, DiskEntry) and entry.id in targets:
            entry.name = targets[entry.id]
    return doc


def setup(name: str) -> tuple[Plan, StorageDocument]:
    plan = plan_for(name)
    targets = {m.recorded.key: m.target.name for m in plan.mapping}
    return plan, recaptured(name, targets)


def test_an_identical_capture_has_no_differences() -> None:
    for name in ("laptop", "server", "legacy", "btrfs", "thin"):
        plan, captured = setup(name)
        report = compare(plan, layout_doc(name), captured)
        assert report.differences == [], (name, [d.describe() for d in report.differences])
        assert report.checked == len(plan.restored)


def test_each_broken_promise_is_one_difference() -> None:
    plan, captured = setup("laptop")
    fs = next(e for e in captured.entries if isinstance(e, FilesystemEntry)
              and e.fstype == "ext4" and e.ext is not None)
    fs.uuid = "00000000-0000-0000-0000-000000000000"
    part = next(e for e in captured.entries if isinstance(e, PartitionEntry))
    part.size -= 1 << 20
    luks = next(e for e in captured.entries if isinstance(e, LuksEntry))
    luks.keyslots[0].kdf.iterations = 5000  # type: ignore[union-attr]
    report = compare(plan, layout_doc("laptop"), captured)
    described = [d.describe() for d in report.differences]
    assert len(described) == 3, described
    assert any("uuid: expected" in d and fs.id in d for d in described)
    assert any(d.startswith(f"partition {part.name} size: expected") for d in described)
    assert any("keyslot 0 kdf" in d for d in described)


def test_missing_and_unexpected_entries() -> None:
    plan, captured = setup("thin")
    lv = next(e for e in captured.entries if isinstance(e, LvEntry) and e.lv_name == "vol2")
    captured.entries.remove(lv)
    extra = lv.model_copy(update={"id": "lv:thinvg/stray", "name": "thinvg/stray",
                                  "lv_name": "stray"})
    captured.entries.append(extra)
    report = compare(plan, layout_doc("thin"), captured)
    described = [d.describe() for d in report.differences]
    assert "lv thinvg/vol2: missing after the restore (as lv:thinvg/vol2)" in described
    assert "lv thinvg/stray: present but not in the plan" in described


def test_resized_entries_compare_with_the_plans_sizes() -> None:
    doc = layout_doc("legacy")
    disk = next(e for e in doc.entries if isinstance(e, DiskEntry))
    plan = plan_for("legacy", same_disks(doc, {disk.id: disk.size + GIB}), policy())
    captured = recaptured("legacy", {disk.id: "sda"})
    report = compare(plan, doc, captured)
    # the capture still shows the old sizes: the grown partition and filesystem differ
    fields = {(d.label.split()[0], d.field) for d in report.differences}
    assert ("partition", "size") in fields
    grown = {p.entry.id: p for p in plan.fits[disk.id].partitions}
    for entry in captured.entries:
        if isinstance(entry, PartitionEntry) and entry.id in grown:
            entry.size = grown[entry.id].size
        if isinstance(entry, FilesystemEntry) and entry.id in plan.sizing.resized:
            entry.size = plan.sizing.planned[entry.id]
            assert entry.ext is not None
            entry.ext.block_count = entry.size // entry.ext.block_size  # mke2fs's own count
    assert compare(plan, doc, captured).differences == []


def test_ids_follow_the_disk_map() -> None:
    ids = IdMap({"disk:virtio-a": "disk:virtio-b"})
    assert ids("disk:virtio-a-part3") == "disk:virtio-b-part3"
    assert ids("fs:disk:virtio-a-part1") == "fs:disk:virtio-b-part1"
    assert ids("swap:disk:virtio-a-part2") == "swap:disk:virtio-b-part2"
    assert ids("disk:virtio-ab-part1") == "disk:virtio-ab-part1"  # another disk
    assert ids("lv:vg/root") == "lv:vg/root" and ids(None) is None
