"""Full/incremental chains for archive targets that keep send streams as files.

Object storage cannot ``zfs receive``: the archive is a set of stream files,
each a full stream or an incremental one from a parent.  A *chain* is one
full plus the incrementals built on it; restoring the newest member needs
the whole chain, so chains are only ever expired whole.

:func:`plan_archive` decides, for a date, what to do next (btrsend's
schedule): nothing (the newest snapshot is archived, or the interval has not
passed), a new full (no chain yet, the chain reached ``full_every``
incrementals, or its parent snapshot is gone from the source), or an
incremental from the newest archived snapshot.  It also expires every chain
whose newest member is older than ``expire_after`` — never the current chain.
Pure: ``now`` is a parameter and every decision carries its reason.

:class:`Catalogue` keeps the lineage and sizes in SQLite, next to the streams.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from hostbook.jobs.replication.zfs.inventory import Snapshot
from hostbook.jobs.retention.policy import epoch, human_duration


@dataclass(frozen=True, slots=True)
class ArchiveEntry:
    """One stream file in the archive."""

    id: int
    chain: int
    dataset: str
    snapshot: str
    guid: int
    parent_id: int | None
    created: int
    size: int
    path: str
    compression: str = "zstd"
    encryption: str = "none"

    @property
    def is_full(self) -> bool:
        return self.parent_id is None


@dataclass(frozen=True, slots=True)
class ChainPolicy:
    """When to start a new full, how often to archive, when chains expire (seconds)."""

    full_every: int = 7
    interval: int = 86400
    expire_after: int | None = None


@dataclass(frozen=True)
class ArchiveDecision:
    """What to archive now, from which parent, which chains to expire, and why."""

    action: str  # "nothing" | "full" | "incremental"
    snapshot: Snapshot | None
    parent: ArchiveEntry | None
    reason: str
    expire: tuple[tuple[int, str], ...] = ()


def chains_of(entries: Sequence[ArchiveEntry]) -> dict[int, list[ArchiveEntry]]:
    """Entries grouped by chain, each list in creation order."""
    out: dict[int, list[ArchiveEntry]] = {}
    for entry in sorted(entries, key=lambda e: (e.created, e.id)):
        out.setdefault(entry.chain, []).append(entry)
    return out


def plan_archive(
    entries: Sequence[ArchiveEntry],
    source: Sequence[Snapshot],
    policy: ChainPolicy,
    now: int | float | datetime,
) -> ArchiveDecision:
    """Decide the next archive step for one dataset (pure)."""
    t_now = epoch(now)
    chains = chains_of(entries)
    current_id = max(chains, key=lambda c: (chains[c][-1].created, c)) if chains else None
    expire: list[tuple[int, str]] = []
    if policy.expire_after is not None:
        for cid, members in chains.items():
            newest = members[-1]
            age = t_now - newest.created
            if cid != current_id and age > policy.expire_after:
                limit = human_duration(policy.expire_after)
                expire.append((cid, f"chain {cid}: newest member {newest.snapshot} is "
                               f"{human_duration(age)} old, past {limit}"))
    latest = max(source, key=lambda s: (s.creation, s.createtxg), default=None)
    if latest is None:
        return ArchiveDecision("nothing", None, None, "the source has no snapshot", tuple(expire))
    if current_id is None:
        return ArchiveDecision("full", latest, None, "no chain yet: start with a full stream",
                               tuple(expire))
    chain = chains[current_id]
    last = chain[-1]
    if last.guid == latest.guid:
        return ArchiveDecision("nothing", None, None,
                               f"{latest.name} is already archived", tuple(expire))
    since = latest.creation - last.created
    if since < policy.interval:
        return ArchiveDecision(
            "nothing", None, None,
            f"only {human_duration(since)} since {last.snapshot}; interval is "
            f"{human_duration(policy.interval)}", tuple(expire),
        )
    incrementals = len(chain) - 1
    if incrementals >= policy.full_every:
        return ArchiveDecision(
            "full", latest, None,
            f"chain {current_id} has {incrementals} incrementals (full_every "
            f"{policy.full_every}): start a new chain", tuple(expire),
        )
    if not any(s.guid == last.guid for s in source):
        return ArchiveDecision(
            "full", latest, None,
            f"{last.snapshot}, the chain's newest member, is gone from the source: "
            "an incremental has no base", tuple(expire),
        )
    return ArchiveDecision(
        "incremental", latest, last,
        f"incremental from {last.snapshot} ({incrementals + 1} of {policy.full_every} "
        f"in chain {current_id})", tuple(expire),
    )


SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY,
    chain INTEGER NOT NULL,
    dataset TEXT NOT NULL,
    snapshot TEXT NOT NULL,
    guid TEXT NOT NULL,
    parent_id INTEGER REFERENCES entries(id),
    created INTEGER NOT NULL,
    size INTEGER NOT NULL,
    path TEXT NOT NULL,
    compression TEXT NOT NULL,
    encryption TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_dataset ON entries(dataset, chain);
"""


class Catalogue:
    """The archive's lineage and sizes, in one SQLite file (guids stored as text: 64-bit)."""

    def __init__(self, path: Path | str) -> None:
        self.db = sqlite3.connect(str(path))
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Catalogue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _row(self, row: tuple) -> ArchiveEntry:  # type: ignore[type-arg]
        return ArchiveEntry(row[0], row[1], row[2], row[3], int(row[4]), row[5], row[6],
                            row[7], row[8], row[9], row[10])

    def entries(self, dataset: str) -> list[ArchiveEntry]:
        cur = self.db.execute(
            "SELECT id, chain, dataset, snapshot, guid, parent_id, created, size, path, "
            "compression, encryption FROM entries WHERE dataset = ? ORDER BY created, id",
            (dataset,),
        )
        return [self._row(r) for r in cur.fetchall()]

    def add(
        self,
        dataset: str,
        snapshot: Snapshot,
        parent: ArchiveEntry | None,
        size: int,
        path: str,
        *,
        compression: str = "zstd",
        encryption: str = "none",
    ) -> ArchiveEntry:
        """Record a stream that is complete on the archive (call after the upload)."""
        with self.db:
            if parent is None:
                row = self.db.execute("SELECT COALESCE(MAX(chain), 0) + 1 FROM entries").fetchone()
                chain = int(row[0])
            else:
                chain = parent.chain
            cur = self.db.execute(
                "INSERT INTO entries (chain, dataset, snapshot, guid, parent_id, created, size, "
                "path, compression, encryption) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (chain, dataset, snapshot.name, str(snapshot.guid),
                 parent.id if parent else None, snapshot.creation, size, path,
                 compression, encryption),
            )
            new_id = int(cur.lastrowid or 0)
        return ArchiveEntry(new_id, chain, dataset, snapshot.name, snapshot.guid,
                            parent.id if parent else None, snapshot.creation, size, path,
                            compression, encryption)

    def lineage(self, entry_id: int) -> list[ArchiveEntry]:
        """The streams to restore ``entry_id``: its full first, then each incremental."""
        out: list[ArchiveEntry] = []
        current: int | None = entry_id
        while current is not None:
            row = self.db.execute(
                "SELECT id, chain, dataset, snapshot, guid, parent_id, created, size, path, "
                "compression, encryption FROM entries WHERE id = ?", (current,),
            ).fetchone()
            if row is None:
                raise KeyError(f"archive entry {current} is missing: the chain is broken")
            entry = self._row(row)
            out.append(entry)
            current = entry.parent_id
        return list(reversed(out))

    def chain_size(self, chain: int) -> int:
        row = self.db.execute("SELECT COALESCE(SUM(size), 0) FROM entries WHERE chain = ?",
                              (chain,)).fetchone()
        return int(row[0])

    def expire(self, chain: int) -> list[str]:
        """Forget a whole chain; returns the stream paths to delete from the archive."""
        with self.db:
            paths = [r[0] for r in self.db.execute(
                "SELECT path FROM entries WHERE chain = ? ORDER BY id", (chain,))]
            self.db.execute("DELETE FROM entries WHERE chain = ?", (chain,))
        return paths


def send_args_for(decision: ArchiveDecision, dataset: str, *, raw: bool = False) -> list[str]:
    """``zfs send`` arguments (without ``zfs``) for a full or incremental decision.

    An incremental uses ``-i @parent``: the stream holds exactly the changes
    from the chain's newest member to the new snapshot, whatever lies between
    (an ``-I`` stream would also carry every intermediate snapshot).
    """
    if decision.snapshot is None:
        raise ValueError(f"nothing to send: {decision.reason}")
    args = ["send", *(["-w"] if raw else [])]
    if decision.action == "incremental":
        if decision.parent is None:
            raise ValueError("an incremental decision needs a parent")
        args += ["-i", f"@{decision.parent.snapshot}"]
    return [*args, f"{dataset}@{decision.snapshot.name}"]


def stream_filename(
    dataset: str,
    decision: ArchiveDecision,
    *,
    compression: str = "zstd",
    encryption: str = "none",
) -> str:
    """A stream file's name that says what it holds: ``tank_data@daily-2.from-daily-1.zfs.zst.age``.

    Slashes in the dataset become ``_`` so every stream of a dataset sits in
    one directory; the suffixes follow the filters the stream went through.
    """
    if decision.snapshot is None:
        raise ValueError(f"nothing to name: {decision.reason}")
    name = f"{dataset.replace('/', '_')}@{decision.snapshot.name}"
    if decision.action == "incremental" and decision.parent is not None:
        name += f".from-{decision.parent.snapshot}"
    name += ".zfs"
    if compression == "zstd":
        name += ".zst"
    if encryption in ("age", "gpg"):
        name += f".{encryption}"
    return name
