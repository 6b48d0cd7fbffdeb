"""What a run did: a status per job and step, and the run's exit code.

A job's status is the worst of its steps' (failed over warning over ok;
a skipped step counts as ok), and the run's exit code is the worst of its
jobs': 0 ok, 1 some warnings, 3 a failure or a problem of the run itself
(a leftover that could not be removed, an interruption).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hostbook.jobs.archive.base import ArchiveResult
from hostbook.jobs.replication.clone_step import CloneResult
from hostbook.jobs.run.context import FAILED, OK, WARNING
from hostbook.manifest.errors import EXIT_OK, EXIT_PARTIAL, EXIT_RUNTIME

SKIPPED = "skipped"
_RANK = {OK: 0, SKIPPED: 0, WARNING: 1, FAILED: 2}


@dataclass
class JobOutcome:
    """One job's result: a status per step, and what the archivers and clones did."""

    job: str
    volume: str
    volume_key: str
    status: str = OK
    steps: dict[str, str] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    snapshot: str | None = None
    sure: dict[str, Any] | None = None
    clones: list[CloneResult] = field(default_factory=list)
    archives: list[ArchiveResult] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    """The host's own snapshots the retention step destroyed."""
    started: float = field(default_factory=time.time)
    finished: float = 0.0

    def mark(self, step: str, status: str, message: str = "") -> None:
        previous = self.steps.get(step, OK)
        self.steps[step] = status if _RANK[status] >= _RANK.get(previous, 0) else previous
        if _RANK[status] > _RANK[self.status]:
            self.status = status
        if message:
            self.messages.append(f"{step}: {message}")

    def to_json(self) -> dict[str, Any]:
        return {
            "job": self.job, "volume": self.volume, "status": self.status, "steps": self.steps,
            "messages": self.messages, "snapshot": self.snapshot, "sure": self.sure,
            "clones": [c.__dict__ for c in self.clones],
            "archives": [a.record() for a in self.archives],
            "pruned": self.pruned,
            "duration": round(self.finished - self.started, 3),
        }


def interrupted(outcomes: Iterable[JobOutcome]) -> None:
    """A run stopped part-way: every job not failed already is failed now."""
    for outcome in outcomes:
        if outcome.status != FAILED:
            outcome.mark("run", FAILED, "interrupted before it finished")


@dataclass
class StepState:
    """One step invocation's status and messages (an archive step runs per archiver)."""

    outcome: JobOutcome
    status: str = OK
    messages: list[str] = field(default_factory=list)

    def mark(self, status: str, message: str = "") -> None:
        if _RANK[status] > _RANK[self.status]:
            self.status = status
        if message:
            self.messages.append(message)


@dataclass
class RunOutcome:
    """The whole run."""

    run_id: str | None
    host: str
    jobs: list[JobOutcome] = field(default_factory=list)
    cleaned: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def exit_code(self) -> int:
        if self.problems or any(j.status == FAILED for j in self.jobs):
            return EXIT_RUNTIME
        if any(j.status == WARNING for j in self.jobs):
            return EXIT_PARTIAL
        return EXIT_OK

    @property
    def status(self) -> str:
        """The run's own status word, as its last event reports it."""
        if self.problems or any(j.status == FAILED for j in self.jobs):
            return FAILED
        return WARNING if any(j.status == WARNING for j in self.jobs) else OK

    def summary(self) -> str:
        failed = sum(1 for j in self.jobs if j.status == FAILED)
        warned = sum(1 for j in self.jobs if j.status == WARNING)
        return f"{len(self.jobs)} job(s): {failed} failed, {warned} with warnings"

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run_id, "host": self.host, "dry_run": self.dry_run,
            "exit_code": self.exit_code, "cleaned": self.cleaned, "problems": self.problems,
            "jobs": [j.to_json() for j in self.jobs],
        }
