"""The sure step: a volume's next database in its store, hashes reused, old ones pruned."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

from hostbook.jobs.integrity import database as sure_db
from hostbook.jobs.integrity.sure_step import record_snapshot
from hostbook.jobs.run.context import OK, StepContext
from hostbook.jobs.run.run_journal import Journal
from hostbook.jobs.snapshot.provider import Taken
from hostbook.manifest.sections.jobs import SureSettings
from hostbook.process.runner import DryRunRunner, LiveRunner, Runner


def context(tmp_path: Path, day: int, runner: Runner | None = None) -> tuple[StepContext,
                                                                            list[str]]:
    log: list[str] = []
    ctx = StepContext(host="h", runner=runner or LiveRunner(),
                      journal=Journal(tmp_path / "j", enabled=False), log=log.append,
                      now=datetime(2024, 5, day, tzinfo=UTC))
    return ctx, log


def volume(tmp_path: Path) -> Taken:
    tree = tmp_path / "snapshot"
    (tree / "docs").mkdir(parents=True)
    (tree / "docs" / "a.txt").write_text("alpha\n")
    (tree / "b.bin").write_bytes(b"\0" * 5000)
    return Taken("path-srv", "/srv", "none", str(tree))


def test_each_run_adds_a_database_reusing_the_last_ones_hashes(tmp_path: Path) -> None:
    taken = volume(tmp_path)
    store = tmp_path / "repo" / "sure"
    store.mkdir(parents=True, mode=0o755)  # as older releases left it in the repository
    store.chmod(0o755)
    progress: list[tuple[float | None, str]] = []
    settings = SureSettings(keep=2)
    first = record_snapshot(context(tmp_path, 1)[0], settings, taken, store, True,
                            lambda f, t: progress.append((f, t)))
    assert first.notes == [(OK, "4 entries, 2 hashed, 0 reused")]
    database = store / "path-srv" / f"20240501T000000Z{sure_db.SUFFIX}"
    assert first.info["database"] == str(database)
    assert (store / ".gitignore").read_text() == "*\n"  # databases are not the manifest
    assert stat.S_IMODE((store / "path-srv").stat().st_mode) == 0o700
    assert stat.S_IMODE(store.stat().st_mode) == 0o700
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    assert progress and all(text.endswith(" entries") for fraction, text in progress
                            if fraction is None)
    second = record_snapshot(context(tmp_path, 2)[0], settings, taken, store, True, print)
    assert second.notes == [(OK, "4 entries, 0 hashed, 2 reused")]
    record_snapshot(context(tmp_path, 3)[0], settings, taken, store, True, print)
    assert [p.name for p in sure_db.iter_databases(store / "path-srv")] == [
        f"20240502T000000Z{sure_db.SUFFIX}", f"20240503T000000Z{sure_db.SUFFIX}"]


def test_a_writable_snapshot_carries_its_own_database(tmp_path: Path) -> None:
    taken = volume(tmp_path)
    taken.writable = taken.path
    record = record_snapshot(context(tmp_path, 1)[0], SureSettings(), taken, tmp_path / "sure",
                             False, print)
    inside = Path(taken.path) / ".hostbook-sure" / f"path-srv{sure_db.SUFFIX}"
    assert record.info["in_snapshot"] == str(inside)
    assert inside.read_bytes() == Path(record.info["database"]).read_bytes()
    assert not (tmp_path / "sure" / ".gitignore").exists()


def test_a_dry_run_says_what_it_would_record_and_writes_nothing(tmp_path: Path) -> None:
    taken = volume(tmp_path)
    ctx, log = context(tmp_path, 1, DryRunRunner(echo=print))
    record = record_snapshot(ctx, SureSettings(), taken, tmp_path / "sure", True, print)
    output = tmp_path / "sure" / "path-srv" / f"20240501T000000Z{sure_db.SUFFIX}"
    assert record.info == {"database": str(output)} and record.notes == []
    assert log == [f"would record {taken.path} into {output}"]
    assert not (tmp_path / "sure").exists()
