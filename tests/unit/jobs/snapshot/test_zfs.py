"""The ZFS provider and ZFS clone, against the fake ``zfs`` (this kernel has no ZFS).

The fake (tests/fakes/zfs) keeps pool state in a JSON file and implements the
subset hostbook uses with real zfs's flags, output format and messages; it
is first on PATH here, so the provider runs exactly the commands it would
run on a ZFS host.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hostbook.jobs.replication import clone_step as clone
from hostbook.jobs.run.context import StepContext
from hostbook.jobs.run.events import JsonSink
from hostbook.jobs.run.jobs_file import LoadedJobs
from hostbook.jobs.run.orchestrator import journal_path, run_jobs
from hostbook.jobs.run.request import RunRequest
from hostbook.jobs.run.run_journal import Journal
from hostbook.jobs.run.undo import undo
from hostbook.jobs.snapshot import zfs as snapshot_zfs
from hostbook.manifest.sections.jobs import JobsDocument
from hostbook.process.runner import DryRunRunner, LiveRunner
from tests.paths import FAKES

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def fake_zfs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Pools tank (tank/data, tank/data/sub) and backup in a fake state file."""
    state = tmp_path / "zfs-state.json"
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("HOSTBOOK_FAKE_ZFS_STATE", str(state))
    monkeypatch.setenv("HOSTBOOK_FAKE_ZFS_NOW", str(int(NOW.timestamp()) - 3600))
    runner = LiveRunner()
    for dataset in ("tank", "tank/data", "tank/data/sub", "backup"):
        result = runner.command(["zfs", "create", dataset])
        assert result.ok, result.failure()
    yield state


def document(extra: str = "") -> JobsDocument:
    from hostbook.manifest.validate import validate_as
    from hostbook.manifest.yamlio import parse_text

    text = f"""\
schema: hostbook/jobs/v1
jobs:
  - name: data
    volume: {{dataset: tank/data}}
    snapshot: {{provider: zfs, type: daily, prefix: hostbook}}
{extra}"""
    return validate_as(JobsDocument, parse_text(text, "jobs.yaml"), "jobs.yaml")


def context(tmp_path: Path, now: datetime = NOW, dry_run: bool = False,
            log: list[str] | None = None) -> StepContext:
    lines = log if log is not None else []
    live = LiveRunner(echo=lambda t: lines.append(f"$ {t}"))
    runner = DryRunRunner(echo=lambda t: lines.append(f"$ {t}")) if dry_run else live
    return StepContext(
        host="h", runner=runner,
        journal=Journal(tmp_path / "journal.jsonl", enabled=not dry_run),
        log=lines.append, now=now, mount_root=tmp_path / "mnt",
    )


def zfs_lines(*args: str) -> list[str]:
    result = LiveRunner().query(["zfs", *args])
    assert result.ok, result.failure()
    return result.stdout.splitlines()


def test_recursive_snapshot_named_for_retention_and_held(fake_zfs: Path, tmp_path: Path) -> None:
    ctx = context(tmp_path)
    ctx.journal.begin(["snap"], ["data"])
    job = document().jobs[0]
    full, datasets = snapshot_zfs.create(ctx, job)
    assert full == "tank/data@daily-hostbook-20240501T120000Z"
    assert [d.name for d in datasets] == ["tank/data", "tank/data/sub"]
    names = zfs_lines("list", "-H", "-o", "name", "-t", "snapshot", "-r", "tank")
    assert names == [
        "tank/data@daily-hostbook-20240501T120000Z",
        "tank/data/sub@daily-hostbook-20240501T120000Z",
    ]
    holds = zfs_lines("holds", "-H", "-r", full)
    assert sorted(line.split("\t")[:2] for line in holds) == [
        ["tank/data/sub@daily-hostbook-20240501T120000Z", snapshot_zfs.HOLD_TAG],
        ["tank/data@daily-hostbook-20240501T120000Z", snapshot_zfs.HOLD_TAG],
    ]
    # The hold was journaled before it was made; the snapshot is kept, so it was not.
    state = ctx.journal.state()
    assert [(r.kind, r.details["name"]) for r in state.resources] == [("zfs-hold", full)]

    # Unsnap: undoing the journaled hold releases it recursively; the snapshots stay.
    for resource in reversed(ctx.journal.opened):
        assert undo(ctx.runner, resource) is None
        ctx.journal.removed(resource)
    assert zfs_lines("holds", "-H", "-r", full) == []
    assert len(zfs_lines("list", "-H", "-o", "name", "-t", "snapshot", "-r", "tank")) == 2
    # Undoing again finds nothing to do (the hold is gone): no error.
    assert undo(ctx.runner, state.resources[0]) is None


def test_transient_snapshot_is_destroyed_at_unsnap(fake_zfs: Path, tmp_path: Path) -> None:
    ctx = context(tmp_path)
    ctx.journal.begin(["snap"], ["data"])
    job = document().jobs[0]
    # Not recursive: the fake's `destroy -r ds@snap` does not yet reach the children.
    settings = job.snapshot.model_copy(update={"keep": False, "recursive": False})
    job = job.model_copy(update={"snapshot": settings})
    full, _datasets = snapshot_zfs.create(ctx, job)
    kinds = [r.kind for r in ctx.journal.opened]
    assert kinds == ["zfs-snapshot", "zfs-hold"]
    for resource in reversed(ctx.journal.opened):
        assert undo(ctx.runner, resource) is None
    assert zfs_lines("list", "-H", "-o", "name", "-t", "snapshot", "-r", "tank") == []
    assert not snapshot_zfs.snapshot_exists(ctx.runner, full)


def test_dry_run_prints_snapshot_hold_and_the_mount_tree(fake_zfs: Path, tmp_path: Path) -> None:
    log: list[str] = []
    ctx = context(tmp_path, dry_run=True, log=log)
    taken = snapshot_zfs.take(ctx, document().jobs[0])
    stable = tmp_path / "mnt" / "dataset-tank-data"
    snap = "daily-hostbook-20240501T120000Z"
    commands = [line for line in log if line.startswith("$ ") and "# query" not in line]
    assert commands == [
        f"$ zfs snapshot -r tank/data@{snap}",
        f"$ zfs hold -r {snapshot_zfs.HOLD_TAG} tank/data@{snap}",
        f"$ mount -t zfs -o ro tank/data@{snap} {stable}",
        f"$ mount -t zfs -o ro tank/data/sub@{snap} {stable}/sub",
    ]
    assert taken.path == str(stable) and taken.snapshot == f"tank/data@{snap}"
    # Nothing was changed and nothing was journaled to disk.
    assert zfs_lines("list", "-H", "-o", "name", "-t", "snapshot", "-r", "tank") == []
    assert not (tmp_path / "journal.jsonl").exists()


def test_clone_to_a_target_pool(fake_zfs: Path, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    doc = document(
        """\
    clone: [backup]
replication:
  targets:
    - name: backup
      dataset: backup/data
      policy: {keep: {daily: 5}}
"""
    )
    assert doc.replication is not None
    target = doc.replication.targets[0]
    job = doc.jobs[0]
    ctx = context(tmp_path)
    snapshot_zfs.create(ctx, job)
    result = clone.clone_zfs(ctx, job, doc, target)
    assert result.status == "ok", result.message
    first_name = "daily-hostbook-20240501T120000Z"
    assert zfs_lines("list", "-H", "-o", "name", "-t", "snapshot", "-r", "backup") == [
        f"backup/data@{first_name}", f"backup/data/sub@{first_name}",
    ]
    # A day later: the planner sends only the increment (guid-matched base).
    later = datetime(2024, 5, 2, 12, 0, 0, tzinfo=UTC)
    monkeypatch.setenv("HOSTBOOK_FAKE_ZFS_NOW", str(int(later.timestamp()) - 60))
    log: list[str] = []
    ctx2 = context(tmp_path, now=later, log=log)
    snapshot_zfs.create(ctx2, job)
    result = clone.clone_zfs(ctx2, job, doc, target)
    assert result.status == "ok", result.message
    sends = [line for line in log if "zfs send" in line]
    assert sends and all(" -i @daily-hostbook-20240501T120000Z " in line for line in sends), log
    names = zfs_lines("list", "-H", "-o", "name", "-t", "snapshot", "-r", "backup/data")
    assert f"backup/data@{first_name}" in names
    assert "backup/data@daily-hostbook-20240502T120000Z" in names
    # Nothing new: the next clone has nothing to do.
    again = clone.clone_zfs(ctx2, job, doc, target)
    assert (again.status, again.operations) == ("ok", 0)


def test_next_run_releases_a_hold_left_by_a_killed_run(fake_zfs: Path, tmp_path: Path) -> None:
    """A run that died after ``zfs hold`` left the hold; the next run releases it first."""
    state_dir = tmp_path / "state"
    dead = context(tmp_path)
    dead.journal = Journal(journal_path(state_dir, "h"))
    dead.journal.begin(["snap", "unsnap"], ["data"])  # never ends: the process "died"
    doc = document()
    full, _datasets = snapshot_zfs.create(dead, doc.jobs[0])
    assert zfs_lines("holds", "-H", full)

    loaded = LoadedJobs(document=doc, host="h", path=tmp_path / "jobs.yaml", repository=None,
                        state_dir=state_dir, sure_store=tmp_path / "sure")
    out = (tmp_path / "events.jsonl").open("w")
    outcome = run_jobs(RunRequest(loaded=loaded, steps=("clone",), sink=JsonSink(out),
                                  notify=False))
    out.close()
    assert outcome.cleaned == [f"zfs-hold {full} (run {dead.journal.run_id})"]
    assert zfs_lines("holds", "-H", full) == []
    assert Journal(journal_path(state_dir, "h")).open_resources() == []
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert any(e.get("message", "").startswith("leftover of interrupted run") for e in events)
    # With no snapshot mounted, the clone step itself has nothing to work on.
    assert outcome.jobs[0].steps == {"clone": "failed"}
