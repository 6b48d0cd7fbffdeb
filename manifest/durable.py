"""Files hostbook keeps for itself: private, and appended so that a crash loses nothing.

The run journal, the run history and the restore's step journal say what
was done to a host's volumes and disks, so they are root's alone: created
0600 from the start (no window in which they are readable) in folders
created 0700, whatever the umask, never through a symlink.  Each record is
one JSON line appended and fsync'd before the caller goes on; a crash
mid-write leaves a torn last line, which the next append closes off (so the
new record is not glued to it) and every reader skips.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path, tighten: bool = False) -> Path:
    """Create ``path`` 0700 (missing parents get the usual mode); returns it.

    With ``tighten``, an existing directory this user owns loses its group
    and other bits too: for hostbook's own folders (journal/, history/, a
    volume's database folder), never for a folder a person named.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=DIR_MODE)
    except FileExistsError:
        if not path.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path)
                                     ) from None
        if tighten:
            info = path.stat()
            if info.st_uid == os.geteuid() and info.st_mode & 0o077:
                path.chmod(stat.S_IMODE(info.st_mode) & ~0o077)
    return path


def open_private(path: Path, flags: int) -> int:
    """``os.open`` with mode 0600; an existing file of ours with a wider mode is narrowed."""
    fd = os.open(path, flags | os.O_CREAT | os.O_NOFOLLOW, FILE_MODE)
    try:
        info = os.fstat(fd)
        if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) & 0o077:
            os.fchmod(fd, stat.S_IMODE(info.st_mode) & ~0o077)
    except BaseException:
        os.close(fd)
        raise
    return fd


def durable_append(path: Path, line: str) -> None:
    """Append one line and fsync; a line torn by an earlier crash is closed off first.

    The file is root's state (0600, in a 0700 folder of hostbook's own).
    """
    private_dir(path.parent, tighten=True)
    data = line + "\n"
    fd = open_private(path, os.O_RDWR | os.O_APPEND)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = "\n" + data
        os.write(fd, data.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def json_lines(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON objects of a file written by :func:`durable_append`, in order.

    Blank lines and lines that are not a whole JSON object (torn by a crash
    mid-write) are skipped; a missing file has none.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    for raw in data.split(b"\n"):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if isinstance(record, dict):
            yield record
