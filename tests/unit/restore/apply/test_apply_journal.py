"""The apply journal: what an interrupted restore finds again, even after a torn write."""

from __future__ import annotations

import json
from pathlib import Path

from hostbook.restore.apply.apply_journal import Journal


def test_journal_survives_a_torn_last_line(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "sub" / "j")
    journal.record("a", "f1", "started")
    journal.record("a", "f1", "done")
    journal.record("b", "f2", "started")
    with open(journal.path, "a") as handle:
        handle.write('{"step": "b", "finger')  # power loss mid-write
    assert journal.finished() == {"a": "f1"}
    assert [json.loads(line)["status"] for line in
            journal.path.read_text().splitlines()[:3]] == ["started", "done", "started"]
    assert oct(journal.path.stat().st_mode & 0o777) == "0o600"
    journal.reset()
    assert journal.entries() == []


def test_a_record_after_a_torn_line_is_read_back(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j")
    journal.record("wipe:d", "f1", "done")
    with open(journal.path, "a") as handle:
        handle.write('{"step": "table:d", "fin')  # the apply was killed mid-write
    journal.record("table:d", "f2", "started")  # the re-run
    journal.record("table:d", "f2", "done")
    assert journal.finished() == {"wipe:d": "f1", "table:d": "f2"}
    assert [e.status for e in journal.entries()] == ["done", "started", "done"]
