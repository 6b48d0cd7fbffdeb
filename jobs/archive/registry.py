"""Every archiver, by the ``tool`` a job's archive target names, and running one.

The one place an archiver is looked up: the archive step runs each target
through :func:`run_archiver`, and :mod:`hostbook.jobs.run.undo` collects the
resource kinds each archiver journals.  A new archiver is a module with an
``ARCHIVER`` and one line here.
"""

from __future__ import annotations

import time
from typing import Any

from hostbook.jobs.archive import borg, restic, stream, tar, xfsdump
from hostbook.jobs.archive.base import Archiver, ArchiveRequest, ArchiveResult
from hostbook.jobs.run.context import FAILED
from hostbook.manifest.errors import HostbookError, RuntimeFailure
from hostbook.manifest.sections.jobs import Archiver as ArchiveTarget

ARCHIVERS: dict[str, Archiver[Any]] = {
    archiver.tool: archiver
    for archiver in (restic.ARCHIVER, borg.ARCHIVER, xfsdump.ARCHIVER, tar.ARCHIVER,
                     stream.ZFS_ARCHIVER, stream.BTRFS_ARCHIVER)
}


def archiver_for(tool: str) -> Archiver[Any]:
    """The archiver a target's ``tool`` names (the schema admits only these tools)."""
    try:
        return ARCHIVERS[tool]
    except KeyError:
        raise RuntimeFailure(f"no archiver for {tool!r}") from None


def run_archiver(request: ArchiveRequest, spec: ArchiveTarget) -> ArchiveResult:
    """Archive with the target's tool; an error is a failed result, never a raise.

    The result's ``started`` (for history) is when the archiver was called.
    """
    started = time.time()
    try:
        result = archiver_for(spec.tool).archive(request, spec)
    except HostbookError as exc:
        location = getattr(spec, "repository", None) or getattr(spec, "destination", "")
        result = ArchiveResult(spec.label, spec.tool, FAILED, str(location), message=str(exc))
    result.extra.setdefault("started", started)
    return result
