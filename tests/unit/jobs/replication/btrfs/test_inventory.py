"""btrfs directories loaded through a replay of real btrfs-progs output, then planned.

tests/fixtures/btrfs/replication/ was recorded by record_replication.py on two
loop-device file systems: daily-hostbook-1 received in full, -2 incrementally,
-3's stream cut after 3 MB (half-received), and a hand-made `scratch` subvolume.
"""

from __future__ import annotations

import json

import pytest

from hostbook.jobs.replication.btrfs.inventory import BtrfsDirectory, load_directory, remote
from hostbook.jobs.replication.btrfs.plan import BtrfsTarget, plan_btrfs_directory
from hostbook.manifest.errors import RuntimeFailure
from hostbook.manifest.sections.retention import RetentionPolicy
from hostbook.process.recording import ReplayRunner
from tests.paths import FIXTURES

FIX = FIXTURES / "btrfs" / "replication"
SCENARIO = json.loads((FIX / "scenario.json").read_text())
KEEP5 = RetentionPolicy(keep={"daily": 5})


@pytest.fixture
def replay() -> ReplayRunner:
    return ReplayRunner(FIX)


def load(replay: ReplayRunner, which: str) -> BtrfsDirectory:
    return load_directory(replay, SCENARIO[which])


def test_source_directory_holds_the_snapshots_in_creation_order(replay: ReplayRunner) -> None:
    src = load(replay, "source")
    assert src.exists and src.directory == SCENARIO["source"]
    assert [s.name for s in src.subvolumes] == [f"daily-hostbook-{i}" for i in (1, 2, 3)]
    assert all(s.readonly and s.received_uuid is None for s in src.subvolumes)
    assert [s.path for s in src.subvolumes] == [
        f"{SCENARIO['source'].lstrip('/')}/daily-hostbook-{i}" for i in (1, 2, 3)]
    gens = [s.order for s in src.subvolumes]
    assert gens == sorted(gens) and len(set(gens)) == 3
    times = [s.creation for s in src.subvolumes]
    assert all(t is not None and abs(t - SCENARIO["recorded_at"]) < 600 for t in times)
    assert times == sorted(times)  # type: ignore[type-var]


def test_target_directory_shows_copies_the_broken_receive_and_strays(
    replay: ReplayRunner,
) -> None:
    src, dst = load(replay, "source"), load(replay, "target")
    by_name = {s.name: s for s in dst.subvolumes}
    assert set(by_name) == {"daily-hostbook-1", "daily-hostbook-2", "daily-hostbook-3",
                            "scratch"}
    for i in (1, 2):
        copy = by_name[f"daily-hostbook-{i}"]
        assert copy.received_uuid == src.subvolumes[i - 1].uuid and copy.readonly
        assert copy.send_transid == src.subvolumes[i - 1].order
    assert by_name["daily-hostbook-2"].parent_uuid == by_name["daily-hostbook-1"].uuid
    broken = by_name["daily-hostbook-3"]
    assert broken.received_uuid is None and broken.readonly is False
    assert broken.parent_uuid == by_name["daily-hostbook-2"].uuid
    assert "short read from stream" in SCENARIO["broken_receive"]["stderr"]
    assert dst.snapshots == (by_name["daily-hostbook-1"], by_name["daily-hostbook-2"])


def test_a_directory_that_does_not_exist_is_an_empty_location(replay: ReplayRunner) -> None:
    missing = load(replay, "missing")
    assert not missing.exists and missing.subvolumes == ()


def test_other_listing_failures_are_runtime_failures(replay: ReplayRunner) -> None:
    with pytest.raises(RuntimeFailure, match="btrfs subvolume list"):
        load_directory(replay, "/never/recorded")


def test_remote_commands_are_one_quoted_line_for_ssh() -> None:
    argv = ["btrfs", "subvolume", "show", "/srv/back up/daily-1"]
    assert remote(argv) == argv
    assert remote(argv, ("ssh", "-o", "BatchMode=yes", "nas")) == [
        "ssh", "-o", "BatchMode=yes", "nas", "btrfs subvolume show '/srv/back up/daily-1'"]


def test_plan_on_recorded_state_cleans_up_and_resends(replay: ReplayRunner) -> None:
    src, dst = load(replay, "source"), load(replay, "target")
    plan = plan_btrfs_directory(src, KEEP5, [BtrfsTarget("usb", dst, KEEP5)],
                                SCENARIO["recorded_at"])
    assert not plan.refused
    steps = [(s.action, s.subvolume.name, s.parent.name if s.parent else None)
             for s in plan.steps]
    assert steps == [("delete", "daily-hostbook-3", None),
                     ("send", "daily-hostbook-3", "daily-hostbook-2")]
    assert plan.describe(plan.steps[0]) == (
        f"[usb] btrfs subvolume delete {SCENARIO['target']}/daily-hostbook-3")
    assert plan.describe(plan.steps[1]) == (
        f"[usb] btrfs send -p {SCENARIO['source']}/daily-hostbook-2 "
        f"{SCENARIO['source']}/daily-hostbook-3 | btrfs receive {SCENARIO['target']}")
    (target,) = plan.targets
    assert target.notes == ("scratch: a writable subvolume this plan did not receive: "
                            "left alone",)
    reasons = {d.snapshot.name: d.reasons for d in plan.source.decisions}
    assert "latest snapshot shared with usb (incremental parent)" in reasons["daily-hostbook-2"]
    assert "not yet replicated to usb, whose policy wants it" in reasons["daily-hostbook-3"]
    assert "oldest snapshot at source (baseline)" in reasons["daily-hostbook-1"]
    data = plan.to_json()
    assert [op["kind"] for op in data["operations"]] == ["delete", "send"]  # type: ignore[index]
    json.dumps(data)  # uuids as integers of 128 bits must still serialise


def test_retention_on_recorded_state_deletes_on_both_sides(replay: ReplayRunner) -> None:
    src, dst = load(replay, "source"), load(replay, "target")
    keep1 = RetentionPolicy(keep={"daily": 1}, keep_oldest=False)
    plan = plan_btrfs_directory(src, keep1, [BtrfsTarget("usb", dst, keep1)],
                                SCENARIO["recorded_at"])
    assert not plan.refused
    steps = [(s.action, s.location, s.subvolume.name) for s in plan.steps]
    # daily-2 is the parent of the resend and the latest shared snapshot: kept on both
    # sides until daily-3 has landed; daily-1 goes everywhere.
    assert steps == [
        ("delete", "target", "daily-hostbook-3"),
        ("send", "target", "daily-hostbook-3"),
        ("delete", "source", "daily-hostbook-1"),
        ("delete", "target", "daily-hostbook-1"),
    ]
    why = next(s.reason for s in plan.steps if s.location == "source")
    assert why == "retention at source: daily number 3, beyond the newest 1"
