"""The LVM provider on outputs recorded in the VM lab (tests/fixtures/jobs/lvm*).

The lab test (tests/lab/test_jobs_lvm.py) runs the provider for real and
records the queries it makes; here they are replayed in a dry run, which
prints the commands a real run would make from exactly those answers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from hostbook.jobs.run.context import StepContext, StepFailed
from hostbook.jobs.run.run_journal import Journal
from hostbook.jobs.snapshot import lvm as snapshot_lvm
from hostbook.jobs.snapshot import registry as snapshots
from hostbook.jobs.snapshot.provider import Taken
from hostbook.manifest.sections.jobs import JobsDocument
from hostbook.manifest.validate import validate_as
from hostbook.manifest.yamlio import parse_text
from hostbook.process.recording import ReplayRunner
from hostbook.process.runner import DryRunRunner
from tests.paths import FIXTURES

JOB_RECORDINGS = FIXTURES / "jobs"


def jobs() -> JobsDocument:
    text = """\
schema: hostbook/jobs/v1
jobs:
  - {name: data, volume: {lv: jobsvg/data}, snapshot: {provider: lvm, size: 25%ORIGIN}}
  - name: xdata
    volume: {lv: jobsvg/xdata}
    snapshot: {provider: lvm, size: 60M}
    sure: {in_snapshot: false}
"""
    return validate_as(JobsDocument, parse_text(text, "jobs.yaml"), "jobs.yaml")


def context(recording: str, tmp_path: Path) -> tuple[StepContext, list[str]]:
    printed: list[str] = []
    commands = DryRunRunner(echo=printed.append, live=ReplayRunner(JOB_RECORDINGS / recording))
    ctx = StepContext(
        host="lab", runner=commands, journal=Journal(tmp_path / "j", enabled=False),
        log=printed.append, now=datetime(2024, 5, 1, tzinfo=UTC), mount_root=Path("/run/hb"),
    )
    return ctx, printed


def test_ext4_snapshot_is_mounted_writable_for_the_database_then_bound_read_only(
    tmp_path: Path,
) -> None:
    ctx, printed = context("lvm", tmp_path)
    taken = snapshot_lvm.take(ctx, jobs().jobs[0])
    changes = [line for line in printed if "# query" not in line]
    assert changes == [
        "lvcreate --snapshot --name data-hostbook-snap --extents 25%ORIGIN jobsvg/data",
        "mount -t ext4 -o rw,nosuid,nodev /dev/mapper/jobsvg-data--hostbook--snap "
        "/run/hb/.work/lv-jobsvg-data",
        "mount --bind -o ro,nosuid,nodev /run/hb/.work/lv-jobsvg-data /run/hb/lv-jobsvg-data",
    ]
    assert taken.writable == "/run/hb/.work/lv-jobsvg-data"
    assert taken.snapshot == "jobsvg/data-hostbook-snap"
    # Journaled before each was made, in order: the snapshot, then both mounts.
    assert [(r.kind, r.details.get("target") or r.details.get("name"))
            for r in ctx.journal.opened] == [
        ("lvm-snapshot", "data-hostbook-snap"),
        ("mount", "/run/hb/.work/lv-jobsvg-data"),
        ("mount", "/run/hb/lv-jobsvg-data"),
    ]


def test_xfs_snapshot_needs_nouuid_and_stays_read_only(tmp_path: Path) -> None:
    ctx, printed = context("lvm", tmp_path)
    taken = snapshot_lvm.take(ctx, jobs().jobs[1])
    changes = [line for line in printed if "# query" not in line]
    assert changes == [
        "lvcreate --snapshot --name xdata-hostbook-snap --size 60M jobsvg/xdata",
        "mount -t xfs -o ro,nosuid,nodev,nouuid /dev/mapper/jobsvg-xdata--hostbook--snap "
        "/run/hb/lv-jobsvg-xdata",
    ]
    assert taken.writable is None


def test_snapshot_validity_from_the_recorded_state(tmp_path: Path) -> None:
    valid, _ = context("lvm", tmp_path)
    overflowed, _ = context("lvm-overflowed", tmp_path)
    assert snapshot_lvm.check_valid(valid.runner, "jobsvg", "data-hostbook-snap") is None
    problem = snapshot_lvm.check_valid(overflowed.runner, "jobsvg", "data-hostbook-snap")
    assert problem is not None and "overflowed (100.00% of its space used)" in problem
    taken = Taken("lv-jobsvg-data", "jobsvg/data", "lvm", "/run/hb/x",
                            details={"vg": "jobsvg", "name": "data-hostbook-snap"})
    live = StepContext(host="lab", runner=ReplayRunner(JOB_RECORDINGS / "lvm-overflowed"),
                       journal=Journal(tmp_path / "j", enabled=False), log=print)
    assert snapshots.verify(live, taken) == problem


def test_unknown_volume_is_a_clear_failure(tmp_path: Path) -> None:
    ctx, _printed = context("lvm", tmp_path)
    job = jobs().jobs[0].model_copy()
    job.volume = job.volume.model_copy(update={"lv": "jobsvg/missing"})
    with pytest.raises(StepFailed, match="jobsvg/missing: no such logical volume"):
        snapshot_lvm.take(ctx, job)
