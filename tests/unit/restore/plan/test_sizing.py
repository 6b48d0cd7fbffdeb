"""Sizes on a smaller disk, with the arithmetic shown; shares of free space."""

from __future__ import annotations

from hostbook.manifest.sections.storage import FilesystemEntry
from hostbook.restore.plan.script import render_script
from tests.unit.restore.plan.lab_plans import (
    GIB,
    MIB,
    argv_of,
    disks,
    layout_doc,
    plan_for,
    policy,
    same_disks,
)


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


def test_share_policy_only_on_plain_lvs() -> None:
    plan = plan_for("thin", rules=policy(lvs=[{"id": "lv:thinvg/pool", "free_percent": 50}]))
    assert any("only linear and striped" in r for r in plan.refusals)
