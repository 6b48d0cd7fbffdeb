"""tar + zstd files as a source: the destination folder's archives and their sidecars.

An archive is ``<host>-<job>-<volume key>-<stamp>.tar.zst`` with the run's
labels (and its size) in ``<archive>.json`` beside it.  Extraction keeps
what the archive step stored: numeric owners, permissions as archived, ACLs
and every extended attribute namespace (``--xattrs-include='*'``: GNU tar
restores only ``user.*`` otherwise, which would drop file capabilities);
sparse members come back sparse by themselves.
"""

from __future__ import annotations

import json
import os

from hostbook.jobs.archive.sidecar import SUFFIX as SIDECAR
from hostbook.jobs.archive.tar import SUFFIX
from hostbook.manifest.sections.jobs import TarArchive
from hostbook.process.result import CommandResult
from hostbook.process.runner import Runner
from hostbook.restore.data.archive import STAMP, Archive, Where, stamp_time
from hostbook.restore.data.source import Extraction, Source, destination_names


def list_archives(runner: Runner, where: Where, spec: TarArchive) -> list[Archive]:
    names = destination_names(runner, spec.destination)
    found = []
    for name in names:
        stamp = name[len(where.name_prefix):-len(SUFFIX)]
        if not (name.startswith(where.name_prefix) and name.endswith(SUFFIX)
                and STAMP.fullmatch(stamp)):
            continue
        text = runner.read_file(os.path.join(spec.destination, name + SIDECAR))
        try:
            labels = json.loads(text) if text else {}
        except ValueError:
            labels = {}
        if not isinstance(labels, dict):
            labels = {}
        size = labels.pop("bytes", None)
        found.append(Archive(
            tool="tar", target=spec.label, id=name, time=stamp_time(stamp),
            size=size if isinstance(size, int) else None,
            labels={"stamp": stamp, **{k: v for k, v in labels.items()
                                       if k not in ("tool", "archive")}},
        ))
    return found


def extract_argv(spec: TarArchive, archive: Archive, extraction: Extraction) -> list[str]:
    argv = [
        "tar", "--extract", "--file", os.path.join(spec.destination, archive.id),
        "--use-compress-program", "zstd", "--directory", str(extraction.volume_dir),
        "--numeric-owner", "--same-owner", "--same-permissions", "--acls", "--xattrs",
        "--xattrs-include=*", "--delay-directory-restore",
    ]
    return argv + [f"./{path}" for path in extraction.paths]


def extract(runner: Runner, spec: TarArchive, archive: Archive,
            extraction: Extraction) -> CommandResult:
    return runner.command(extract_argv(spec, archive, extraction), timeout=spec.timeout_seconds())


SOURCE: Source[TarArchive] = Source("tar", ("tar", "zstd"), list_archives, extract)
