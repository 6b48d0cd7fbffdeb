"""A storage.yaml whose capture was incomplete: refused, or planned as far as it is known."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hostbook.manifest.errors import BadInputError
from hostbook.restore.plan.planner import PlanInput, make_plan
from hostbook.restore.plan.script import render_script
from hostbook.restore.session import load_host
from tests.paths import FIXTURES
from tests.unit.restore.plan.lab_plans import same_disks

BUILDHOST = FIXTURES / "golden-manifests" / "storage-buildhost" / "storage.yaml"
"""Captured on a build host where blkid may not read /dev/vda (Operation not permitted)."""


def host_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "m"
    (repo / "hosts" / "build").mkdir(parents=True)
    shutil.copy(BUILDHOST, repo / "hosts" / "build" / "storage.yaml")
    return repo


def test_an_incomplete_capture_is_refused_with_the_way_out(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match=r"capture was incomplete .*--allow-incomplete"):
        load_host(host_repo(tmp_path), "build")


def test_allow_incomplete_plans_what_is_known_and_lists_what_is_not(tmp_path: Path) -> None:
    documents = load_host(host_repo(tmp_path), "build", allow_incomplete=True)
    plan = make_plan(PlanInput(host="build", storage=documents.storage,
                               policy=documents.policy, mapping=same_disks(documents.storage),
                               target_root="/mnt/target"))
    assert plan.unknown == [
        "device vda: blkid: Operation not permitted",
        "ext4 fs:disk:virtio-overlayblk: not made and not mounted (no ext superblock facts "
        "recorded)"]
    assert [s.layer for s in plan.steps] == ["wipe"]  # the disk itself is known
    assert plan.as_dict()["unknown"] == plan.unknown
    assert ("#   not known (the capture was incomplete): device vda: blkid: Operation not "
            "permitted") in render_script(plan)
    # what the missing part held is not made again: named, never guessed, and the plan
    # of what is known stands
    assert plan.refusals == []
