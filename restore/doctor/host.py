"""``hostbook doctor HOST``: the host's manifest read, this system asked (:mod:`.check`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hostbook.manifest.validate import validate_as
from hostbook.manifest.yamlio import read_document
from hostbook.process.runner import Runner
from hostbook.restore.doctor.check import Diagnosis, diagnose
from hostbook.restore.doctor.needs import Need, all_needs
from hostbook.restore.session import HOSTS_DIR, load_host


def host_jobs(repository: Path, host: str) -> Any | None:
    """hosts/HOST/jobs.yaml, validated; None when the host has none."""
    return read_jobs(repository / HOSTS_DIR / host / "jobs.yaml")


def read_jobs(path: Path) -> Any | None:
    """A jobs.yaml, validated (no git, no state directory); None when absent."""
    from hostbook.manifest.sections.jobs import JobsDocument

    data = read_document(path)
    return None if data is None else validate_as(JobsDocument, data, str(path))


def host_needs(repository: Path, host: str) -> list[Need]:
    """What rebuilding ``host`` needs, from its manifest alone."""
    documents = load_host(repository, host, allow_incomplete=True)
    return all_needs(documents.storage, host_jobs(repository, host))


def doctor(runner: Runner, repository: Path, host: str, target: str | None = None,
           no_nvram: bool = False) -> Diagnosis:
    """What this system lacks to rebuild ``host`` (nothing is written)."""
    documents = load_host(repository, host, allow_incomplete=True)
    return diagnose(runner, documents.storage, host_jobs(repository, host), target, no_nvram)
