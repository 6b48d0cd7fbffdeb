"""What the archivers share (password environment, env files), and the set-up the
archiver tests import: a tree, a step context, an unprivileged user.

The archivers run the real tools; only where a test needs a file the tool
cannot read does it run them as an unprivileged user (``setpriv``), because
root reads everything.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hostbook.jobs.archive.base import ArchiveRequest
from hostbook.jobs.integrity import sure
from hostbook.jobs.run.context import StepContext
from hostbook.jobs.run.run_journal import Journal
from hostbook.process.result import CommandResult
from hostbook.process.runner import LiveRunner
from hostbook.process.spawn import Identity, LineSink

NOBODY = 65534


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
            runner: LiveRunner | None = None) -> tuple[StepContext, list[str]]:
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


class Unprivileged(LiveRunner):
    """Runs the real tools as uid/gid 65534 when we are root (so permissions bite)."""

    def _run(self, argv: Sequence[str], timeout: float | None, stdin: str | None,
             env: Mapping[str, str] | None, cwd: str | None, on_line: LineSink | None,
             identity: Identity | None, secrets: Iterable[str]) -> CommandResult:
        if os.geteuid() == 0:
            identity = Identity(NOBODY, NOBODY)
        return super()._run(argv, timeout, stdin, env, cwd, on_line, identity, secrets)


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
