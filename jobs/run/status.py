"""``hostbook status``: load the jobs (if any) and the history, and judge each volume."""

from __future__ import annotations

from pathlib import Path

from hostbook.jobs.run.history import History, VolumeStatus, history_path, volume_status
from hostbook.jobs.run.jobs_file import load_jobs
from hostbook.manifest.errors import BadInputError, ManifestError
from hostbook.manifest.hostname import check_host
from hostbook.manifest.paths import default_state_dir
from hostbook.manifest.sections.retention import parse_duration


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
    from hostbook.jobs.run.jobs_file import default_host

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
    history = History(history_path(state or default_state_dir(), name))
    return volume_status(document, history.records(), now=now, stale_after=stale_after)
