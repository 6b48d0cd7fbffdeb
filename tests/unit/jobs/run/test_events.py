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
    lines = [line for line in plain.getvalue().splitlines() if " progress: " not in line]
    assert lines[2].endswith("data archive: $ tar --create ...")
    assert lines[3].endswith("data archive: ok (1.2s): tar: 10 bytes")
    parsed = [e for e in map(json.loads, as_json.getvalue().splitlines())
              if e["event"] != "progress"]
    assert [e["event"] for e in parsed] == ["run-start", "step-start", "step-end", "run-end"]
    assert parsed[2] == {**parsed[2], "job": "data", "step": "archive", "status": "ok",
                         "duration": 1.25, "message": "tar: 10 bytes"}
    assert "data archive: ok (1.2s): tar: 10 bytes" in screen.getvalue()


def test_progress_is_a_line_every_n_seconds_in_a_log_and_an_event_in_json() -> None:
    """Without a terminal a long step is never silent: bytes, files, rate, time left."""
    from io import StringIO

    from hostbook.jobs.run.events import Event, JsonSink, PlainSink
    from hostbook.jobs.run.progress import TransferMeter

    clock = [100.0]
    plain, as_json = StringIO(), StringIO()
    sinks = [PlainSink(plain, every=10.0, now=lambda: clock[0]),
             JsonSink(as_json, every=2.0, now=lambda: clock[0])]
    meter = TransferMeter(now=lambda: clock[0])
    for sink in sinks:
        sink.emit(Event("step-start", job="data", step="archive"))
    for second in range(0, 31):  # a 3 GiB archive read at 64 MiB/s
        clock[0] = 100.0 + second
        transfer = meter.reading(second * (64 << 20), second * 10, 3 << 30, 400)
        for sink in sinks:
            sink.progress("data", "archive", transfer.fraction, transfer.text(),
                          transfer.to_json())
    lines = [line for line in plain.getvalue().splitlines() if " progress: " in line]
    assert len(lines) == 4  # at 0 s, 10 s, 20 s and 30 s
    assert lines[-1].endswith("data archive: progress: 1.88 GiB of 3 GiB, 300 of 400 files, "
                              "64 MiB/s, 0:18 left"), lines[-1]
    events = [e for e in map(json.loads, as_json.getvalue().splitlines())
              if e["event"] == "progress"]
    assert len(events) == 16  # every 2 s
    last = events[-1]
    assert last["bytes_done"] == 30 * (64 << 20) and last["bytes_total"] == 3 << 30
    assert last["files_done"] == 300 and last["rate"] == 64 << 20 and last["eta"] == 18
    assert last["fraction"] == round(30 * 64 / 3072, 4)
