"""``hostbook log HOST``: an unknown host is bad input, a removed one keeps its history."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from hostbook.cli import cli
from tests.paths import FIXTURES


def test_log_of_an_unknown_host_is_exit_2_and_of_a_removed_one_shows_its_commits(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "m"
    runner = CliRunner()
    captured = runner.invoke(cli, ["capture", "--repo", str(repo), "--host", "web1", "--only",
                                   "system", "--replay", str(FIXTURES / "system-debian12")])
    assert captured.exit_code == 0, captured.output
    result = runner.invoke(cli, ["log", "nosuchhost", "--repo", str(repo)])
    assert result.exit_code == 2
    assert result.stderr == f"hostbook: {repo}: no host 'nosuchhost' (hosts: web1)\n"
    shutil.rmtree(repo / "hosts" / "web1")
    result = runner.invoke(cli, ["log", "web1", "--repo", str(repo)])
    assert result.exit_code == 0 and "system" in result.output


def test_the_init_hint_names_the_repository(tmp_path: Path) -> None:
    missing = tmp_path / "not yet"
    result = CliRunner().invoke(cli, ["log", "h", "--repo", str(missing)])
    assert result.exit_code == 2
    assert result.stderr.endswith(f"(run: hostbook init '{missing}')\n")
