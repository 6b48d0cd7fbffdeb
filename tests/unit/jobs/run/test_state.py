"""Run state: the journal, the host lock, the command runner, monitoring pings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from hostbook.jobs.run import monitor
from hostbook.jobs.run.lock import RunLocked, host_lock
from hostbook.jobs.run.run_journal import Journal

# -- journal -------------------------------------------------------------------------


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


# -- lock ----------------------------------------------------------------------------

_HOLDER = """
import sys, time
from pathlib import Path
from hostbook.jobs.run.lock import host_lock
with host_lock(Path(sys.argv[1]), "h"):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _hold(state: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(state), str(seconds)],
        stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_second_run_stops_with_a_message_naming_the_holder(tmp_path: Path) -> None:
    holder = _hold(tmp_path, 30)
    try:
        with pytest.raises(RunLocked) as info, host_lock(tmp_path, "h"):
            pass
        assert f"pid {holder.pid}" in str(info.value)
        assert "another hostbook run for h is in progress" in str(info.value)
    finally:
        holder.kill()
        holder.wait()
    # The kernel released the dead holder's lock: no stale lock file to clean.
    with host_lock(tmp_path, "h"):
        pass


def test_second_run_waits_for_the_first(tmp_path: Path) -> None:
    holder = _hold(tmp_path, 0.8)
    started = time.monotonic()
    with host_lock(tmp_path, "h", wait=20):
        waited = time.monotonic() - started
    holder.wait()
    assert 0.3 < waited < 20


# -- monitoring ----------------------------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    requests: ClassVar[list[tuple[str, str, bytes]]] = []
    status = 200

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        type(self).requests.append((self.command, self.path, body))
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b"OK")

    do_GET = _handle
    do_POST = _handle

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def server() -> Iterator[tuple[str, type[_Recorder]]]:
    class Handler(_Recorder):
        requests: ClassVar[list[tuple[str, str, bytes]]] = []
        status = 200

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/ping/abc", Handler
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_pings_start_success_and_fail_with_the_log_tail(
    server: tuple[str, type[_Recorder]],
) -> None:
    url, handler = server
    assert monitor.ping(url, "start", run_id="11111111-2222-3333-4444-555555555555") is None
    assert monitor.ping(url, "success", "line 1\nline 2\n") is None
    assert monitor.ping(url, "fail", "x" * (monitor.MAX_BODY + 500)) is None
    rid = "rid=11111111-2222-3333-4444-555555555555"
    assert handler.requests[0] == ("GET", f"/ping/abc/start?{rid}", b"")
    assert handler.requests[1] == ("POST", "/ping/abc", b"line 1\nline 2\n")
    method, path, body = handler.requests[2]
    assert (method, path, len(body)) == ("POST", "/ping/abc/fail", monitor.MAX_BODY)


def test_ping_failures_are_reasons_not_exceptions(server: tuple[str, type[_Recorder]]) -> None:
    url, handler = server
    handler.status = 500
    assert monitor.ping(url, "success") == "monitor ping success: HTTP 500"
    started = time.monotonic()
    reason = monitor.ping("http://127.0.0.1:9/x", "start", timeout=2)
    assert reason is not None and reason.startswith("monitor ping start:")
    assert time.monotonic() - started < 5
    assert os.environ.get("http_proxy") is None or reason


# -- event sinks ---------------------------------------------------------------------


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
