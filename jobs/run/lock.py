"""One run per host at a time: an flock on a file in the state directory.

flock is released by the kernel when the process dies, however it dies, so a
killed run never leaves a stale lock; the pid and start time written into
the file only serve the message a second run prints (the waiting loop is
:func:`hostbook.manifest.locking.held`, the repository lock's too).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from hostbook.jobs.private_files import require_state_dir
from hostbook.manifest.durable import open_private, private_dir
from hostbook.manifest.errors import RuntimeFailure
from hostbook.manifest.locking import held


class RunLocked(RuntimeFailure):
    """Another run of this host holds the lock."""


def _holder(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").split()
    except OSError:
        return "another process"
    if len(text) >= 2:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(text[1])))
        return f"pid {text[0]}, started {started}"
    return f"pid {text[0]}" if text else "another process"


@contextlib.contextmanager
def host_lock(state_dir: Path, host: str, wait: float = 0.0) -> Iterator[Path]:
    """Hold the host's run lock for the duration of the block.

    Waits up to ``wait`` seconds for a running job to finish, then raises
    :class:`RunLocked` with a message naming the holder.
    """
    require_state_dir(state_dir)
    private_dir(state_dir)
    path = state_dir / f"{host}.lock"
    fd = open_private(path, os.O_RDWR)

    def busy() -> RunLocked:
        waited = f" after waiting {wait:g}s" if wait > 0 else ""
        return RunLocked(
            f"another hostbook run for {host} is in progress ({_holder(path)}){waited}; "
            "try again later or pass --wait"
        )

    with held(fd, wait, 0.2, busy, lambda: f"{os.getpid()} {time.time():.0f}\n"):
        yield path


def running_holder(state_dir: Path, host: str) -> str | None:
    """Who holds the host's lock right now (None when nobody does), without taking it.

    A dry run uses this: it takes no lock, but must not call a running run's
    snapshots leftovers.
    """
    path = state_dir / f"{host}.lock"
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _holder(path)
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
