"""The git-backed manifest repository: commits, locking, ownership, pushing."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import time
from pathlib import Path

import pytest

from hostbook.manifest.errors import BadInputError, RuntimeFailure
from hostbook.manifest.store import ManifestRepository
from hostbook.manifest.yamlio import atomic_write_text
from tests.tiers import require_root


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout


def write_host(repo: ManifestRepository, text: str, host: str = "h1") -> None:
    atomic_write_text(repo.section_path(host, "system"), text)


def test_init_is_idempotent_and_commits_only_on_change(tmp_path: Path) -> None:
    repo = ManifestRepository.init(tmp_path / "m")
    assert ManifestRepository.init(tmp_path / "m").path == repo.path
    assert git(repo.path, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    write_host(repo, "schema: hostbook/system/v1\n")
    sha = repo.commit_host("h1", "system: +system file")
    assert sha and repo.commit_host("h1", "again") is None
    assert [c.subject for c in repo.log("h1")] == ["system: +system file"]
    assert repo.hosts() == ["h1"]


def test_head_commit_is_read_from_loose_and_packed_refs(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    git(tmp_path, "init", "-q", "-b", "main", str(empty))
    assert ManifestRepository(empty).head_commit() is None
    repo = ManifestRepository.init(tmp_path / "m")
    write_host(repo, "schema: hostbook/system/v1\n")
    sha = repo.commit_host("h1", "system: +system file")
    assert repo.head_commit() == sha == git(repo.path, "rev-parse", "HEAD").strip()
    git(repo.path, "pack-refs", "--all", "--prune")
    assert not (repo.path / ".git/refs/heads/main").exists()
    assert repo.head_commit() == sha


def test_invalid_host_names_are_refused(tmp_path: Path) -> None:
    repo = ManifestRepository.init(tmp_path / "m")
    for bad in ("", "../etc", ".git", "a/b"):
        with pytest.raises(BadInputError):
            repo.host_dir(bad)


def test_open_requires_a_repository(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="not a hostbook manifest repository"):
        ManifestRepository.open(tmp_path)


def _hold_lock(path: str, ready: multiprocessing.synchronize.Event, hold: float) -> None:
    with ManifestRepository(Path(path)).lock():
        ready.set()
        time.sleep(hold)


def test_lock_serialises_two_writers(tmp_path: Path) -> None:
    repo = ManifestRepository.init(tmp_path / "m")
    ready = multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold_lock, args=(str(repo.path), ready, 1.0))
    holder.start()
    try:
        assert ready.wait(10)
        with (
            pytest.raises(RuntimeFailure, match="holds the repository lock"),
            repo.lock(timeout=0.2),
        ):
            pass
        started = time.monotonic()
        with repo.lock(timeout=10):
            waited = time.monotonic() - started
        assert waited > 0.3  # it waited for the holder instead of interleaving
    finally:
        holder.join(10)


def test_git_helper_processes_are_closed(tmp_path: Path) -> None:
    repo = ManifestRepository.init(tmp_path / "m")
    write_host(repo, "schema: hostbook/system/v1\n")
    repo.commit_host("h1", "first")
    repo.committed_text("h1", "system")
    repo.log("h1")
    children = subprocess.run(
        ["ps", "-o", "pid=,comm=", "--ppid", str(os.getpid())],
        capture_output=True, text=True, check=False,
    ).stdout
    assert "git" not in children


def test_repository_owned_by_another_user(tmp_path: Path) -> None:
    require_root("owning files as another user")
    repo = ManifestRepository.init(tmp_path / "m")
    subprocess.run(["chown", "-R", "nobody:nogroup", str(repo.path)], check=True)
    # Plain git refuses this repository ("dubious ownership"); hostbook does not.
    plain = subprocess.run(
        ["git", "-C", str(repo.path), "status"],
        capture_output=True, text=True, check=False,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
    )
    assert plain.returncode != 0 and "dubious ownership" in plain.stderr
    write_host(repo, "schema: hostbook/system/v1\n")
    assert repo.commit_host("h1", "as root into nobody's repo")
    assert repo.log("h1")[0].subject == "as root into nobody's repo"


def _fleet_remote(tmp_path: Path) -> tuple[ManifestRepository, Path, Path]:
    """A repository that pushed once to a bare remote, and another clone of that remote."""
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    repo = ManifestRepository.init(tmp_path / "m")
    git(repo.path, "remote", "add", "origin", str(remote))
    write_host(repo, "schema: hostbook/system/v1\n")
    repo.commit_host("h1", "first")
    assert repo.push() == "origin"
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(remote), str(other)], check=True)
    return repo, remote, other


def _push_other(other: Path, path: str, text: str) -> str:
    (other / path).parent.mkdir(parents=True, exist_ok=True)
    (other / path).write_text(text)
    git(other, "add", path)
    git(other, "-c", "user.name=o", "-c", "user.email=o@x", "commit", "-qm", "theirs")
    git(other, "push", "-q", "origin", "main")
    return git(other, "rev-parse", "HEAD").strip()


def test_push_rebases_onto_what_others_pushed_and_never_forces(tmp_path: Path) -> None:
    repo, remote, other = _fleet_remote(tmp_path)
    theirs = _push_other(other, "hosts/h2/system.yaml", "schema: hostbook/system/v1\n")
    write_host(repo, "schema: hostbook/system/v1\nhostname: h1\n")
    repo.commit_host("h1", "ours")
    assert repo.push() == "origin"
    log = git(remote, "log", "--format=%s", "main").splitlines()
    assert log == ["ours", "theirs", "first", "init hostbook manifest repository"]
    git(remote, "merge-base", "--is-ancestor", theirs, "main")  # fails if it is not


def test_push_reports_a_conflict_and_never_forces(tmp_path: Path) -> None:
    repo, remote, other = _fleet_remote(tmp_path)
    theirs = _push_other(other, "hosts/h1/system.yaml", "schema: hostbook/system/v1\n# x\n")
    write_host(repo, "schema: hostbook/system/v1\nhostname: h1\n")
    repo.commit_host("h1", "ours")
    with pytest.raises(RuntimeFailure, match="conflict"):
        repo.push()
    assert git(remote, "rev-parse", "main").strip() == theirs
    assert git(repo.path, "status", "--porcelain").strip() == ""  # the rebase was undone
    assert git(repo.path, "log", "-1", "--format=%s").strip() == "ours"


def test_push_without_remote_is_a_usage_error(tmp_path: Path) -> None:
    repo = ManifestRepository.init(tmp_path / "m")
    with pytest.raises(BadInputError, match="no remote"):
        repo.push()


