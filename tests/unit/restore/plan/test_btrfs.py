"""btrfs: profiles on mkfs, subvolumes, the default subvolume, subvolume mounts."""

from __future__ import annotations

from hostbook.manifest.sections.storage import FilesystemEntry
from tests.unit.restore.plan.lab_plans import argv_of, layout_doc, option, plan_for


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
