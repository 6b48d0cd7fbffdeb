"""Mounts under the target root, in fstab's order, with fstab's options."""

from __future__ import annotations

from tests.unit.restore.plan.lab_plans import layout_doc, plan_for


def test_mounts_follow_fstab_under_the_target_root() -> None:
    doc = layout_doc("laptop")
    plan = plan_for("laptop")
    mounts = [m.mountpoint for m in plan.mounts]
    fstab = [line.mountpoint for line in doc.fstab.entries if line.fstype != "swap"]
    assert mounts == fstab  # fstab's order already has parents first
    assert plan.mounts[0].path == "/mnt/target"
    esp = next(m for m in plan.mounts if m.mountpoint == "/boot/efi")
    assert esp.options == "umask=0077"
