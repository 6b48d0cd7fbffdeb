"""``hostbook run`` prunes and checks real restic and borg repositories, and says so.

Three runs of one job with ``keep: {daily: 1}`` leave one restic snapshot and
one borg archive of this host and job; another host's archives in the same
repositories stay.  The scheduled check runs in the first run only (every 7d),
and ``run --dry-run`` prints the prune and changes nothing.  Root: provider
``none`` bind-mounts the volume.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.jobs.archive.test_base import needs

pytestmark = pytest.mark.loop


def run(jobs: Path, env: dict[str, str], *extra: str) -> list[dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-m", "hostbook", "run", "--jobs-file", str(jobs), "--host", "web1",
         "--no-notify", "--json", *extra],
        capture_output=True, text=True, env=env, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def said(events: list[dict[str, object]]) -> str:
    return "\n".join(str(e.get("message", "")) for e in events)


@needs("restic", "borg")
def test_runs_prune_this_hosts_archives_and_check_on_schedule(
    loop_tier: None, tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "file").write_bytes(os.urandom(100_000))
    password = tmp_path / "pass"
    password.write_text("correct horse battery staple\n")
    password.chmod(0o600)
    env = {**os.environ, "RESTIC_CACHE_DIR": str(tmp_path / "restic-cache"),
           "BORG_BASE_DIR": str(tmp_path / "borg-home"), "RESTIC_PASSWORD_FILE": str(password),
           "BORG_PASSCOMMAND": f"cat {password}"}
    restic_repo, borg_repo = tmp_path / "restic", tmp_path / "borg"
    subprocess.run(["restic", "--repo", str(restic_repo), "init"], env=env, check=True,
                   capture_output=True)
    subprocess.run(["borg", "init", "--encryption=repokey", str(borg_repo)], env=env,
                   check=True, capture_output=True)
    # another host shares both repositories
    subprocess.run(["restic", "--repo", str(restic_repo), "backup", "--host", "db1", "--tag",
                    "host=db1", "--tag", "job=data", str(data)], env=env, check=True,
                   capture_output=True)
    subprocess.run(["borg", "create", f"{borg_repo}::db1-data-path-x-20261201T000000Z", "."],
                   env=env, cwd=data, check=True, capture_output=True)
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(f"""\
schema: hostbook/jobs/v1
settings: {{state_dir: {tmp_path / 'state'}, mount_root: {tmp_path / 'mnt'},
            sure_store: {tmp_path / 'sure'}}}
jobs:
  - name: data
    volume: {{path: {data}}}
    sure: {{enabled: false}}
    archive:
      - {{tool: restic, repository: {restic_repo}, password_file: {password},
          keep: {{daily: 1}}, check: {{every: 7d}}}}
      - {{tool: borg, repository: {borg_repo}, password_file: {password},
          keep: {{daily: 1}}, check: {{every: 7d}}}}
""")
    first = said(run(jobs, env))
    assert "restic: check: check ok" in first and f"borg: check: check {borg_repo} ok" in first
    second = said(run(jobs, env))
    assert "check:" not in second  # checked 0 days ago: not due
    assert "restic: prune: restic forget removed 1 snapshot(s) of host=web1" in second
    assert "borg: prune: borg pruned 1 archive(s) of web1-data-" in second
    dry = run(jobs, env, "--dry-run")
    printed = said(dry)
    assert "restic --repo" in printed and "forget --host web1" in printed
    assert "borg prune --list --glob-archives 'web1-data-" in printed
    assert "prune: dry run" in printed and "nothing to remove" not in printed
    run(jobs, env)

    listed = json.loads(subprocess.run(["restic", "--repo", str(restic_repo), "snapshots",
                                        "--json"], env=env, capture_output=True, text=True,
                                       check=True).stdout)
    assert sorted(s["hostname"] for s in listed) == ["db1", "web1"]
    archives = json.loads(subprocess.run(["borg", "list", "--json", str(borg_repo)], env=env,
                                         capture_output=True, text=True,
                                         check=True).stdout)["archives"]
    names = sorted(a["name"] for a in archives)
    assert len(names) == 2 and names[0].startswith("db1-") and names[1].startswith("web1-data-")
