"""A run driven from a manifest repository: jobs.yaml in hosts/<host>/, databases beside it.

Needs root for the read-only bind mount (provider ``none``), hence this tier;
no loop device is involved.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from hostbook.commands.run import run as run_cli
from hostbook.commands.status import status as status_cli
from hostbook.jobs.integrity import database as sure_db
from hostbook.jobs.integrity import sure
from hostbook.manifest.store import ManifestRepository

pytestmark = pytest.mark.loop


def test_run_from_the_repository_keeps_databases_beside_the_manifest(
    loop_tier: None, tmp_path: Path
) -> None:
    repo = ManifestRepository.init(tmp_path / "manifests")
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "file").write_text("content\n")
    host_dir = repo.host_dir("h")
    host_dir.mkdir(parents=True)
    (host_dir / "jobs.yaml").write_text(f"""\
schema: hostbook/jobs/v1
settings:
  state_dir: {tmp_path / 'state'}
  mount_root: {tmp_path / 'mnt'}
jobs:
  - name: data
    volume: {{path: {data}}}
    archive: [{{tool: tar, destination: {tmp_path / 'tar'}}}]
""")
    subprocess.run(["git", "-C", str(repo.path), "add", "hosts"], check=True)
    subprocess.run(["git", "-C", str(repo.path), "-c", "user.name=t", "-c", "user.email=t@t",
                    "commit", "-qm", "jobs"], check=True)
    runner = CliRunner()
    for _ in range(2):
        result = runner.invoke(run_cli, ["--repo", str(repo.path), "--host", "h", "--json",
                                         "--no-notify"])
        assert result.exit_code == 0, result.output
    summary = json.loads(result.output.splitlines()[-1])
    database = Path(summary["jobs"][0]["sure"]["database"])
    store = host_dir / "sure"
    assert database.parent.parent == store
    assert summary["jobs"][0]["sure"]["reused"] == 1  # the second run reused the first's hash
    assert sure.check(data, database) == []
    assert len(list(sure_db.iter_databases(database.parent))) >= 1
    # The databases are not part of what the manifest commits.
    porcelain = subprocess.run(["git", "-C", str(repo.path), "status", "--porcelain"],
                               capture_output=True, text=True, check=True).stdout
    assert porcelain == ""

    result = runner.invoke(status_cli, ["--repo", str(repo.path), "--host", "h", "--json"])
    assert result.exit_code == 0, result.output
    volumes = json.loads(result.output)["volumes"]
    assert [(v["volume"], v["stale"]) for v in volumes] == [(str(data), False)]
    assert volumes[0]["last_success"]["tool"] == "tar"
