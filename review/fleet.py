"""Everything the report shows about many hosts, read with as few processes as possible.

One ``git log --raw`` gives every host's commits with the blob ids of the
files each changed, one ``git ls-tree`` the files as they are, and one
``git cat-file --batch`` the text of every blob needed; each distinct blob is
parsed once by the fast plain reader and validated.  A timeline entry compares
only the sections a commit changed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from hostbook.jobs.run.history import History, Outcome, history_path
from hostbook.jobs.run.status import VolumeStatus, volume_status
from hostbook.manifest.errors import BadInputError
from hostbook.manifest.hostname import check_host
from hostbook.manifest.model import SectionDocument
from hostbook.manifest.paths import default_state_dir
from hostbook.manifest.plainyaml import load_section
from hostbook.manifest.registry import HOST_SECTIONS
from hostbook.manifest.sections.jobs import JobsDocument
from hostbook.manifest.store import CommitChanges, CommitInfo, ManifestRepository
from hostbook.review.history import HostDiff
from hostbook.review.readiness import DEFAULT_CAPTURE_MAX_AGE, Readiness, judge
from hostbook.review.semantic import compare_section

HISTORY_LIMIT = 20
"""Commits per host shown in the timeline."""


@dataclass
class HostView:
    """One host as the report shows it."""

    host: str
    commits: list[CommitInfo]
    documents: dict[str, SectionDocument]
    plain: dict[str, dict[str, Any]]
    readiness: Readiness
    outcomes: list[Outcome] = field(default_factory=list)
    timeline: list[tuple[CommitInfo, HostDiff]] = field(default_factory=list)


class _Files:
    """Section files by blob id, each distinct blob parsed and validated once."""

    def __init__(self, repo: ManifestRepository) -> None:
        self.repo = repo
        self.texts: dict[str, str] = {}
        self.parsed: dict[str, tuple[SectionDocument, dict[str, Any]]] = {}

    def fetch(self, blobs: list[str]) -> None:
        self.texts.update(self.repo.read_blobs(blobs))

    def load(self, blob: str | None, host: str,
             section: str) -> tuple[SectionDocument, dict[str, Any]] | None:
        if blob is None:
            return None
        if blob not in self.parsed:
            self.parsed[blob] = load_section(
                self.texts[blob], f"hosts/{host}/{section}.yaml@{blob[:12]}", section)
        return self.parsed[blob]


def load_fleet(
    repo: ManifestRepository, hosts: list[str] | None = None, *,
    state_dir: Path | None = None, now: float | None = None,
    capture_max_age: str = DEFAULT_CAPTURE_MAX_AGE, history_limit: int = HISTORY_LIMIT,
) -> list[HostView]:
    """Every host (or those named) with its documents, readiness and timeline."""
    moment = time.time() if now is None else now
    histories = repo.histories(history_limit)
    chosen = [check_host(h) for h in hosts] if hosts else sorted(histories)
    missing = [h for h in chosen if h not in histories]
    if missing:
        known = ", ".join(sorted(histories)) or "none"
        raise BadInputError(f"{repo.path}: no capture of host {missing[0]!r} (hosts: {known})")
    current = repo.current_blobs()
    files = _Files(repo)
    wanted = [current[(h, s)] for h in chosen for s in HOST_SECTIONS if (h, s) in current]
    for host in chosen:
        for change in histories[host]:
            wanted += [b for pair in change.files.values() for b in pair if b is not None]
    files.fetch(wanted)
    return [_host_view(files, host, histories[host], current, state_dir, moment,
                       capture_max_age) for host in chosen]


def _host_view(files: _Files, host: str, changes: list[CommitChanges],
               current: dict[tuple[str, str], str], state_dir: Path | None,
               now: float, capture_max_age: str) -> HostView:
    documents: dict[str, SectionDocument] = {}
    plain: dict[str, dict[str, Any]] = {}
    for section in HOST_SECTIONS:
        loaded = files.load(current.get((host, section)), host, section)
        if loaded is not None:
            documents[section], plain[section] = loaded[0], loaded[0].to_plain()
    jobs = documents.get("jobs")
    jobs_doc = jobs if isinstance(jobs, JobsDocument) else None
    state = state_dir or (Path(jobs_doc.settings.state_dir) if jobs_doc and
                          jobs_doc.settings.state_dir else default_state_dir())
    outcomes = History(history_path(state, host)).all()
    volumes: list[VolumeStatus] = volume_status(jobs_doc, outcomes, now=now)
    commits = [c.commit for c in changes]
    last = datetime.fromisoformat(commits[0].date).timestamp()
    readiness = judge(host, plain, last, volumes, now, capture_max_age)
    readiness.outcomes = outcomes
    view = HostView(host, commits, documents, plain, readiness, outcomes)
    for change in changes:
        diff = HostDiff(host, f"{change.commit.sha}^", change.commit.sha)
        for section in HOST_SECTIONS:
            if section not in change.files:
                continue
            before, after = change.files[section]
            old, new = files.load(before, host, section), files.load(after, host, section)
            diff.differences += compare_section(
                section, None if old is None else old[1], None if new is None else new[1])
        view.timeline.append((change.commit, diff))
    return view
