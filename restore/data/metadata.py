"""Giving directories the metadata the archive's run recorded, after their contents.

A restore of one path makes the parents that do not exist yet, and every
tool gives those default modes and the current time (borg #1751); a
restore with ``--overwrite`` writes only the entries that differ, so a
directory whose mode alone differs is fixed here instead of being
extracted with everything in it.  Owners first, then modes (a chown clears
set-id bits), then times, deepest first, so setting a directory's time is
the last thing that happens inside its parent.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from hostbook.jobs.integrity.database import Entry


def parents_of(paths: list[str]) -> list[str]:
    """Every parent of the relative paths (not the volume root), deepest first."""
    found = {str(parent) for path in paths for parent in PurePosixPath(path).parents
             if str(parent) != "."}
    return sorted(found, key=lambda p: (-p.count("/"), p))


def apply_recorded(volume_dir: Path, entries: dict[str, Entry]) -> list[str]:
    """Set owner, mode and mtime of the given directories as recorded; what it changed."""
    changed = []
    for rel in sorted(entries, key=lambda p: (-p.count("/"), p)):
        entry = entries[rel]
        if entry.kind != "d":
            continue
        path = volume_dir / rel
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue
        os.chown(path, entry.uid, entry.gid, follow_symlinks=False)
        os.chmod(path, entry.mode & 0o7777)
        os.utime(path, ns=(info.st_atime_ns, entry.mtime_ns), follow_symlinks=False)
        changed.append(rel)
    return changed
