"""Files only their owner reads: archives, integrity databases and run state.

An archive or an integrity database holds every file of a volume (or every
path, owner and hash of it), so what a root-only file says must not become
readable through them: they are created 0600 in directories created 0700,
whatever the umask.  Files are created with that mode from the start (no
window in which they are readable), exclusively and without following a
symlink where an existing name could be a trap.  Run state (journal,
history, lock) gets the same treatment; the directory and open rules are the
manifest layer's (:mod:`hostbook.manifest.durable`), shared with the restore
journal.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from hostbook.manifest.access import check_writable
from hostbook.manifest.durable import FILE_MODE, open_private, private_dir

__all__ = ["FILE_MODE", "create_private", "open_private", "private_dir", "readable_by_others",
           "replace_private", "require_state_dir", "write_new"]


def create_private(path: Path) -> int:
    """A new 0600 file at ``path`` for writing; a leftover at that name is replaced.

    Unlinking first and then creating exclusively means a symlink (or any
    file) planted under the name is never written through.
    """
    path.unlink(missing_ok=True)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)


def replace_private(path: Path, chunks: list[bytes]) -> Path:
    """Write ``chunks`` to a new 0600 file and rename it over ``path`` (fsync'd first).

    Readers see the old file or the new one, never a part; a crash leaves at
    most the temporary file, which the next write replaces.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    fd = create_private(tmp)
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_new(path: Path, data: bytes, mode: int = 0o644) -> bool:
    """Write ``data`` to ``path`` only if nothing is there (not even a dangling symlink)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return True


def require_state_dir(path: Path) -> None:
    """Fail up front (exit 3, naming the path) when the state directory is not writable."""
    check_writable(
        [path], "state directory",
        "run hostbook as its owner (root for system jobs), or pass --state-dir",
    )


def readable_by_others(path: str) -> int | None:
    """The file's mode when group or others may read it, else None (also when missing)."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None
    return mode if mode & 0o044 else None
