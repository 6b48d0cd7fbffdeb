"""What every archiver is given and returns, and the set-up the archiver tests import:
a tree, a step context, a request.

The archivers run the real tools.  A file the tool cannot read needs the
tool to run as an unprivileged user (root reads everything): those runs are
made for real in the loop tier (tests/loop/test_jobs_unreadable.py) and
replayed here from their recordings, made under :data:`UNREADABLE`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hostbook.jobs.archive.base import PARTIAL, ArchiveRequest, ArchiveResult
from hostbook.jobs.integrity import sure
from hostbook.jobs.run.context import StepContext
from hostbook.jobs.run.resource_kind import Undone
from hostbook.jobs.run.run_journal import Journal
from hostbook.process.runner import DryRunRunner, LiveRunner, Runner
from tests.paths import FIXTURES

NOBODY = 65534
JOB_RECORDINGS = FIXTURES / "jobs"
UNREADABLE = Path("/tmp/hostbook-unreadable")
"""Where the recorded runs over a file the tool cannot read were made: a ``source`` with
a ``readable`` and a mode 000 ``secret`` file, the password file ``pass``, the ``repo``."""


def make_tree(root: Path) -> None:
    """A small tree with the kinds of entries a backup must bring back."""
    (root / "etc" / "app").mkdir(parents=True)
    (root / "etc" / "app" / "config.ini").write_text("[main]\nkey = value\n")
    (root / "etc" / "app" / "config.ini").chmod(0o600)
    (root / "data").mkdir()
    (root / "data" / "blob.bin").write_bytes(os.urandom(300_000))
    (root / "data" / "empty").write_bytes(b"")
    (root / "data" / "name with spaces.txt").write_text("spaces\n")
    (root / "link").symlink_to("etc/app/config.ini")
    (root / "bin").mkdir()
    (root / "bin" / "tool").write_text("#!/bin/sh\necho hi\n")
    (root / "bin" / "tool").chmod(0o755)
    os.utime(root / "data" / "empty", ns=(1_600_000_000_123_456_789, 1_600_000_000_123_456_789))


def flip_one_byte(path: Path, offset: int = 1000) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    info = path.stat()
    path.write_bytes(bytes(data))
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))


def context(host: str = "testhost", now: datetime | None = None,
            runner: Runner | None = None) -> tuple[StepContext, list[str]]:
    log: list[str] = []
    if runner is None:
        runner = LiveRunner(echo=lambda text: log.append(f"$ {text}"))
    ctx = StepContext(
        host=host, runner=runner, journal=Journal(Path("/nonexistent"), enabled=False),
        log=log.append, now=now or datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC),
    )
    return ctx, log


def request(ctx: StepContext, source: Path, job: str = "data", **kw: object) -> ArchiveRequest:
    return ArchiveRequest(
        ctx=ctx, job=job, volume=str(source), volume_key="path-data", source=str(source),
        **kw,  # type: ignore[arg-type]
    )


def record(source: Path, database: Path) -> None:
    sure.update(source, database)


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A temporary directory an unprivileged user can use (pytest's tmp is root-only)."""
    path = Path(tempfile.mkdtemp(prefix="hostbook-archive-"))
    path.chmod(0o777)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def needs(*tools: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    missing = [t for t in tools if shutil.which(t) is None]
    return pytest.mark.skipif(bool(missing), reason=f"needs {', '.join(missing)}")


# -- tests of hostbook.jobs.archive.base ---------------------------------------------------


def test_a_partial_file_is_removed_and_said_so(tmp_path: Path) -> None:
    ctx, _log = context()
    partial = tmp_path / ".archive.tar.zst.partial"
    partial.write_bytes(b"x" * 1234)
    resource = ctx.journal.intend(PARTIAL.name, "path-data", path=str(partial))
    assert PARTIAL.undo(ctx.runner, resource) == Undone(f"removed partial {partial} (1234 bytes)")
    assert not partial.exists()
    assert PARTIAL.undo(ctx.runner, resource) is None  # already gone: nothing to do
    partial.write_bytes(b"x")
    assert PARTIAL.undo(DryRunRunner(echo=print), resource) is None
    assert partial.exists()  # a dry run removes nothing
    assert PARTIAL.debris and not PARTIAL.deferred


def test_a_result_says_where_the_archive_went_unless_the_tool_said_more() -> None:
    done = ArchiveResult("nightly", "tar", "ok", "/b", archive_id="h-data.tar.zst", bytes=42)
    assert done.summary() == "/b h-data.tar.zst, 42 bytes"
    assert ArchiveResult("r", "restic", "failed", "/r").summary() == "/r"
    warned = ArchiveResult("r", "restic", "warning", "/r", "abc", message="1 file unreadable")
    assert warned.summary() == "1 file unreadable"


def test_every_archive_is_labelled_with_the_run_and_the_manifest_commit(tmp_path: Path) -> None:
    ctx, _log = context()
    ctx.manifest_commit = "0123456789abcdef0123456789abcdef01234567"
    run_id = ctx.journal.begin(["archive"], ["data"])
    labels = request(ctx, tmp_path).labels()
    assert labels == {
        "host": "testhost", "job": "data", "volume": str(tmp_path), "key": "path-data",
        "run": run_id, "stamp": "20240501T120000Z",
        "manifest": "0123456789abcdef0123456789abcdef01234567"}
