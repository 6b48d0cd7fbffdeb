"""Bring an archived chain back: stream files -> decrypt -> decompress -> ``zfs receive``.

A chain member is a file written by :func:`hostbook.jobs.archive.streams.writer.stream_to_file`
(``zfs send`` through ``zstd`` and ``age``/``gpg``).  Restoring the newest
member needs every member before it, full first, each incremental on top of
its parent; :meth:`hostbook.jobs.archive.streams.chains.Catalogue.lineage` gives that list.

The reverse filters are chosen per member from what the catalogue recorded
(``compression``/``encryption``), so a chain whose settings changed midway
still restores.  Decryption needs the private side: age identity files, or a
gpg home holding the secret key (``GNUPGHOME`` in :attr:`Keys.env`).

The restore is idempotent and resumable.  Members already on the target
(matched by guid, never by name) are skipped, so after a failure the same
call continues where it stopped; a receive that breaks off leaves nothing
behind (no ``-s``).  After each receive the target is listed again and the
snapshot's guid must be the one the catalogue recorded: a stream that
decodes into something else is a failed restore, not a silent success.
Nothing is received into a dataset whose snapshots do not continue the chain.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hostbook.jobs.archive.streams.chains import ArchiveEntry
from hostbook.jobs.replication.zfs.inventory import (
    Snapshot,
    list_snapshots_argv,
    parse_snapshot_list,
)
from hostbook.jobs.replication.zfs.transfer import Endpoint
from hostbook.process.pipeline import PipelineResult, Stage
from hostbook.process.result import error_line
from hostbook.process.runner import Runner

_GONE = (-9, -13)
"""A stage killed, or whose reader went away: the stage after it is the one to blame."""


class ChainRestoreError(RuntimeError):
    """A chain that cannot be restored as asked (the message says why)."""


@dataclass(frozen=True)
class Keys:
    """The private side of the archive's encryption.

    ``age_identities`` are identity files (``age-keygen`` output); ``env`` is
    added to every filter's environment, e.g. ``{"GNUPGHOME": "/root/.gnupg"}``.
    """

    age_identities: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)


def read_filters(compression: str, encryption: str, keys: Keys = Keys()) -> list[list[str]]:
    """The commands a stored stream passes through on its way back: decrypt, then decompress.

    The mirror of :func:`hostbook.jobs.archive.streams.writer.filter_argv`.
    """
    stages: list[list[str]] = []
    if encryption == "age":
        if not keys.age_identities:
            raise ChainRestoreError("the stream is age-encrypted: an identity file is needed")
        stages.append(["age", "--decrypt", *[a for i in keys.age_identities for a in ("-i", i)]])
    elif encryption == "gpg":
        stages.append(["gpg", "--batch", "--quiet", "--decrypt"])
    elif encryption != "none":
        raise ChainRestoreError(f"unknown encryption {encryption!r}")
    if compression == "zstd":
        stages.append(["zstd", "-q", "-d", "-c"])
    elif compression != "none":
        raise ChainRestoreError(f"unknown compression {compression!r}")
    return stages


def _stage_errors(result: PipelineResult, count: int) -> list[str]:
    """The first ``count`` stages that failed on their own, each with its error line."""
    return [f"{stage.argv[0]}: exit {stage.returncode}: {error_line(stage.stderr)}"
            for stage in result.stages[:count]
            if stage.returncode not in (0, *_GONE) or stage.missing]


def decode_file(
    runner: Runner,
    path: Path,
    stages: Sequence[Sequence[str]],
    output: Path,
    *,
    env: Mapping[str, str] | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> int:
    """Run ``path`` through ``stages`` into the file ``output``; returns the bytes written.

    A stage that fails raises :class:`ChainRestoreError` naming the stage and its
    last error line; nothing is left at ``output`` then.
    """
    filters = [Stage.of(argv, env) for argv in stages] or [Stage.of(["cat"])]
    result = runner.pipeline(filters, source=path, output=output, meter=len(filters) - 1,
                             on_bytes=on_bytes)
    if not result.ok:
        errors = _stage_errors(result, len(filters)) or [result.failure()]
        raise ChainRestoreError(f"{path.name}: " + "; ".join(errors))
    return result.bytes


def check_lineage(members: Sequence[ArchiveEntry]) -> None:
    """A restorable member list: one full first, then each member's parent right before it."""
    if not members:
        raise ChainRestoreError("nothing to restore: the member list is empty")
    if not members[0].is_full:
        raise ChainRestoreError(
            f"{members[0].snapshot} is an incremental: a restore starts from the chain's full")
    for prev, entry in itertools.pairwise(members):
        if entry.is_full:
            raise ChainRestoreError(f"{entry.snapshot} is a second full in the member list")
        if entry.parent_id != prev.id:
            raise ChainRestoreError(
                f"{entry.snapshot} was sent from entry {entry.parent_id}, not from "
                f"{prev.snapshot} (entry {prev.id}): the list is not one lineage")
        if entry.dataset != prev.dataset:
            raise ChainRestoreError("members of one restore must come from one dataset")


@dataclass
class MemberResult:
    """What happened to one member."""

    entry: ArchiveEntry
    action: str  # "skipped" | "received" | "failed"
    bytes: int = 0
    error: str = ""


@dataclass
class RestoreReport:
    target: str
    members: list[MemberResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(m.action != "failed" for m in self.members)

    @property
    def received(self) -> list[str]:
        return [m.entry.snapshot for m in self.members if m.action == "received"]


def _target_snapshots(
    runner: Runner, endpoint: Endpoint, dataset: str
) -> list[Snapshot] | None:
    """The target's snapshots in createtxg order; None when the dataset does not exist."""
    argv = endpoint.argv(*list_snapshots_argv(dataset, recursive=False)[1:])
    result = runner.query(argv, env=endpoint.env or None, timeout=600.0)
    if result.returncode != 0:
        if "dataset does not exist" in result.stderr:
            return None
        tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise ChainRestoreError(f"cannot list {dataset}: {tail}")
    return parse_snapshot_list(result.stdout).get(dataset, [])


def plan_restore(
    members: Sequence[ArchiveEntry], existing: Sequence[Snapshot] | None
) -> tuple[int, str]:
    """How many leading members the target already holds, and why that is safe.

    Raises :class:`ChainRestoreError` when the target's snapshots do not let the
    chain continue (a restore never destroys anything).
    """
    check_lineage(members)
    if existing is None:
        return 0, "target does not exist: receive the full, then each incremental"
    if not existing:
        return 0, "target exists without snapshots: the full overwrites it (-F)"
    guids = {s.guid for s in existing}
    done = 0
    while done < len(members) and members[done].guid in guids:
        done += 1
    if done == 0:
        raise ChainRestoreError(
            f"target already has {len(existing)} snapshot(s) and none is the chain's full "
            f"{members[0].snapshot} (by guid): restore into a new dataset")
    newest = existing[-1]
    if newest.guid != members[done - 1].guid:
        raise ChainRestoreError(
            f"target's newest snapshot {newest.name} is not {members[done - 1].snapshot}, the "
            "last member it holds: an incremental receive would be refused")
    if done == len(members):
        return done, "every member is already on the target"
    return done, f"target holds the first {done} member(s): continue with {members[done].snapshot}"


def restore_chain(
    members: Sequence[ArchiveEntry],
    target_dataset: str,
    *,
    receiver: Endpoint | None = None,
    archive_dir: Path | None = None,
    keys: Keys = Keys(),
    runner: Runner,
    progress: Callable[[ArchiveEntry, int], None] | None = None,
) -> RestoreReport:
    """Receive ``members`` (full first) into ``target_dataset``; stops at the first failure.

    Member paths relative in the catalogue are taken under ``archive_dir``.
    """
    endpoint = receiver or Endpoint()
    report = RestoreReport(target_dataset)
    existing = _target_snapshots(runner, endpoint, target_dataset)
    done, _why = plan_restore(members, existing)
    for entry in members[done:]:  # a missing key is found before anything is received
        read_filters(entry.compression, entry.encryption, keys)
    for entry in members[:done]:
        report.members.append(MemberResult(entry, "skipped"))
    for index, entry in enumerate(members[done:], start=done):
        force = index == 0 and existing is not None
        result = _receive_member(runner, entry, member_path(entry, archive_dir), target_dataset,
                                 endpoint, keys, progress, force=force)
        report.members.append(result)
        if result.action == "failed":
            break
        after = _target_snapshots(runner, endpoint, target_dataset) or []
        landed = next((s for s in after if s.name == entry.snapshot), None)
        if landed is None or landed.guid != entry.guid:
            result.action = "failed"
            got = "nothing" if landed is None else f"guid {landed.guid}"
            result.error = (f"{target_dataset}@{entry.snapshot}: received {got}, the catalogue "
                            f"recorded guid {entry.guid}")
            break
    return report


def _receive_member(
    runner: Runner,
    entry: ArchiveEntry,
    path: Path,
    target: str,
    endpoint: Endpoint,
    keys: Keys,
    progress: Callable[[ArchiveEntry, int], None] | None,
    *,
    force: bool,
) -> MemberResult:
    args = ["receive", "-u"]
    if force or not entry.is_full:
        args.append("-F")  # full: overwrite the empty dataset; incremental: undo stray writes
    receive = Stage.of(endpoint.argv(*args, target), endpoint.env)
    return receive_stream(runner, entry, path, receive, keys, progress, "zfs receive")


def receive_stream(
    runner: Runner,
    entry: ArchiveEntry,
    path: Path,
    receive: Stage,
    keys: Keys,
    progress: Callable[[ArchiveEntry, int], None] | None,
    receiver: str,
) -> MemberResult:
    """One member's file through its reverse filters into ``receive`` (zfs or btrfs)."""
    if not path.is_file():
        return MemberResult(entry, "failed", error=f"{path}: stream file is missing")
    try:
        filters = read_filters(entry.compression, entry.encryption, keys)
    except ChainRestoreError as exc:
        return MemberResult(entry, "failed", error=str(exc))
    stages = [*(Stage.of(f, keys.env) for f in filters), receive]
    on_bytes = (lambda n: progress(entry, n)) if progress is not None else None
    # Counted where the stream enters the receiver: after the last filter (or the file).
    result = runner.pipeline(stages, source=path, meter=len(filters) - 1, on_bytes=on_bytes)
    problems = []
    decoding = _stage_errors(result, len(filters))
    if decoding:
        problems.append(f"{path.name}: " + "; ".join(decoding))
    received = result.stages[-1]
    if not received.ok:
        problems.append(f"{receiver}: exit {received.returncode}: {error_line(received.stderr)}")
    if problems:
        return MemberResult(entry, "failed", result.bytes, "; ".join(problems))
    return MemberResult(entry, "received", result.bytes)


def member_path(entry: ArchiveEntry, archive_dir: Path | None) -> Path:
    """A member's stream file: relative catalogue paths are taken under ``archive_dir``."""
    path = Path(entry.path)
    if not path.is_absolute() and archive_dir is not None:
        path = archive_dir / path
    return path
