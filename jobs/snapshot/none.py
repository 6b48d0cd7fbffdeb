"""Provider ``none``: no snapshot, the live filesystem bound read-only at the stable path.

For /boot, the ESP and other filesystems that cannot be snapshotted.  The
archive is then as consistent as the filesystem is quiet; the bind mount
still gives the archivers a stable path and keeps them from writing.
"""

from __future__ import annotations

import os

from hostbook.jobs.run.context import StepContext, StepFailed
from hostbook.jobs.snapshot import stable_mount as mounts
from hostbook.jobs.snapshot.provider import SnapshotProvider, Taken
from hostbook.manifest.sections.jobs import Job


def take(ctx: StepContext, job: Job) -> Taken:
    """Bind the live volume at the stable path."""
    source = job.volume.path
    assert source is not None
    if not os.path.isdir(source):
        raise StepFailed(f"{source}: not a directory")
    key = job.volume.key
    target = mounts.stable_path(ctx, key)
    mounts.bind_readonly(ctx, source, target, key)
    return Taken(
        volume_key=key, volume=job.volume.ident, provider="none", path=str(target),
        snapshot=None,
    )


PROVIDER = SnapshotProvider("none", take, resources=(mounts.MOUNT,))
