"""``hostbook status``: when was each archive target last archived, and where.

It loads the jobs (if any) and the history, and reports per archive target
(one archiver of one job) the last successful archive (a warning counts:
the archive exists, but the warning is shown), whether the latest attempt
failed, and whether the last success is older than the job's threshold.
The worst target decides its volume, and the worst volume decides the exit
code, so one failing archiver is never hidden by another that succeeded
after it: that is what a monitoring check relies on.

Exit codes (README "hostbook status"): 0 every target fresh and its last
attempt succeeded, 1 a target stale, never archived or its last attempt
failed, 2 bad input (no such host, a repository that is missing or not one),
4 nothing configured (no archiving job and no history).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hostbook.jobs.run.history import History, Outcome, history_path
from hostbook.jobs.run.jobs_file import default_host, load_jobs
from hostbook.manifest.errors import EXIT_OK, EXIT_PARTIAL, BadInputError, ManifestError
from hostbook.manifest.hostname import check_host
from hostbook.manifest.paths import default_state_dir
from hostbook.manifest.sections.jobs import JobsDocument
from hostbook.manifest.sections.retention import parse_duration
from hostbook.manifest.store import ManifestRepository

SUCCESS = ("ok", "warning")
EXIT_NOTHING_CONFIGURED = 4

#: Target and volume states, best first; the worst one wins.
OK, WARNING, FAILING, STALE = "ok", "warning", "failing", "stale"
_RANK = {OK: 0, WARNING: 1, FAILING: 2, STALE: 3}


@dataclass
class TargetStatus:
    """One archiver of one job on one volume: its last success and last attempt."""

    job: str
    archiver: str
    threshold: int
    last_success: Outcome | None = None
    last_attempt: Outcome | None = None
    age: float | None = None

    @property
    def stale(self) -> bool:
        return self.age is None or self.age > self.threshold

    @property
    def failing(self) -> bool:
        return self.last_attempt is not None and self.last_attempt.status not in SUCCESS

    @property
    def state(self) -> str:
        if self.stale:
            return STALE
        if self.failing:
            return FAILING
        if self.last_success is not None and self.last_success.status == "warning":
            return WARNING
        return OK

    def to_json(self) -> dict[str, Any]:
        success = self.last_success
        attempt = self.last_attempt
        return {
            "job": self.job,
            "archiver": self.archiver,
            "state": self.state,
            "stale": self.stale,
            "stale_after_seconds": self.threshold,
            "age_seconds": round(self.age) if self.age is not None else None,
            "last_success": success.to_json() if success else None,
            "last_attempt_status": attempt.status if attempt else None,
            "last_attempt": attempt.finished if attempt else None,
            "last_attempt_message": attempt.message if attempt and self.failing else None,
        }


@dataclass
class VolumeStatus:
    """What ``hostbook status`` says about one volume: its targets, the worst deciding."""

    volume: str
    volume_key: str
    targets: list[TargetStatus] = field(default_factory=list)

    @property
    def jobs(self) -> list[str]:
        return sorted({t.job for t in self.targets})

    @property
    def state(self) -> str:
        return max((t.state for t in self.targets), key=_RANK.__getitem__, default=STALE)

    @property
    def stale(self) -> bool:
        return any(t.stale for t in self.targets) or not self.targets

    @property
    def age(self) -> float | None:
        """Seconds since the newest successful archive of any target (None: never)."""
        return min((t.age for t in self.targets if t.age is not None), default=None)

    @property
    def last_success(self) -> Outcome | None:
        """The newest success of any target (what the volume's table row shows)."""
        done = [t.last_success for t in self.targets if t.last_success is not None]
        return max(done, key=lambda o: o.finished, default=None)

    @property
    def worst(self) -> TargetStatus | None:
        return max(self.targets, key=lambda t: _RANK[t.state], default=None)

    def to_json(self) -> dict[str, Any]:
        worst = self.worst
        success = self.last_success
        return {
            "volume": self.volume,
            "volume_key": self.volume_key,
            "jobs": self.jobs,
            "state": self.state,
            "stale": self.stale,
            "last_success": success.to_json() if success else None,
            "last_attempt_status": worst.last_attempt.status
            if worst and worst.last_attempt else None,
            "targets": [t.to_json() for t in self.targets],
        }


@dataclass
class StatusReport:
    """Every volume of a host, and the exit code a monitoring check reads."""

    host: str
    volumes: list[VolumeStatus]

    @property
    def exit_code(self) -> int:
        if not self.volumes:
            return EXIT_NOTHING_CONFIGURED
        if any(v.state in (STALE, FAILING) for v in self.volumes):
            return EXIT_PARTIAL
        return EXIT_OK

    def to_json(self, now: float) -> dict[str, Any]:
        return {"time": now, "host": self.host, "volumes": [v.to_json() for v in self.volumes]}


def volume_status(
    document: JobsDocument | None,
    records: Iterable[Outcome],
    now: float | None = None,
    stale_after: str | None = None,
) -> list[VolumeStatus]:
    """Per volume and archive target: the last success, the last attempt, staleness.

    With a jobs document the targets are its enabled jobs' archivers (one never
    archived shows up as stale; history of an archiver no longer configured is
    not judged).  Without one, every target the history names is reported.
    ``stale_after`` overrides every threshold.
    """
    moment = time.time() if now is None else now
    default = stale_after or (document.settings.stale_after if document else "36h")
    volumes: dict[str, VolumeStatus] = {}
    targets: dict[tuple[str, str, str], TargetStatus] = {}
    if document is not None:
        for job in document.jobs:
            if not job.enabled or not job.archive:
                continue
            seconds = parse_duration(stale_after) if stale_after else job.stale_seconds(default)
            volume = volumes.setdefault(job.volume.key, VolumeStatus(job.volume.ident,
                                                                     job.volume.key))
            for spec in job.archive:
                target = TargetStatus(job=job.name, archiver=spec.label, threshold=seconds)
                targets[(job.volume.key, job.name, spec.label)] = target
                volume.targets.append(target)
    for record in records:
        if record.archiver is None:
            continue
        key = (record.volume_key, record.job, record.archiver)
        if key not in targets:
            if document is not None:
                continue
            targets[key] = TargetStatus(job=record.job, archiver=record.archiver,
                                        threshold=parse_duration(default))
            volumes.setdefault(record.volume_key, VolumeStatus(
                record.volume, record.volume_key)).targets.append(targets[key])
        target = targets[key]
        if target.last_attempt is None or record.finished >= target.last_attempt.finished:
            target.last_attempt = record
        if record.status in SUCCESS and (
            target.last_success is None or record.finished >= target.last_success.finished
        ):
            target.last_success = record
    for target in targets.values():
        if target.last_success is not None:
            target.age = moment - target.last_success.finished
    return [volumes[key] for key in sorted(volumes)]


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


def _state_text(target: TargetStatus) -> str:
    state = "STALE" if target.stale else ("FAILING" if target.failing else "ok")
    last = target.last_success
    if last and last.status == "warning" and not target.failing:
        state += " (warning)"
    if target.failing and target.stale:
        state += " (last attempt failed)"
    return state


def render_status(rows: list[VolumeStatus]) -> str:
    """A table a person reads in a terminal or a monitoring log: one line per target."""
    if not rows:
        return "nothing configured: no archiving jobs and no history\n"
    lines = [f"{'VOLUME':<24} {'TARGET':<16} {'LAST ARCHIVED':<16} {'AGE':>10}  "
             f"{'STATE':<10} WHERE"]
    for row in rows:
        for target in row.targets:
            last = target.last_success
            where = (f"{last.tool} {last.location} {last.archive_id or ''}".strip()
                     if last else "-")
            when = (time.strftime("%Y-%m-%d %H:%M", time.localtime(last.finished))
                    if last else "never")
            age = f"{human_age(target.age)} ago" if last else "never"
            name = f"{target.job}/{target.archiver}"
            lines.append(f"{row.volume:<24} {name:<16} {when:<16} {age:>10}  "
                         f"{_state_text(target):<10} {where}")
            if target.failing and target.last_attempt and target.last_attempt.message:
                lines.append(f"{'':<24} {'':<16} last attempt: {target.last_attempt.message}")
    return "\n".join(lines) + "\n"


def _host_in_repository(repository: Path, host: str) -> None:
    """Refuse a repository that is missing or not one, and a host it does not know."""
    ManifestRepository.open(repository).require_host(host)


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
) -> StatusReport:
    """The status report for a host.

    The host must be in the repository (or its jobs given as a file).  Without
    a jobs.yaml (none written yet) the history alone is reported; a jobs.yaml
    adds the targets never archived.
    """
    if stale_after is not None:
        try:
            parse_duration(stale_after)
        except ValueError as exc:
            raise BadInputError(f"--stale-after: {exc}") from None
    name = check_host(host or default_host())
    if jobs_file is None and repository is not None:
        _host_in_repository(repository, name)
    document, history = host_history(repository, name, jobs_file, state_dir)
    return StatusReport(name, volume_status(document, history.all(), now=now,
                                            stale_after=stale_after))
