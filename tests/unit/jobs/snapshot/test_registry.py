"""Providers are found by their jobs.yaml name; the snap step journals what it took."""

from __future__ import annotations

import typing
from datetime import UTC, datetime
from pathlib import Path

from hostbook.jobs.run.context import StepContext
from hostbook.jobs.run.run_journal import Journal
from hostbook.jobs.snapshot import registry
from hostbook.jobs.snapshot.provider import TAKEN, Taken
from hostbook.manifest.sections.jobs import Job, Snapshot
from hostbook.process.recording import ReplayRunner
from hostbook.process.runner import DryRunRunner
from tests.paths import FIXTURES


def test_every_provider_the_schema_admits_is_registered() -> None:
    union = typing.get_args(typing.get_args(Snapshot)[0])
    names = {typing.get_args(model.model_fields["provider"].annotation)[0] for model in union}
    assert names == set(registry.PROVIDERS) == {"zfs", "lvm", "btrfs", "none"}
    assert all(provider.name == name for name, provider in registry.PROVIDERS.items())


def test_take_mounts_through_the_provider_and_journals_what_it_took(tmp_path: Path) -> None:
    printed: list[str] = []
    journal = Journal(tmp_path / "journal.jsonl", enabled=False)
    ctx = StepContext(host="h", runner=DryRunRunner(echo=printed.append), journal=journal,
                      log=printed.append, now=datetime(2024, 5, 1, tzinfo=UTC),
                      mount_root=tmp_path / "mnt")
    job = Job.model_validate({"name": "data", "volume": {"path": str(tmp_path)}})
    taken = registry.take(ctx, job)
    stable = tmp_path / "mnt" / taken.volume_key
    assert printed == [f"mount --bind -o ro,nosuid,nodev {tmp_path} {stable}"]
    assert [r.kind for r in journal.opened] == ["mount", TAKEN]
    assert Taken.from_record(journal.opened[1].details) == taken
    assert (taken.provider, taken.path, taken.snapshot) == ("none", str(stable), None)


def test_only_an_lvm_snapshot_can_fail_behind_the_readers_back(tmp_path: Path) -> None:
    replay = ReplayRunner(FIXTURES / "jobs" / "lvm-overflowed")
    ctx = StepContext(host="h", runner=replay, journal=Journal(tmp_path / "j", enabled=False),
                      log=print)
    for provider in ("zfs", "btrfs", "none"):
        assert registry.verify(ctx, Taken("k", "v", provider, "/run/x")) is None
    assert replay.stats.commands == 0  # nothing was asked
    lvm = Taken("k", "jobsvg/data", "lvm", "/run/x",
                details={"vg": "jobsvg", "name": "data-hostbook-snap"})
    problem = registry.verify(ctx, lvm)
    assert problem is not None and "overflowed" in problem
