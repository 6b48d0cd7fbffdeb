"""Users and ownership, for real: an unprivileged user, and root in a user's repository.

* ``nobody`` capturing into a root-owned repository, or running jobs with a
  root-owned state directory, got a PermissionError traceback and exit 1
  ("partial"); now one line naming the path, exit 3, nothing written.
* root capturing into a repository ``nobody`` owns left root-owned files in
  ``.git`` so the owner could no longer commit; now root acts as the owner
  there: nothing root-owned is left (what an earlier run left is handed
  back), the owner commits, and the owner's hooks run as the owner.

The venv's interpreter lives under /root, out of nobody's reach, so nobody
cannot start hostbook; the unprivileged runs are the real CLI in a forked
child that has dropped to nobody for good.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

import pytest

from hostbook.cli import cli
from hostbook.manifest.store import ManifestRepository
from tests.paths import FIXTURES
from tests.unit.jobs.archive.test_base import shared_tmp as shared_tmp_fixture

pytestmark = pytest.mark.loop

NOBODY = 65534
RECORDING = FIXTURES / "system-debian12"
shared = shared_tmp_fixture  # a folder nobody can reach (pytest's tmp is root-only)


def _preload() -> None:
    """Import what the commands import lazily: nobody cannot read the stdlib under /root."""
    import hostbook.capture.collect
    import hostbook.capture.workflow
    import hostbook.jobs.run.events
    import hostbook.jobs.run.jobs_file
    import hostbook.jobs.run.orchestrator
    import hostbook.manifest.config
    import hostbook.manifest.sections.retention  # noqa: F401


def as_nobody(*argv: str) -> tuple[int, str]:
    """Run ``hostbook ARGV`` as nobody; (exit code, stderr)."""
    _preload()
    with tempfile.TemporaryFile() as err:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 1
            try:
                sys.stdout = io.StringIO()
                sys.stderr = open(err.fileno(), "w", closefd=False)  # noqa: SIM115
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
                try:
                    cli.main(list(argv), prog_name="hostbook")
                    code = 0
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else 1
                except BaseException:
                    traceback.print_exc()  # what python itself prints, with its exit 1
            finally:
                with contextlib.suppress(Exception):
                    sys.stderr.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        err.seek(0)
        return os.waitstatus_to_exitcode(status), err.read().decode()


def tree(root: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(root)), p.stat().st_mtime_ns) for p in root.rglob("*"))


def test_nobody_capturing_into_roots_repository_gets_one_line_and_exit_3(
    loop_tier: None, shared: Path
) -> None:
    repo = ManifestRepository.init(shared / "m").path
    before = tree(repo)
    code, stderr = as_nobody("capture", "--repo", str(repo), "--only", "system",
                             "--replay", str(RECORDING))
    assert code == 3, stderr
    assert stderr.splitlines() == [
        f"hostbook: {repo}: manifest repository not writable by nobody (owned by root); run "
        "hostbook as its owner or as root, or pass --repo with a repository you can write"
    ]
    assert tree(repo) == before


def test_nobody_running_with_roots_state_dir_gets_one_line_and_exit_3(
    loop_tier: None, shared: Path
) -> None:
    state = shared / "state"
    state.mkdir(mode=0o700)
    (shared / "data").mkdir()
    jobs = shared / "jobs.yaml"
    jobs.write_text(f"""\
schema: hostbook/jobs/v1
settings: {{state_dir: {state}, mount_root: {shared / 'mnt'}}}
jobs:
  - name: data
    volume: {{path: {shared / 'data'}}}
    archive: [{{tool: tar, destination: {shared / 'tar'}}}]
""")
    code, stderr = as_nobody("run", "--jobs-file", str(jobs), "--host", "h", "--no-notify")
    assert code == 3, stderr
    assert stderr.splitlines() == [
        f"hostbook: {state}: state directory not writable by nobody (owned by root); run "
        "hostbook as its owner (root for system jobs), or pass --state-dir"
    ]
    assert os.listdir(state) == [] and not (shared / "tar").exists()


def as_user(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv],
        cwd=cwd, capture_output=True, text=True, check=False,
        env={"PATH": os.environ["PATH"], "HOME": str(cwd), "GIT_AUTHOR_NAME": "n",
             "GIT_AUTHOR_EMAIL": "n@x", "GIT_COMMITTER_NAME": "n", "GIT_COMMITTER_EMAIL": "n@x"},
    )


def capture(repo: Path, host: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hostbook", "capture", "--repo", str(repo), "--only", "system",
         "--replay", str(RECORDING), "--host", host],
        capture_output=True, text=True, check=False,
    )


def root_owned(repo: Path) -> list[str]:
    return sorted(str(p.relative_to(repo)) for p in [repo, *repo.rglob("*")]
                  if p.lstat().st_uid == 0)


def test_root_capturing_into_nobodys_repository_writes_as_nobody(
    loop_tier: None, shared: Path
) -> None:
    repo = shared / "m"
    repo.mkdir()
    os.chown(repo, NOBODY, NOBODY)
    assert as_user("git", "init", "-q", "-b", "main", str(repo), cwd=shared).returncode == 0
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text(f"#!/bin/sh\nid -u >> {repo}/.git/hook-uids\n")
    hook.chmod(0o755)
    os.chown(hook, NOBODY, NOBODY)

    first = capture(repo, "web1")
    assert first.returncode == 0, first.stderr
    assert root_owned(repo) == []
    # root's own git in the repository leaves .git/index root's; the next capture hands
    # it back.  (read-tree writes the index every time; a git status writes it only when
    # it refreshed an entry, which depends on the clock and was not always so.)
    subprocess.run(["git", "-c", f"safe.directory={repo}", "-C", str(repo), "read-tree",
                    "HEAD"], capture_output=True, check=True)
    assert ".git/index" in root_owned(repo)
    second = capture(repo, "web2")
    assert second.returncode == 0, second.stderr
    assert root_owned(repo) == []
    assert (repo / ".git" / "hook-uids").read_text().split() == [str(NOBODY)] * 2

    (repo / "hosts" / "web1" / "notes.txt").write_text("by hand\n")
    os.chown(repo / "hosts" / "web1" / "notes.txt", NOBODY, NOBODY)
    added = as_user("git", "add", "hosts/web1/notes.txt", cwd=repo)
    committed = as_user("git", "commit", "-qm", "notes", cwd=repo)
    assert added.returncode == 0 and committed.returncode == 0, added.stderr + committed.stderr
    log = as_user("git", "log", "--format=%s", cwd=repo).stdout.splitlines()
    assert log == ["notes", "system: +system file", "system: +system file"]
