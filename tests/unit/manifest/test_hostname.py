"""One host-name rule for every command: a name that could leave its folder is refused.

``hostbook run --host ../../../x`` used to write a tar archive to the
filesystem root and the lock, journal and integrity database outside the
state directory.  Every command now checks the name first (exit 2, one line,
nothing written).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hostbook.manifest.errors import BadInputError
from hostbook.manifest.hostname import check_host
from tests.paths import FIXTURES

BAD = ["../../../x", "a/b", "..", ".hidden", "", "-x", "a..b", "web1\n", "x" * 254, "a b"]
GOOD = ["web1", "web1.example.org", "db_2", "A-1", "9host", "x" * 253]


@pytest.mark.parametrize("name", GOOD)
def test_dns_like_names_pass(name: str) -> None:
    assert check_host(name) == name


@pytest.mark.parametrize("name", BAD)
def test_names_that_could_name_another_path_are_refused(name: str) -> None:
    with pytest.raises(BadInputError, match="invalid host name"):
        check_host(name)


def hostbook(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hostbook", *args], capture_output=True,
                          text=True, check=False, cwd=cwd)


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_every_command_refuses_a_traversing_host_before_writing(tmp_path: Path) -> None:
    deep = tmp_path / "a" / "b" / "c"
    (deep / "data").mkdir(parents=True)
    (deep / "data" / "f").write_text("x\n")
    jobs = deep / "jobs.yaml"
    jobs.write_text(f"""\
schema: hostbook/jobs/v1
settings: {{state_dir: {deep / 'state'}, mount_root: {deep / 'mnt'}}}
jobs:
  - name: data
    volume: {{path: {deep / 'data'}}}
    archive: [{{tool: tar, destination: {deep / 'tar'}}}]
""")
    repo = tmp_path / "m"
    assert hostbook("init", str(repo), cwd=tmp_path).returncode == 0
    before = files_under(tmp_path)
    host = "../../../escaped"
    commands = [
        ["run", "--jobs-file", str(jobs), "--host", host, "--no-notify"],
        ["status", "--jobs-file", str(jobs), "--host", host],
        ["capture", "--repo", str(repo), "--host", host, "--only", "system",
         "--replay", str(FIXTURES / "system-debian12")],
        ["plan", "retention", host, "--repo", str(repo)],
        ["restore", "plan", host, "--repo", str(repo)],
        ["show", host, "--repo", str(repo)],
        ["log", host, "--repo", str(repo)],
    ]
    for argv in commands:
        result = hostbook(*argv, cwd=deep)
        assert result.returncode == 2, (argv, result.stderr)
        assert result.stderr.count("\n") == 1, (argv, result.stderr)
        assert "invalid host name '../../../escaped'" in result.stderr, argv
        assert "Traceback" not in result.stderr
    assert files_under(tmp_path) == before
