"""Event sinks: plain lines, JSON lines and the progress display show the same events."""

from __future__ import annotations

import json


def test_sinks_render_the_same_events() -> None:
    from io import StringIO

    from rich.console import Console

    from hostbook.jobs.run.events import Event, JsonSink, PlainSink, ProgressSink

    events = [
        Event("run-start", message="h: data (snap, archive)"),
        Event("step-start", job="data", step="archive", data={"archiver": "tar"}),
        Event("command", job="data", step="archive", message="tar --create ..."),
        Event("step-end", job="data", step="archive", status="ok", message="tar: 10 bytes",
              data={"duration": 1.25}),
        Event("run-end", status="ok", message="1 job(s): 0 failed, 0 with warnings"),
    ]
    plain, as_json, screen = StringIO(), StringIO(), StringIO()
    sinks = [PlainSink(plain), JsonSink(as_json),
             ProgressSink(console=Console(file=screen, force_terminal=True, width=100))]
    for sink in sinks:
        for event in events:
            sink.emit(event)
            sink.progress("data", "archive", 0.5, "half")
        sink.close()
    lines = plain.getvalue().splitlines()
    assert lines[2].endswith("data archive: $ tar --create ...")
    assert lines[3].endswith("data archive: ok (1.2s): tar: 10 bytes")
    parsed = [json.loads(line) for line in as_json.getvalue().splitlines()]
    assert [e["event"] for e in parsed] == ["run-start", "step-start", "step-end", "run-end"]
    assert parsed[2] == {**parsed[2], "job": "data", "step": "archive", "status": "ok",
                         "duration": 1.25, "message": "tar: 10 bytes"}
    assert "data archive: ok (1.2s): tar: 10 bytes" in screen.getvalue()
