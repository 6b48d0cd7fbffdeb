"""btrfs planning rules and the simulation that guards them, on recorded subvolumes.

The subvolumes come from the replay in tests/fixtures/btrfs/replication/; the
cases that need another target state change a recorded one (a copy removed,
a received_uuid pointing elsewhere) rather than inventing subvolumes.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from hostbook.jobs.replication.btrfs.inventory import BtrfsDirectory, load_directory
from hostbook.jobs.replication.btrfs.lineage import BtrfsStep
from hostbook.jobs.replication.btrfs.plan import (
    BtrfsPlanError,
    BtrfsTarget,
    identity,
    plan_btrfs_directory,
    uuid_int,
    validate_btrfs,
)
from hostbook.manifest.sections.retention import RetentionPolicy
from hostbook.process.recording import ReplayRunner
from tests.paths import FIXTURES

FIX = FIXTURES / "btrfs" / "replication"
SCENARIO = json.loads((FIX / "scenario.json").read_text())
NOW = SCENARIO["recorded_at"]
KEEP5 = RetentionPolicy(keep={"daily": 5})


@pytest.fixture(scope="module")
def recorded() -> tuple[BtrfsDirectory, BtrfsDirectory]:
    replay = ReplayRunner(FIX)
    return (load_directory(replay, SCENARIO["source"]),
            load_directory(replay, SCENARIO["target"]))


def only(dst: BtrfsDirectory, *names: str) -> BtrfsDirectory:
    return dataclasses.replace(dst, subvolumes=tuple(s for s in dst.subvolumes
                                                     if s.name in names))


def steps_of(plan) -> list[tuple[str, str, str | None]]:  # type: ignore[no-untyped-def]
    return [(s.action, s.subvolume.name, s.parent.name if s.parent else None)
            for s in plan.steps]


def test_empty_target_gets_a_full_then_a_parent_chain(recorded) -> None:  # type: ignore[no-untyped-def]
    src, dst = recorded
    empty = BtrfsDirectory(dst.directory, True, ())
    plan = plan_btrfs_directory(src, KEEP5, [BtrfsTarget("usb", empty, KEEP5)], NOW)
    assert steps_of(plan) == [
        ("send", "daily-hostbook-1", None),
        ("send", "daily-hostbook-2", "daily-hostbook-1"),
        ("send", "daily-hostbook-3", "daily-hostbook-2"),
    ]
    assert plan.steps[0].reason == "no older snapshot is complete on the target: full send"


def test_older_snapshots_than_the_targets_newest_are_skipped(recorded) -> None:  # type: ignore[no-untyped-def]
    src, dst = recorded
    plan = plan_btrfs_directory(src, KEEP5, [BtrfsTarget("usb", only(dst, "daily-hostbook-2"),
                                                         KEEP5)], NOW)
    assert steps_of(plan) == [("send", "daily-hostbook-3", "daily-hostbook-2")]
    (target,) = plan.targets
    assert target.skipped == 1 and any("older than the newest" in n for n in target.notes)


def test_target_without_a_common_snapshot_is_refused(recorded) -> None:  # type: ignore[no-untyped-def]
    src, dst = recorded
    foreign = dataclasses.replace(dst, subvolumes=tuple(
        dataclasses.replace(s, received_uuid=s.uuid) if s.received_uuid else s
        for s in only(dst, "daily-hostbook-1", "daily-hostbook-2").subvolumes))
    plan = plan_btrfs_directory(src, KEEP5, [BtrfsTarget("usb", foreign, KEEP5)], NOW)
    assert plan.steps == ()
    assert len(plan.refused) == 1 and "none of the source's" in plan.refused[0]
    assert all(d.keep for d in plan.targets[0].retention.decisions)


def test_a_name_taken_by_something_else_is_refused(recorded) -> None:  # type: ignore[no-untyped-def]
    src, dst = recorded
    other = next(s for s in dst.subvolumes if s.name == "daily-hostbook-2")
    # A finished subvolume named daily-hostbook-3 that is a copy of something else.
    squatter = dataclasses.replace(
        other, id=999, path=other.path.replace("daily-hostbook-2", "daily-hostbook-3"),
        received_uuid=other.uuid)
    state = dataclasses.replace(dst, subvolumes=(
        *only(dst, "daily-hostbook-1", "daily-hostbook-2").subvolumes, squatter))
    plan = plan_btrfs_directory(src, KEEP5, [BtrfsTarget("usb", state, KEEP5)], NOW)
    assert plan.refused and "daily-hostbook-3 exists there but is not a copy" in plan.refused[0]


def test_earliest_shared_snapshot_is_kept_with_keep_oldest(recorded) -> None:  # type: ignore[no-untyped-def]
    src, dst = recorded
    keep1 = RetentionPolicy(keep={"daily": 1})
    plan = plan_btrfs_directory(src, keep1, [BtrfsTarget("usb", dst, keep1)], NOW)
    decisions = {d.snapshot.name: d for d in plan.targets[0].retention.decisions}
    assert decisions["daily-hostbook-1"].keep
    assert "earliest snapshot shared with source (common base)" in decisions[
        "daily-hostbook-1"].reasons
    assert not [s for s in plan.steps if s.action == "delete" and s.location == "source"]


def test_identity_follows_received_uuid_for_chained_replication(recorded) -> None:  # type: ignore[no-untyped-def]
    _src, dst = recorded
    # The target's copies, used as a source for a further hop, keep the original identity.
    copy = next(s for s in dst.subvolumes if s.name == "daily-hostbook-2")
    assert identity(copy) == copy.received_uuid != copy.uuid
    assert uuid_int(copy.received_uuid or "").bit_length() <= 128


def test_simulation_rejects_unsafe_steps(recorded) -> None:  # type: ignore[no-untyped-def]
    src, dst = recorded
    snaps = {s.name: s for s in src.subvolumes}
    copies = {s.name: s for s in dst.subvolumes}
    state = {"usb": only(dst, "daily-hostbook-1", "daily-hostbook-2")}
    everything = {uuid_int(identity(s) or "") for s in src.subvolumes}
    # A parent the target does not hold.
    bad_parent = [BtrfsStep("send", snaps["daily-hostbook-3"], snaps["daily-hostbook-3"], "x",
                            "target", "usb")]
    with pytest.raises(BtrfsPlanError, match="parent daily-hostbook-3 is not on both sides"):
        validate_btrfs(src, state, bad_parent, everything, {})
    # Deleting every shared copy leaves the target without a common snapshot.
    strip = [BtrfsStep("delete", copies[n], None, "x", "target", "usb")
             for n in ("daily-hostbook-1", "daily-hostbook-2")]
    with pytest.raises(BtrfsPlanError, match="without a snapshot in common"):
        validate_btrfs(src, state, strip, everything, {})
    # Sending into a taken name.
    clash = [BtrfsStep("send", snaps["daily-hostbook-2"], snaps["daily-hostbook-1"], "x",
                       "target", "usb")]
    with pytest.raises(BtrfsPlanError, match="name is taken"):
        validate_btrfs(src, state, clash, everything, {})
    # A plan that runs but does not reach what it promised.
    with pytest.raises(BtrfsPlanError, match="does not reach target usb"):
        validate_btrfs(src, state, [], everything, {"usb": everything})


def _repo(tmp_path: Path, targets: str, jobs: str = "") -> Path:
    repo = tmp_path / "repo"
    (repo / "hosts" / "web1").mkdir(parents=True)
    (repo / "hosts" / "web1" / "jobs.yaml").write_text(
        "schema: hostbook/jobs/v1\n" + jobs
        + "retention:\n  local: {keep: {daily: 5}}\nreplication:\n  targets:\n" + targets)
    return repo


def test_plan_cli_replays_btrfs_targets(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from hostbook.commands.plan import plan_group

    repo = _repo(tmp_path, (
        f"    - {{name: usb, kind: btrfs, source: {SCENARIO['source']}, "
        f"dataset: {SCENARIO['target']}, policy: {{keep: {{daily: 5}}}}}}\n"))
    now = "2026-11-22T04:00:00"
    runner = CliRunner()
    res = runner.invoke(plan_group, ["replication", "web1", "--repo", str(repo), "--replay",
                                     str(FIX), "--now", now, "--json"])
    assert res.exit_code == 0, res.output
    (btrfs,) = json.loads(res.output)["btrfs"]
    assert [(op["kind"], op["subvolume"].rsplit("/", 1)[1]) for op in btrfs["operations"]] == [
        ("delete", "daily-hostbook-3"), ("send", "daily-hostbook-3")]
    text = runner.invoke(plan_group, ["replication", "web1", "--repo", str(repo), "--replay",
                                      str(FIX), "--now", now]).output
    assert f"{SCENARIO['source']} (btrfs): 2 operation(s)" in text
    assert "why: half-received: no received_uuid: btrfs receive did not finish" in text


def test_plan_cli_reports_a_btrfs_target_without_a_source(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from hostbook.commands.plan import plan_group

    data = SCENARIO["source"].rsplit("/", 1)[0]  # the job's subvolume
    repo = _repo(tmp_path, "    - {name: usb, kind: btrfs, dataset: /mnt/usb}\n",
                 jobs=f"jobs:\n  - name: data\n    volume: {{path: {data}}}\n"
                      "    snapshot: {provider: btrfs}\n")
    res = CliRunner().invoke(plan_group, ["replication", "web1", "--repo", str(repo),
                                          "--replay", str(FIX)])
    assert res.exit_code == 1, res.output
    assert "PROBLEM: btrfs target usb: no source" in res.output
    # The job's snapshot directory is still planned, for its own retention.
    res = CliRunner().invoke(plan_group, ["retention", "web1", "--repo", str(repo),
                                          "--replay", str(FIX), "--now", "2026-11-22T04:00:00"])
    assert f"{SCENARIO['source']} (btrfs source)" in res.output
    assert "keep     daily-hostbook-3" in res.output
