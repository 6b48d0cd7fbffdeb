"""Provider ``zfs``: ``zfs snapshot -r`` named for retention, held during the run.

The name is ``<type>-<prefix>-<UTC time>`` (``daily-hostbook-20240501T120000Z``):
the retention planner reads a snapshot's type from the part before the
first ``-``, and the prefix tells hostbook's snapshots from everyone
else's.  The snapshot is kept after the run (retention prunes it); a
``zfs hold`` protects it from any pruning while it is being archived and
cloned, and is released at unsnap.  The hold, like every mount, is
journaled, so an interrupted run's holds are released by the next run.

Mounting: the dataset's snapshot is mounted read-only at the stable path
(``mount -t zfs pool/ds@snap``); with ``recursive``, child datasets whose
mountpoints lie below the parent's are mounted at the same relative place,
so the archive sees the tree a person sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hostbook.jobs.run.context import StepContext, StepFailed
from hostbook.jobs.run.resource_kind import ResourceKind
from hostbook.jobs.run.run_journal import Resource
from hostbook.jobs.snapshot import stable_mount as mounts
from hostbook.jobs.snapshot.provider import SnapshotProvider, Taken
from hostbook.manifest.sections.jobs import Job, ZfsSnapshot
from hostbook.process.runner import Runner

HOLD_TAG = "hostbook-run"


@dataclass(frozen=True)
class DatasetMount:
    """A filesystem dataset and where it is mounted (``none``/``legacy`` kept as is)."""

    name: str
    mountpoint: str


def snapshot_name(settings: ZfsSnapshot, stamp: str) -> str:
    return f"{settings.type}-{settings.prefix}-{stamp}"


def list_filesystems(runner: Runner, dataset: str, recursive: bool) -> list[DatasetMount]:
    """The dataset (and its children) with mountpoint and canmount, parents first."""
    argv = ["zfs", "list", "-Hp", "-t", "filesystem", "-o", "name,mountpoint"]
    if recursive:
        argv.append("-r")
    result = runner.query([*argv, dataset], timeout=120.0)
    if not result.ok:
        raise StepFailed(result.failure())
    out = []
    for line in result.stdout.splitlines():
        fields = line.split("\t")
        if len(fields) == 2:
            out.append(DatasetMount(*fields))
    return sorted(out, key=lambda d: d.name.count("/"))


def snapshot_exists(runner: Runner, snapshot: str) -> bool:
    result = runner.query(
        ["zfs", "list", "-H", "-o", "name", "-t", "snapshot", snapshot],
        timeout=60.0)
    return result.ok and bool(result.stdout.strip())


def has_hold(runner: Runner, snapshot: str, tag: str) -> bool:
    result = runner.query(["zfs", "holds", "-H", snapshot], timeout=60.0)
    if not result.ok:
        return False
    return any(line.split("\t")[1:2] == [tag] for line in result.stdout.splitlines())


def create(ctx: StepContext, job: Job) -> tuple[str, list[DatasetMount]]:
    """Take (and hold) the snapshot; returns its full name and the datasets it covers."""
    settings = job.snapshot
    assert isinstance(settings, ZfsSnapshot) and job.volume.dataset is not None
    dataset = job.volume.dataset
    key = job.volume.key
    datasets = list_filesystems(ctx.runner, dataset, settings.recursive)
    if not datasets:
        raise StepFailed(f"{dataset}: no such filesystem dataset")
    full = f"{dataset}@{snapshot_name(settings, ctx.stamp)}"
    flag = ["-r"] if settings.recursive else []
    if not settings.keep:
        ctx.journal.intend(SNAPSHOT.name, key, name=full, recursive=settings.recursive)
    ctx.must(["zfs", "snapshot", *flag, full], timeout=300.0)
    if settings.hold:
        ctx.journal.intend(
            HOLD.name, key, name=full, tag=HOLD_TAG, recursive=settings.recursive
        )
        ctx.must(["zfs", "hold", *flag, HOLD_TAG, full])
    return full, datasets


def take(ctx: StepContext, job: Job) -> Taken:
    """Snapshot, hold, and mount the snapshot tree read-only at the stable path."""
    full, datasets = create(ctx, job)
    key = job.volume.key
    name = full.split("@", 1)[1]
    stable = mounts.stable_path(ctx, key)
    top = datasets[0]
    mounts.mount_device(ctx, f"{top.name}@{name}", stable, key, "zfs", ["ro"])
    base = top.mountpoint.rstrip("/")
    for child in datasets[1:]:
        if not child.mountpoint.startswith("/"):  # none, legacy: not part of the tree
            continue
        if not base.startswith("/") or not child.mountpoint.startswith(base + "/"):
            continue
        where = Path(str(stable) + child.mountpoint[len(base):])
        source = f"{child.name}@{name}"
        ctx.journal.intend(mounts.MOUNT.name, key, target=str(where), source=source)
        ctx.must(["mount", "-t", "zfs", "-o", "ro", source, str(where)])
    return Taken(
        volume_key=key, volume=job.volume.ident, provider="zfs", path=str(stable),
        snapshot=full,
        details={"dataset": top.name, "name": name,
                 "datasets": [d.name for d in datasets]},
    )


def release(runner: Runner, resource: Resource) -> str | None:
    """Release hostbook's hold if the snapshot still carries it."""
    name, tag = str(resource.details["name"]), str(resource.details["tag"])
    if not runner.dry_run and not has_hold(runner, name, tag):
        return None
    flag = ["-r"] if resource.details.get("recursive") else []
    result = runner.command(["zfs", "release", *flag, tag, name], timeout=120.0)
    if result.ok or (not runner.dry_run and not has_hold(runner, name, tag)):
        return None
    return result.failure()


def destroy(runner: Runner, resource: Resource) -> str | None:
    """Destroy a transient snapshot (``keep: false``) if it exists."""
    name = str(resource.details["name"])
    if not runner.dry_run and not snapshot_exists(runner, name):
        return None
    flag = ["-r"] if resource.details.get("recursive") else []
    result = runner.command(["zfs", "destroy", *flag, name], timeout=300.0)
    if result.ok or (not runner.dry_run and not snapshot_exists(runner, name)):
        return None
    return result.failure()


HOLD = ResourceKind("zfs-hold", release)
SNAPSHOT = ResourceKind("zfs-snapshot", destroy)
"""A transient snapshot (``keep: false``), destroyed at unsnap."""
PROVIDER = SnapshotProvider("zfs", take, resources=(HOLD, SNAPSHOT, mounts.MOUNT))
