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

The schedule is the same for ZFS and btrfs: a source snapshot is anything
with a name, an identity that survives send/receive (ZFS's guid, a btrfs
snapshot's uuid, which a received copy keeps as its received_uuid), a
creation time and an order within its location (:class:`StreamPoint`).

:class:`Catalogue` keeps the lineage, sizes, the kind of stream (``zfs`` or
``btrfs``) and the labels of the run that wrote each member (host, volume
key, run id, run stamp, manifest commit) in SQLite, next to the streams.
A catalogue written before kinds and labels existed is read as ZFS members
without labels; opened for writing, it gains the two columns.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from hostbook.jobs.retention.policy import epoch, human_duration

KINDS = ("zfs", "btrfs")


class StreamPoint(Protocol):
    """A source snapshot a stream can be sent from (ZFS ``Snapshot``, a btrfs point)."""

    @property
    def name(self) -> str: ...
    @property
    def guid(self) -> int | str: ...
    @property
    def creation(self) -> int: ...
    @property
    def createtxg(self) -> int: ...


@dataclass(frozen=True, slots=True)
class ArchiveEntry:
    """One stream file in the archive.

    ``dataset`` is the stream's source: a ZFS dataset, or a btrfs subvolume's
    path; ``guid`` is the ZFS guid (int) or the btrfs snapshot's uuid (str).
    """

    id: int
    chain: int
    dataset: str
    snapshot: str
    guid: int | str
    parent_id: int | None
    created: int
    size: int
    path: str
    compression: str = "zstd"
    encryption: str = "none"
    kind: str = "zfs"
    labels: Mapping[str, str] = field(default_factory=dict)

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
    snapshot: StreamPoint | None
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
    source: Sequence[StreamPoint],
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
ADDED_COLUMNS = (("kind", "TEXT NOT NULL DEFAULT 'zfs'"), ("labels", "TEXT NOT NULL DEFAULT '{}'"))
"""Columns later catalogues have; an older one gains them when opened for writing."""
COLUMNS = ("id", "chain", "dataset", "snapshot", "guid", "parent_id", "created", "size", "path",
           "compression", "encryption", "kind", "labels")


class Catalogue:
    """The archive's lineage and sizes, in one SQLite file (guids stored as text: 64-bit).

    ``readonly`` opens an existing catalogue without changing it (a restore
    lists a destination it may only read); a missing file is then an error.
    """

    def __init__(self, path: Path | str, *, readonly: bool = False) -> None:
        if readonly:
            self.db = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
        else:
            self.db = sqlite3.connect(str(path))
            self.db.executescript(SCHEMA)
        present = {row[1] for row in self.db.execute("PRAGMA table_info(entries)")}
        if not readonly:
            with self.db:
                for name, declaration in ADDED_COLUMNS:
                    if name not in present:
                        self.db.execute(f"ALTER TABLE entries ADD COLUMN {name} {declaration}")
                        present.add(name)
        defaults = {name: declaration.split("DEFAULT ", 1)[1]
                    for name, declaration in ADDED_COLUMNS}
        self._select = "SELECT " + ", ".join(
            c if c in present or c not in defaults else f"{defaults[c]} AS {c}"
            for c in COLUMNS) + " FROM entries"

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Catalogue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _row(self, row: tuple) -> ArchiveEntry:  # type: ignore[type-arg]
        kind = str(row[11])
        try:
            labels = json.loads(row[12])
        except ValueError:
            labels = {}
        guid: int | str = int(row[4]) if kind == "zfs" else str(row[4])
        return ArchiveEntry(row[0], row[1], row[2], row[3], guid, row[5], row[6],
                            row[7], row[8], row[9], row[10], kind,
                            labels if isinstance(labels, dict) else {})

    def entries(self, dataset: str) -> list[ArchiveEntry]:
        cur = self.db.execute(f"{self._select} WHERE dataset = ? ORDER BY created, id",
                              (dataset,))
        return [self._row(r) for r in cur.fetchall()]

    def all_entries(self) -> list[ArchiveEntry]:
        """Every member of every source, in creation order."""
        cur = self.db.execute(f"{self._select} ORDER BY created, id")
        return [self._row(r) for r in cur.fetchall()]

    def add(
        self,
        dataset: str,
        snapshot: StreamPoint,
        parent: ArchiveEntry | None,
        size: int,
        path: str,
        *,
        compression: str = "zstd",
        encryption: str = "none",
        kind: str = "zfs",
        labels: Mapping[str, str] | None = None,
    ) -> ArchiveEntry:
        """Record a stream that is complete on the archive (call after the upload)."""
        if kind not in KINDS:
            raise ValueError(f"unknown stream kind {kind!r}")
        tags = dict(labels or {})
        with self.db:
            if parent is None:
                row = self.db.execute("SELECT COALESCE(MAX(chain), 0) + 1 FROM entries").fetchone()
                chain = int(row[0])
            else:
                chain = parent.chain
            cur = self.db.execute(
                "INSERT INTO entries (chain, dataset, snapshot, guid, parent_id, created, size, "
                "path, compression, encryption, kind, labels) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (chain, dataset, snapshot.name, str(snapshot.guid),
                 parent.id if parent else None, snapshot.creation, size, path,
                 compression, encryption, kind, json.dumps(tags, sort_keys=True)),
            )
            new_id = int(cur.lastrowid or 0)
        return ArchiveEntry(new_id, chain, dataset, snapshot.name, snapshot.guid,
                            parent.id if parent else None, snapshot.creation, size, path,
                            compression, encryption, kind, tags)

    def lineage(self, entry_id: int) -> list[ArchiveEntry]:
        """The streams to restore ``entry_id``: its full first, then each incremental."""
        out: list[ArchiveEntry] = []
        current: int | None = entry_id
        while current is not None:
            row = self.db.execute(f"{self._select} WHERE id = ?", (current,)).fetchone()
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


def send_args_for(decision: ArchiveDecision, dataset: str, *, raw: bool = False,
                  props: bool = False) -> list[str]:
    """``zfs send`` arguments (without ``zfs``) for a full or incremental decision.

    An incremental uses ``-i @parent``: the stream holds exactly the changes
    from the chain's newest member to the new snapshot, whatever lies between
    (an ``-I`` stream would also carry every intermediate snapshot).  With
    ``props`` (``-p``) the dataset's properties travel along, its mountpoint
    among them, so a received dataset lands where the archived one was.
    """
    if decision.snapshot is None:
        raise ValueError(f"nothing to send: {decision.reason}")
    args = ["send", *(["-w"] if raw else []), *(["-p"] if props else [])]
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
    kind: str = "zfs",
) -> str:
    """A stream file's name that says what it holds: ``tank_data@daily-2.from-daily-1.zfs.zst.age``.

    Slashes in the dataset (or a btrfs subvolume's path) become ``_`` so every
    stream of a source sits in one directory; the suffixes follow the kind
    and the filters the stream went through.
    """
    if decision.snapshot is None:
        raise ValueError(f"nothing to name: {decision.reason}")
    name = f"{dataset.strip('/').replace('/', '_') or 'root'}@{decision.snapshot.name}"
    if decision.action == "incremental" and decision.parent is not None:
        name += f".from-{decision.parent.snapshot}"
    name += f".{kind}"
    if compression == "zstd":
        name += ".zst"
    if encryption in ("age", "gpg"):
        name += f".{encryption}"
    return name
