"""An empty jobs.yaml is an empty file (FILE:1:1, exit 2), never "no such file"."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from hostbook.cli import cli
from hostbook.manifest.store import ManifestRepository


def test_an_empty_jobs_file_is_reported_as_empty(tmp_path: Path) -> None:
    repo = tmp_path / "m"
    ManifestRepository.init(repo)
    in_repo = repo / "hosts" / "h" / "jobs.yaml"
    in_repo.parent.mkdir(parents=True)
    in_repo.write_text("")
    given = tmp_path / "jobs.yaml"
    given.write_text("\n")
    state = ["--state-dir", str(tmp_path / "state")]
    for path, argv in (
        (given, ["run", "--jobs-file", str(given), "--host", "h", "--dry-run", *state]),
        (given, ["status", "--jobs-file", str(given), "--host", "h", *state]),
        (in_repo, ["run", "--repo", str(repo), "--host", "h", "--dry-run", *state]),
        (in_repo, ["status", "--repo", str(repo), "--host", "h", *state]),
        (in_repo, ["plan", "retention", "h", "--repo", str(repo)]),
    ):
        result = CliRunner().invoke(cli, argv)
        assert result.exit_code == 2, (argv, result.output)
        assert result.stderr.startswith(f"{path}:1:1: the file is empty"), (argv, result.stderr)
        assert "no such file" not in result.stderr
