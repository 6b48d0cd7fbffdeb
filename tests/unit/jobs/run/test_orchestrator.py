"""The run orchestration without root: dry runs, cleanup, history, status, monitoring, CLI.

Runs that really mount snapshots need root and live in tests/loop/.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from pathlib import Path
from typing import ClassVar

import pytest
from click.testing import CliRunner

from hostbook.commands.run import run as run_cli
from hostbook.jobs.run.events import JsonSink, PlainSink
from hostbook.jobs.run.history import History, history_path
from hostbook.jobs.run.jobs_file import load_jobs
from hostbook.jobs.run.lock import host_lock
from hostbook.jobs.run.orchestrator import journal_path, run_jobs
from hostbook.jobs.run.request import RunRequest
from hostbook.jobs.run.run_journal import Journal
from hostbook.manifest.store import ManifestRepository


def write_jobs(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "jobs.yaml"
    path.write_text(
        "schema: hostbook/jobs/v1\n"
        "settings:\n"
        f"  state_dir: {tmp_path / 'state'}\n"
        f"  mount_root: {tmp_path / 'mnt'}\n"
        f"  sure_store: {tmp_path / 'sure'}\n"
        "jobs:\n" + body
    )
    return path


def test_dry_run_prints_every_command_in_order_and_changes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "f").write_text("x")
    jobs = write_jobs(tmp_path, f"""\
  - name: data
    volume: {{path: {data}}}
    archive:
      - {{tool: tar, destination: {tmp_path / 'tar'}}}
      - {{tool: restic, repository: {tmp_path / 'restic'}, password_file: /etc/p}}
""")
    loaded = load_jobs(file=jobs, host="h")
    out = StringIO()
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    stamp = "20240501T120000Z"
    outcome = run_jobs(RunRequest(loaded=loaded, dry_run=True, sink=PlainSink(out), now=now))
    assert outcome.exit_code == 0 and outcome.dry_run
    commands = [line.split("$ ", 1)[1] for line in out.getvalue().splitlines() if "$ " in line]
    stable = tmp_path / "mnt" / f"path-{str(data).strip('/').replace('/', '-')}"
    assert commands[0] == f"mount --bind -o ro,nosuid,nodev {data} {stable}"
    assert commands[1].startswith("tar --create --file ")
    assert commands[1].endswith(f"--directory {stable} .")
    assert commands[2] == (
        f"RESTIC_PASSWORD_FILE=... restic --repo {tmp_path / 'restic'} backup --json --host h "
        f"--tag host=h --tag job=data --tag volume={data} --tag key={stable.name} "
        f"--tag run={outcome.run_id} --tag stamp={stamp} {stable}"
    )
    assert commands[3] == f"umount {stable}"
    assert len(commands) == 4
    assert "removed" not in out.getvalue()  # nothing was mounted, so nothing was removed
    assert f"unsnap: would remove mount {stable}" in out.getvalue()
    assert not (tmp_path / "state").exists() and not (tmp_path / "tar").exists()
    assert not (tmp_path / "sure").exists() and not stable.exists()


def test_cleanup_undoes_what_an_interrupted_run_journaled(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    jobs = write_jobs(tmp_path, f"  - {{name: data, volume: {{path: {data}}}}}\n")
    loaded = load_jobs(file=jobs, host="h")
    dead = Journal(journal_path(loaded.state_dir, "h"))
    run_id = dead.begin(["snap", "unsnap"], ["data"])
    made = tmp_path / "mnt" / "leftover"
    made.mkdir(parents=True)
    dead.intend("dir", "path-x", path=str(made))
    dead.intend("mount", "path-x", target=str(made))  # announced, never mounted
    # The process died: no end record.  The next run (here only its sure step) cleans up.
    out = StringIO()
    outcome = run_jobs(RunRequest(loaded=loaded, steps=("sure",), sink=JsonSink(out)))
    assert outcome.cleaned == [f"mount {made} (run {run_id})", f"dir {made} (run {run_id})"]
    assert not made.exists()
    assert Journal(journal_path(loaded.state_dir, "h")).open_resources() == []
    assert outcome.jobs[0].steps == {"sure": "failed"}
    assert "run --step snap first" in outcome.jobs[0].messages[0]
    assert outcome.exit_code == 3


class _Hook(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str]]] = []

    def do_GET(self) -> None:
        type(self).seen.append((self.path, ""))
        self.send_response(200)
        self.end_headers()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).seen.append((self.path, body.decode()))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def hook() -> Iterator[str]:
    _Hook.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/hc"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_monitor_is_told_of_start_and_failure_with_the_log_tail(tmp_path: Path,
                                                                hook: str) -> None:
    jobs = write_jobs(tmp_path, f"""\
  - name: data
    volume: {{path: /nonexistent-hostbook}}
    monitor: {{url: "{hook}", timeout: 5}}
""")
    loaded = load_jobs(file=jobs, host="h")
    outcome = run_jobs(RunRequest(loaded=loaded, sink=PlainSink(StringIO())))
    assert outcome.exit_code == 3
    paths = [p.split("?")[0] for p, _ in _Hook.seen]
    assert paths == ["/hc/start", "/hc/fail"]
    rid = _Hook.seen[0][0].split("rid=")[1]
    assert _Hook.seen[1][0].endswith(f"rid={rid}")
    body = _Hook.seen[1][1]
    assert body.startswith("data on h: failed\n")
    assert "/nonexistent-hostbook: not a directory" in body
    # The failed run is in the history, so status knows the attempt.
    records = list(History(history_path(loaded.state_dir, "h")).records())
    assert [(r.job, r.status, r.archiver) for r in records] == [("data", "failed", None)]


def test_run_cli_dry_run_json_and_lock(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    jobs = write_jobs(tmp_path, f"""\
  - name: data
    volume: {{path: {data}}}
    archive: [{{tool: tar, destination: {tmp_path / 'tar'}}}]
""")
    runner = CliRunner()
    result = runner.invoke(run_cli, ["--jobs-file", str(jobs), "--host", "h", "--dry-run",
                                     "--json"])
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.output.splitlines()]
    assert events[0]["event"] == "run-start" and events[-1]["event"] == "summary"
    steps = [(e["step"], e["status"]) for e in events if e["event"] == "step-end"]
    assert steps == [("snap", "ok"), ("sure", "ok"), ("clone", "skipped"), ("archive", "ok"),
                     ("unsnap", "ok")]
    assert [e["message"].split()[0] for e in events if e["event"] == "command"] == [
        "mount", "tar", "umount"]

    result = runner.invoke(run_cli, ["--jobs-file", str(jobs), "--host", "h", "nosuchjob"])
    assert result.exit_code == 2 and "no job named nosuchjob" in result.output

    loaded = load_jobs(file=jobs, host="h")
    with host_lock(loaded.state_dir, "h"):
        result = runner.invoke(run_cli, ["--jobs-file", str(jobs), "--host", "h"])
    assert result.exit_code == 3
    assert "another hostbook run for h is in progress" in result.output


def test_bad_jobs_file_is_a_positioned_error(tmp_path: Path) -> None:
    jobs = write_jobs(tmp_path, "  - {name: data, volume: {path: relative/path}}\n")
    result = CliRunner().invoke(run_cli, ["--jobs-file", str(jobs), "--dry-run"])
    assert result.exit_code == 2
    assert result.output.startswith(f"{jobs}:7:")
    assert "not an absolute path" in result.output


def test_a_run_from_the_manifest_repository_tags_its_archives_with_the_commit(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    store = ManifestRepository.init(tmp_path / "manifests")
    store.host_dir("h").mkdir(parents=True)
    write_jobs(tmp_path, f"""\
  - name: data
    volume: {{path: {data}}}
    archive:
      - {{tool: restic, repository: {tmp_path / 'restic'}, password_file: /etc/p}}
""").rename(store.section_path("h", "jobs"))
    commit = store.commit_host("h", "jobs")
    loaded = load_jobs(repository=store.path, host="h")
    assert commit is not None and loaded.manifest_commit == commit
    out = StringIO()
    run_jobs(RunRequest(loaded=loaded, dry_run=True, sink=PlainSink(out)))
    backup = next(line for line in out.getvalue().splitlines() if " backup " in line)
    assert f"--tag manifest={commit} " in backup
