"""tar + zstd into a directory: for small, simple targets (/boot, the ESP).

GNU tar in POSIX (pax) format keeps nanosecond times, ACLs and extended
attributes; numeric owners keep ids exact on a restore host whose user
names differ.  The archive is written under a temporary name and renamed
only when tar finished, so a file named ``*.tar.zst`` is always whole; the
temporary file is journaled, so one left by a killed run is removed by the
next.  Archives are 0600 in a destination created 0700: they hold every
file of the volume, root-only ones included.
Exit codes: 0 success, 1 "some files differ" (changed while read: a
warning, the archive exists), 2 fatal.
"""

from __future__ import annotations

import os
from pathlib import Path

from hostbook.jobs.archive.base import PARTIAL, Archiver, ArchiveRequest, ArchiveResult
from hostbook.jobs.archive.sidecar import sidecar_path, write_sidecar
from hostbook.jobs.private_files import create_private, private_dir
from hostbook.jobs.run.context import FAILED, OK, WARNING
from hostbook.manifest.sections.jobs import TarArchive

SUFFIX = ".tar.zst"


def archive_path(request: ArchiveRequest, spec: TarArchive) -> Path:
    return Path(spec.destination) / f"{request.archive_name()}{SUFFIX}"


def tar_argv(request: ArchiveRequest, spec: TarArchive, output: Path) -> list[str]:
    argv = [
        "tar", "--create", "--file", str(output),
        "--use-compress-program", f"zstd -T0 -{spec.level}",
        "--format=posix", "--xattrs", "--acls", "--numeric-owner", "--sparse",
        "--one-file-system", "--directory", request.source,
    ]
    for rel in request.excludes:
        argv.append(f"--exclude=./{rel}")
    for pattern in spec.exclude:
        argv.append(f"--exclude={pattern}")
    argv += spec.extra_args
    argv.append(".")
    return argv


def prune(spec: TarArchive, request: ArchiveRequest) -> list[Path]:
    """Keep the newest ``keep`` archives of this host, job and volume."""
    if spec.keep <= 0:
        return []
    prefix = f"{request.host}-{request.job}-{request.volume_key}-"
    found = sorted(
        p for p in Path(spec.destination).glob(f"{prefix}*{SUFFIX}")
        if p.name[len(prefix):-len(SUFFIX)].endswith("Z")
    )
    doomed = found[: max(0, len(found) - spec.keep)]
    for path in doomed:
        path.unlink(missing_ok=True)
        sidecar_path(path).unlink(missing_ok=True)
    return doomed


def archive(request: ArchiveRequest, spec: TarArchive) -> ArchiveResult:
    """Write one ``.tar.zst`` of ``request.source``."""
    ctx = request.ctx
    runner = ctx.runner
    final = archive_path(request, spec)
    partial = final.with_name(f".{final.name}.partial")
    result_of = ArchiveResult(spec.label, "tar", FAILED, spec.destination, archive_id=final.name)
    writing = ctx.journal.intend(PARTIAL.name, request.volume_key, path=str(partial))
    if not runner.dry_run:
        private_dir(Path(spec.destination))
        os.close(create_private(partial))  # tar truncates it and keeps its mode
    result = runner.command(tar_argv(request, spec, partial), timeout=spec.timeout_seconds())
    if runner.dry_run:
        ctx.journal.removed(writing)
        result_of.status = OK
        result_of.message = "dry run"
        return result_of
    whole = result.returncode in (0, 1) and not result.timed_out and partial.exists()
    if whole:
        os.replace(partial, final)
        write_sidecar(final, request, "tar", bytes=final.stat().st_size)
    else:
        partial.unlink(missing_ok=True)
    ctx.journal.removed(writing)
    if not whole:
        result_of.archive_id = None
        result_of.message = result.failure()
        return result_of
    result_of.bytes = final.stat().st_size
    result_of.status = OK if result.returncode == 0 else WARNING
    if result.returncode == 1:
        tail = (result.stderr.strip().splitlines() or ["files changed while read"])[-1]
        result_of.message = tail
    pruned = prune(spec, request)
    if pruned:
        result_of.extra = {"pruned": [p.name for p in pruned]}
    return result_of


ARCHIVER: Archiver[TarArchive] = Archiver("tar", archive, resources=(PARTIAL,))
