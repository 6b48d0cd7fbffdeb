"""ZFS and btrfs send-stream chains as a source: received back whole, lineage first.

A ``zfs-stream`` or ``btrfs-stream`` destination holds the stream files and
``catalogue.sqlite`` (:mod:`hostbook.jobs.archive.stream`); every chain
member of this host's volume is a restorable archive, labelled as the run
that wrote it recorded, its ``parts`` the members received to get it (the
chain's full first).

ZFS: the lineage is received into the job's dataset
(:func:`~hostbook.jobs.archive.streams.chain_restore.restore_chain`: guid
checked, resumable, never destroying anything) and mounted where its
properties (sent with ``-p``) put it.  btrfs: the lineage is received into
``.hostbook-received-<key>/`` beside the volume's path on the rebuilt
filesystem (:func:`~hostbook.jobs.archive.streams.btrfs_chain_restore.restore_btrfs_chain`),
and the chosen member's writable snapshot takes the volume's place (an
empty subvolume or directory ``restore apply`` made there is replaced).  The
received read-only members stay: they share every extent with the volume.
Decryption keys come from the target's ``identities`` (age) or
``gnupg_home`` (gpg).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from hostbook.jobs.archive.stream import CATALOGUE
from hostbook.jobs.archive.streams.btrfs_chain_restore import (
    finished,
    restore_btrfs_chain,
    show_subvolume,
)
from hostbook.jobs.archive.streams.chain_restore import (
    ChainRestoreError,
    Keys,
    RestoreReport,
    plan_restore,
    read_filters,
    restore_chain,
)
from hostbook.jobs.archive.streams.chains import ArchiveEntry, Catalogue
from hostbook.jobs.replication.zfs.inventory import (
    Snapshot,
    list_snapshots_argv,
    parse_snapshot_list,
)
from hostbook.jobs.replication.zfs.transfer import Endpoint
from hostbook.jobs.snapshot.btrfs import snapshot_dir
from hostbook.jobs.snapshot.stable_mount import mounted_at
from hostbook.manifest.sections.jobs import Job, StreamArchive, Volume
from hostbook.process.runner import Runner
from hostbook.restore.data.archive import STAMP, Archive, Where, stamp_time
from hostbook.restore.data.mountpoints import under_target
from hostbook.restore.data.source import Placement, Receiver, Source, Unreachable

LOCAL = Endpoint()
RECEIVED = ".hostbook-received-"
"""Beside a btrfs volume: where its chain's members are received."""


def _entries(spec: StreamArchive) -> tuple[Catalogue, list[ArchiveEntry]]:
    path = Path(spec.destination) / CATALOGUE
    if not Path(spec.destination).is_dir():
        raise Unreachable(f"{spec.destination}: no such folder (or it cannot be read)")
    if not path.is_file():
        raise Unreachable(f"{path}: no catalogue (no stream was archived there yet)")
    try:
        catalogue = Catalogue(path, readonly=True)
        return catalogue, catalogue.all_entries()
    except sqlite3.Error as exc:
        raise Unreachable(f"{path}: {exc}") from None


def kind_of(spec: StreamArchive) -> str:
    return "zfs" if spec.tool == "zfs-stream" else "btrfs"


def _volume_key(entry: ArchiveEntry) -> str:
    """The key of the volume an unlabelled member came from (catalogues before labels)."""
    if entry.kind == "zfs":
        return Volume(dataset=entry.dataset).key
    return Volume(path=entry.dataset).key


def list_archives(runner: Runner, where: Where, spec: StreamArchive) -> list[Archive]:
    catalogue, entries = _entries(spec)
    try:
        found = []
        for entry in entries:
            labels = dict(entry.labels)
            if entry.kind != kind_of(spec) or labels.get("host", where.host) != where.host:
                continue
            if labels.get("key", _volume_key(entry)) != where.volume_key:
                continue
            stamp = str(labels.get("stamp", ""))
            lineage = catalogue.lineage(entry.id)
            found.append(Archive(
                tool=spec.tool, target=spec.label, id=entry.path,
                time=stamp_time(stamp) if STAMP.fullmatch(stamp) else _utc(entry.created),
                size=entry.size, short_id=str(entry.id),
                labels={**labels, "snapshot": f"{entry.dataset}@{entry.snapshot}",
                        "kind": "full" if entry.is_full else "incremental"},
                parts=[member.path for member in lineage],
            ))
        return found
    finally:
        catalogue.close()


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def empty_or_missing(directory: Path) -> str | None:
    """None when nothing is at ``directory`` but an empty directory (or subvolume)."""
    if not directory.exists() and not directory.is_symlink():
        return None
    if directory.is_symlink() or not directory.is_dir():
        return f"{directory} exists and is not a directory"
    names = sorted(n for n in os.listdir(directory) if n != "lost+found")
    if names:
        return (f"{directory} is not empty ({', '.join(names[:3])} ...): a received volume "
                "replaces it whole, move it away first")
    return None


def lineage_of(spec: StreamArchive, archive: Archive) -> list[ArchiveEntry]:
    """The members to receive for ``archive``: its chain's full first."""
    catalogue, entries = _entries(spec)
    try:
        entry = next((e for e in entries if e.path == archive.id), None)
        if entry is None:
            raise ChainRestoreError(f"{archive.id}: not in {spec.destination}/{CATALOGUE}")
        return catalogue.lineage(entry.id)
    finally:
        catalogue.close()


def keys_of(spec: StreamArchive) -> Keys:
    return Keys(tuple(spec.identities),
                {"GNUPGHOME": spec.gnupg_home} if spec.gnupg_home else {})


def _failure(report: RestoreReport) -> str | None:
    failed = [m for m in report.members if m.action == "failed"]
    return f"{failed[0].entry.snapshot}: {failed[0].error}" if failed else None


# -- ZFS -------------------------------------------------------------------------------


def zfs_snapshots(runner: Runner, dataset: str,
                  where: Callable[..., list[str]] = LOCAL.argv,
                  ) -> list[Snapshot] | str | None:
    """The dataset's snapshots, None when it does not exist, or why it cannot be listed.

    ``where`` places the ``zfs`` arguments on a host (an ``Endpoint``'s ``argv``).
    """
    listed = runner.query(where(*list_snapshots_argv(dataset, recursive=False)[1:]),
                          timeout=600.0)
    if listed.returncode != 0:
        return None if "does not exist" in listed.stderr else listed.failure()
    return parse_snapshot_list(listed.stdout).get(dataset, [])


def zfs_get(runner: Runner, prop: str, dataset: str) -> str | None:
    got = runner.query(["zfs", "get", "-Hp", "-o", "value", prop, dataset], timeout=60.0)
    return got.stdout.strip() if got.ok else None


def keys_problem(spec: StreamArchive, archive: Archive) -> str | None:
    """Why the archive's members cannot be decrypted here (checked before anything is written)."""
    try:
        members = lineage_of(spec, archive)
        for entry in members:
            read_filters(entry.compression, entry.encryption, keys_of(spec))
    except ChainRestoreError as exc:
        return f"{spec.label}: {exc} (identities: in jobs.yaml)"
    unreadable = [i for i in spec.identities if not os.access(i, os.R_OK)]
    if unreadable and any(e.encryption == "age" for e in members):
        return f"{spec.label}: cannot read the identity file {', '.join(unreadable)}"
    return None


def place_zfs(runner: Runner, spec: StreamArchive, archive: Archive, volume: Volume,
              target_root: str) -> Placement | str:
    dataset = volume.dataset
    assert dataset is not None
    problem = keys_problem(spec, archive)
    if problem is not None:
        return problem
    mountpoint = str(archive.labels.get("mountpoint", ""))
    if not mountpoint.startswith("/"):
        return (f"{dataset}: the archive records no mountpoint ({mountpoint or 'none'}): "
                "a received dataset cannot be checked where nothing mounts it")
    parent = dataset.rsplit("/", 1)[0]
    if "/" in dataset and zfs_get(runner, "name", parent) is None:
        return f"{parent}: no such dataset (import or create the pool first)"
    existing = zfs_snapshots(runner, dataset)
    if isinstance(existing, str):
        return f"{dataset}: {existing}"
    try:
        plan_restore(lineage_of(spec, archive), existing)
    except ChainRestoreError as exc:
        return f"{dataset}: {exc}"
    if existing == [] and zfs_get(runner, "mounted", dataset) != "yes":
        return (f"{dataset} exists without snapshots and is not mounted: receiving would "
                "overwrite it unseen (mount it to show it is empty, or destroy it)")
    if existing is None:  # received with the stream's mountpoint, under the pool's altroot
        altroot = _zpool_get(runner, "altroot", dataset.split("/")[0])
        directory = PurePosixPath(f"{altroot.rstrip('/')}{mountpoint}"
                                  if altroot.startswith("/") else mountpoint)
    else:
        directory = PurePosixPath(zfs_get(runner, "mountpoint", dataset) or mountpoint)
    root = PurePosixPath(target_root)
    if root != PurePosixPath("/") and root != directory and root not in directory.parents:
        return (f"{dataset} would be mounted at {directory}, outside the target {target_root}: "
                f"import its pool with zpool import -R {target_root}")
    return Placement(volume, volume.key, target_root, Path(directory))


def _zpool_get(runner: Runner, prop: str, pool: str) -> str:
    got = runner.query(["zpool", "get", "-Hp", "-o", "value", prop, pool], timeout=60.0)
    return got.stdout.strip() if got.ok else ""


def receive_zfs(runner: Runner, spec: StreamArchive, archive: Archive,
                placement: Placement) -> str | None:
    dataset = placement.volume.dataset
    assert dataset is not None
    try:
        report = restore_chain(lineage_of(spec, archive), dataset,
                               archive_dir=Path(spec.destination), keys=keys_of(spec),
                               runner=runner)
    except ChainRestoreError as exc:
        return str(exc)
    problem = _failure(report)
    if problem is not None:
        return problem
    if zfs_get(runner, "mounted", dataset) != "yes":
        mounted = runner.command(["zfs", "mount", dataset], timeout=600.0)
        if not mounted.ok:
            return f"zfs mount {dataset}: {mounted.failure()}"
    return None


# -- btrfs -----------------------------------------------------------------------------


def place_btrfs(runner: Runner, spec: object, archive: Archive, volume: Volume,
                target_root: str) -> Placement | str:
    """The volume's path under the target: missing, empty, or placed by an interrupted run."""
    assert volume.path is not None
    directory = Path(under_target(target_root, volume.path))
    # (a subvolume has a device number of its own: ask the mount table, not os.path.ismount)
    if directory == Path(target_root) or mounted_at(str(directory)) is not None:
        return (f"{directory} is a filesystem's mount point: a received subvolume cannot "
                "take its place (archive a subvolume below it)")
    if not directory.parent.is_dir():
        return f"{directory.parent} does not exist (restore apply makes the filesystem)"
    problem = empty_or_missing(directory)
    if problem is not None and not _placed_from(runner, directory, archive, volume.key):
        return problem
    return Placement(volume, volume.key, target_root, directory)


def received_dir(placement: Placement) -> str:
    return str(placement.directory.parent / f"{RECEIVED}{placement.key}")


def _placed_from(runner: Runner, directory: Path, archive: Archive, key: str) -> bool:
    """Whether ``directory`` is already the writable snapshot of the archive's received copy."""
    name = str(archive.labels.get("snapshot", "")).rsplit("@", 1)[-1]
    received = show_subvolume(runner, str(directory.parent / f"{RECEIVED}{key}" / name))
    placed = show_subvolume(runner, str(directory))
    return (received is not None and placed is not None and not placed.readonly
            and placed.parent_uuid == received.uuid)


def receive_btrfs(runner: Runner, spec: StreamArchive, archive: Archive,
                  placement: Placement) -> str | None:
    members = lineage_of(spec, archive)
    into = received_dir(placement)
    try:
        report = restore_btrfs_chain(members, into, archive_dir=Path(spec.destination),
                                     keys=keys_of(spec), runner=runner)
    except ChainRestoreError as exc:
        return str(exc)
    problem = _failure(report)
    if problem is not None:
        return problem
    newest = os.path.join(into, members[-1].snapshot)
    if not finished(show_subvolume(runner, newest), members[-1]) and not runner.dry_run:
        return f"{newest}: not the received {members[-1].snapshot}"
    return take_place(runner, newest, placement, archive)


def take_place(runner: Runner, received: str, placement: Placement,
               archive: Archive) -> str | None:
    """A writable snapshot of the received copy at the volume's path (an empty one replaced)."""
    directory = placement.directory
    if _placed_from(runner, directory, archive, placement.key):
        return None  # an interrupted restore got this far
    if directory.exists() or directory.is_symlink():
        if empty_or_missing(directory) is not None:
            return f"{directory} is not empty: it is not replaced"
        if show_subvolume(runner, str(directory)) is not None:
            gone = runner.command(["btrfs", "subvolume", "delete", str(directory)],
                                  timeout=600.0)
            if not gone.ok:
                return f"btrfs subvolume delete {directory}: {gone.failure()}"
        elif not runner.dry_run:
            directory.rmdir()
    made = runner.command(["btrfs", "subvolume", "snapshot", received, str(directory)],
                          timeout=600.0)
    return None if made.ok else f"btrfs subvolume snapshot: {made.failure()}"


def place_btrfs_stream(runner: Runner, spec: StreamArchive, archive: Archive, volume: Volume,
                       target_root: str) -> Placement | str:
    return keys_problem(spec, archive) or place_btrfs(runner, spec, archive, volume,
                                                      target_root)


def btrfs_excludes(job: Job) -> list[str]:
    """The snapshot directory inside the subvolume: a nested subvolume, empty in a stream."""
    if job.volume.path is None or job.provider != "btrfs":
        return []
    rel = os.path.relpath(snapshot_dir(job), job.volume.path)
    return [] if rel.startswith("..") else [rel]


ZFS_SOURCE: Source[StreamArchive] = Source(
    "zfs-stream", ("zfs", "zstd", "age"), list_archives,
    receiver=Receiver(place_zfs, receive_zfs))
BTRFS_SOURCE: Source[StreamArchive] = Source(
    "btrfs-stream", ("btrfs", "zstd", "age"), list_archives,
    receiver=Receiver(place_btrfs_stream, receive_btrfs, btrfs_excludes))
