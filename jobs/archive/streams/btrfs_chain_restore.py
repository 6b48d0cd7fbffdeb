"""Bring an archived btrfs chain back: stream files -> decrypt -> decompress -> ``btrfs receive``.

The btrfs twin of :mod:`hostbook.jobs.archive.streams.chain_restore`.  Every
member is received into one directory on the restored filesystem, where
``btrfs receive`` creates a read-only subvolume named like the archived
snapshot and records the sender's uuid as its received_uuid; an incremental
finds its parent there by that uuid.  Identity is that received_uuid, never
the name: after each receive the new subvolume's received_uuid must be the
uuid the catalogue recorded.

Resumable: members already there (read-only, with the recorded
received_uuid) are skipped, and the remains of a receive that broke off
(a writable subvolume of the member's name without received_uuid, see
:func:`hostbook.jobs.replication.btrfs.lineage.half_received`) are deleted
before that member is received again.  A finished subvolume of a member's
name that holds something else stops the restore: nothing is deleted that
the chain did not create.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Sequence
from pathlib import Path

from hostbook.jobs.archive.streams.chain_restore import (
    ChainRestoreError,
    Keys,
    MemberResult,
    RestoreReport,
    check_lineage,
    member_path,
    read_filters,
    receive_stream,
)
from hostbook.jobs.archive.streams.chains import ArchiveEntry
from hostbook.jobs.replication.btrfs.inventory import load_directory, show_argv
from hostbook.jobs.replication.btrfs.lineage import (
    BtrfsParseError,
    Subvolume,
    parse_subvolume_show,
)
from hostbook.process.pipeline import Stage
from hostbook.process.runner import Runner

NO_KEYS = Keys()


def show_subvolume(runner: Runner, path: str) -> Subvolume | None:
    """``btrfs subvolume show`` of ``path``; None when it is no subvolume."""
    shown = runner.query(show_argv(path), timeout=120.0)
    if not shown.ok:
        return None
    try:
        return parse_subvolume_show(shown.stdout)
    except BtrfsParseError:
        return None


def received_copy(sub: Subvolume | None, uuid: str) -> bool:
    """Whether ``sub`` is a whole received copy of the snapshot whose uuid is ``uuid``."""
    return sub is not None and bool(sub.readonly) and sub.received_uuid == uuid


def finished(sub: Subvolume | None, entry: ArchiveEntry) -> bool:
    """Whether ``sub`` is the whole received copy of ``entry``."""
    return received_copy(sub, str(entry.guid))


def clear_broken(runner: Runner, path: str, sub: Subvolume) -> str | None:
    """Delete what a receive that broke off left at ``path``; refuse anything finished."""
    if sub.readonly or sub.received_uuid:
        return (f"{path} exists and is not the copy to receive (received_uuid "
                f"{sub.received_uuid or '-'}): nothing is deleted")
    gone = runner.command(["btrfs", "subvolume", "delete", path], timeout=600.0)
    return None if gone.ok else f"{path}: a broken receive that cannot be deleted: " \
        f"{gone.failure()}"


def restore_btrfs_chain(
    members: Sequence[ArchiveEntry],
    receive_dir: str,
    *,
    archive_dir: Path | None = None,
    keys: Keys = NO_KEYS,
    runner: Runner,
    progress: Callable[[ArchiveEntry, int], None] | None = None,
) -> RestoreReport:
    """Receive ``members`` (full first) into ``receive_dir``; stops at the first failure."""
    check_lineage(members)
    for entry in members:  # a missing key is found before anything is received
        read_filters(entry.compression, entry.encryption, keys)
    report = RestoreReport(receive_dir)
    made = runner.command(["mkdir", "-p", "--", receive_dir], timeout=60.0)
    if not made.ok:
        raise ChainRestoreError(f"mkdir {receive_dir}: {made.failure()}")
    present = {s.name: s for s in load_directory(runner, receive_dir).subvolumes}
    for entry in members:
        path = posixpath.join(receive_dir, entry.snapshot)
        there = present.get(entry.snapshot)
        if there is not None and finished(show_subvolume(runner, path), entry):
            report.members.append(MemberResult(entry, "skipped"))
            continue
        problem = clear_broken(runner, path, there) if there is not None else None
        if problem is not None:
            report.members.append(MemberResult(entry, "failed", error=problem))
            break
        receive = Stage.of(["btrfs", "receive", receive_dir])
        result = receive_stream(runner, entry, member_path(entry, archive_dir), receive, keys,
                                progress, "btrfs receive")
        report.members.append(result)
        if result.action == "failed":
            break
        landed = show_subvolume(runner, path)
        if not finished(landed, entry):
            result.action = "failed"
            got = "nothing" if landed is None else f"received_uuid {landed.received_uuid}"
            result.error = (f"{path}: received {got}, the catalogue recorded uuid "
                            f"{entry.guid}")
            break
    return report
