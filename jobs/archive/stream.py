"""Send-stream chains as an archiver: ``zfs-stream`` and ``btrfs-stream`` targets.

Each run hands the job's fresh snapshot to :func:`plan_archive`, which says
whether it becomes a new chain's full, the next incremental, or nothing
(already archived, the interval has not passed).  The stream goes through
the configured filters into ``<destination>/<name>.partial`` (0600), renamed
when every stage succeeded (:mod:`hostbook.jobs.archive.streams.writer`);
that partial file is journaled first, so one a kill left behind is removed
by the next run's cleanup.  Only then is the member recorded in
``<destination>/catalogue.sqlite`` together with the run's labels (host,
volume key, run id, stamp, manifest commit) and, for ZFS, the dataset's
mountpoint: a catalogue never names a stream that is not whole.  Chains
whose newest member is older than ``expire_after`` are then deleted whole,
catalogue rows first (a crash in between leaves stray files, never rows
without files).

ZFS sends the job's dataset only (``zfs send -p``, properties included, so
a restore lands at the same mountpoint); child datasets need jobs of their
own.  btrfs sends the read-only snapshot the btrfs provider took, the
parent being the chain's newest member, still in the snapshot directory
(the provider keeps the snapshots of a job with a ``btrfs-stream`` target).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hostbook.jobs.archive.base import PARTIAL, Archiver, ArchiveRequest, ArchiveResult
from hostbook.jobs.archive.streams.chains import (
    ArchiveDecision,
    Catalogue,
    ChainPolicy,
    StreamPoint,
    plan_archive,
    send_args_for,
    stream_filename,
)
from hostbook.jobs.archive.streams.writer import stream_to_file
from hostbook.jobs.private_files import private_dir
from hostbook.jobs.replication.btrfs.inventory import load_directory
from hostbook.jobs.replication.zfs.inventory import list_snapshots_argv, parse_snapshot_list
from hostbook.jobs.run.context import FAILED, OK
from hostbook.manifest.errors import HostbookError, RuntimeFailure
from hostbook.manifest.sections.jobs import StreamArchive
from hostbook.manifest.sections.retention import parse_duration
from hostbook.process.pipeline import PARTIAL_SUFFIX
from hostbook.process.runner import Runner

CATALOGUE = "catalogue.sqlite"


@dataclass(frozen=True)
class BtrfsPoint:
    """A read-only btrfs snapshot as the chain schedule sees it (identity: its uuid)."""

    name: str
    guid: str
    creation: int
    createtxg: int


@dataclass
class StreamSource:
    """What one kind sends: the source's name in the catalogue, its snapshots, the send."""

    kind: str
    origin: str
    """The ZFS dataset, or the btrfs subvolume's path."""
    points: list[StreamPoint]
    send: Callable[[ArchiveDecision], list[str]]
    labels: dict[str, str]


def _zfs_source(runner: Runner, request: ArchiveRequest) -> StreamSource:
    dataset, _, taken = (request.snapshot or "").partition("@")
    if not taken:
        raise RuntimeFailure("zfs-stream: the job took no ZFS snapshot to send")
    listed = runner.query(list_snapshots_argv(dataset, recursive=False), timeout=600.0)
    if not listed.ok:
        raise RuntimeFailure(f"zfs list {dataset}: {listed.failure()}")
    snapshots = parse_snapshot_list(listed.stdout).get(dataset, [])
    mine = next((s for s in snapshots if s.name == taken), None)
    if mine is None and not runner.dry_run:
        raise RuntimeFailure(f"{request.snapshot}: not among {dataset}'s snapshots")
    points: list[StreamPoint] = [s for s in snapshots if mine is None
                                 or (s.creation, s.createtxg) <= (mine.creation, mine.createtxg)]
    got = runner.query(["zfs", "get", "-Hp", "-o", "value", "mountpoint", dataset],
                       timeout=60.0)
    labels = {"mountpoint": got.stdout.strip()} if got.ok and got.stdout.strip() else {}
    return StreamSource("zfs", dataset, points,
                        lambda d: ["zfs", *send_args_for(d, dataset, props=True)], labels)


def _btrfs_source(runner: Runner, request: ArchiveRequest) -> StreamSource:
    taken = request.snapshot
    if not taken:
        raise RuntimeFailure("btrfs-stream: the job took no btrfs snapshot to send")
    directory, name = os.path.split(taken)
    listing = load_directory(runner, directory)
    snapshots = [s for s in listing.snapshots if s.uuid]
    mine = next((s for s in snapshots if s.name == name), None)
    if mine is None and not runner.dry_run:
        raise RuntimeFailure(f"{taken}: not a read-only snapshot in {directory}")
    points: list[StreamPoint] = [
        BtrfsPoint(s.name, str(s.uuid), s.creation or 0, s.order) for s in snapshots
        if mine is None or s.order <= mine.order]

    def send(decision: ArchiveDecision) -> list[str]:
        assert decision.snapshot is not None
        parent = ["-p", os.path.join(directory, decision.parent.snapshot)] if (
            decision.action == "incremental" and decision.parent is not None) else []
        return ["btrfs", "send", "-q", *parent, os.path.join(directory, decision.snapshot.name)]

    return StreamSource("btrfs", request.volume, points, send, {"mountpoint": request.volume})


def stream_source(runner: Runner, request: ArchiveRequest, spec: StreamArchive) -> StreamSource:
    """The source of a ``zfs-stream`` or ``btrfs-stream`` target."""
    return (_zfs_source if spec.tool == "zfs-stream" else _btrfs_source)(runner, request)


def policy_of(spec: StreamArchive) -> ChainPolicy:
    return ChainPolicy(full_every=spec.full_every, interval=parse_duration(spec.interval),
                       expire_after=parse_duration(spec.expire_after)
                       if spec.expire_after else None)


def _expire(destination: Path, catalogue: Catalogue, decision: ArchiveDecision) -> list[str]:
    """Delete the chains the decision expires: rows first, then their files."""
    gone: list[str] = []
    for chain, _reason in decision.expire:
        for name in catalogue.expire(chain):
            (destination / name).unlink(missing_ok=True)
            gone.append(name)
    return gone


def archive(request: ArchiveRequest, spec: StreamArchive) -> ArchiveResult:
    """Archive the job's snapshot as the next chain member (or nothing, with the reason)."""
    ctx = request.ctx
    runner = ctx.runner
    destination = Path(spec.destination)
    result = ArchiveResult(spec.label, spec.tool, FAILED, spec.destination)
    try:
        source = stream_source(runner, request, spec)
    except HostbookError as exc:
        result.message = str(exc)
        return result
    if runner.dry_run and not (destination / CATALOGUE).exists():
        entries = []
    else:
        if not runner.dry_run:
            private_dir(destination)
        with Catalogue(destination / CATALOGUE) as catalogue:
            entries = catalogue.entries(source.origin)
    decision = plan_archive(entries, source.points, policy_of(spec), ctx.now)
    ctx.log(f"{spec.label}: {decision.reason}")
    if decision.snapshot is None or runner.dry_run:
        result.status, result.message = OK, decision.reason
        return result
    name = stream_filename(source.origin, decision, compression=spec.compression,
                           encryption=spec.encryption, kind=source.kind)
    final = destination / name
    writing = ctx.journal.intend(PARTIAL.name, request.volume_key,
                                 path=str(final) + PARTIAL_SUFFIX)
    env = {"GNUPGHOME": spec.gnupg_home} if spec.gnupg_home else None

    def on_bytes(count: int) -> None:
        request.report(None, f"{count >> 20} MiB sent")

    try:
        sent, stored = stream_to_file(runner, source.send(decision), final,
                                      compress=spec.compression, encrypt=spec.encryption,
                                      recipients=spec.recipients, env=env, on_bytes=on_bytes)
    except RuntimeError as exc:
        ctx.journal.removed(writing)
        result.message = str(exc)
        return result
    ctx.journal.removed(writing)
    with Catalogue(destination / CATALOGUE) as catalogue:
        entry = catalogue.add(source.origin, decision.snapshot, decision.parent, stored, name,
                              compression=spec.compression, encryption=spec.encryption,
                              kind=source.kind, labels={**request.labels(), **source.labels})
        expired = _expire(destination, catalogue, decision)
    result.status, result.archive_id, result.bytes = OK, name, stored
    result.message = f"{decision.action} {name}: {decision.reason}"
    result.extra = {"stream_bytes": sent, "chain": entry.chain, "entry": entry.id,
                    **({"expired": expired} if expired else {})}
    return result


ZFS_ARCHIVER: Archiver[StreamArchive] = Archiver("zfs-stream", archive, resources=(PARTIAL,))
BTRFS_ARCHIVER: Archiver[StreamArchive] = Archiver("btrfs-stream", archive, resources=(PARTIAL,))
