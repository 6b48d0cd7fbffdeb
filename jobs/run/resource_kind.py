"""A kind of transient thing a run journals, and how it is undone.

Every step journals what it is about to make (a mount, a snapshot, a
repository lock, a half-written file) before it makes it, as a
:class:`~hostbook.jobs.run.run_journal.Resource` whose ``kind`` names one of
these.  The module that makes a kind defines it next to the code that makes
it, and lists it in its provider's or archiver's ``resources``; the one table
of all kinds is :mod:`hostbook.jobs.run.undo`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hostbook.jobs.run.run_journal import Resource
from hostbook.process.runner import Runner


@dataclass(frozen=True)
class Undone:
    """An undo that says what it found: a lock removed, or one left alone and why."""

    note: str


Undo = Callable[[Runner, Resource], "str | Undone | None"]
"""Returns None (done), :class:`Undone` (done, with a note) or the reason it failed."""


@dataclass(frozen=True)
class ResourceKind:
    """A journaled resource's kind: its name in the journal and its undo.

    ``debris`` marks what only a killed tool leaves (a half-written archive,
    a repository lock): it is cleaned up by the next run even when the run
    that left it finished (a ``--step`` run keeps snapshots, never debris).
    ``deferred`` debris (debris too) needs the tool itself (its password,
    its network) to clean up, which a run being stopped has no time for: the
    next run does it first thing.
    """

    name: str
    undo: Undo
    debris: bool = False
    deferred: bool = False


def _remove_dir(runner: Runner, resource: Resource) -> str | None:
    path = Path(str(resource.details["path"]))
    if runner.dry_run:
        return None
    try:
        path.rmdir()
    except FileNotFoundError:
        pass
    except OSError as exc:
        return f"rmdir {path}: {exc.strerror}"
    return None


DIR = ResourceKind("dir", _remove_dir)
"""A directory a step created for the run (removed only while it is empty)."""
