"""``hostbook status``: when was each volume last archived, and where.

It loads the jobs (if any) and the history, and reports per volume the last
successful archive (a warning counts: the archive exists, but the warning is
shown), and whether that is older than the volume's threshold.  A stale
volume, or one never archived, makes ``hostbook status`` exit 1, which is
what a monitoring check wants.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hostbook.jobs.run.history import History, Outcome, history_path
from hostbook.jobs.run.jobs_file import default_host, load_jobs
from hostbook.manifest.errors import BadInputError, ManifestError
from hostbook.manifest.hostname import check_host
from hostbook.manifest.paths import default_state_dir
from hostbook.manifest.sections.jobs import JobsDocument
from hostbook.manifest.sections.retention import parse_duration

SUCCESS = ("ok", "warning")


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



def host_history(
    repository: Path | None, host: str | None, jobs_file: Path | None, state_dir: Path | None,
) -> tuple[JobsDocument | None, History]:
    """A host's jobs (None without a jobs.yaml) and its run history, kept where the
    jobs' settings (or ``state_dir``, or the default) say."""
    document = None
    name = check_host(host or default_host())
    state = state_dir
    try:
        loaded = load_jobs(repository, name, jobs_file, state_dir=state_dir)
    except ManifestError:
        raise
    except BadInputError as exc:
        text = str(exc)
        if jobs_file is not None or not (
            "no jobs.yaml" in text or "not a hostbook manifest repository" in text
        ):
            raise
    else:
        document = loaded.document
        state = loaded.state_dir
    return document, History(history_path(state or default_state_dir(), name))


def host_status(
    repository: Path | None,
    host: str | None,
    jobs_file: Path | None,
    state_dir: Path | None,
    stale_after: str | None,
    now: float | None = None,
) -> list[VolumeStatus]:
    """The status rows for a host.

    Without a jobs.yaml (none written yet, or the manifest is elsewhere) the
    history alone is reported; a jobs.yaml adds the volumes never archived.
    """
    if stale_after is not None:
        try:
            parse_duration(stale_after)
        except ValueError as exc:
            raise BadInputError(f"--stale-after: {exc}") from None
    document, history = host_history(repository, host, jobs_file, state_dir)
    return volume_status(document, history.records(), now=now, stale_after=stale_after)
