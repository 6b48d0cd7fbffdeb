"""One run per host at a time: an flock on a file in the state directory.

flock is released by the kernel when the process dies, however it dies, so a
killed run never leaves a stale lock; the pid and start time written into
the file only serve the message a second run prints.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from hostbook.jobs.private_files import open_private, private_dir, require_state_dir
from hostbook.manifest.errors import RuntimeFailure


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
    deadline = time.monotonic() + max(0.0, wait)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    waited = f" after waiting {wait:g}s" if wait > 0 else ""
                    raise RunLocked(
                        f"another hostbook run for {host} is in progress ({_holder(path)})"
                        f"{waited}; try again later or pass --wait"
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {time.time():.0f}\n".encode(), 0)
        yield path
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


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
