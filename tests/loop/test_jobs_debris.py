"""``kill -9`` of a real ``hostbook run`` mid-archive: the next run removes what it left.

A killed run left tar ``.partial`` files (361 MB from five kills) that nothing
ever removed, and restic or borg locks that made ``restic check`` and the
next borg command fail from then on.  Here the whole process group (hostbook
and the tool it runs) gets SIGKILL while the archive is being written; the
next run removes its dead run's leftovers, says so, and the repository
checks clean.  Root: provider ``none`` bind-mounts the volume.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hostbook.jobs.run.orchestrator import journal_path
from hostbook.jobs.run.run_journal import Journal
from hostbook.jobs.snapshot.stable_mount import mounted_at
from tests.unit.jobs.archive.test_base import needs

pytestmark = pytest.mark.loop

HOST = "h"


def write_jobs(tmp_path: Path, archiver: str) -> Path:
    path = tmp_path / "jobs.yaml"
    path.write_text(f"""\
schema: hostbook/jobs/v1
settings: {{state_dir: {tmp_path / 'state'}, mount_root: {tmp_path / 'mnt'},
            sure_store: {tmp_path / 'sure'}}}
jobs:
  - name: data
    volume: {{path: {tmp_path / 'data'}}}
    sure: {{enabled: false}}
    archive: [{archiver}]
""")
    return path


def hostbook_run(jobs: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "hostbook", "run", "--jobs-file", str(jobs), "--host", HOST,
         "--no-notify", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,  # its own process group: hostbook and its tools
    )


def kill_mid_archive(proc: subprocess.Popen[str], archiving: Callable[[], bool]) -> None:
    """SIGKILL hostbook and every process under it at once, as ``systemctl kill -s KILL``
    (the unit's whole cgroup) does: the tools get no chance to clean up either.

    The tools run in sessions of their own, so a process group is not enough: the
    tree is found through the parent pids and killed deepest first, before the
    death signal hostbook arranges for them could reach them.
    """
    deadline = time.monotonic() + 60
    while not archiving():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run never got to its archive"
        time.sleep(0.05)
    tree = descendants(proc.pid)
    for pid in [*reversed(tree), proc.pid]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.communicate()
    # The tools it ran are reaped by init, not by us; until then a zombie's pid still
    # answers kill(0), and restic would take its lock for a live one.
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{pid}").exists() for pid in tree):
        assert time.monotonic() < deadline, "the killed tools were never reaped"
        time.sleep(0.05)


def descendants(root: int) -> list[int]:
    """Every process below ``root``, parents before their children."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    found: list[int] = []
    frontier = [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def next_run(jobs: Path, env: dict[str, str]) -> tuple[dict[str, object], list[str]]:
    """Run again to the end; the summary and the messages of the cleanup."""
    proc = hostbook_run(jobs, env)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stdout + stderr
    events = [json.loads(line) for line in stdout.splitlines()]
    messages = [str(e.get("message")) for e in events if e["event"] == "message"]
    return events[-1], messages


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "blob").write_bytes(os.urandom(1_000_000))
    password = tmp_path / "repo.pass"
    password.write_text("correct horse battery staple\n")
    password.chmod(0o600)
    return {**os.environ, "RESTIC_CACHE_DIR": str(tmp_path / "restic-cache"),
            "BORG_BASE_DIR": str(tmp_path / "borg-home")}


def restic_locks(repository: Path) -> list[str]:
    """Whole lock files (the local backend writes ``<id>-tmp-<n>`` first, then renames)."""
    if not (repository / "locks").is_dir():
        return []
    return [n for n in os.listdir(repository / "locks") if "-tmp-" not in n]


def creating(repository: Path) -> bool:
    """A ``borg create`` into ``repository`` is running (past ``borg init``)."""
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"create" in argv and any(a.startswith(f"{repository}::".encode()) for a in argv):
            return True
    return False


def rerun_cleans_up(tmp_path: Path, jobs: Path, env: dict[str, str], said: str) -> None:
    """The next run says ``said`` about its dead run's leftover and undoes the rest too."""
    summary, messages = next_run(jobs, env)
    assert any(m.startswith("leftover of interrupted run ") and said in m
               for m in messages), messages
    stable = tmp_path / "mnt" / f"path-{str(tmp_path / 'data').strip('/').replace('/', '-')}"
    assert any(str(stable) in c for c in summary["cleaned"])  # type: ignore[attr-defined]
    assert mounted_at(str(stable)) is None
    assert Journal(journal_path(tmp_path / "state", HOST)).open_resources() == []


@needs("tar", "zstd")
def test_a_killed_tar_leaves_a_partial_the_next_run_removes(
    loop_tier: None, tmp_path: Path, env: dict[str, str]
) -> None:
    archives = tmp_path / "tar"
    slow = '"--checkpoint=1", "--checkpoint-action=sleep=60"'  # tar waits after one record
    jobs = write_jobs(tmp_path, f"{{tool: tar, destination: {archives}, extra_args: [{slow}]}}")
    kill_mid_archive(hostbook_run(jobs, env),
                     lambda: any(p.name.endswith(".partial") for p in archives.glob(".*")))
    (partial,) = archives.glob(".*.partial")

    write_jobs(tmp_path, f"{{tool: tar, destination: {archives}}}")
    rerun_cleans_up(tmp_path, jobs, env, f"removed partial {partial} (")
    assert not partial.exists()
    # the one finished archive, and the labels written beside it
    (archive,) = [p for p in archives.iterdir() if p.name.endswith(".tar.zst")]
    assert sorted(archives.iterdir()) == [archive, archive.with_name(archive.name + ".json")]


@needs("restic")
def test_a_killed_restic_leaves_a_lock_the_next_run_removes(
    loop_tier: None, tmp_path: Path, env: dict[str, str]
) -> None:
    repository = tmp_path / "restic"
    base = (f"tool: restic, repository: {repository}, password_file: {tmp_path / 'repo.pass'}, "
            "init: true")
    jobs = write_jobs(tmp_path, f'{{{base}, extra_args: ["--limit-upload", "20"]}}')
    kill_mid_archive(hostbook_run(jobs, env), lambda: len(restic_locks(repository)) == 1)
    restic = ["restic", "--repo", str(repository), "--password-file", str(tmp_path / "repo.pass")]
    stale = subprocess.run([*restic, "check"], capture_output=True, text=True, env=env)
    assert stale.returncode != 0 and "already locked" in stale.stderr  # what a kill leaves

    write_jobs(tmp_path, f"{{{base}}}")
    rerun_cleans_up(tmp_path, jobs, env,
                    f"restic unlock removed 1 stale lock(s) in {repository}")
    check = subprocess.run([*restic, "check"], capture_output=True, text=True, env=env)
    assert check.returncode == 0, check.stderr


@needs("borg")
def test_a_killed_borg_leaves_a_lock_the_next_run_breaks(
    loop_tier: None, tmp_path: Path, env: dict[str, str]
) -> None:
    repository = tmp_path / "borg"
    os.mkfifo(tmp_path / "data" / "fifo")  # borg --read-special waits on it, holding the lock
    base = (f"tool: borg, repository: {repository}, password_file: {tmp_path / 'repo.pass'}, "
            "init: true, encryption: repokey")
    jobs = write_jobs(tmp_path, f'{{{base}, extra_args: ["--read-special"]}}')
    kill_mid_archive(hostbook_run(jobs, env),
                     lambda: (repository / "lock.exclusive").is_dir() and creating(repository))

    write_jobs(tmp_path, f"{{{base}}}")
    rerun_cleans_up(tmp_path, jobs, env, "borg break-lock removed the lock of dead pid ")
    check = subprocess.run(["borg", "check", str(repository)], capture_output=True, text=True,
                           env={**env, "BORG_PASSCOMMAND": f"cat {tmp_path / 'repo.pass'}"})
    assert check.returncode == 0, check.stderr
