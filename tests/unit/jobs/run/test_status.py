"""``hostbook status``: the last archive per volume from the history, and staleness."""

from __future__ import annotations

import json
import time
from pathlib import Path

from click.testing import CliRunner

from hostbook.commands.status import status as status_cli
from hostbook.jobs.run.history import History, Outcome, history_path
from hostbook.jobs.run.jobs_file import load_jobs
from hostbook.jobs.run.status import volume_status
from tests.unit.jobs.run.test_orchestrator import write_jobs


def test_history_and_status(tmp_path: Path) -> None:
    jobs = write_jobs(tmp_path, """\
  - name: home
    volume: {path: /home}
    stale_after: 1d
    archive: [{tool: tar, destination: /b}]
  - name: boot
    volume: {path: /boot}
    archive: [{tool: tar, destination: /b}]
  - name: scratch
    volume: {path: /scratch}
""")
    loaded = load_jobs(file=jobs, host="h")
    history = History(history_path(loaded.state_dir, "h"))
    now = time.time()  # the CLI judges against the clock

    def outcome(job: str, volume: str, status: str, age: float, archive: str) -> Outcome:
        return Outcome(run="r", job=job, volume=volume,
                       volume_key=f"path-{volume.strip('/')}", status=status,
                       started=now - age - 60, finished=now - age, archiver="tar", tool="tar",
                       location="/b", archive_id=archive, bytes=10)

    history.append(outcome("home", "/home", "ok", 3 * 3600, "old.tar.zst"))
    history.append(outcome("home", "/home", "failed", 600, "failed.tar.zst"))
    history.append(outcome("boot", "/boot", "warning", 40 * 3600, "boot.tar.zst"))
    rows = {r.volume: r for r in volume_status(loaded.document, history.records(), now=now)}
    assert set(rows) == {"/home", "/boot"}  # scratch has no archiver: nothing to be stale
    assert rows["/home"].last_success is not None
    assert rows["/home"].last_success.archive_id == "old.tar.zst"
    [home] = rows["/home"].targets
    assert home.last_attempt is not None and home.last_attempt.status == "failed"
    assert not rows["/home"].stale and rows["/home"].state == "failing"
    assert rows["/boot"].stale  # 40h > the default 36h
    tighter = volume_status(loaded.document, history.records(), now=now, stale_after="1h")
    assert all(r.stale for r in tighter)

    runner = CliRunner()
    result = runner.invoke(status_cli, ["--jobs-file", str(jobs), "--host", "h", "--json"])
    assert result.exit_code == 1, result.output
    data = json.loads(result.output)
    assert [(v["volume"], v["stale"]) for v in data["volumes"]] == [
        ("/boot", True), ("/home", False)]
    result = runner.invoke(status_cli, ["--jobs-file", str(jobs), "--host", "h",
                                        "--stale-after", "30d"])
    assert result.exit_code == 1  # fresh, but the last attempt failed
    assert "FAILING" in result.output and "old.tar.zst" in result.output


def test_never_archived_volume_is_stale(tmp_path: Path) -> None:
    jobs = write_jobs(tmp_path, "  - {name: a, volume: {path: /a}, "
                                "archive: [{tool: tar, destination: /b}]}\n")
    result = CliRunner().invoke(status_cli, ["--jobs-file", str(jobs), "--host", "h"])
    assert result.exit_code == 1
    assert "never" in result.output and "STALE" in result.output


def _archive_record(job: str, archiver: str, tool: str, status: str, finished: float,
                    message: str = "") -> Outcome:
    return Outcome(run="r", job=job, volume="/data", volume_key="path-data", status=status,
                   started=finished - 30, finished=finished, archiver=archiver, tool=tool,
                   location=f"/repo/{tool}", archive_id=f"{tool}-id" if status == "ok" else None,
                   message=message)


def test_a_failing_archiver_is_not_hidden_by_one_that_succeeded_after_it(
    tmp_path: Path,
) -> None:
    jobs = write_jobs(tmp_path, """\
  - name: data
    volume: {path: /data}
    archive:
      - {tool: restic, repository: /repo/restic, password_file: /etc/pw}
      - {tool: borg, repository: /repo/borg, password_file: /etc/pw}
""")
    loaded = load_jobs(file=jobs, host="h")
    history = History(history_path(loaded.state_dir, "h"))
    now = time.time()
    history.append(_archive_record("data", "restic", "restic", "ok", now - 7200))
    history.append(_archive_record("data", "borg", "borg", "ok", now - 7100))
    history.append(_archive_record("data", "restic", "restic", "failed", now - 60,
                                   "wrong password or no key found"))
    history.append(_archive_record("data", "borg", "borg", "ok", now - 30))
    result = CliRunner().invoke(status_cli, ["--jobs-file", str(jobs), "--host", "h",
                                             "--json"])
    assert result.exit_code == 1, result.output
    [volume] = json.loads(result.output)["volumes"]
    assert volume["state"] == "failing" and volume["last_attempt_status"] == "failed"
    states = {t["archiver"]: t["state"] for t in volume["targets"]}
    assert states == {"restic": "failing", "borg": "ok"}
    text = CliRunner().invoke(status_cli, ["--jobs-file", str(jobs), "--host", "h"]).output
    restic_line = next(line for line in text.splitlines() if "data/restic" in line)
    assert "FAILING" in restic_line and "wrong password" in text

    history.append(_archive_record("data", "restic", "restic", "ok", now - 10))
    result = CliRunner().invoke(status_cli, ["--jobs-file", str(jobs), "--host", "h"])
    assert result.exit_code == 0, result.output


def test_unknown_host_bad_repository_and_nothing_configured_are_not_ok(
    tmp_path: Path,
) -> None:
    from hostbook.manifest.store import ManifestRepository

    runner = CliRunner()
    repo = tmp_path / "repo"
    ManifestRepository.init(repo)
    state = ["--state-dir", str(tmp_path / "state")]
    afile = tmp_path / "file"
    afile.write_text("x")
    for args in (["--repo", str(repo), "--host", "nosuchhost"],
                 ["--repo", str(afile), "--host", "h"],
                 ["--repo", str(tmp_path / "missing" / "repo"), "--host", "h"]):
        result = runner.invoke(status_cli, args + state)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output
    assert "no host 'nosuchhost'" in runner.invoke(
        status_cli, ["--repo", str(repo), "--host", "nosuchhost", *state]).output
    (repo / "hosts" / "h").mkdir()
    result = runner.invoke(status_cli, ["--repo", str(repo), "--host", "h", *state])
    assert result.exit_code == 4, result.output
    assert "nothing configured" in result.output
