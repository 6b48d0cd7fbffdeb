"""Undoing journaled resources: said in the log, kept in the journal when it fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostbook.jobs.run.cleanup import Undoer
from hostbook.jobs.run.context import StepFailed
from hostbook.jobs.run.run_journal import Journal
from hostbook.process.runner import LiveRunner


def undoer(tmp_path: Path) -> tuple[Undoer, Journal, list[str]]:
    journal = Journal(tmp_path / "journal.jsonl")
    journal.begin(["snap", "unsnap"], ["data"])
    log: list[str] = []
    return Undoer(LiveRunner(), journal, log.append), journal, log


def test_an_undo_is_said_and_a_failed_one_is_a_problem_left_journaled(tmp_path: Path) -> None:
    made = tmp_path / "made"
    made.mkdir()
    undo, journal, log = undoer(tmp_path)
    folder = journal.intend("dir", "path-data", path=str(made))
    odd = journal.intend("floppy", "path-data")
    assert undo.undo(folder, "unsnap") == f"dir {made}"
    assert undo.undo(odd, "unsnap") is None
    assert not made.exists()
    assert log == [f"unsnap: removed dir {made}", f"unsnap: could not remove {odd.describe()}: "
                   "unknown resource kind 'floppy' in the journal"]
    assert undo.problems == [f"{odd.describe()}: unknown resource kind 'floppy' in the journal"]
    assert [r.kind for r in Journal(tmp_path / "journal.jsonl").open_resources()] == ["floppy"]


def test_a_stopped_tools_lock_is_left_for_the_next_run(tmp_path: Path) -> None:
    undo, journal, log = undoer(tmp_path)
    lock = journal.intend("restic-lock", "path-data", target="/srv/restic")
    mount = journal.intend("mount", "path-data", target=str(tmp_path / "never-mounted"))
    assert undo.undoable_now([lock, mount]) == [mount]
    assert log == [f"{lock.describe()}: the tool was stopped; the next run removes its lock "
                   "if it left one"]


def test_what_a_failed_block_journaled_is_undone_newest_first(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "a" / "b"
    undo, journal, log = undoer(tmp_path)
    with pytest.raises(StepFailed), undo.on_failure("failed snapshot"):
        for path in (first, second):
            journal.intend("dir", "path-data", path=str(path))
            path.mkdir()
        raise StepFailed("lvcreate: exit 5")
    assert log == [f"failed snapshot: removed dir {second}",
                   f"failed snapshot: removed dir {first}"]
    assert not first.exists() and journal.open_resources() == []
