"""Every resource kind a run can find in its journal, and undoing one.

The table is built from what each snapshot provider and archiver declares
it journals (plus the snap step's record of what it took), so a run undoes
an lvm snapshot or a borg lock left by a killed run whichever steps it runs
itself: nothing depends on which modules happen to have been imported.
"""

from __future__ import annotations

from collections.abc import Iterable

from hostbook.jobs.archive.registry import ARCHIVERS
from hostbook.jobs.run.resource_kind import ResourceKind, Undone
from hostbook.jobs.run.run_journal import Resource
from hostbook.jobs.snapshot.provider import TAKEN_RECORD
from hostbook.jobs.snapshot.registry import PROVIDERS
from hostbook.process.runner import Runner


def _table(kinds: Iterable[ResourceKind]) -> dict[str, ResourceKind]:
    """Kinds by name; two different kinds under one name would undo each other's."""
    table: dict[str, ResourceKind] = {}
    for kind in kinds:
        if table.setdefault(kind.name, kind) is not kind:
            raise ValueError(f"resource kind {kind.name!r} is defined twice")
    return table


KINDS: dict[str, ResourceKind] = _table([
    TAKEN_RECORD,
    *(kind for provider in PROVIDERS.values() for kind in provider.resources),
    *(kind for archiver in ARCHIVERS.values() for kind in archiver.resources),
])


def is_debris(kind: str) -> bool:
    """Left only by a killed tool: cleaned up by the next run, never kept by ``--step``."""
    found = KINDS.get(kind)
    return found is not None and (found.debris or found.deferred)


def is_deferred(kind: str) -> bool:
    """Debris whose undo needs the tool, which a run being stopped leaves to the next."""
    found = KINDS.get(kind)
    return found is not None and found.deferred


def undo(runner: Runner, resource: Resource) -> str | Undone | None:
    """Undo one resource: None or :class:`Undone` on success (also when it was never
    made), else why not."""
    kind = KINDS.get(resource.kind)
    if kind is None:
        return f"unknown resource kind {resource.kind!r} in the journal"
    return kind.undo(runner, resource)
