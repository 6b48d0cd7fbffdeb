"""xfsdump with a level schedule; the dump inventory lives with the dumps.

xfsdump decides what an incremental level N contains from its inventory
(``/var/lib/xfsdump/inventory``): the last dump of a lower level.  That
inventory must therefore describe the dumps that are actually in the
destination, not whatever else the host ever dumped, and it must survive
the host.  So for the run, the destination's own ``inventory`` directory is
bind-mounted over the system's, and the system's is put back afterwards,
even when xfsdump fails; the bind mount is journaled, so a run killed in
the middle has it undone by the next run (and a reboot undoes it anyway).

The level comes from the schedule (``levels``), indexed by the number of
earlier successful dumps of this job and volume: a failed level 0 is
retried as a level 0.

Dump files are created 0600 before xfsdump writes them (it keeps an
existing file's mode) in a destination created 0700, and journaled while
they are written, so a run killed mid-dump has its half dump removed by the
next run instead of leaving a file that looks whole.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from hostbook.jobs.archive.base import PARTIAL, Archiver, ArchiveRequest, ArchiveResult
from hostbook.jobs.archive.sidecar import write_sidecar
from hostbook.jobs.private_files import create_private, private_dir
from hostbook.jobs.run.context import FAILED, OK
from hostbook.jobs.run.resource_kind import DIR
from hostbook.jobs.snapshot.stable_mount import MOUNT, mounted_at
from hostbook.manifest.sections.jobs import XfsdumpArchive

SYSTEM_INVENTORY = "/var/lib/xfsdump/inventory"
SUFFIX = ".xfsdump"
_STATUS = re.compile(r"Dump Status:\s*(\S+)")


def level_for(spec: XfsdumpArchive, successes: int) -> int:
    """The schedule's level for the next dump."""
    return spec.levels[successes % len(spec.levels)]


def dump_path(request: ArchiveRequest, level: int, spec: XfsdumpArchive) -> Path:
    return Path(spec.destination) / f"{request.archive_name()}-L{level}{SUFFIX}"


def dump_argv(request: ArchiveRequest, spec: XfsdumpArchive, level: int, output: Path,
              ) -> list[str]:
    label = request.archive_name()
    argv = ["xfsdump", "-l", str(level), "-L", label, "-M", f"hostbook-{request.volume_key}",
            "-f", str(output)]
    argv += spec.extra_args
    argv.append(request.source)
    return argv


def archive(request: ArchiveRequest, spec: XfsdumpArchive,
            inventory: str = SYSTEM_INVENTORY) -> ArchiveResult:
    """Dump ``request.source`` at the scheduled level with the destination's inventory."""
    ctx = request.ctx
    runner = ctx.runner
    level = level_for(spec, request.successes)
    output = dump_path(request, level, spec)
    result_of = ArchiveResult(
        spec.label, "xfsdump", FAILED, spec.destination, archive_id=output.name,
        extra={"level": level},
    )
    own_inventory = os.path.join(spec.destination, "inventory")
    if not ctx.dry_run:
        private_dir(Path(spec.destination))
        private_dir(Path(own_inventory))
        if mounted_at(inventory) is not None:
            result_of.message = f"{inventory} is already a mount (leftover inventory swap?)"
            return result_of
    made_dirs = []
    if not ctx.dry_run:
        # The mount point may not exist (xfsdump never ran here): create what is missing,
        # journaled, and remove exactly that afterwards.
        missing = [p for p in [Path(inventory), *Path(inventory).parents] if not p.exists()]
        for path in reversed(missing):
            made_dirs.append(ctx.journal.intend(DIR.name, request.volume_key, path=str(path)))
            path.mkdir()
    swap = ctx.journal.intend(MOUNT.name, request.volume_key, target=inventory,
                              source=own_inventory)
    writing = ctx.journal.intend(PARTIAL.name, request.volume_key, path=str(output))
    try:
        bound = runner.command(["mount", "--bind", own_inventory, inventory], timeout=60.0)
        if not bound.ok:
            ctx.journal.removed(writing)
            result_of.message = bound.failure()
            return result_of
        if not ctx.dry_run:
            os.close(create_private(output))
        result = runner.command(dump_argv(request, spec, level, output),
                              timeout=spec.timeout_seconds())
    finally:
        for resource, kind in [(swap, MOUNT), *((made, DIR) for made in reversed(made_dirs))]:
            problem = kind.undo(runner, resource)
            if not isinstance(problem, str):
                ctx.journal.removed(resource)
            else:
                ctx.log(f"warning: could not put the system inventory back: {problem}")
    if ctx.dry_run:
        ctx.journal.removed(writing)
        result_of.status = OK
        result_of.message = "dry run"
        return result_of
    status = _STATUS.search(result.stdout + result.stderr)
    if result.ok and (status is None or status.group(1) == "SUCCESS") and output.exists():
        ctx.journal.removed(writing)
        write_sidecar(output, request, "xfsdump", level=level)
        result_of.status = OK
        result_of.bytes = output.stat().st_size
        return result_of
    output.unlink(missing_ok=True)
    ctx.journal.removed(writing)
    result_of.archive_id = None
    result_of.message = (
        f"xfsdump status {status.group(1)}" if status and result.ok else result.failure()
    )
    return result_of


ARCHIVER: Archiver[XfsdumpArchive] = Archiver(
    "xfsdump", archive, resources=(MOUNT, DIR, PARTIAL))
