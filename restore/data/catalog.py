"""``hostbook archives``: per volume and archive target, the restorable archives.

The jobs in ``jobs.yaml`` say which volume goes to which targets; each
target is asked for this job and volume's archives by its source tool,
newest first and numbered (revision 0 is the newest).  A target that cannot
be listed (unreachable, a wrong password, a tool hostbook cannot restore
from) is kept in the listing with the reason, so the person sees every
target.  Sizes and file counts the tool does not list (restic 0.14) come
from the run history when it has the archive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hostbook.jobs.run.history import History, history_path
from hostbook.jobs.run.jobs_file import LoadedJobs, load_jobs
from hostbook.manifest.errors import BadInputError
from hostbook.manifest.sections.jobs import Archiver as ArchiveTarget
from hostbook.manifest.sections.jobs import Job
from hostbook.process.runner import LiveRunner, Runner
from hostbook.restore.data.archive import Archive, Where, newest_first
from hostbook.restore.data.registry import source_for
from hostbook.restore.data.replicas import ReplicaSpec, replica_specs
from hostbook.restore.data.source import Unreachable


@dataclass
class TargetArchives:
    """One archive target's archives of one job's volume (or why there are none)."""

    job: str
    volume: str
    volume_key: str
    target: str
    tool: str
    location: str
    spec: ArchiveTarget | ReplicaSpec
    archives: list[Archive] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "job": self.job, "volume": self.volume, "volume_key": self.volume_key,
            "target": self.target, "tool": self.tool, "location": self.location,
            "error": self.error, "archives": [a.to_json() for a in self.archives],
        }


def location_of(spec: ArchiveTarget | ReplicaSpec) -> str:
    return str(getattr(spec, "repository", None) or getattr(spec, "destination", ""))


def where_of(loaded: LoadedJobs, job: Job) -> Where:
    return Where(loaded.host, job.name, job.volume.key, loaded.document.settings.mount_root)


def targets_of(loaded: LoadedJobs, job: Job) -> list[Any]:
    """A job's restore targets in jobs.yaml order: its archive targets, then its clones."""
    settings = loaded.document.replication
    return [*job.archive, *replica_specs(job, settings.targets if settings else [],
                                         loaded.state_dir)]


def selected_jobs(loaded: LoadedJobs, volumes: Sequence[str]) -> list[Job]:
    """The enabled jobs with archive or clone targets, of the named volumes (key or as
    written)."""
    jobs = [j for j in loaded.document.jobs if j.enabled and (j.archive or j.clone)]
    if not volumes:
        return jobs
    known = {j.volume.key for j in jobs} | {j.volume.ident for j in jobs}
    unknown = [v for v in volumes if v not in known]
    if unknown:
        keys = ", ".join(dict.fromkeys(j.volume.key for j in jobs)) or "none"
        raise BadInputError(f"{loaded.path}: no archived volume {', '.join(unknown)} "
                            f"(volumes: {keys})")
    return [j for j in jobs if j.volume.key in volumes or j.volume.ident in volumes]


def _from_history(loaded: LoadedJobs) -> dict[str, tuple[int | None, int | None]]:
    """Archive id -> (bytes, files) as the runs that made them recorded."""
    found: dict[str, tuple[int | None, int | None]] = {}
    for record in History(history_path(loaded.state_dir, loaded.host)).records():
        if not record.archive_id:
            continue
        counts = [record.extra.get(k) for k in ("files_new", "files_changed",
                                                "files_unmodified")]
        files = sum(c for c in counts if isinstance(c, int)) if any(
            isinstance(c, int) for c in counts) else None
        found[record.archive_id] = (record.bytes, files)
    return found


def list_target(runner: Runner, loaded: LoadedJobs, job: Job,
                spec: ArchiveTarget | ReplicaSpec) -> TargetArchives:
    """One target's archives of the job's volume, newest first."""
    listing = TargetArchives(job.name, job.volume.ident, job.volume.key, spec.label, spec.tool,
                             location_of(spec), spec)
    source = source_for(spec.tool)
    if source is None:
        listing.error = f"hostbook cannot restore from {spec.tool} archives yet"
        return listing
    try:
        archives = source.list_archives(runner, where_of(loaded, job), spec)
    except Unreachable as exc:
        listing.error = str(exc)
        return listing
    known = _from_history(loaded) if any(a.size is None for a in archives) else {}
    for archive in archives:
        # restic 0.14's backup summary names the snapshot by its short id
        size, files = known.get(archive.id) or known.get(archive.short_id or "", (None, None))
        archive.size = archive.size if archive.size is not None else size
        archive.files = archive.files if archive.files is not None else files
    listing.archives = newest_first(archives)
    return listing


def host_catalog(repository: Path | None, host: str | None, volumes: Sequence[str] = (),
                 jobs_file: Path | None = None,
                 runner: Runner | None = None) -> list[TargetArchives]:
    """``hostbook archives HOST``: the host's jobs.yaml, every target asked on this host."""
    loaded = load_jobs(None if jobs_file else repository, host, jobs_file)
    return catalog(runner or LiveRunner(), loaded, volumes)


def catalog(runner: Runner, loaded: LoadedJobs,
            volumes: Sequence[str] = ()) -> list[TargetArchives]:
    """Every (volume, target) of the selected jobs in jobs.yaml order, with its archives."""
    return [list_target(runner, loaded, job, spec)
            for job in selected_jobs(loaded, volumes) for spec in targets_of(loaded, job)]
