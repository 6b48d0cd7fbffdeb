"""Snapshots of one retention type taken now: names retention counts, one per volume.

The LVM queries are the lab's recording (tests/fixtures/jobs/lvm: a VG with an
ext4 and an XFS LV); commands go to a dry-run runner, which prints them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from hostbook.jobs.replication.zfs.inventory import snapshot_type
from hostbook.jobs.run.jobs_file import load_jobs
from hostbook.jobs.run.lock import RunLocked, host_lock
from hostbook.jobs.snapshot.on_demand import take_typed
from hostbook.manifest.errors import BadInputError
from hostbook.process.recording import ReplayRunner
from hostbook.process.runner import DryRunRunner
from tests.paths import FIXTURES

WHEN = datetime(2026, 12, 4, 12, 0, 0, tzinfo=UTC)


def jobs_file(tmp_path: Path) -> Path:
    path = tmp_path / "jobs.yaml"
    path.write_text(f"""\
schema: hostbook/jobs/v1
settings: {{state_dir: {tmp_path / 'state'}}}
jobs:
  - name: data
    volume: {{lv: jobsvg/data}}
    snapshot: {{provider: lvm, size: 25%ORIGIN}}
  - name: xdata
    volume: {{lv: jobsvg/xdata}}
    snapshot: {{provider: lvm, size: 60M}}
  - name: again
    volume: {{lv: jobsvg/xdata}}
    snapshot: {{provider: lvm}}
  - name: boot
    volume: {{path: /boot}}
    snapshot: {{provider: none}}
""")
    return path


def test_lvm_snapshots_are_named_by_type_and_origin(tmp_path: Path) -> None:
    loaded = load_jobs(file=jobs_file(tmp_path), host="lab")
    printed: list[str] = []
    runner = DryRunRunner(echo=printed.append, live=ReplayRunner(FIXTURES / "jobs" / "lvm"))
    made = take_typed(loaded, "hourly", runner, now=WHEN)
    assert [(m.job, m.status, m.snapshot) for m in made] == [
        ("data", "ok", "jobsvg/hourly-hostbook-data-20261204T120000Z"),
        ("xdata", "ok", "jobsvg/hourly-hostbook-xdata-20261204T120000Z"),
        ("again", "skipped", "jobsvg/hourly-hostbook-xdata-20261204T120000Z"),
        ("boot", "skipped", None)]
    assert [line for line in printed if line.startswith("lvcreate")] == [
        "lvcreate --snapshot --name hourly-hostbook-data-20261204T120000Z --extents 25%ORIGIN "
        "jobsvg/data",
        "lvcreate --snapshot --name hourly-hostbook-xdata-20261204T120000Z --size 60M "
        "jobsvg/xdata"]
    names = {m.snapshot for m in made if m.snapshot}
    assert len(names) == 2 and {snapshot_type(n.split("/")[1]) for n in names} == {"hourly"}


def test_a_bad_type_and_a_held_lock_are_refused(tmp_path: Path) -> None:
    loaded = load_jobs(file=jobs_file(tmp_path), host="lab")
    runner = DryRunRunner(echo=lambda _: None, live=ReplayRunner(FIXTURES / "jobs" / "lvm"))
    with pytest.raises(BadInputError, match="snapshot type 'da-ily'"):
        take_typed(loaded, "da-ily", runner)
    with host_lock(loaded.state_dir, "lab"), pytest.raises(RunLocked, match="in progress"):
        take_typed(loaded, "daily", runner)
