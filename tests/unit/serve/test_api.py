"""``hostbook serve`` over real HTTP: every endpoint, the refusals, the errors.

The server is the real command on a free loopback port (tests/serve_server.py)
and the client is httpx.  The repository is made of real captures (the
review-pairs laptop as ``bios``, the OVMF laptop as ``uefi`` with a jobs.yaml
and run history), as for the report's tests.  A run's event log is written by
the run's own sink (``EventLogSink``) event by event while a client follows
its stream; runs of the real ``hostbook run`` need root and are the loop tier's
(tests/loop/test_serve_loop.py).
"""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from hostbook.cli import cli
from hostbook.jobs.run.event_log import EventLogSink, run_log_path
from hostbook.jobs.run.events import Event, PlainSink
from hostbook.jobs.run.lock import host_lock
from hostbook.manifest.store import ManifestRepository
from tests.paths import FIXTURES
from tests.serve_server import Server, free_port, running_server
from tests.unit.review.captured import PAIRS, capture_into
from tests.unit.review.test_readiness import JOBS, archived

RUN_ID = "20261204T120000Z-0123abcd"
VOLATILE = ("time", "now", "age_seconds", "capture_age_seconds", "last_archive_age_seconds")


def scrub(value: object) -> object:
    """A document without the fields that move with the clock."""
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def make_repository(base: Path) -> tuple[Path, Path]:
    path = base / "repo"
    ManifestRepository.init(path)
    capture_into(path, PAIRS / "renamed", host="bios")
    capture_into(path, FIXTURES / "storage-uefi", host="uefi")
    repo = ManifestRepository.open(path)
    (repo.host_dir("uefi") / "jobs.yaml").write_text(JOBS)
    repo.commit_host("uefi", "jobs: root and home")
    state = base / "state"
    archived(state, "uefi", "laptopvg/root", "lv-laptopvg-root", time.time() - 600)
    archived(state, "uefi", "/home", "path-home", time.time() - 900, status="failed")
    return path, state


def write_run(state: Path, run_id: str, pause: float = 0.0) -> list[str]:
    """A run's event log, written by the run's sink one event at a time."""
    sink = EventLogSink(PlainSink(io.StringIO()), run_log_path(state, "uefi", run_id),
                        every=0.0)
    names = []
    sink.emit(Event("run-start", message="uefi: home (snap, archive)",
                    data={"run": run_id, "host": "uefi"}))
    names.append("run-start")
    sink.emit(Event("step-start", job="home", volume="/home", step="archive"))
    names.append("step-start")
    for done in range(5):
        time.sleep(pause)
        sink.progress("home", "archive", done / 5, f"{done} MiB",
                      {"bytes_done": done << 20, "bytes_total": 5 << 20, "files_done": done,
                       "files_total": 5, "rate": 1 << 20, "eta": 5 - done})
        names.append("progress")
    sink.emit(Event("step-end", job="home", step="archive", status="ok"))
    sink.emit(Event("run-end", status="ok", message="1 ok", data={"exit_code": 0}))
    names += ["step-end", "run-end"]
    sink.close()
    return names


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path, Path]]:
    base = tmp_path_factory.mktemp("serve")
    repo, state = make_repository(base)
    write_run(state, RUN_ID)
    with running_server(repo, base, "--state-dir", str(state), "--write-burst", "500") as server:
        yield server, repo, state


def test_token_file_is_made_root_only_on_first_start(served) -> None:  # type: ignore[no-untyped-def]
    server, repo, _ = served
    token_file = repo.parent / "serve.token"
    mode = stat.S_IMODE(token_file.stat().st_mode)
    assert mode == 0o600 and token_file.stat().st_uid == os.geteuid()
    assert len(server.token) >= 40 and server.token not in server.log.read_text()


def test_hosts_and_status_are_what_the_commands_print(served) -> None:  # type: ignore[no-untyped-def]
    server, repo, state = served
    with server.client() as client:
        hosts = client.get("/api/hosts").json()["hosts"]
        assert [(h["host"], h["verdict"]) for h in hosts] == [("bios", "not-ready"),
                                                              ("uefi", "not-ready")]
        answer = client.get("/api/hosts/uefi/status")
    printed = CliRunner().invoke(cli, ["status", "--repo", str(repo), "--host", "uefi",
                                       "--state-dir", str(state), "--json"])
    assert answer.status_code == 200
    assert answer.headers["x-hostbook-exit-code"] == str(printed.exit_code) == "1"
    assert scrub(answer.json()) == scrub(json.loads(printed.output))
    targets = {v["volume"]: v["state"] for v in answer.json()["volumes"]}
    assert targets == {"/home": "stale", "laptopvg/root": "ok"}  # never archived


def test_plans_are_what_plan_json_prints(served) -> None:  # type: ignore[no-untyped-def]
    server, repo, _ = served
    with server.client() as client:
        both = client.get("/api/hosts/uefi/plan").json()
        one = client.get("/api/hosts/uefi/plan", params={"kind": "replication"}).json()
    for what in ("retention", "replication"):
        printed = CliRunner().invoke(cli, ["plan", what, "uefi", "--repo", str(repo), "--json"])
        assert printed.exit_code == 0, printed.output
        assert scrub(both[what]) == scrub(json.loads(printed.output))
    assert set(one) == {"host", "replication"}


def test_runs_and_a_run_with_its_events(served) -> None:  # type: ignore[no-untyped-def]
    server, _, _ = served
    with server.client() as client:
        runs = client.get("/api/hosts/uefi/runs").json()["runs"]
        assert [(r["run"], r["status"], r["exit_code"]) for r in runs] == [(RUN_ID, "ok", 0)]
        run = client.get(f"/api/runs/{RUN_ID}").json()
        assert run["host"] == "uefi" and run["status"] == "ok"
        assert [e["event"] for e in run["events"]] == [
            "run-start", "step-start", *["progress"] * 5, "step-end", "run-end"]
        assert client.get("/api/hosts/bios/runs").json() == {"runs": []}


def read_stream(server: Server, run_id: str, headers: dict[str, str] | None = None
                ) -> list[tuple[str | None, str | None, dict]]:
    """(id, event name, data) of every message until the stream ends."""
    messages = []
    with server.client() as client, client.stream(
            "GET", f"/api/runs/{run_id}/events", headers=headers) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        ident = name = None
        for line in answer.iter_lines():
            if line.startswith("id: "):
                ident = line[4:]
            elif line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                messages.append((ident, name, json.loads(line[6:])))
                ident = name = None
    return messages


def test_the_event_stream_follows_a_log_as_it_grows(served) -> None:  # type: ignore[no-untyped-def]
    server, _, state = served
    run_id = "20261204T130000Z-4567cdef"
    holder = threading.Event()
    written: list[str] = []

    def run() -> None:
        with host_lock(state, "uefi"):
            holder.set()
            written.extend(write_run(state, run_id, pause=0.3))

    writer = threading.Thread(target=run)
    writer.start()
    holder.wait(10)
    time.sleep(0.1)
    messages = read_stream(server, run_id)
    writer.join()
    events = [m for m in messages if m[1] is None]
    assert [d["event"] for _, _, d in events] == written
    assert [int(i) for i, _, _ in events] == list(range(1, len(written) + 1))
    assert [d["bytes_done"] for _, _, d in events if d["event"] == "progress"] == [
        n << 20 for n in range(5)]
    assert messages[-1][1] == "end" and messages[-1][2]["ended"] is True
    # A browser that reconnects after event 6 gets the rest only.
    again = read_stream(server, run_id, {"Last-Event-ID": "6"})
    assert [i for i, name, _ in again if name is None] == ["7", "8", "9"]


def test_pages_render(served) -> None:  # type: ignore[no-untyped-def]
    server, _, _ = served
    with server.client() as client:
        for url, needle in (("/", 'data-host="uefi"'), ("/index.html", 'data-host="bios"'),
                            ("/hosts/uefi.html", 'id="live"'), ("/runs", RUN_ID),
                            (f"/runs/{RUN_ID}", "run-end"),
                            ("/hosts/uefi/plan/retention", "retention plan for uefi"),
                            ("/static/serve-live.js", "EventSource")):
            page = client.get(url)
            assert page.status_code == 200, (url, page.text)
            assert needle in page.text, url
        host = client.get("/hosts/uefi.html").text
        assert 'data-volume="/home"' in host and 'data-run="' + RUN_ID in host


POSTS = ("/api/hosts/uefi/snapshot?type=daily", "/api/hosts/uefi/run")


def test_changes_need_the_token_in_a_header(served) -> None:  # type: ignore[no-untyped-def]
    server, _, state = served
    before = sorted((state / "runs" / "uefi").iterdir())
    with server.client() as client:
        for url in POSTS:
            refusals = [
                client.post(url),
                client.post(url, headers={"Authorization": "Bearer wrong-" + server.token}),
                client.post(url, headers={"Authorization": server.token}),
                client.post(url + ("&" if "?" in url else "?") + "token=" + server.token),
                client.post(url + ("&" if "?" in url else "?") + "access_token=" + server.token,
                            headers=server.auth()),
            ]
            with server.client(cookies={"token": server.token}) as cookied:
                refusals.append(cookied.post(url))
            for answer in refusals:
                assert answer.status_code == 401, (url, answer.text)
                assert answer.headers["www-authenticate"] == "Bearer"
                assert set(answer.json()) == {"error", "status"}
            assert "query string" in refusals[3].json()["error"]
            assert "query string" in refusals[4].json()["error"]
            assert refusals[1].json()["error"] == "wrong token"
    assert sorted((state / "runs" / "uefi").iterdir()) == before


def test_bad_input_is_a_4xx_with_a_json_error(served) -> None:  # type: ignore[no-untyped-def]
    server, _, _ = served
    auth = server.auth()
    json_body = {**auth, "Content-Type": "application/json"}
    with server.client() as client:
        cases = [
            (client.get("/api/hosts/nosuch/status"), 404, "no host 'nosuch'"),
            (client.get("/api/hosts/bad%20name/status"), 404, "host"),
            (client.get("/api/hosts/nosuch/plan"), 404, "no host"),
            (client.get("/api/hosts/uefi/plan", params={"kind": "x"}), 400, "kind"),
            (client.get("/api/hosts/uefi/runs", params={"limit": "0"}), 400, "limit"),
            (client.get("/api/runs/not-a-run"), 400, "run id"),
            (client.get("/api/runs/20261204T120000Z-ffffffff"), 404, "no run"),
            (client.get("/api/runs/20261204T120000Z-ffffffff/events"), 404, "no run"),
            (client.get("/hosts/nosuch.html"), 404, "no host"),
            (client.get("/hosts/uefi/plan/other"), 404, "no plan"),
            (client.get("/no/such/page"), 404, "Not Found"),
            (client.delete("/api/hosts", headers=auth), 405, "Method Not Allowed"),
            (client.post("/api/hosts/nosuch/snapshot?type=daily", headers=auth), 404, "host"),
            (client.post("/api/hosts/uefi/snapshot", headers=auth), 400, "type"),
            (client.post("/api/hosts/uefi/snapshot?type=da-ily", headers=auth), 400, "type"),
            (client.post("/api/hosts/uefi/snapshot?type=daily", headers=json_body,
                         content=b"{not json"), 400, "not JSON"),
            (client.post("/api/hosts/uefi/run", headers=json_body, content=b"[1]"), 400,
             "JSON object"),
            (client.post("/api/hosts/uefi/run", headers=json_body, content=b'{"x": 1}'), 400,
             "unknown key"),
            (client.post("/api/hosts/uefi/run", headers=json_body, content=b'{"jobs": "a"}'),
             400, "list of job names"),
            (client.post("/api/hosts/uefi/run", headers=json_body,
                         content=b'{"jobs": ["nosuch"]}'), 400, "no job named nosuch"),
            (client.post("/api/hosts/uefi/run", headers={**auth, "Content-Type": "text/plain"},
                         content=b"jobs"), 400, "JSON"),
            (client.post("/api/hosts/bios/run", headers=auth), 400, "no jobs.yaml"),
            (client.post("/api/hosts/uefi/run", headers=json_body,
                         content=b"{" + b" " * (70 * 1024) + b"}"), 413, "over"),
        ]
    for answer, status, text in cases:
        assert answer.status_code == status, (answer.request.url, answer.text)
        body = answer.json()
        assert body["status"] == status and text in body["error"], body
        assert "Traceback" not in answer.text


def test_no_cors_and_no_other_hosts(served) -> None:  # type: ignore[no-untyped-def]
    server, _, _ = served
    with server.client() as client:
        preflight = client.options("/api/hosts/uefi/run", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization"})
        assert preflight.status_code == 405
        cross = client.get("/api/hosts", headers={"Origin": "https://evil.example"})
        assert cross.status_code == 200
        for answer in (preflight, cross):
            assert not [h for h in answer.headers if h.lower().startswith("access-control")]
        assert cross.headers["x-frame-options"] == "DENY"
        assert "script-src 'self'" in cross.headers["content-security-policy"]
        rebound = client.get("/api/hosts", headers={"Host": "evil.example:8765"})
        assert rebound.status_code == 421
        assert client.get("/api/hosts", headers={"Host": "localhost"}).status_code == 200


def test_a_run_while_the_lock_is_held_is_refused(served) -> None:  # type: ignore[no-untyped-def]
    server, _, state = served
    with host_lock(state, "uefi"), server.client() as client:
        answer = client.post("/api/hosts/uefi/run", headers=server.auth())
        snap = client.post("/api/hosts/uefi/snapshot?type=hourly", headers=server.auth())
    assert answer.status_code == 409 and "in progress" in answer.json()["error"]
    assert snap.status_code == 409 and "in progress" in snap.json()["error"]


def test_writes_are_rate_limited(tmp_path: Path) -> None:
    repo, _ = make_repository(tmp_path)
    with running_server(repo, tmp_path) as server, server.client() as client:
        codes = [client.post("/api/hosts/uefi/run").status_code for _ in range(25)]
        limited = client.post("/api/hosts/uefi/run")
        assert client.get("/api/hosts").status_code == 200  # reads have their own budget
    assert codes[:20] == [401] * 20 and set(codes[20:]) == {429}
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


def start_refused(tmp_path: Path, repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    port = free_port()
    result = subprocess.run(
        [sys.executable, "-m", "hostbook", "serve", "--repo", str(repo),
         "--token-file", str(tmp_path / "t"), *args], capture_output=True, text=True,
        timeout=60, check=False)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/api/hosts", timeout=2)
    return result


def test_unsafe_starts_are_refused(tmp_path: Path) -> None:
    repo, _ = make_repository(tmp_path)
    exposed = start_refused(tmp_path, repo, "--listen", "0.0.0.0:8765")
    assert exposed.returncode == 2
    assert "not a loopback address, and no TLS" in exposed.stderr
    assert "Traceback" not in exposed.stderr
    half = start_refused(tmp_path, repo, "--tls-cert", str(tmp_path / "c"))
    assert half.returncode == 2 and "--tls-cert and --tls-key go together" in half.stderr
    (tmp_path / "t").write_text("x" * 43 + "\n")
    (tmp_path / "t").chmod(0o644)
    readable = start_refused(tmp_path, repo)
    assert readable.returncode == 2 and "readable or writable by others" in readable.stderr
    bad_listen = start_refused(tmp_path, repo, "--listen", "nowhere")
    assert bad_listen.returncode == 2 and "ADDRESS:PORT" in bad_listen.stderr
    missing = start_refused(tmp_path, tmp_path / "norepo")
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
