"""Hand-written files are committed on purpose, never swept into a capture's commit."""

from __future__ import annotations

import subprocess
from pathlib import Path

from click.testing import CliRunner

from hostbook.cli import cli
from tests.paths import FIXTURES

JOBS = "schema: hostbook/jobs/v1\njobs:\n  - {name: data, volume: {path: /srv}}\n"


def git_log(repo: Path) -> list[str]:
    out = subprocess.run(["git", "-C", str(repo), "log", "--format=%B%x00"],
                         capture_output=True, text=True, check=True).stdout
    return [m.strip() for m in out.split("\0") if m.strip()]


def capture(repo: Path, *extra: str) -> CliRunner:
    runner = CliRunner()
    result = runner.invoke(cli, ["capture", "--repo", str(repo), "--host", "web1", "--only",
                                 "system", "--replay", str(FIXTURES / "system-debian12"),
                                 *extra])
    assert result.exit_code == 0, result.output
    return result


def test_a_hand_written_jobs_file_is_committed_only_on_purpose(tmp_path: Path) -> None:
    repo = tmp_path / "m"
    first = capture(repo)
    [message, _init] = git_log(repo)
    subject, _, body = message.partition("\n\n")
    assert subject == "system: +system file"  # the subject says what the body says
    assert not body or body == "system: +system file"
    assert "system: +system file" in first.output
    (repo / "hosts" / "web1" / "jobs.yaml").write_text(JOBS)
    again = capture(repo)
    assert len(git_log(repo)) == 2  # nothing captured changed: no commit, jobs.yaml untouched
    assert "jobs.yaml is not committed" in again.stderr and "hostbook commit web1" in again.stderr

    result = CliRunner().invoke(cli, ["commit", "web1", "--repo", str(repo)])
    assert result.exit_code == 0, result.output
    newest = git_log(repo)[0]
    assert newest.splitlines()[0] == "by hand: +jobs.yaml"
    assert "web1: +jobs.yaml" in newest
    result = CliRunner().invoke(cli, ["commit", "web1", "--repo", str(repo)])
    assert result.exit_code == 0 and "nothing to commit" in result.output


def test_a_broken_hand_written_file_is_not_committed(tmp_path: Path) -> None:
    repo = tmp_path / "m"
    capture(repo)
    (repo / "hosts" / "web1" / "jobs.yaml").write_text("schema: hostbook/jobs/v1\njobs: 3\n")
    result = CliRunner().invoke(cli, ["commit", "web1", "--repo", str(repo), "-m", "jobs"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{repo.resolve() / 'hosts' / 'web1' / 'jobs.yaml'}:2:")
    assert len(git_log(repo)) == 2
