"""Everything the report shows about many hosts, read with as few processes as possible.

One ``git log`` gives every host's commits; one ``git cat-file`` process reads
every section file at every revision needed; each distinct file (by blob id)
is parsed once by the fast plain reader and validated.  A timeline entry
compares only the sections whose blob changed in that commit.
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
from hostbook.manifest.store import CommitInfo, ManifestRepository
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
    """Section files at revisions, each distinct blob parsed and validated once."""

    def __init__(self, repo: ManifestRepository) -> None:
        self.repo = repo
        self.texts: dict[tuple[str, str, str], tuple[str, str] | None] = {}
        self.parsed: dict[str, tuple[SectionDocument, dict[str, Any]]] = {}

    def fetch(self, wanted: list[tuple[str, str, str]]) -> None:
        self.texts.update(self.repo.section_texts(wanted))

    def blob(self, rev: str, host: str, section: str) -> str | None:
        found = self.texts.get((rev, host, section))
        return found[0] if found else None

    def load(self, rev: str, host: str,
             section: str) -> tuple[SectionDocument, dict[str, Any]] | None:
        found = self.texts.get((rev, host, section))
        if found is None:
            return None
        blob, text = found
        if blob not in self.parsed:
            self.parsed[blob] = load_section(
                text, f"{rev[:12]}:hosts/{host}/{section}.yaml", section)
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
    files = _Files(repo)
    wanted = []
    for host in chosen:
        for commit in histories[host]:
            for rev in (commit.sha, f"{commit.sha}^"):
                wanted += [(rev, host, section) for section in HOST_SECTIONS]
    files.fetch(wanted)
    return [_host_view(files, host, histories[host], state_dir, moment, capture_max_age)
            for host in chosen]


def _host_view(files: _Files, host: str, commits: list[CommitInfo], state_dir: Path | None,
               now: float, capture_max_age: str) -> HostView:
    latest = commits[0].sha
    documents: dict[str, SectionDocument] = {}
    plain: dict[str, dict[str, Any]] = {}
    for section in HOST_SECTIONS:
        loaded = files.load(latest, host, section)
        if loaded is not None:
            documents[section], plain[section] = loaded[0], loaded[0].to_plain()
    jobs = documents.get("jobs")
    jobs_doc = jobs if isinstance(jobs, JobsDocument) else None
    state = state_dir or (Path(jobs_doc.settings.state_dir) if jobs_doc and
                          jobs_doc.settings.state_dir else default_state_dir())
    outcomes = list(History(history_path(state, host)).records())
    volumes: list[VolumeStatus] = volume_status(jobs_doc, outcomes, now=now)
    last = datetime.fromisoformat(commits[0].date).timestamp()
    view = HostView(host, commits, documents, plain,
                    judge(host, plain, last, volumes, now, capture_max_age), outcomes)
    for commit in commits:
        diff = HostDiff(host, f"{commit.sha}^", commit.sha)
        for section in HOST_SECTIONS:
            before, after = (files.blob(f"{commit.sha}^", host, section),
                             files.blob(commit.sha, host, section))
            if before == after:
                continue
            old = files.load(f"{commit.sha}^", host, section)
            new = files.load(commit.sha, host, section)
            diff.differences += compare_section(
                section, None if old is None else old[1], None if new is None else new[1])
        view.timeline.append((commit, diff))
    return view
