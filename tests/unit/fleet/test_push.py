"""Two hosts pushing to one fleet remote at once, 50 rounds each: every capture lands.

Two clones of one bare remote, one per host, each in its own process, commit
a change to their own hosts/<name>/ and push 50 times, as the capture timer's
``capture --push`` does after committing (ManifestRepository.push: fetch,
rebase onto what the other pushed, bounded retries).  Afterwards the remote
holds all 100 commits, each host's last file, and its reflog shows that every
update of main was a fast-forward: nothing forced, nothing lost.
"""

from __future__ import annotations

import itertools
import multiprocessing
import subprocess
from pathlib import Path

import pytest

from hostbook.manifest.store import ManifestRepository
from hostbook.manifest.yamlio import atomic_write_text

ROUNDS = 50


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def rounds(path: str, host: str, start: multiprocessing.synchronize.Event) -> None:
    repo = ManifestRepository.open(Path(path))
    start.wait()
    for number in range(ROUNDS):
        atomic_write_text(repo.section_path(host, "system"),
                          f"schema: hostbook/system/v1\nhostname: {host}\n# round {number}\n")
        with repo.lock():
            assert repo.commit_host(host, f"{host}: round {number}")
            repo.push()


@pytest.mark.slow
def test_two_clones_push_fifty_rounds_each_and_nothing_is_lost(tmp_path: Path) -> None:
    remote = tmp_path / "fleet.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    git(remote, "config", "core.logAllRefUpdates", "always")
    first = ManifestRepository.init(tmp_path / "web1")
    git(first.path, "remote", "add", "origin", str(remote))
    first.push()
    subprocess.run(["git", "clone", "-q", str(remote), str(tmp_path / "web2")], check=True)
    start = multiprocessing.get_context("fork").Event()
    workers = [multiprocessing.get_context("fork").Process(
        target=rounds, args=(str(tmp_path / host), host, start)) for host in ("web1", "web2")]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(300)
    assert [w.exitcode for w in workers] == [0, 0]

    subjects = git(remote, "log", "--format=%s", "main").splitlines()
    for host in ("web1", "web2"):
        assert [s for s in subjects if s.startswith(f"{host}:")] == [
            f"{host}: round {n}" for n in reversed(range(ROUNDS))]
        text = git(remote, "show", f"main:hosts/{host}/system.yaml")
        assert text.endswith(f"# round {ROUNDS - 1}")
    # Every update of main on the remote was a fast-forward of the one before.
    updates = git(remote, "reflog", "show", "--format=%H", "main").splitlines()
    assert len(updates) > 2 * ROUNDS
    for newer, older in itertools.pairwise(updates):
        subprocess.run(["git", "-C", str(remote), "merge-base", "--is-ancestor", older, newer],
                       check=True)


def test_the_timers_capture_pushes_only_when_there_is_a_remote(tmp_path: Path) -> None:
    """``capture --push-if-remote`` (what hostbook-capture.service runs) over a real recording."""
    from click.testing import CliRunner

    from hostbook.cli import cli
    from tests.unit.review.captured import PAIRS

    args = ["capture", "--only", "storage", "--host", "laptop", "--push-if-remote",
            "--config", str(tmp_path / "config.json"), "--json"]
    (tmp_path / "config.json").write_text(
        '{"schema": "hostbook/config/v1", "storage": {"exclude_devices": ["vdb"]}}')
    alone = CliRunner().invoke(cli, [*args, "--repo", str(tmp_path / "alone"),
                                     "--replay", str(PAIRS / "before")])
    assert alone.exit_code == 0, alone.output
    assert '"pushed_to": null' in alone.output

    remote = tmp_path / "fleet.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    repo = ManifestRepository.init(tmp_path / "member")
    git(repo.path, "remote", "add", "origin", str(remote))
    pushed = CliRunner().invoke(cli, [*args, "--repo", str(repo.path),
                                      "--replay", str(PAIRS / "before")])
    assert pushed.exit_code == 0, pushed.output
    assert '"pushed_to": "origin"' in pushed.output
    assert git(remote, "log", "-1", "--format=%s", "main").startswith("storage: +storage file")
