"""What the pages and the API read: hosts, a host's status, plans and runs.

Every answer is built by the same library code as the command that prints
it (``hostbook hosts``, ``status --json``, ``plan ... --json``), from the
repository and the state directory as they are at the request: the server
keeps no copy of its own that could drift from what the commands say.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hostbook.jobs.replication.repository_plan import plan_from_repository
from hostbook.jobs.run.event_log import RunLog, host_runs, run_log_path, summarize
from hostbook.jobs.run.jobs_file import LoadedJobs, load_jobs
from hostbook.jobs.run.lock import running_holder
from hostbook.manifest.errors import BadInputError
from hostbook.manifest.hostname import check_host
from hostbook.manifest.paths import default_state_dir
from hostbook.manifest.store import ManifestRepository
from hostbook.review.readiness import Readiness, fleet_readiness, status_document

PLANS = ("retention", "replication")


class NotFound(BadInputError):
    """A host, run or page that does not exist (404)."""


@dataclass(frozen=True)
class Reader:
    """Reads one manifest repository and the hosts' state directories."""

    repository: Path
    state_dir: Path | None = None

    def repo(self) -> ManifestRepository:
        return ManifestRepository.open(self.repository)

    def host(self, name: str) -> str:
        """A host the repository has; anything else is :class:`NotFound`."""
        try:
            host = check_host(name)
        except BadInputError as exc:
            raise NotFound(str(exc)) from None
        if not self.repo().host_dir(host).is_dir():
            raise NotFound(f"no host {host!r} in the repository")
        return host

    def readiness(self) -> list[Readiness]:
        return fleet_readiness(self.repo(), state_dir=self.state_dir)

    def hosts(self) -> list[dict[str, Any]]:
        """Every host with its readiness (``hostbook hosts``)."""
        return [r.to_json() for r in self.readiness()]

    def status(self, host: str) -> tuple[dict[str, Any], int]:
        """``status --json`` of the host, and the exit code the command would give."""
        document, report, _ = status_document(self.repository, self.host(host), None,
                                              self.state_dir)
        return document, report.exit_code

    def plan(self, host: str, what: str, now: datetime | None = None) -> dict[str, Any]:
        """``plan retention|replication HOST --json``."""
        if what not in PLANS:
            raise NotFound(f"no plan {what!r} (plans: {', '.join(PLANS)})")
        text, _ = plan_from_repository(self.repository, self.host(host), what,
                                       now=now or datetime.now(UTC), as_json=True)
        return dict(json.loads(text)) if text.lstrip().startswith("{") else {"text": text}

    def plan_text(self, host: str, what: str) -> str:
        """The plan as ``hostbook plan`` prints it: every keep/delete with its reason."""
        if what not in PLANS:
            raise NotFound(f"no plan {what!r} (plans: {', '.join(PLANS)})")
        text, _ = plan_from_repository(self.repository, self.host(host), what,
                                       now=datetime.now(UTC))
        return text

    def jobs(self, host: str) -> LoadedJobs:
        return load_jobs(self.repository, self.host(host), None, state_dir=self.state_dir)

    def state_of(self, host: str) -> Path:
        """Where the host's runs keep their state (its jobs' settings, else the default)."""
        try:
            return self.jobs(host).state_dir
        except BadInputError:
            return self.state_dir or default_state_dir()

    def running(self, host: str) -> str | None:
        """Who holds the host's run lock (None: no run in progress)."""
        return running_holder(self.state_of(host), host)

    def runs(self, host: str, limit: int = 50) -> list[RunLog]:
        """The host's runs, newest first; one with no end whose lock is free was cut short."""
        name = self.host(host)
        logs = list(host_runs(self.state_of(name), name, limit))
        if any(log.status is None for log in logs) and self.running(name) is None:
            logs = [replace(log, status="interrupted") if log.status is None else log
                    for log in logs]
        return logs

    def find_run(self, run_id: str, host: str | None = None) -> RunLog:
        """The run's log by id, in the named host's state directory or any host's."""
        hosts = [self.host(host)] if host else self.repo().hosts()
        for name in hosts:
            try:
                path = run_log_path(self.state_of(name), name, run_id)
            except BadInputError as exc:
                raise NotFound(str(exc)) from None
            if path.exists():
                log = summarize(path, name)
                if log.status is None and self.running(name) is None:
                    log = replace(log, status="interrupted")
                return log
        raise NotFound(f"no run {run_id!r}")

    def all_runs(self, limit: int = 50) -> Iterator[RunLog]:
        """The newest runs of every host, newest first."""
        logs = [log for host in self.repo().hosts() for log in self.runs(host, limit)]
        yield from sorted(logs, key=lambda log: log.run, reverse=True)[:limit]
