"""Loading a host's ``jobs.yaml`` and resolving where run state lives.

``jobs.yaml`` is read from the manifest repository (``hosts/<host>/jobs.yaml``)
or from a file named on the command line, validated like every section
(errors carry FILE:LINE:COL), and paired with the paths a run needs: the
state directory (journal, lock, history) and the integrity database store.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

from hostbook.jobs.integrity import database as sure_db
from hostbook.manifest.errors import BadInputError
from hostbook.manifest.file_cache import cached
from hostbook.manifest.hostname import check_host
from hostbook.manifest.paths import default_state_dir
from hostbook.manifest.sections.jobs import Job, JobsDocument
from hostbook.manifest.store import SURE_DIR, ManifestRepository
from hostbook.manifest.validate import validate_as
from hostbook.manifest.yamlio import read_document


@dataclass
class LoadedJobs:
    """A validated jobs document and the places a run of it uses."""

    document: JobsDocument
    host: str
    path: Path
    repository: Path | None
    state_dir: Path
    sure_store: Path
    manifest_commit: str | None = None
    """The manifest repository's HEAD when the jobs were loaded (tags every archive)."""

    @property
    def sure_in_manifest(self) -> bool:
        """True when databases are kept beside the manifest (and must not be committed)."""
        return self.repository is not None and self.sure_store.is_relative_to(self.repository)

    def select(self, names: list[str]) -> list[Job]:
        """The named jobs in file order (all enabled jobs when none are named)."""
        if not names:
            return [j for j in self.document.jobs if j.enabled]
        known = {j.name: j for j in self.document.jobs}
        missing = [n for n in names if n not in known]
        if missing:
            raise BadInputError(
                f"{self.path}: no job named {', '.join(missing)} "
                f"(jobs: {', '.join(known) or 'none'})"
            )
        wanted = set(names)
        return [j for j in self.document.jobs if j.name in wanted]


def default_host() -> str:
    """This machine's host name as capture files it (the kernel's hostname)."""
    try:
        name = Path("/proc/sys/kernel/hostname").read_text(encoding="utf-8").strip()
    except OSError:
        name = ""
    return name or socket.gethostname()


def _repository_with(repository: Path | None, host: str) -> Path | None:
    """The manifest repository when it has this host's folder (its databases may be there)."""
    if repository is None:
        return None
    try:
        store = ManifestRepository.open(repository)
    except BadInputError:
        return None
    return store.path if store.host_dir(host).is_dir() else None


def _newest_database(store: Path) -> str | None:
    """The newest database's name in a store (``<volume>/<UTC stamp>.sure.gz``), or None."""
    names = [latest.name for folder in _folders(store)
             if (latest := sure_db.latest(folder)) is not None]
    return max(names, default=None)


def _folders(store: Path) -> list[Path]:
    try:
        return [p for p in store.iterdir() if p.is_dir()]
    except OSError:
        return []


def host_sure_store(repository: Path | None, host: str, state: Path) -> Path:
    """Where this host's integrity databases are: the store follows the host, not the flags.

    The default is ``hosts/<host>/sure`` beside the manifest when the repository
    has the host, else ``<state>/sure/<host>``.  Whether the jobs came from the
    repository or from ``--jobs-file`` does not matter, and when only the other
    place already holds this host's databases (or newer ones), that place is
    kept: a different store would make the next run hash every file again.
    """
    in_state = state / SURE_DIR / host
    if repository is None:
        return in_state
    in_manifest = repository / "hosts" / host / SURE_DIR
    newest_there = _newest_database(in_manifest)
    newest_state = _newest_database(in_state)
    if newest_state is not None and (newest_there is None or newest_state > newest_there):
        return in_state
    return in_manifest


def _parse(path: Path, host: str, given: bool) -> JobsDocument:
    data = read_document(path)
    if data is None:
        raise BadInputError(f"{path}: no such file" if given
                            else f"{path}: no jobs.yaml for host {host!r}")
    return validate_as(JobsDocument, data, str(path))


def load_jobs(
    repository: Path | None = None,
    host: str | None = None,
    file: Path | None = None,
    state_dir: Path | None = None,
) -> LoadedJobs:
    """Load ``jobs.yaml`` from ``file`` or from the repository's host folder.

    The host name is checked first: it names the lock, journal, history and
    database folder in the state directory and every archive file.
    """
    name = check_host(host or default_host())
    repo_path: Path | None = None
    commit: str | None = None
    if file is not None:
        path = file
        repo_path = _repository_with(repository, name)
    else:
        if repository is None:
            raise BadInputError("no manifest repository given (--repo) and no jobs file")
        store = ManifestRepository.open(repository)
        path = store.section_path(name, "jobs")
        repo_path = store.path
        commit = store.head_commit()
    document = cached(path, "jobs-file", lambda: _parse(path, name, file is not None))
    settings = document.settings
    state = state_dir or (Path(settings.state_dir) if settings.state_dir else default_state_dir())
    if settings.sure_store:
        store_path = Path(settings.sure_store)
    else:
        store_path = host_sure_store(repo_path, name, state)
    return LoadedJobs(
        document=document, host=name, path=path, repository=repo_path, state_dir=state,
        sure_store=store_path, manifest_commit=commit,
    )
