"""Who can read what hostbook writes: archives, databases and run state are root's alone.

An unprivileged user could extract a root-only 0600 file from a tar archive
written 0644 in a 0755 directory; integrity databases (every path, owner and
hash) and the run state were world-readable too.  Now they are 0600 in
folders created 0700 whatever the umask, while the manifest follows the
umask, and a password or env file others can read is warned about once.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostbook.jobs.archive import tar as archive_tar
from hostbook.jobs.archive.streams.writer import stream_to_file
from hostbook.jobs.integrity import database as sure_db
from hostbook.jobs.integrity import sure
from hostbook.jobs.run.history import History, Outcome, history_path
from hostbook.jobs.run.lock import host_lock
from hostbook.jobs.run.orchestrator import journal_path
from hostbook.jobs.run.run_journal import Journal
from hostbook.manifest.sections.jobs import TarArchive
from hostbook.process.runner import LiveRunner
from hostbook.restore.apply.apply_journal import Journal as RestoreJournal
from tests.paths import FIXTURES
from tests.unit.jobs.archive.test_base import context, make_tree, needs, request


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The usual umask 022, under which files used to come out 0644."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@needs("tar", "zstd")
def test_tar_archives_are_private(tmp_path: Path, open_umask: None) -> None:
    source = tmp_path / "source"
    source.mkdir()
    make_tree(source)  # etc/app/config.ini is 0600
    destination = tmp_path / "backups" / "tar"
    ctx, _log = context()
    spec = TarArchive.model_validate({"tool": "tar", "destination": str(destination)})
    result = archive_tar.archive(request(ctx, source), spec)
    assert result.status == "ok", result.message
    archive = destination / str(result.archive_id)
    assert mode(archive) == 0o600
    assert mode(destination) == 0o700
    assert mode(destination.parent) == 0o755  # only the folder hostbook made for archives
    listing = subprocess.run(
        ["tar", "--list", "--file", str(archive), "--use-compress-program", "zstd -d"],
        capture_output=True, text=True, check=True,
    ).stdout
    assert "./etc/app/config.ini" in listing.splitlines()  # the root-only file is inside


def test_sure_databases_are_private_both_ways_of_writing(tmp_path: Path,
                                                         open_umask: None) -> None:
    source = tmp_path / "source"
    source.mkdir()
    make_tree(source)
    for workers in (1, 2):  # streamed while scanning, or written after a parallel scan
        store = tmp_path / f"store{workers}" / "path-data"
        database = store / f"20240501T120000Z{sure_db.SUFFIX}"
        sure.update(source, database, workers=workers)
        assert mode(database) == 0o600, workers
        assert mode(store) == 0o700
        assert sure.check(source, database) == []


def test_run_state_is_private_and_old_state_is_narrowed(tmp_path: Path,
                                                        open_umask: None) -> None:
    state = tmp_path / "state"
    with host_lock(state, "h") as lock:
        assert mode(lock) == 0o600
    assert mode(state) == 0o700
    history = History(history_path(state, "h"))
    history.path.parent.mkdir(mode=0o755)
    history.path.write_text("")  # as an earlier release left them: 0755 and 0644
    history.path.chmod(0o644)
    history.append(Outcome(run="r", job="j", volume="/v", volume_key="path-v", status="ok",
                           started=1.0, finished=2.0))
    journal = Journal(journal_path(state, "h"))
    journal.begin(["snap"], ["j"])
    journal.intend("mount", "path-v", target="/mnt/x")
    journal.end()
    for path in (history.path, journal.path):
        assert mode(path) == 0o600, path
        assert mode(path.parent) == 0o700, path.parent
    restore = RestoreJournal(state / "restore" / "h@sda.journal")
    restore.record("wipe", "f", "done")
    assert mode(restore.path) == 0o600 and mode(restore.path.parent) == 0o700


def test_archive_streams_are_private(tmp_path: Path, open_umask: None) -> None:
    target = tmp_path / "stream.zfs"
    stream_to_file(LiveRunner(), ["printf", "stream"], target, compress="none")
    assert target.read_bytes() == b"stream" and mode(target) == 0o600


def capture_with_umask(repo: Path, umask: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hostbook", "capture", "--repo", str(repo), "--only", "system",
         "--replay", str(FIXTURES / "system-debian12")],
        capture_output=True, text=True, check=False, preexec_fn=lambda: os.umask(umask),
    )


@pytest.mark.parametrize(("umask", "expected"), [(0o027, 0o640), (0o002, 0o664)])
def test_the_manifest_follows_the_umask(tmp_path: Path, umask: int, expected: int) -> None:
    repo = tmp_path / "m"
    result = capture_with_umask(repo, umask)
    assert result.returncode == 0, result.stderr
    assert mode(repo / "hosts" / "vm" / "system.yaml") == expected


@needs("restic")
def test_readable_password_and_env_files_are_warned_about_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    shared = tmp_path / "restic.pass"
    shared.write_text("pw\n")
    shared.chmod(0o644)
    env_file = tmp_path / "restic.env"
    env_file.write_text("RESTIC_COMPRESSION=auto\n")
    env_file.chmod(0o640)
    private = tmp_path / "private.pass"
    private.write_text("pw\n")
    private.chmod(0o600)
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(f"""\
schema: hostbook/jobs/v1
settings: {{state_dir: {tmp_path / 'state'}, mount_root: {tmp_path / 'mnt'},
            sure_store: {tmp_path / 'sure'}}}
jobs:
  - name: data
    volume: {{path: {data}}}
    archive:
      - {{tool: restic, name: one, repository: {tmp_path / 'r1'}, password_file: {shared},
          env_file: {env_file}}}
      - {{tool: restic, name: two, repository: {tmp_path / 'r2'}, password_file: {shared}}}
      - {{tool: restic, name: three, repository: {tmp_path / 'r3'}, password_file: {private}}}
""")
    result = subprocess.run(
        [sys.executable, "-m", "hostbook", "run", "--dry-run", "--jobs-file", str(jobs),
         "--host", "h", "--no-notify", "--json"],
        capture_output=True, text=True, check=False,
        env={**os.environ, "RESTIC_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"warning: {shared} (password_file) is readable by group or others (mode 0644): "
        f"chmod 600 {shared}",
        f"warning: {env_file} (env_file) is readable by group or others (mode 0640): "
        f"chmod 600 {env_file}",
    ]
    assert str(private) not in result.stderr
