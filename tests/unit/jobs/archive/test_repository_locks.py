"""Repository locks a killed restic or borg leaves: removed when they are ours, else kept.

A restic killed mid-backup leaves its lock and ``restic check`` refuses to
run from then on; a borg killed mid-create leaves ``lock.exclusive`` and the
next borg command fails ("Failed to create/acquire the lock").  Real
repositories and real processes, killed for real: no root needed (a lock of
another host comes from restic in its own UTS namespace, or from borg with
another ``BORG_HOST_ID``).  The whole-run case (``kill -9`` of ``hostbook run``
itself) is in tests/loop/test_jobs_debris.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hostbook.jobs.archive import borg as archive_borg
from hostbook.jobs.archive import restic as archive_restic
from hostbook.jobs.archive.base import ArchiveResult
from hostbook.jobs.archive.repository import secrets_of
from hostbook.jobs.run.context import FAILED, OK
from hostbook.jobs.run.resource_kind import Undone
from hostbook.jobs.run.run_journal import Journal, Resource
from hostbook.jobs.run.undo import undo
from hostbook.manifest.sections.jobs import BorgArchive, RepositoryArchive, ResticArchive
from hostbook.process.runner import LiveRunner
from tests.unit.jobs.archive.test_base import context, needs, request

SLOW = ["--limit-upload", "20"]
"""restic uploads at 20 KiB/s: a 1 MB file keeps the backup (and its lock) going ~50 s."""


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "repo.pass"
    path.write_text("correct horse battery staple\n")
    path.chmod(0o600)
    monkeypatch.setenv("RESTIC_CACHE_DIR", str(tmp_path / "restic-cache"))
    monkeypatch.setenv("BORG_BASE_DIR", str(tmp_path / "borg-home"))
    monkeypatch.delenv("BORG_PASSPHRASE", raising=False)
    monkeypatch.delenv("BORG_HOST_ID", raising=False)
    return path


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Tools a test starts; whatever is still running at the end is killed."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def source_tree(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    source.mkdir()
    (source / "blob").write_bytes(os.urandom(1_000_000))
    return source


def dead_run_left(tmp_path: Path, kind: str, spec: RepositoryArchive) -> Resource:
    """The journal of a run killed while its tool held the repository (as guarded() writes it)."""
    journal = Journal(tmp_path / "state" / "journal" / "h.jsonl")
    journal.begin(["archive"], ["data"])
    journal.intend(kind, "path-data", target=spec.repository, **secrets_of(spec))
    (resource,) = journal.state().resources
    assert not resource.run_finished
    return resource


# -- restic -----------------------------------------------------------------------------


def restic_spec(repository: Path, password: Path, **extra: object) -> ResticArchive:
    return ResticArchive.model_validate({"tool": "restic", "repository": str(repository),
                                         "password_file": str(password), "init": True,
                                         **extra})


def restic(repository: Path, password: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["restic", "--repo", str(repository), "--password-file",
                           str(password), *args], capture_output=True, text=True, check=False)


def restic_locks(repository: Path, password: Path) -> set[str]:
    """The lock ids, as the local backend stores them: one file each, named by its id
    (``<id>-tmp-<n>`` while it is being written, renamed when whole)."""
    return {name for name in os.listdir(repository / "locks") if "-tmp-" not in name}


def start_backup(repository: Path, password: Path, source: Path,
                 processes: list[subprocess.Popen[bytes]], host: str | None = None) -> str:
    """A slow real backup; returns the id of the lock it took."""
    before = restic_locks(repository, password)
    argv = ["restic", "--repo", str(repository), "--password-file", str(password), "backup",
            *SLOW, str(source)]
    if host is not None:  # restic names the lock after the kernel's hostname
        argv = ["unshare", "--user", "--map-root-user", "--uts", "sh", "-c",
                f'hostname {host} && exec "$@"', "sh", *argv]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    processes.append(proc)
    wait_for(lambda: len(restic_locks(repository, password) - before) == 1, "restic's lock")
    (lock,) = restic_locks(repository, password) - before
    return lock


def kill_9(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def killed_by_the_timeout(tmp_path: Path, archive: Callable[..., ArchiveResult],
                          spec: RepositoryArchive, source: Path) -> list[str]:
    """Run an archiver whose tool the timeout kills; its log (the journal must end empty)."""
    ctx, log = context()
    ctx.journal = Journal(tmp_path / "journal.jsonl")
    ctx.journal.begin(["archive"], ["data"])
    result = archive(request(ctx, source), spec)
    assert result.status == FAILED and "timed out" in result.message, result.message
    assert ctx.journal.open_resources() == []
    return log


@needs("restic")
def test_a_restic_killed_by_the_timeout_has_its_lock_removed_at_once(
    tmp_path: Path, password: Path
) -> None:
    repository = tmp_path / "repo"
    spec = restic_spec(repository, password, extra_args=SLOW, timeout="2s")
    log = killed_by_the_timeout(tmp_path, archive_restic.archive, spec, source_tree(tmp_path))
    assert f"restic was killed: restic unlock removed 1 stale lock(s) in {repository}" in log
    assert restic_locks(repository, password) == set()
    check = restic(repository, password, "check")
    assert check.returncode == 0, check.stderr


@needs("restic", "unshare")
def test_the_next_run_removes_only_its_dead_runs_restic_lock(
    tmp_path: Path, password: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    repository = tmp_path / "repo"
    assert restic(repository, password, "init").returncode == 0
    source = source_tree(tmp_path)
    spec = restic_spec(repository, password)
    ours = start_backup(repository, password, source, processes)
    kill_9(processes[-1])
    foreign = start_backup(repository, password, source, processes, host="otherhost")
    kill_9(processes[-1])
    live = start_backup(repository, password, source, processes)
    assert restic_locks(repository, password) == {ours, foreign, live}

    outcome = undo(LiveRunner(), dead_run_left(tmp_path, archive_restic.LOCK, spec))
    assert outcome == Undone(
        f"restic unlock removed 1 stale lock(s) in {repository}; 2 lock(s) of live "
        "processes or other hosts left alone"
    )
    assert restic_locks(repository, password) == {foreign, live}


@needs("restic")
def test_no_lock_left_is_said_so(tmp_path: Path, password: Path) -> None:
    repository = tmp_path / "repo"
    assert restic(repository, password, "init").returncode == 0
    resource = dead_run_left(tmp_path, archive_restic.LOCK, restic_spec(repository, password))
    assert undo(LiveRunner(), resource) == Undone(
        f"no restic lock left in {repository}"
    )



@needs("restic")
def test_a_local_repository_without_locks_is_not_asked_for_a_password(
    tmp_path: Path, password: Path
) -> None:
    """A run killed while restic waited for its password left no lock: nothing blocks.

    The password file is a FIFO nobody writes (as in the lab's kill test): restic
    would wait on it until its timeout, in every later run that undoes the journal.
    """
    repository = tmp_path / "repo"
    assert restic(repository, password, "init").returncode == 0
    fifo = tmp_path / "pass.fifo"
    os.mkfifo(fifo)
    runner = LiveRunner()
    for target in (str(repository), f"local:{repository}"):
        spec = restic_spec(repository, fifo).model_copy(update={"repository": target})
        resource = dead_run_left(tmp_path / target.replace("/", "_"), archive_restic.LOCK, spec)
        assert undo(runner, resource) == Undone(f"no restic lock left in {target}")
    missing = restic_spec(tmp_path / "gone", fifo)
    resource = dead_run_left(tmp_path / "gone-state", archive_restic.LOCK, missing)
    assert undo(runner, resource) == Undone(
        f"no restic repository at {tmp_path / 'gone'}: no lock to remove")
    assert runner.stats.commands == 0

# -- borg -------------------------------------------------------------------------------


def borg_spec(repository: Path, password: Path, **extra: object) -> BorgArchive:
    return BorgArchive.model_validate({"tool": "borg", "repository": str(repository),
                                       "password_file": str(password), "init": True,
                                       "encryption": "repokey", **extra})


def borg(password: Path, *args: str, env: dict[str, str] | None = None,
         cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["borg", *args], capture_output=True, text=True, check=False,
                          cwd=cwd, env={**os.environ, "BORG_PASSCOMMAND": f"cat {password}",
                                        **(env or {})})


def blocked_tree(tmp_path: Path) -> Path:
    """A tree with a FIFO: ``borg create --read-special`` waits on it, holding its lock."""
    source = tmp_path / "blocked"
    source.mkdir()
    (source / "file").write_text("data\n")
    os.mkfifo(source / "fifo")
    return source


def start_create(repository: Path, password: Path, source: Path, name: str,
                 processes: list[subprocess.Popen[bytes]],
                 env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        ["borg", "create", "--read-special", f"{repository}::{name}", "."], cwd=source,
        env={**os.environ, "BORG_PASSCOMMAND": f"cat {password}", **(env or {})},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    processes.append(proc)
    wait_for(lambda: (repository / "lock.exclusive").is_dir()
             and any(n.endswith(f".{proc.pid}-0") for n in os.listdir(
                 repository / "lock.exclusive")), "borg's lock")
    return proc


@needs("borg")
def test_a_borg_killed_by_the_timeout_has_its_lock_broken_at_once(
    tmp_path: Path, password: Path
) -> None:
    repository = tmp_path / "repo"
    spec = borg_spec(repository, password, extra_args=["--read-special"], timeout="3s")
    log = killed_by_the_timeout(tmp_path, archive_borg.archive, spec, blocked_tree(tmp_path))
    notes = [line for line in log if line.startswith("borg was killed: ")]
    assert len(notes) == 1, log
    assert notes[0].startswith("borg was killed: borg break-lock removed the lock of dead pid ")
    assert not (repository / "lock.exclusive").exists()
    check = borg(password, "check", str(repository))
    assert check.returncode == 0, check.stderr


@needs("borg")
def test_the_next_run_breaks_only_its_dead_runs_borg_lock(
    tmp_path: Path, password: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    repository = tmp_path / "repo"
    assert borg(password, "init", "--encryption=repokey", str(repository)).returncode == 0
    source = blocked_tree(tmp_path)
    spec = borg_spec(repository, password)
    resource = dead_run_left(tmp_path, archive_borg.LOCK, spec)
    ours = archive_borg.host_id({})

    # A live borg holds the lock: left alone, and named.
    live = start_create(repository, password, source, "live", processes)
    assert undo(LiveRunner(), resource) == Undone(
        f"borg lock in {repository} held by pid {live.pid} on {ours}: left alone"
    )
    kill_9(live)
    # Another host's dead borg: not ours to judge, left alone.
    assert borg(password, "break-lock", str(repository)).returncode == 0
    foreign = start_create(repository, password, source, "foreign", processes,
                           env={"BORG_HOST_ID": "otherhost@1"})
    kill_9(foreign)
    assert undo(LiveRunner(), resource) == Undone(
        f"borg lock in {repository} held by pid {foreign.pid} on otherhost@1: left alone"
    )
    assert (repository / "lock.exclusive").is_dir()
    # Our own dead borg: broken, and then borg check and the next archive work.
    assert borg(password, "break-lock", str(repository)).returncode == 0
    dead = start_create(repository, password, source, "dead", processes)
    kill_9(dead)
    assert undo(LiveRunner(), resource) == Undone(
        f"borg break-lock removed the lock of dead pid {dead.pid} in {repository}"
    )
    check = borg(password, "check", str(repository))
    assert check.returncode == 0, check.stderr
    calm = tmp_path / "calm"
    calm.mkdir()
    (calm / "file").write_text("data\n")
    done = archive_borg.archive(request(context()[0], calm), spec)
    assert done.status == OK, done.message
