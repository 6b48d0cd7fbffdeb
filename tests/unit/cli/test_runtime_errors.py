"""A path hostbook cannot write is a runtime failure: one line naming it, exit 3.

It used to be a traceback and exit 1, which the exit-code table calls
"partial".  The unprivileged-user cases (a root-owned repository or state
directory) need root to set up and are in tests/loop/test_jobs_permissions.py;
these need no privileges: a regular file stands where a directory must be.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.paths import FIXTURES


def hostbook(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hostbook", *args], capture_output=True,
                          text=True, check=False)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_database_that_cannot_be_written_is_exit_3(tmp_path: Path) -> None:
    (tmp_path / "tree").mkdir()
    blocker = tmp_path / "file"
    blocker.write_text("not a directory\n")
    result = hostbook("sure", "update", str(tmp_path / "tree"),
                      "--against", str(blocker / "db.sure.gz"))
    assert result.returncode == 3
    assert one_line(result) == f"hostbook: {blocker}: Not a directory"


def test_a_state_dir_that_cannot_be_written_is_exit_3(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    blocker = tmp_path / "file"
    blocker.write_text("not a directory\n")
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(f"""\
schema: hostbook/jobs/v1
jobs:
  - name: data
    volume: {{path: {tmp_path / 'data'}}}
""")
    result = hostbook("run", "--jobs-file", str(jobs), "--host", "h", "--no-notify",
                      "--state-dir", str(blocker / "state"))
    assert result.returncode == 3
    assert one_line(result).startswith(f"hostbook: {blocker}: state directory not writable")


def test_a_repository_under_a_file_fails_before_capturing(tmp_path: Path) -> None:
    """A path that cannot be a directory is bad input (exit 2), not the host's failure."""
    blocker = tmp_path / "file"
    blocker.write_text("not a directory\n")
    result = hostbook("capture", "--repo", str(blocker / "m"), "--only", "system",
                      "--replay", str(FIXTURES / "system-debian12"))
    assert result.returncode == 2
    assert one_line(result) == (
        f"hostbook: {blocker / 'm'}: lies under {blocker}, a file, not a manifest "
        "repository directory"
    )
