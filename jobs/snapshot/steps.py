"""The snap and unsnap steps for every provider, and undoing journaled resources.

Each provider module makes its snapshot and mounts it read-only at the
volume's stable path, journaling every transient resource first.  Unsnap is
the same for all of them: undo the volume's journaled resources, newest
first.  That is also exactly what the cleanup of an interrupted run does, so
the two can never disagree.

Archivers journal what a killed tool leaves behind the same way (a
half-written archive, a repository lock): "debris", which the next run
always cleans up and a ``--step`` run never keeps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hostbook.jobs.run.context import StepContext
from hostbook.jobs.run.run_journal import Resource
from hostbook.jobs.snapshot import stable_mount as mounts
from hostbook.manifest.sections.jobs import Job
from hostbook.process.runner import Runner

TAKEN = "taken"


@dataclass
class Taken:
    """A volume's snapshot as the later steps see it."""

    volume_key: str
    volume: str
    provider: str
    path: str
    """Stable read-only mount path: what sure reads and archivers archive."""
    snapshot: str | None = None
    """Snapshot name for people and history (``tank/home@daily-...``, ``vg0/home-...``)."""
    writable: str | None = None
    """Where the integrity database may be written inside the snapshot (LVM)."""
    excludes: list[str] = field(default_factory=list)
    """Paths relative to the volume root that belong to hostbook, not the data."""
    details: dict[str, Any] = field(default_factory=dict)
    """Provider facts the clone step needs (datasets, btrfs snapshot path)."""

    def record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Taken:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


@dataclass(frozen=True)
class Undone:
    """An undo that says what it found: a lock removed, or one left alone and why."""

    note: str


Undo = Callable[[Runner, Resource], "str | Undone | None"]
"""Returns None (done), :class:`Undone` (done, with a note) or the reason it failed."""
_UNDO: dict[str, Undo] = {}
_DEBRIS: set[str] = set()
_DEFERRED: set[str] = set()


def register_undo(kind: str, debris: bool = False, deferred: bool = False
                  ) -> Callable[[Undo], Undo]:
    """Providers and archivers register how their resource kinds are undone.

    ``debris`` marks what only a killed tool leaves (a half-written archive,
    a repository lock): it is cleaned up by the next run even when the run
    that left it finished (a ``--step`` run keeps snapshots, never debris).
    ``deferred`` debris needs the tool itself (its password, its network) to
    clean up, which a run being stopped has no time for: the next run does
    it first thing.
    """

    def wrap(func: Undo) -> Undo:
        _UNDO[kind] = func
        if debris or deferred:
            _DEBRIS.add(kind)
        if deferred:
            _DEFERRED.add(kind)
        return func

    return wrap


def is_debris(kind: str) -> bool:
    _register_all()
    return kind in _DEBRIS


def is_deferred(kind: str) -> bool:
    _register_all()
    return kind in _DEFERRED


@register_undo("partial", debris=True)
def _undo_partial(runner: Runner, resource: Resource) -> str | Undone | None:
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


@register_undo("mount")
def _undo_mount(runner: Runner, resource: Resource) -> str | None:
    result = mounts.unmount(runner, str(resource.details["target"]))
    if result is None or result.ok:
        return None
    return result.failure()


@register_undo(TAKEN)
def _undo_taken(runner: Runner, resource: Resource) -> str | None:
    return None  # a record of what was taken; nothing to remove


@register_undo("dir")
def _undo_dir(runner: Runner, resource: Resource) -> str | None:
    path = Path(str(resource.details["path"]))
    if runner.dry_run:
        return None
    try:
        path.rmdir()
    except FileNotFoundError:
        pass
    except OSError as exc:
        return f"rmdir {path}: {exc.strerror}"
    return None


def _register_all() -> None:
    """Import every module that registers resource kinds (each knows its own)."""


def undo(runner: Runner, resource: Resource) -> str | Undone | None:
    """Undo one resource: None or :class:`Undone` on success (also when it was never
    made), else why not."""
    _register_all()
    func = _UNDO.get(resource.kind)
    if func is None:
        return f"unknown resource kind {resource.kind!r} in the journal"
    return func(runner, resource)


def verify(ctx: StepContext, taken: Taken) -> str | None:
    """Whether the snapshot stayed whole while it was read (None: it did).

    Only a copy-on-write LVM snapshot can fail behind the reader's back: when
    its space runs out, the kernel invalidates it and reads return errors or
    stale data.
    """
    if taken.provider != "lvm" or ctx.dry_run:
        return None
    from hostbook.jobs.snapshot import lvm as snapshot_lvm

    return snapshot_lvm.check_valid(
        ctx.runner, str(taken.details["vg"]), str(taken.details["name"])
    )


def take(ctx: StepContext, job: Job) -> Taken:
    """Snapshot the job's volume and mount it read-only at its stable path."""
    from hostbook.jobs.snapshot import btrfs as snapshot_btrfs
    from hostbook.jobs.snapshot import lvm as snapshot_lvm
    from hostbook.jobs.snapshot import none as snapshot_none
    from hostbook.jobs.snapshot import zfs as snapshot_zfs

    providers: dict[str, Callable[[StepContext, Job], Taken]] = {
        "zfs": snapshot_zfs.take,
        "lvm": snapshot_lvm.take,
        "btrfs": snapshot_btrfs.take,
        "none": snapshot_none.take,
    }
    taken = providers[job.provider](ctx, job)
    ctx.journal.intend(TAKEN, taken.volume_key, **taken.record())
    return taken
