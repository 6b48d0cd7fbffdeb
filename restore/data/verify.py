"""Verification of a restored volume against the integrity database its run recorded.

The run's sure step recorded the snapshot it archived into
``<sure_store>/<volume key>/<run stamp>.sure.gz``; with ``in_snapshot`` the
same database also sits inside the archive, at ``.hostbook-sure/<key>.sure.gz``
(the copy that survives the host: a bare-metal rebuild has no state
directory).  ``sure check`` compares every entry (kind, mode, owner, size,
mtime, content hash, link target, device numbers); a restore of some paths
compares those paths and their parents only.  Differences are put in words,
with times as ISO dates.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from hostbook.jobs.integrity import database as sure_db
from hostbook.jobs.integrity import sure
from hostbook.jobs.integrity.database import Database, Entry

NAMES = {"uid": "owner uid", "gid": "group gid", "sha256": "content (sha256)",
         "target": "link target", "device": "device numbers"}


def recorded_database(store: Path, volume_key: str, stamp: str | None) -> Path | None:
    """The database the archive's run kept in the state directory's store, if it is there."""
    if not stamp:
        return None
    path = store / volume_key / f"{stamp}{sure_db.SUFFIX}"
    return path if path.is_file() else None


def carried_database(volume_dir: Path, volume_key: str) -> Path | None:
    """The copy of the database the archive itself carried (``in_snapshot``)."""
    path = volume_dir / sure.IN_TREE_DIR / f"{volume_key}{sure_db.SUFFIX}"
    return path if path.is_file() else None


def ns_time(value: str) -> str:
    """Nanoseconds since the epoch as an ISO date (UTC, nanoseconds kept when there are any)."""
    try:
        ns = int(value)
    except ValueError:
        return value
    seconds, rest = divmod(ns, 1_000_000_000)
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{rest:09d}Z" if rest else f"{text}Z"


def difference_words(difference: sure.Difference) -> str:
    """``changed: etc/x: mode 644 -> 600, mtime 2024-05-01T12:00:00Z -> ...``."""
    shown = sure_db.escape(difference.path)
    if difference.status == "missing":
        return f"missing: {shown} (in the archive's database, not restored)"
    if difference.status == "extra":
        return f"extra: {shown} (restored tree has it, the database does not)"
    parts = []
    for name, old, new in difference.changes:
        if name == "mtime":
            old, new = ns_time(old), ns_time(new)
        if name == "sha256":
            old, new = old[:12], new[:12]
        parts.append(f"{NAMES.get(name, name)} {old} -> {new}")
    return f"changed: {shown}: {', '.join(parts)}"


def _within(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(r + "/") or r.startswith(path + "/")
               for r in roots) or path == "."


def _only(db: Database, roots: list[str]) -> Database:
    return Database(db.root, db.created, [e for e in db.entries if _within(e.path, roots)])


def _within_the_second(difference: sure.Difference, kinds: dict[str, str]) -> bool:
    """An mtime-only difference a whole-second tool (xfsrestore) cannot avoid."""
    if difference.status != "changed" or [c[0] for c in difference.changes] != ["mtime"]:
        return False
    if kinds.get(difference.path) == "l":
        return True
    old, new = (int(v) for v in difference.changes[0][1:])
    return new == old - old % 1_000_000_000


def check_tree(volume_dir: Path, database: Path, paths: list[str],
               exclude: Iterable[str] = (), whole_seconds: bool = False,
               ) -> list[sure.Difference]:
    """Every difference between the restored tree and the database (of ``paths`` if given).

    With ``whole_seconds``, an mtime cut to the whole second (or a symbolic
    link's time not set) is not a difference.
    """
    recorded = sure_db.read(database)
    found, _stats = sure.scan(volume_dir, None, exclude)
    if paths:
        recorded, found = _only(recorded, paths), _only(found, paths)
    differences = sure.compare(recorded, found)
    if whole_seconds:
        kinds = {e.path: e.kind for e in recorded.entries}
        differences = [d for d in differences if not _within_the_second(d, kinds)]
    return differences


def entries_of(database: Path, wanted: Iterable[str]) -> dict[str, Entry]:
    """The database's entries for these relative paths (those it has)."""
    want = set(wanted)
    return {e.path: e for e in sure_db.read(database).entries if e.path in want}
