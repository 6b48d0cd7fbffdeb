"""Provider ``btrfs``: a read-only subvolume snapshot, bound at the stable path.

Snapshots go to ``<subvolume>/.hostbook-snapshots/`` unless a directory is
configured: inside the subvolume is always the same filesystem, and a
snapshot does not contain the subvolumes nested in it.  A job that clones
or archives send streams (``btrfs-stream``) keeps its snapshots (the next
incremental send needs the newest as its parent; retention prunes them);
one that only archives files deletes it at unsnap, and that deletion is
journaled like every transient resource.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from hostbook.jobs.run.context import StepContext, StepFailed
from hostbook.jobs.run.resource_kind import ResourceKind
from hostbook.jobs.run.run_journal import Resource
from hostbook.jobs.snapshot import stable_mount as mounts
from hostbook.jobs.snapshot.provider import SnapshotProvider, Taken
from hostbook.manifest.sections.jobs import BtrfsSnapshot, Job
from hostbook.process.runner import Runner

DEFAULT_DIR = ".hostbook-snapshots"
_UUID = re.compile(r"^\s*UUID:\s*(\S+)\s*$", re.MULTILINE)


def snapshot_dir(job: Job) -> str:
    settings = job.snapshot
    assert isinstance(settings, BtrfsSnapshot) and job.volume.path is not None
    return settings.directory or os.path.join(job.volume.path, DEFAULT_DIR)


def subvolume_uuid(runner: Runner, path: str) -> str | None:
    """The subvolume's UUID from ``btrfs subvolume show`` (None if not a subvolume)."""
    result = runner.query(["btrfs", "subvolume", "show", path], timeout=60.0)
    if not result.ok:
        return None
    match = _UUID.search(result.stdout)
    return match.group(1) if match and match.group(1) != "-" else None


def take(ctx: StepContext, job: Job) -> Taken:
    """``btrfs subvolume snapshot -r`` and a read-only bind at the stable path."""
    settings = job.snapshot
    assert isinstance(settings, BtrfsSnapshot) and job.volume.path is not None
    source = job.volume.path
    key = job.volume.key
    if subvolume_uuid(ctx.runner, source) is None:
        raise StepFailed(f"{source}: not a btrfs subvolume (btrfs subvolume show failed)")
    directory = snapshot_dir(job)
    name = f"{settings.type}-{settings.prefix}-{ctx.stamp}"
    dest = os.path.join(directory, name)
    sends = bool(job.clone) or any(a.tool == "btrfs-stream" for a in job.archive)
    keep = settings.keep if settings.keep is not None else sends
    if not ctx.dry_run and not os.path.isdir(directory):
        Path(directory).mkdir(parents=True, mode=0o700)
    if not keep:
        ctx.journal.intend(SNAPSHOT.name, key, path=dest)
    ctx.must(["btrfs", "subvolume", "snapshot", "-r", source, dest], timeout=300.0)
    uuid = None if ctx.dry_run else subvolume_uuid(ctx.runner, dest)
    stable = mounts.stable_path(ctx, key)
    mounts.bind_readonly(ctx, dest, stable, key)
    excludes = []
    rel = os.path.relpath(directory, source)
    if not rel.startswith(".."):
        excludes.append(rel)
    return Taken(
        volume_key=key, volume=job.volume.ident, provider="btrfs", path=str(stable),
        snapshot=dest, excludes=excludes,
        details={"source": source, "directory": directory, "name": name, "uuid": uuid,
                 "kept": keep},
    )


def delete(runner: Runner, resource: Resource) -> str | None:
    """Delete a transient snapshot if it exists."""
    path = str(resource.details["path"])
    if not runner.dry_run and not os.path.exists(path):
        return None
    result = runner.command(["btrfs", "subvolume", "delete", path], timeout=300.0)
    if result.ok or (not runner.dry_run and not os.path.exists(path)):
        return None
    return result.failure()


SNAPSHOT = ResourceKind("btrfs-snapshot", delete)
"""A snapshot deleted at unsnap (a job that does not clone and keeps none)."""
PROVIDER = SnapshotProvider("btrfs", take, resources=(SNAPSHOT, mounts.MOUNT))
