"""Each run's event log: written as the run goes, read whole lines only, kept in bounds."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from hostbook.jobs.run import event_log
from hostbook.jobs.run.event_log import (
    EventLogSink,
    check_run_id,
    host_runs,
    new_run_id,
    read_events,
    run_log_path,
)
from hostbook.jobs.run.events import Event, JsonSink
from hostbook.manifest.errors import BadInputError


def test_the_log_holds_what_run_json_prints_and_more_progress(tmp_path: Path) -> None:
    printed = io.StringIO()
    clock = iter([0.0, 0.1, 0.2, 0.6, 0.7, 2.5]).__next__
    path = run_log_path(tmp_path, "h", "20261204T120000Z-0123abcd")
    sink = EventLogSink(JsonSink(printed, now=clock), path, now=iter(
        [0.0, 0.1, 0.2, 0.6, 0.7, 2.5]).__next__)
    assert not path.exists()  # made with the first event only
    sink.emit(Event("run-start", message="h: data", data={"run": "x"}))
    for n in range(6):
        sink.progress("data", "archive", n / 6, f"{n}", {"bytes_done": n})
    sink.emit(Event("run-end", status="ok", data={"exit_code": 0}))
    sink.close()
    logged, offset = read_events(path)
    assert offset == path.stat().st_size
    assert [e["bytes_done"] for e in logged if e["event"] == "progress"] == [0, 3, 5]
    assert [json.loads(line)["event"] for line in printed.getvalue().splitlines()] == [
        "run-start", "progress", "progress", "run-end"]  # run --json: every 2 s
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct(path.parent.stat().st_mode & 0o777) == "0o700"


def test_a_line_being_written_is_left_for_the_next_read(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"event": "a"}\n{"event": "b"}\n{"eve')
    events, offset = read_events(path)
    assert [e["event"] for e in events] == ["a", "b"]
    with path.open("a") as handle:
        handle.write('nt": "c"}\n')
    more, _ = read_events(path, offset)
    assert [e["event"] for e in more] == ["c"]
    assert read_events(tmp_path / "missing", 7) == ([], 7)


def test_old_logs_go_and_runs_are_listed_newest_first(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(event_log, "KEEP_LOGS", 3)
    ids = [f"2026120{n}T120000Z-0123abcd" for n in range(1, 6)]
    for run_id in ids:
        sink = EventLogSink(JsonSink(io.StringIO()), run_log_path(tmp_path, "h", run_id))
        sink.emit(Event("run-start", message=run_id))
        sink.emit(Event("run-end", status="ok", data={"exit_code": 0}))
        sink.close()
    runs = list(host_runs(tmp_path, "h"))
    assert [r.run for r in runs] == ids[:1:-1]
    assert runs[0].status == "ok" and runs[0].message == ids[-1]


@pytest.mark.parametrize("text", ["", "x", "../../etc/passwd", "20261204T120000Z-0123abc",
                                  "20261204T120000Z-0123abcd\n"])
def test_run_ids_are_checked(text: str) -> None:
    with pytest.raises(BadInputError, match="run id"):
        check_run_id(text)
    assert check_run_id(new_run_id())
