"""Source-side retention (jobs/retention/source.py) against the fake ``zfs``.

The fake (tests/fakes/zfs, held against real recordings by
tests/unit/jobs/replication/zfs/test_recorded.py) keeps pool state in a file;
its clock is set per command, so the snapshots here have the creation times
of ten days.  The lab test tests/lab/test_retention_zfs.py does the same on a
real pool with a year of snapshots.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from click.testing import CliRunner

from hostbook.commands.plan import plan_group
from hostbook.jobs.replication.zfs.inventory import DatasetInventory
from hostbook.jobs.replication.zfs.ops import SOURCE, Destroy
from hostbook.jobs.retention.source import (
    Tree,
    critical_in,
    plan_tree,
    prune_tree,
    zfs_trees,
)
from hostbook.jobs.run.events import JsonSink
from hostbook.jobs.run.jobs_file import load_jobs
from hostbook.jobs.run.orchestrator import run_jobs
from hostbook.jobs.run.request import RunRequest
from hostbook.manifest.sections.retention import (
    ReplicationSettings,
    ReplicationTarget,
    RetentionPolicy,
    RetentionSettings,
)
from hostbook.process.pipeline import Stage
from hostbook.process.runner import LiveRunner
from tests.paths import FAKES

DAY = 86400
START = int(datetime(2024, 5, 1, tzinfo=UTC).timestamp())
NOW = START + 11 * DAY
POLICY = RetentionSettings(local=RetentionPolicy(keep={"daily": 2}))
JOBS = """\
schema: hostbook/jobs/v1
settings: {state_dir: STATE}
jobs:
  - name: data
    volume: {dataset: tank/data}
    snapshot: {provider: zfs, type: daily, prefix: hostbook}
    clone: [backup]
retention:
  local: {keep: {daily: 2}}
replication:
  targets:
    - name: backup
      dataset: backup/data
      policy: {keep: {daily: 1}}
"""


def zfs(*args: str, at: int = NOW) -> str:
    result = LiveRunner().command(["zfs", *args], env={"HOSTBOOK_FAKE_ZFS_NOW": str(at)})
    assert result.ok, result.failure()
    return result.stdout


def names(dataset: str) -> list[str]:
    listed = zfs("list", "-H", "-o", "name", "-t", "snapshot", "-s", "createtxg", "-r",
                 dataset).split()
    return [n for n in listed if n.split("@")[0] == dataset]


@pytest.fixture
def pools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """tank/data (with a child) holding ten dailies; backup/data holding days 2 and 4;
    day 6 held."""
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("HOSTBOOK_FAKE_ZFS_STATE", str(tmp_path / "zfs-state.json"))
    for dataset in ("tank", "tank/data", "tank/data/sub", "backup"):
        zfs("create", dataset)
    for day in range(10):
        zfs("snapshot", "-r", f"tank/data@daily-{day:02d}", at=START + day * DAY)
    runner = LiveRunner()
    for send in (["send", "tank/data@daily-02"], ["send", "-i", "@daily-02", "tank/data@daily-04"]):
        piped = runner.pipeline([Stage.of(["zfs", *send]),
                                 Stage.of(["zfs", "receive", "-u", "backup/data"])])
        assert piped.ok, piped.failure()
    zfs("hold", "other", "tank/data@daily-06")
    yield tmp_path


TREE = Tree("tank/data", (ReplicationTarget(name="backup", dataset="backup/data",
                                            source="tank/data",
                                            policy=RetentionPolicy(keep={"daily": 1})),))


def test_the_plan_keeps_the_critical_snapshots_and_the_prune_destroys_the_rest(
        pools: Path) -> None:
    planned = plan_tree(LiveRunner(), "h", POLICY, TREE, NOW)
    data = next(ds for ds in planned.plan.datasets if ds.dataset == "tank/data")
    why = {d.snapshot.name: d.reason for d in data.source.decisions if d.keep}
    assert sorted(why) == ["daily-00", "daily-02", "daily-04", "daily-06", "daily-08",
                           "daily-09"]
    assert "oldest snapshot at source" in why["daily-00"]
    assert "earliest snapshot shared with backup" in why["daily-02"]
    assert "latest snapshot shared with backup" in why["daily-04"]
    assert "held" in why["daily-06"]
    assert data.simulation is not None
    result = prune_tree(LiveRunner(), "h", POLICY, TREE, NOW)
    assert result.ok, result.problems
    assert names("tank/data") == [f"tank/data@{n}" for n in sorted(why)]
    # The child shares nothing with the target: its oldest and newest two stay.
    assert names("tank/data/sub") == [f"tank/data/sub@daily-{d}" for d in ("00", "08", "09")]
    assert sorted(result.destroyed) == sorted(
        [f"tank/data@daily-{d}" for d in ("01", "03", "05", "07")]
        + [f"tank/data/sub@daily-{d:02d}" for d in range(1, 8)])
    # The target was not touched: pruning the source is no clone.
    assert names("backup/data") == ["backup/data@daily-02", "backup/data@daily-04"]
    again = prune_tree(LiveRunner(), "h", POLICY, TREE, NOW)
    assert (again.ok, again.destroyed) == (True, [])


def test_the_guard_names_each_critical_snapshot_a_deletion_would_take(pools: Path) -> None:
    planned = plan_tree(LiveRunner(), "h", POLICY, TREE, NOW)
    source = planned.source["tank/data"]
    targets = planned.target_inventories("tank/data")
    everything = Destroy(SOURCE, "tank/data", source.snapshots, "a bad plan")
    bad = critical_in([everything], source, targets, POLICY.local)
    assert bad == ["tank/data@daily-00 is the oldest at the source",
                   "tank/data@daily-02 is the earliest shared with backup",
                   "tank/data@daily-04 is the latest shared with backup",
                   "tank/data@daily-06 is held"]
    # Without keep_oldest only the latest shared snapshot and the held one are critical.
    loose = RetentionPolicy(keep={"daily": 2}, keep_oldest=False)
    assert [b.split(" is ")[0] for b in critical_in([everything], source, targets, loose)] == [
        "tank/data@daily-04", "tank/data@daily-06"]
    assert critical_in([everything], source, {"backup": DatasetInventory("backup/data")},
                       loose) == ["tank/data@daily-06 is held"]


def test_trees_take_every_job_s_targets_scoped_like_the_clone() -> None:
    replication = ReplicationSettings(targets=[
        ReplicationTarget(name="a", dataset="backup/a"),
        ReplicationTarget(name="b", dataset="backup/b", source="tank"),
        ReplicationTarget(name="c", dataset="backup/c", kind="btrfs"),
    ])
    trees = zfs_trees([("tank/data", ["a", "c"]), ("tank", ["b"]), ("tank/data", ["b"]),
                       ("tank/www", [])], replication)
    assert [t.root for t in trees] == ["tank/data", "tank", "tank/www"]
    scoped = {t.root: [(x.name, x.source) for x in t.targets] for t in trees}
    assert scoped == {"tank/data": [("a", "tank/data"), ("b", "tank")],
                      "tank": [("a", "tank/data"), ("b", "tank")],
                      "tank/www": [("b", "tank")]}


def test_plan_retention_and_run_agree(pools: Path, tmp_path: Path) -> None:
    """``hostbook plan retention`` shows what ``run --step retention`` then does."""
    host = tmp_path / "repo" / "hosts" / "h"
    host.mkdir(parents=True)
    jobs = host / "jobs.yaml"
    jobs.write_text(JOBS.replace("STATE", str(tmp_path / "state")))
    now = datetime.fromtimestamp(NOW, UTC)
    shown = CliRunner().invoke(plan_group, ["retention", "h", "--repo", str(tmp_path / "repo"),
                                            "--now", now.isoformat()])
    assert shown.exit_code == 0, shown.output
    deleted = [line.split()[1] for line in shown.output.splitlines()
               if line.startswith("  delete ")]
    assert len(deleted) == 4 + 7, shown.output
    stream = StringIO()
    outcome = run_jobs(RunRequest(load_jobs(file=jobs, host="h"), steps=("retention",),
                                  now=now, notify=False, sink=JsonSink(stream)))
    assert outcome.exit_code == 0, stream.getvalue()
    job = outcome.jobs[0]
    assert job.steps == {"retention": "ok"}
    assert sorted(p.split("@")[1] for p in job.pruned) == sorted(deleted)
    assert [n.split("@")[1] for n in names("tank/data")] == [
        "daily-00", "daily-02", "daily-04", "daily-06", "daily-08", "daily-09"]
