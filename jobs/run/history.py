"""Per-run outcome records: what each archiver run did, kept per host.

Every archiver run appends one JSON line (job, volume, snapshot, archiver,
archive id, bytes, duration, status) to ``<state>/history/<host>.jsonl``; a
job without archivers appends one line for the job.  ``hostbook status``
reads it back (:mod:`hostbook.jobs.run.status`), and xfsdump counts its
earlier successes in it to pick the next level.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hostbook.jobs.private_files import replace_private
from hostbook.jobs.run.outcome import JobOutcome
from hostbook.jobs.run.run_journal import durable_append
from hostbook.manifest.file_cache import cached

_COMPACT_AT = 20000
_KEEP_PER_KEY = 200


def history_path(state_dir: Path, host: str) -> Path:
    return state_dir / "history" / f"{host}.jsonl"


@dataclass
class Outcome:
    """One archiver run (or a job without archivers) in one run."""

    run: str
    job: str
    volume: str
    volume_key: str
    status: str
    started: float
    finished: float
    snapshot: str | None = None
    archiver: str | None = None
    tool: str | None = None
    location: str | None = None
    archive_id: str | None = None
    bytes: int | None = None
    added: int | None = None
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return round(self.finished - self.started, 3)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["duration"] = self.duration
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outcome:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


def records_of(run_id: str, outcome: JobOutcome, finished: float) -> list[Outcome]:
    """A job's history lines: one per archiver run, or one for the job without archivers."""
    common: dict[str, Any] = {
        "run": run_id, "job": outcome.job, "volume": outcome.volume,
        "volume_key": outcome.volume_key, "finished": finished, "snapshot": outcome.snapshot,
    }
    if not outcome.archives:
        return [Outcome(**common, status=outcome.status, started=outcome.started,
                        message="; ".join(outcome.messages[-3:]))]
    return [
        Outcome(
            **common, status=result.status,
            started=float(result.extra.get("started", outcome.started)),
            archiver=result.archiver, tool=result.tool, location=result.location,
            archive_id=result.archive_id, bytes=result.bytes, added=result.added,
            message=result.message,
            extra={k: v for k, v in result.extra.items() if k != "started"},
        )
        for result in outcome.archives
    ]


class History:
    """The outcome file of one host."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, outcome: Outcome) -> None:
        """Append one record durably (fsync): a run's outcome must not be lost."""
        durable_append(self.path, json.dumps(outcome.to_json(), sort_keys=True))

    def record_run(self, run_id: str, outcomes: Iterable[JobOutcome]) -> None:
        """Append every job's lines of one run, then keep the file's size in bounds."""
        for outcome in outcomes:
            for record in records_of(run_id, outcome, time.time()):
                self.append(record)
        self.compact()

    def all(self) -> list[Outcome]:
        """Every record (a long-running reader's cache keeps them while the file is
        unchanged: :mod:`hostbook.manifest.file_cache`; they are not to be changed)."""
        return cached(self.path, "history", lambda: list(self.records()))

    def records(self) -> Iterator[Outcome]:
        try:
            data = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        for line in data.splitlines():
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except ValueError:
                continue  # a torn last line after a crash
            if isinstance(raw, dict):
                yield Outcome.from_json(raw)

    def successes(self, job: str, volume_key: str, archiver: str) -> int:
        """How many runs of this archiver on this volume succeeded (xfsdump levels)."""
        return sum(
            1 for r in self.records()
            if r.job == job and r.volume_key == volume_key and r.archiver == archiver
            and r.status == "ok"
        )

    def last_check(self, job: str, volume_key: str, archiver: str) -> float | None:
        """When this target's repository last passed its scheduled check, or None."""
        times = [float(r.extra["checked"]) for r in self.records()
                 if r.job == job and r.volume_key == volume_key and r.archiver == archiver
                 and isinstance(r.extra.get("checked"), int | float)]
        return max(times, default=None)

    def compact(self) -> None:
        """Keep the newest records per (job, volume, archiver) once the file is large."""
        records = list(self.records())
        if len(records) < _COMPACT_AT:
            return
        kept: list[Outcome] = []
        counts: dict[tuple[str, str, str | None], int] = {}
        for record in reversed(records):
            key = (record.job, record.volume_key, record.archiver)
            counts[key] = counts.get(key, 0) + 1
            if counts[key] <= _KEEP_PER_KEY:
                kept.append(record)
        replace_private(self.path, [
            (json.dumps(record.to_json(), sort_keys=True) + "\n").encode()
            for record in reversed(kept)
        ])
