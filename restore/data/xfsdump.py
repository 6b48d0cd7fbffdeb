"""xfsdump files as a source: each dump with the lower levels it builds on, restored in order.

A dump is ``<host>-<job>-<volume key>-<stamp>-L<level>.xfsdump`` with the
run's labels in its sidecar.  A level N dump holds what changed since the
newest earlier dump of a lower level, so restoring it means restoring that
chain, level 0 first: ``xfsrestore -r`` (cumulative) for each, then its
housekeeping folder is removed from the tree.  ``-J`` leaves the system's
inventory alone (the archive step keeps the dumps' own inventory in the
destination).  xfsrestore gives files whole-second times and leaves
symbolic links' times alone, which verification allows for.

A limit of xfsrestore that nothing here can undo: it gives a directory its
ACLs before it creates the files in it, so a file that had no ACL in a
directory with a default ACL comes back with the ACL it inherits (its mode
is unchanged: the inherited mask is the old group bits).  The dump does not
say which files had none, and the integrity database holds no ACLs, so the
restore cannot tell such a file from one that really had that ACL.
restic, borg and tar set a directory's ACLs after its contents.
"""

from __future__ import annotations

import json
import os
import re

from hostbook.jobs.archive.sidecar import SUFFIX as SIDECAR
from hostbook.jobs.archive.xfsdump import SUFFIX
from hostbook.manifest.sections.jobs import XfsdumpArchive
from hostbook.process.result import CommandResult
from hostbook.process.runner import Runner
from hostbook.restore.data.archive import STAMP, Archive, Where, stamp_time
from hostbook.restore.data.source import Extraction, Source, destination_names

HOUSEKEEPING = "xfsrestorehousekeepingdir"
_LEVEL = re.compile(rf"(?P<stamp>{STAMP.pattern})-L(?P<level>\d)")


def chain(dumps: list[tuple[str, int]]) -> list[list[str]]:
    """For dumps (name, level) oldest first: each one's restore order, level 0 first."""
    chains = []
    for index, (name, level) in enumerate(dumps):
        parts = [name]
        wanted = level
        for earlier, earlier_level in reversed(dumps[:index]):
            if wanted == 0:
                break
            if earlier_level < wanted:
                parts.append(earlier)
                wanted = earlier_level
        chains.append(list(reversed(parts)) if wanted == 0 else [])
    return chains


def list_archives(runner: Runner, where: Where, spec: XfsdumpArchive) -> list[Archive]:
    names = destination_names(runner, spec.destination)
    dumps = []
    for name in names:
        middle = name[len(where.name_prefix):-len(SUFFIX)]
        found = _LEVEL.fullmatch(middle)
        if name.startswith(where.name_prefix) and name.endswith(SUFFIX) and found:
            dumps.append((found.group("stamp"), name, int(found.group("level"))))
    dumps.sort()
    archives = []
    for (stamp, name, _level), parts in zip(
            dumps, chain([(n, lv) for _s, n, lv in dumps]), strict=True):
        if not parts:
            continue  # its level 0 is gone: it cannot be restored
        text = runner.read_file(os.path.join(spec.destination, name + SIDECAR))
        labels = _labels(text)
        archives.append(Archive(tool="xfsdump", target=spec.label, id=name,
                                time=stamp_time(stamp), labels={"stamp": stamp, **labels},
                                parts=parts))
    return archives


def _labels(text: str | None) -> dict[str, object]:
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if k not in ("tool", "archive")}


def restore_argv(spec: XfsdumpArchive, part: str, extraction: Extraction) -> list[str]:
    argv = ["xfsrestore", "-r", "-J", "-f", os.path.join(spec.destination, part)]
    for path in extraction.paths:
        argv += ["-s", path]
    return [*argv, str(extraction.volume_dir)]


def extract(runner: Runner, spec: XfsdumpArchive, archive: Archive,
            extraction: Extraction) -> CommandResult:
    """Every dump of the chain in order; the housekeeping folder goes afterwards."""
    result: CommandResult | None = None
    for part in archive.parts or [archive.id]:
        result = runner.command(restore_argv(spec, part, extraction),
                                timeout=spec.timeout_seconds())
        if not result.ok:
            return result
    done = runner.command(["rm", "-rf", "--one-file-system", "--",
                           str(extraction.volume_dir / HOUSEKEEPING)], timeout=600.0)
    return done if not done.ok else result or done


SOURCE: Source[XfsdumpArchive] = Source("xfsdump", ("xfsrestore",), list_archives, extract,
                                        whole_seconds=True)
