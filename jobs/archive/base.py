"""What an archiver is: what it is given, what it returns, what it journals.

An archiver (one module each: restic, borg, tar, xfsdump) archives one
volume's stable read-only snapshot path and lists the resource kinds it
journals while it works (repository locks, half-written files), each with
its undo.  Archivers are found by the target's ``tool`` in
:mod:`hostbook.jobs.archive.registry`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from hostbook.jobs.run.context import ProgressFn, StepContext
from hostbook.jobs.run.progress import Transfer
from hostbook.jobs.run.resource_kind import ResourceKind, Undone
from hostbook.jobs.run.run_journal import Resource
from hostbook.jobs.snapshot.provider import Taken
from hostbook.manifest.sections.jobs import Job
from hostbook.process.runner import Runner

Spec = TypeVar("Spec")


@dataclass
class ArchiveRequest:
    """One archiver run over one volume's snapshot."""

    ctx: StepContext
    job: str
    volume: str
    volume_key: str
    source: str
    """The stable read-only path to archive."""
    snapshot: str | None = None
    excludes: list[str] = field(default_factory=list)
    """Paths relative to ``source`` that must not be archived (hostbook's own)."""
    successes: int = 0
    """Earlier successful runs of this archiver on this volume (xfsdump's level cycle)."""
    progress: ProgressFn | None = None

    @classmethod
    def of_snapshot(cls, ctx: StepContext, job: Job, taken: Taken, successes: int,
                    progress: ProgressFn | None = None) -> ArchiveRequest:
        """The request to archive ``job``'s volume from its mounted snapshot."""
        return cls(ctx=ctx, job=job.name, volume=job.volume.ident, volume_key=job.volume.key,
                   source=taken.path, snapshot=taken.snapshot, excludes=list(taken.excludes),
                   successes=successes, progress=progress)

    @property
    def host(self) -> str:
        return self.ctx.host

    def archive_name(self) -> str:
        """``<host>-<job>-<volume key>-<UTC time>``: unique, sortable, readable."""
        return f"{self.host}-{self.job}-{self.volume_key}-{self.ctx.stamp}"

    def labels(self) -> dict[str, str]:
        """What every archive of this run is tagged with, so a restore never guesses.

        host, job, volume (as written), its key, the run's id, the run's time
        stamp (which also names the integrity database the run recorded) and
        the manifest commit the jobs were read at; unknown values are left out.
        """
        found = {
            "host": self.host, "job": self.job, "volume": self.volume, "key": self.volume_key,
            "run": self.ctx.run_id, "stamp": self.ctx.stamp, "manifest": self.ctx.manifest_commit,
        }
        return {name: value for name, value in found.items() if value}

    def report(self, fraction: float | None, text: str,
               transfer: Transfer | None = None) -> None:
        if self.progress is not None:
            self.progress(fraction, text, transfer.to_json() if transfer else None)


@dataclass
class ArchiveResult:
    """The outcome of one archiver run, as history records it."""

    archiver: str
    tool: str
    status: str
    location: str
    archive_id: str | None = None
    bytes: int | None = None
    added: int | None = None
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        return {
            "archiver": self.archiver, "tool": self.tool, "status": self.status,
            "location": self.location, "archive_id": self.archive_id, "bytes": self.bytes,
            "added": self.added, "message": self.message, **self.extra,
        }

    def summary(self) -> str:
        """One line for the step's log: the tool's message, else where the archive went."""
        where = f"{self.location} {self.archive_id or ''}".strip()
        return self.message or (
            f"{where}" + (f", {self.bytes} bytes" if self.bytes is not None else ""))


@dataclass(frozen=True)
class Archiver(Generic[Spec]):
    """One archiver: the ``tool`` its jobs.yaml targets name, how it archives, what it
    journals."""

    tool: str
    archive: Callable[[ArchiveRequest, Spec], ArchiveResult]
    resources: tuple[ResourceKind, ...]
    """Every resource kind ``archive`` journals, with its undo."""


def _remove_partial(runner: Runner, resource: Resource) -> str | Undone | None:
    """A file an archiver was writing when it was killed (never a finished archive)."""
    path = Path(str(resource.details["path"]))
    if runner.dry_run:
        return None
    try:
        size = path.stat().st_size
        path.unlink()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"rm {path}: {exc.strerror}"
    return Undone(f"removed partial {path} ({size} bytes)")


PARTIAL = ResourceKind("partial", _remove_partial, debris=True)
"""A file an archiver writes under a name that marks it unfinished."""
