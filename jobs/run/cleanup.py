"""Undoing journaled resources, and what a run finds left by earlier ones.

A run undoes resources in three places: at the start, what interrupted
runs left (and, when it takes fresh snapshots, what an earlier ``--step
snap`` run kept); when a snapshot fails half-way, the part that was made;
and at unsnap, everything it made.  Each undo is said in the log; one that
fails is a problem of the run (exit 3) and stays in the journal for the
next run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from hostbook.jobs.run.run_journal import Journal, JournalState, Resource
from hostbook.jobs.run.undo import is_debris, is_deferred, undo
from hostbook.jobs.snapshot.provider import TAKEN
from hostbook.manifest.errors import HostbookError
from hostbook.process.runner import Runner


@dataclass
class Undoer:
    """Undoes one resource at a time, tells the log, and keeps the journal in step."""

    runner: Runner
    journal: Journal
    log: Callable[[str], None]
    problems: list[str] = field(default_factory=list)

    def undo(self, resource: Resource, why: str) -> str | None:
        """Undo one resource and say so; what was done, or None when it could not be."""
        problem = undo(self.runner, resource)
        if isinstance(problem, str):
            self.problems.append(f"{resource.describe()}: {problem}")
            self.log(f"{why}: could not remove {resource.describe()}: {problem}")
            return None
        self.journal.removed(resource)
        if problem is not None:
            self.log(f"{why}: {problem.note}")
            return problem.note
        if resource.kind != TAKEN:
            # a dry run only printed the command: nothing was there to remove
            done = "would remove" if self.runner.dry_run else "removed"
            self.log(f"{why}: {done} {resource.describe()}")
        return resource.describe()

    def undoable_now(self, resources: Iterable[Resource]) -> list[Resource]:
        """All but a stopped tool's lock, which stays journaled for the next run (said so)."""
        now = []
        for resource in resources:
            if is_deferred(resource.kind):
                self.log(f"{resource.describe()}: the tool was stopped; the next run removes "
                         "its lock if it left one")
            else:
                now.append(resource)
        return now

    @contextlib.contextmanager
    def on_failure(self, why: str) -> Iterator[None]:
        """What the block journals is undone, newest first, if it fails (then it raises)."""
        mark = len(self.journal.opened)
        try:
            yield
        except HostbookError:
            for resource in reversed(self.journal.opened[mark:]):
                self.undo(resource, why)
            raise


def _kept(resource: Resource) -> bool:
    """Kept on purpose by a finished ``--step`` run (a snapshot, never debris)."""
    return resource.run_finished and not is_debris(resource.kind)


def clean_up(undoer: Undoer, state: JournalState, volumes: set[str], fresh: bool
             ) -> tuple[list[str], list[Resource]]:
    """Undo what interrupted runs left, newest first; (what was removed, what to adopt).

    What earlier ``--step`` runs kept of these ``volumes`` is adopted, or, when
    this run takes ``fresh`` snapshots of them, undone with the leftovers.
    """
    leftovers = [r for r in state.resources if not _kept(r)]
    kept = [r for r in state.resources if _kept(r) and r.volume in volumes]
    adopted: list[Resource] = []
    if fresh:
        leftovers += kept  # this run takes fresh snapshots of these volumes
    else:
        adopted = kept
    cleaned: list[str] = []
    order = {r.id: i for i, r in enumerate(state.resources)}
    for resource in sorted(leftovers, key=lambda r: order[r.id], reverse=True):
        why = "leftover of interrupted run " + resource.run
        if _kept(resource):
            why = "snapshot kept by run " + resource.run
        done = undoer.undo(resource, why)
        if done is not None and resource.kind != TAKEN:
            cleaned.append(f"{done} (run {resource.run})")
    return cleaned, adopted
