"""``plan retention`` for restic and borg targets: each archive, kept or pruned, and why.

The decisions are the tools' own (a ``--dry-run`` of the prune a run would
do, see :mod:`hostbook.jobs.archive.maintenance`), for each archive target
of an enabled job that has a ``keep``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hostbook.jobs.archive.maintenance import ArchiveDecision, Owner, retention_plan
from hostbook.manifest.sections.jobs import JobsDocument, RepositoryArchive
from hostbook.process.runner import Runner


@dataclass
class TargetRetention:
    """One archive target's plan: its decisions, or why the tool could not say."""

    job: str
    archiver: str
    tool: str
    repository: str
    decisions: list[ArchiveDecision]
    problem: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"job": self.job, "archiver": self.archiver, "tool": self.tool,
                "repository": self.repository, "problem": self.problem,
                "decisions": [d.to_json() for d in self.decisions]}

    def lines(self) -> list[str]:
        out = ["", f"{self.job}/{self.archiver} ({self.tool} {self.repository})"]
        if self.problem is not None:
            return [*out, f"  PROBLEM: {self.problem}"]
        if not self.decisions:
            out.append("  no archives of this host and job yet")
        for d in self.decisions:
            action = "keep" if d.keep else "delete"
            out.append(f"  {action:<8} {d.archive:<40} {', '.join(d.reasons)}")
        return out


def archive_retention(runner: Runner, document: JobsDocument, host: str
                      ) -> list[TargetRetention]:
    """The retention plan of every restic/borg target with a ``keep``, in file order."""
    out = []
    for job in document.jobs:
        if not job.enabled:
            continue
        for spec in job.archive:
            if not isinstance(spec, RepositoryArchive) or spec.keep is None:
                continue
            owner = Owner(host, job.name, job.volume.ident, job.volume.key)
            found = retention_plan(runner, spec, owner)
            out.append(TargetRetention(
                job.name, spec.label, spec.tool, spec.repository,
                [] if isinstance(found, str) else found,
                found if isinstance(found, str) else None))
    return out
