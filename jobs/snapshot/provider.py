"""What a snapshot provider is, and what it hands the later steps.

A provider (one module each: zfs, lvm, btrfs, none) makes a volume's
snapshot and mounts it read-only at the volume's stable path, journaling
every transient resource first; it says whether the snapshot stayed whole
while it was read; and it lists the resource kinds it journals, each with
its undo.  Unsnap is the same for all of them: undo the volume's journaled
resources, newest first.  That is also exactly what the cleanup of an
interrupted run does, so the two can never disagree.

Providers are found by name in :mod:`hostbook.jobs.snapshot.registry`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from hostbook.jobs.run.context import StepContext
from hostbook.jobs.run.resource_kind import ResourceKind
from hostbook.jobs.run.run_journal import Resource
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


def _nothing_to_undo(runner: Runner, resource: Resource) -> None:
    return None  # a record of what was taken; nothing to remove


TAKEN_RECORD = ResourceKind(TAKEN, _nothing_to_undo)
"""What a snap step took, journaled so that a later ``--step`` run can adopt it."""


def stays_whole(ctx: StepContext, taken: Taken) -> str | None:
    """A snapshot that cannot fail behind the reader's back (all but LVM's)."""
    return None


@dataclass(frozen=True)
class SnapshotProvider:
    """One provider: its name in jobs.yaml, how it takes and checks a snapshot, what it
    journals."""

    name: str
    take: Callable[[StepContext, Job], Taken]
    """Snapshot the job's volume and mount it read-only at its stable path."""
    resources: tuple[ResourceKind, ...]
    """Every resource kind ``take`` journals, with its undo."""
    verify: Callable[[StepContext, Taken], str | None] = stays_whole
    """None when the snapshot stayed whole while it was read, else why not."""
