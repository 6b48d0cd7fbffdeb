"""Every snapshot provider, by the name jobs.yaml gives it (``snapshot.provider``).

The one place a provider is looked up: the snap step takes a snapshot
through it, unsnap asks it whether the snapshot stayed whole, and
:mod:`hostbook.jobs.run.undo` collects the resource kinds it journals.  A new
provider is a module with a ``PROVIDER`` and one line here.
"""

from __future__ import annotations

from hostbook.jobs.run.context import StepContext
from hostbook.jobs.snapshot import btrfs, lvm, none, zfs
from hostbook.jobs.snapshot.provider import TAKEN, SnapshotProvider, Taken
from hostbook.manifest.errors import RuntimeFailure
from hostbook.manifest.sections.jobs import Job

PROVIDERS: dict[str, SnapshotProvider] = {
    provider.name: provider
    for provider in (zfs.PROVIDER, lvm.PROVIDER, btrfs.PROVIDER, none.PROVIDER)
}


def provider_for(name: str) -> SnapshotProvider:
    """The provider jobs.yaml names (the schema admits only these names)."""
    try:
        return PROVIDERS[name]
    except KeyError:
        raise RuntimeFailure(f"no snapshot provider {name!r}") from None


def take(ctx: StepContext, job: Job) -> Taken:
    """Snapshot the job's volume, mount it read-only at its stable path, journal it taken.

    The journaled record is what a later ``--step`` run adopts.
    """
    taken = provider_for(job.provider).take(ctx, job)
    ctx.journal.intend(TAKEN, taken.volume_key, **taken.record())
    return taken


def verify(ctx: StepContext, taken: Taken) -> str | None:
    """Whether the snapshot stayed whole while it was read (None: it did)."""
    return provider_for(taken.provider).verify(ctx, taken)
