"""The run journal: what is intended, removed, adopted, and what a killed run left."""

from __future__ import annotations

import json
from pathlib import Path

from hostbook.jobs.run.run_journal import Journal


def test_journal_open_resources_and_interrupted_runs(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    first = Journal(path)
    run1 = first.begin(["snap"], ["a"])
    mount = first.intend("mount", "vol-a", target="/run/x", source="/srv")
    hold = first.intend("zfs-hold", "vol-a", name="tank@s", tag="t")
    first.removed(mount)
    # The process dies here: no end record.  A torn half line follows.
    with path.open("ab") as handle:
        handle.write(b'{"event": "made", "id": "torn')
    state = Journal(path).state()
    assert [(r.id, r.kind, r.run, r.run_finished) for r in state.resources] == [
        (hold.id, "zfs-hold", run1, False)
    ]
    assert state.resources[0].details == {"name": "tank@s", "tag": "t"}

    second = Journal(path)
    second.begin(["snap"], ["a"])
    second.removed(state.resources[0])
    kept = second.intend("mount", "vol-b", target="/run/y")
    second.end()  # a --step snap run: what is open now was kept on purpose
    state = Journal(path).state()
    assert [(r.id, r.run_finished) for r in state.resources] == [(kept.id, True)]
    # Compaction left only what is still open.
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert {r["event"] for r in records} == {"begin", "made", "end"}

    third = Journal(path)
    third.begin(["archive", "unsnap"], ["b"])
    third.adopt(state.resources[0])
    assert Journal(path).state().resources[0].run_finished is False
    third.removed(state.resources[0])
    third.end()
    assert path.read_text() == ""


def test_disabled_journal_writes_nothing_but_remembers(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl", enabled=False)
    journal.begin(["snap"], ["a"])
    resource = journal.intend("mount", "v", target="/x")
    assert journal.opened == [resource]
    journal.end()
    assert not (tmp_path / "j.jsonl").exists()
