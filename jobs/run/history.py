"""Per-run outcome records, and ``status``: when was each volume last archived, and where.

Every archiver run appends one JSON line (job, volume, snapshot, archiver,
archive id, bytes, duration, status) to ``<state>/history/<host>.jsonl``.
``status`` reads it back: per volume, the last successful archive (a
warning counts: the archive exists, but the warning is shown), and whether
that is older than the volume's threshold.  A stale volume, or one never
archived, makes ``hostbook status`` exit 1, which is what a monitoring
check wants.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hostbook.jobs.private_files import replace_private
from hostbook.jobs.run.run_journal import durable_append
from hostbook.manifest.sections.jobs import JobsDocument
from hostbook.manifest.sections.retention import parse_duration

SUCCESS = ("ok", "warning")
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


class History:
    """The outcome file of one host."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, outcome: Outcome) -> None:
        """Append one record durably (fsync): a run's outcome must not be lost."""
        durable_append(self.path, json.dumps(outcome.to_json(), sort_keys=True))

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


@dataclass
class VolumeStatus:
    """What ``hostbook status`` says about one volume."""

    volume: str
    volume_key: str
    jobs: list[str]
    threshold: int
    last_success: Outcome | None
    last_attempt: Outcome | None
    stale: bool
    age: float | None

    def to_json(self) -> dict[str, Any]:
        success = self.last_success
        attempt = self.last_attempt
        return {
            "volume": self.volume,
            "volume_key": self.volume_key,
            "jobs": self.jobs,
            "stale": self.stale,
            "stale_after_seconds": self.threshold,
            "age_seconds": round(self.age) if self.age is not None else None,
            "last_success": success.to_json() if success else None,
            "last_attempt_status": attempt.status if attempt else None,
            "last_attempt": attempt.finished if attempt else None,
        }


def volume_status(
    document: JobsDocument | None,
    records: Iterable[Outcome],
    now: float | None = None,
    stale_after: str | None = None,
) -> list[VolumeStatus]:
    """Per volume: the last successful archive and whether it is stale.

    Volumes come from the enabled jobs that archive (so one never archived
    shows up as stale) and from history (a volume whose job was removed
    still shows its last archive).  ``stale_after`` overrides every threshold.
    """
    moment = time.time() if now is None else now
    default = stale_after or (document.settings.stale_after if document else "36h")
    volumes: dict[str, dict[str, Any]] = {}
    if document is not None:
        for job in document.jobs:
            if not job.enabled or not job.archive:
                continue
            seconds = parse_duration(stale_after) if stale_after else job.stale_seconds(default)
            entry = volumes.setdefault(
                job.volume.key,
                {"volume": job.volume.ident, "jobs": [], "threshold": seconds},
            )
            entry["jobs"].append(job.name)
            entry["threshold"] = min(entry["threshold"], seconds)
    success: dict[str, Outcome] = {}
    attempt: dict[str, Outcome] = {}
    for record in records:
        if record.archiver is None:
            continue
        entry = volumes.setdefault(
            record.volume_key,
            {"volume": record.volume, "jobs": [], "threshold": parse_duration(default)},
        )
        if record.job not in entry["jobs"]:
            entry["jobs"].append(record.job)
        previous = attempt.get(record.volume_key)
        if previous is None or record.finished >= previous.finished:
            attempt[record.volume_key] = record
        if record.status in SUCCESS and (
            record.volume_key not in success
            or record.finished >= success[record.volume_key].finished
        ):
            success[record.volume_key] = record
    out = []
    for key in sorted(volumes):
        entry = volumes[key]
        last = success.get(key)
        age = moment - last.finished if last else None
        out.append(
            VolumeStatus(
                volume=entry["volume"], volume_key=key, jobs=sorted(entry["jobs"]),
                threshold=entry["threshold"], last_success=last, last_attempt=attempt.get(key),
                stale=age is None or age > entry["threshold"], age=age,
            )
        )
    return out


def human_age(seconds: float | None) -> str:
    """``93784`` -> ``1d2h``: the two largest units, enough to judge staleness."""
    if seconds is None:
        return "never"
    value = int(max(0, seconds))
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if value >= size or (unit == "s" and not parts):
            parts.append(f"{value // size}{unit}")
            value %= size
        if len(parts) == 2:
            break
    return "".join(parts)


def render_status(rows: list[VolumeStatus]) -> str:
    """A table a person reads in a terminal or a monitoring log."""
    if not rows:
        return "no archiving jobs and no history\n"
    lines = [f"{'VOLUME':<24} {'LAST ARCHIVED':<16} {'AGE':>10}  {'STATE':<10} WHERE"]
    for row in rows:
        last = row.last_success
        where = f"{last.tool} {last.location} {last.archive_id or ''}".strip() if last else "-"
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(last.finished)) if last else "never"
        state = "STALE" if row.stale else "ok"
        if last and last.status == "warning":
            state += " (warning)"
        if row.last_attempt and row.last_attempt.status == "failed":
            state += " (last attempt failed)"
        age = f"{human_age(row.age)} ago" if last else "never"
        lines.append(f"{row.volume:<24} {when:<16} {age:>10}  {state:<10} {where}")
    return "\n".join(lines) + "\n"
