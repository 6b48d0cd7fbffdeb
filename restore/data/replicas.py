"""A clone target's replica as a source: its snapshots of the volume, sent back whole.

A job that clones (``clone: [NAME]``) keeps copies of its snapshots on the
replication target NAME, a ZFS dataset or a btrfs directory, here or over
ssh.  Every replica snapshot named as the job's provider names them
(``<type>-<prefix>-<run stamp>``) is a restorable revision; the stamp in the
name gives its time and names the run's integrity database, and the run id
comes from the run history when it still has that snapshot.

ZFS: ``[ssh] zfs send REPLICA@SNAP | zfs receive -u -F -o mountpoint=M
DATASET`` into the rebuilt dataset, which must exist, mounted and empty (its
mountpoint M is where the volume goes back; a replica's own mountpoint is
the backup pool's); the received snapshot's guid must be the replica's.  A
receive killed midway leaves the dataset as it was (ZFS swaps the received
copy in at the end), so running again starts over.

btrfs: ``[ssh] btrfs send DIR/SNAP | btrfs receive`` into
``.hostbook-received-<key>/`` beside the volume's path, then a writable
snapshot takes the volume's place (as for a send-stream chain,
:mod:`hostbook.restore.data.streams`).  The copy's received_uuid must be
the replica's (the original snapshot's uuid); a broken receive is deleted
and sent again.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from hostbook.jobs.archive.streams.btrfs_chain_restore import (
    clear_broken,
    received_copy,
    show_subvolume,
)
from hostbook.jobs.replication.btrfs.inventory import load_directory, remote
from hostbook.jobs.replication.host_inventory import endpoint_for, ssh_command
from hostbook.jobs.replication.zfs.inventory import Snapshot
from hostbook.jobs.run.history import History, history_path
from hostbook.manifest.errors import HostbookError
from hostbook.manifest.sections.jobs import BtrfsSnapshot, Job, Volume, ZfsSnapshot
from hostbook.manifest.sections.retention import ReplicationTarget
from hostbook.process.pipeline import Stage
from hostbook.process.result import error_line
from hostbook.process.runner import Runner
from hostbook.restore.data.archive import Archive, Where, stamp_time
from hostbook.restore.data.mountpoints import dataset_place
from hostbook.restore.data.source import Placement, Receiver, Source, Unreachable
from hostbook.restore.data.streams import (
    btrfs_excludes,
    empty_or_missing,
    place_btrfs,
    received_dir,
    take_place,
    zfs_get,
    zfs_snapshots,
)


@dataclass(frozen=True)
class ReplicaSpec:
    """A clone target seen as a restore target of one job's volume."""

    target: ReplicationTarget
    job: Job
    state_dir: Path
    exclude: list[str] = field(default_factory=list)

    @property
    def tool(self) -> str:
        return f"{self.target.kind}-replica"

    @property
    def label(self) -> str:
        return self.target.name

    @property
    def destination(self) -> str:
        where = self.replica_location
        return f"{self.target.host}:{where}" if self.target.host else where

    @property
    def replica_location(self) -> str:
        """The replica's dataset (ZFS: the job's dataset mapped under the target root) or
        directory (btrfs)."""
        if self.target.kind == "btrfs":
            return self.target.dataset.rstrip("/") or "/"
        dataset = self.job.volume.dataset or ""
        root = self.target.source or dataset
        rest = dataset[len(root):] if dataset.startswith(root) else ""
        return self.target.dataset.rstrip("/") + rest


def replica_specs(job: Job, targets: list[ReplicationTarget], state_dir: Path,
                  ) -> list[ReplicaSpec]:
    """The job's clone targets, in the order the job names them."""
    by_name = {t.name: t for t in targets}
    return [ReplicaSpec(by_name[name], job, state_dir) for name in job.clone if name in by_name]


def name_pattern(job: Job) -> re.Pattern[str]:
    """The job's snapshot names: ``<type>-<prefix>-<stamp>``; the stamp is group 1."""
    settings = job.snapshot
    assert isinstance(settings, ZfsSnapshot | BtrfsSnapshot)
    return re.compile(rf"{re.escape(settings.type)}-{re.escape(settings.prefix)}-"
                      r"(\d{8}T\d{6}Z)")


def _runs(spec: ReplicaSpec, host: str) -> dict[str, str]:
    """Snapshot name -> the run that took it, as the run history remembers."""
    found: dict[str, str] = {}
    for record in History(history_path(spec.state_dir, host)).records():
        if record.snapshot and record.volume_key == spec.job.volume.key:
            found[re.split(r"[@/]", record.snapshot)[-1]] = record.run
    return found


def _archive(spec: ReplicaSpec, name: str, ident: str, runs: dict[str, str],
             size: int | None = None) -> Archive | None:
    matched = name_pattern(spec.job).fullmatch(name)
    if matched is None:
        return None
    labels = {"stamp": matched.group(1), "snapshot": f"{spec.replica_location}@{name}",
              "uuid" if spec.target.kind == "btrfs" else "guid": ident}
    if name in runs:
        labels["run"] = runs[name]
    return Archive(tool=spec.tool, target=spec.label, id=name, time=stamp_time(matched.group(1)),
                   size=size, labels=labels)


def list_zfs(runner: Runner, where: Where, spec: ReplicaSpec) -> list[Archive]:
    endpoint = endpoint_for(spec.target)
    dataset = spec.replica_location
    snapshots = zfs_snapshots(runner, dataset, endpoint.argv)
    if snapshots is None:
        raise Unreachable(f"{spec.destination}: no such dataset")
    if isinstance(snapshots, str):
        raise Unreachable(f"{spec.destination}: {snapshots}")
    runs = _runs(spec, where.host)
    found = [_archive(spec, s.name, str(s.guid), runs, s.used or None) for s in snapshots]
    return [a for a in found if a is not None]


def list_btrfs(runner: Runner, where: Where, spec: ReplicaSpec) -> list[Archive]:
    try:
        listing = load_directory(runner, spec.replica_location, ssh=ssh_command(spec.target))
    except HostbookError as exc:
        raise Unreachable(f"{spec.destination}: {exc}") from None
    if not listing.exists:
        raise Unreachable(f"{spec.destination}: no such directory")
    runs = _runs(spec, where.host)
    found = [_archive(spec, s.name, s.received_uuid or s.uuid or "", runs)
             for s in listing.snapshots if s.received_uuid or s.uuid]
    return [a for a in found if a is not None]


# -- ZFS -------------------------------------------------------------------------------


def place_zfs(runner: Runner, spec: ReplicaSpec, archive: Archive, volume: Volume,
              target_root: str) -> Placement | str:
    dataset = volume.dataset
    assert dataset is not None
    existing = zfs_snapshots(runner, dataset)
    if existing is None:
        return (f"{dataset}: no such dataset: create it where it mounts "
                f"(zfs create -o mountpoint=... {dataset}), the replica is received into it")
    if isinstance(existing, str):
        return f"{dataset}: {existing}"
    place = dataset_place(runner, dataset, target_root)  # mounted, under the target
    if isinstance(place, str):
        return place
    _host, mountpoint = place
    if _landed(existing, archive):
        return Placement(volume, volume.key, target_root, Path(mountpoint))
    if existing:
        return (f"{dataset} has {len(existing)} snapshot(s): a replica is received into an "
                "empty dataset only")
    if zfs_get(runner, "mounted", dataset) != "yes":
        return f"{dataset} is not mounted: mount it to show it is empty"
    problem = empty_or_missing(Path(mountpoint))
    return problem or Placement(volume, volume.key, target_root, Path(mountpoint))


def _landed(snapshots: list[Snapshot], archive: Archive) -> bool:
    return any(s.name == archive.id and str(s.guid) == archive.labels.get("guid")
               for s in snapshots)


def receive_zfs(runner: Runner, spec: ReplicaSpec, archive: Archive,
                placement: Placement) -> str | None:
    dataset = placement.volume.dataset
    assert dataset is not None
    existing = zfs_snapshots(runner, dataset)
    if not (isinstance(existing, list) and _landed(existing, archive)):
        endpoint = endpoint_for(spec.target)
        send = Stage.of(endpoint.argv("send", f"{spec.replica_location}@{archive.id}"))
        receive = Stage.of(["zfs", "receive", "-u", "-F", "-o",
                            f"mountpoint={placement.directory}", dataset])
        result = runner.pipeline([send, receive], meter=0)
        if not result.ok:
            return "zfs send/receive: " + "; ".join(
                f"{s.argv[0]} exit {s.returncode}: {error_line(s.stderr)}"
                for s in result.stages if not s.ok)
        after = zfs_snapshots(runner, dataset)
        if not (isinstance(after, list) and _landed(after, archive)) and not runner.dry_run:
            return (f"{dataset}@{archive.id}: not received with the replica's guid "
                    f"{archive.labels.get('guid')}")
    if zfs_get(runner, "mounted", dataset) != "yes":
        mounted = runner.command(["zfs", "mount", dataset], timeout=600.0)
        if not mounted.ok:
            return f"zfs mount {dataset}: {mounted.failure()}"
    return None


# -- btrfs -----------------------------------------------------------------------------


def receive_btrfs(runner: Runner, spec: ReplicaSpec, archive: Archive,
                  placement: Placement) -> str | None:
    into = received_dir(placement)
    copy = os.path.join(into, archive.id)
    uuid = str(archive.labels.get("uuid", ""))
    made = runner.command(["mkdir", "-p", "--", into], timeout=60.0)
    if not made.ok:
        return f"mkdir {into}: {made.failure()}"
    there = show_subvolume(runner, copy)
    if not received_copy(there, uuid):
        problem = clear_broken(runner, copy, there) if there is not None else None
        if problem is not None:
            return problem
        ssh = ssh_command(spec.target)
        send = Stage.of(remote(["btrfs", "send", "-q",
                                os.path.join(spec.replica_location, archive.id)], ssh))
        result = runner.pipeline([send, Stage.of(["btrfs", "receive", into])], meter=0)
        if not result.ok:
            return "btrfs send/receive: " + "; ".join(
                f"exit {s.returncode}: {error_line(s.stderr)}" for s in result.stages
                if not s.ok)
        if not received_copy(show_subvolume(runner, copy), uuid) and not runner.dry_run:
            return f"{copy}: not received as the replica's copy of uuid {uuid}"
    return take_place(runner, copy, placement, archive)


ZFS_SOURCE: Source[ReplicaSpec] = Source(
    "zfs-replica", ("zfs",), list_zfs, receiver=Receiver(place_zfs, receive_zfs))
BTRFS_SOURCE: Source[ReplicaSpec] = Source(
    "btrfs-replica", ("btrfs",), list_btrfs,
    receiver=Receiver(place_btrfs, receive_btrfs, btrfs_excludes))
