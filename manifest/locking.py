"""An exclusive flock, waited for: the repository lock and each host's run lock.

flock is released by the kernel when the process dies, however it dies, so
a killed holder never leaves a stale lock; what the holder writes into the
file (its pid, and when it started) only serves the message of whoever is
kept waiting.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def held(fd: int, wait: float, poll: float, busy: Callable[[], Exception],
         holder: Callable[[], str]) -> Iterator[None]:
    """Hold an exclusive flock on ``fd`` for the block; ``fd`` is closed after it.

    Waits up to ``wait`` seconds, trying every ``poll`` seconds, then raises
    ``busy()``.  Once held, the file's content is replaced by ``holder()``
    (asked then, so a start time is the moment the lock was taken).
    """
    deadline = time.monotonic() + max(0.0, wait)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise busy() from None
                time.sleep(poll)
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder().encode(), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
