"""The sure step of a run: record a volume's snapshot into its next integrity database.

Databases of a volume live in ``<sure_store>/<volume key>/``, one per run,
named by the run's time; the newest earlier one lends the hashes of
unchanged files.  When the snapshot is writable (LVM) and the job asks for
it, the database is also written into the snapshot, so every archive made
from it carries its own.  When the store is inside the manifest repository
it gets a ``.gitignore`` of ``*``: databases are not the manifest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hostbook.jobs.integrity import database as sure_db
from hostbook.jobs.integrity import sure
from hostbook.jobs.private_files import private_dir, replace_private, write_new
from hostbook.jobs.run.context import OK, WARNING, ProgressFn, StepContext
from hostbook.jobs.snapshot.provider import Taken
from hostbook.manifest.sections.jobs import SureSettings

GITIGNORE = "*\n"


@dataclass
class SureRecord:
    """What the step recorded (the outcome's ``sure``), and what it has to say."""

    info: dict[str, Any]
    notes: list[tuple[str, str]] = field(default_factory=list)
    """(status, message) pairs, in the order they were found."""


def _hashing_progress(progress: ProgressFn) -> sure.Progress:
    def report(walked: int, to_hash: int, hashed: int) -> None:
        if to_hash:
            progress(hashed / to_hash, f"hashing {hashed}/{to_hash}")
        else:
            progress(None, f"{walked} entries")

    return report


def record_snapshot(ctx: StepContext, settings: SureSettings, taken: Taken, store_root: Path,
                    in_manifest: bool, progress: ProgressFn) -> SureRecord:
    """Update the volume's integrity database from its mounted snapshot."""
    store = store_root / taken.volume_key
    previous = sure_db.latest(store)
    output = store / f"{ctx.stamp}{sure_db.SUFFIX}"
    if ctx.dry_run:
        ctx.log(f"would record {taken.path} into {output}"
                + (f" (reusing hashes from {previous.name})" if previous else ""))
        return SureRecord({"database": str(output)})
    if in_manifest:
        # hostbook's own folder in a 0755 repository: a store made 0755 earlier is narrowed
        private_dir(store_root, tighten=True)
        write_new(store_root / ".gitignore", GITIGNORE.encode())
    private_dir(store, tighten=True)
    stats = sure.update(
        taken.path, output, previous, exclude=[*settings.exclude, *taken.excludes],
        progress=_hashing_progress(progress), label=taken.path,
    )
    info: dict[str, Any] = {
        "database": str(output), "entries": stats.entries, "files": stats.files,
        "hashed": stats.hashed, "reused": stats.reused, "seconds": round(stats.seconds, 3),
    }
    if taken.writable and settings.in_snapshot:
        inside = Path(taken.writable) / sure.IN_TREE_DIR
        inside.mkdir(exist_ok=True, mode=0o700)
        replace_private(inside / f"{taken.volume_key}{sure_db.SUFFIX}", [output.read_bytes()])
        info["in_snapshot"] = str(inside / f"{taken.volume_key}{sure_db.SUFFIX}")
    sure_db.prune(store, settings.keep)
    record = SureRecord(info)
    if stats.previous_error:
        record.notes.append((WARNING, f"previous database unusable ({stats.previous_error}): "
                             "every file was hashed"))
    if stats.unreadable:
        record.notes.append((WARNING, f"{len(stats.unreadable)} file(s) unreadable, "
                             f"e.g. {stats.unreadable[0]}"))
    elif not stats.previous_error:
        record.notes.append((OK, f"{stats.entries} entries, {stats.hashed} hashed, "
                             f"{stats.reused} reused"))
    return record
