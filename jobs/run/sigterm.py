"""SIGTERM (systemd stopping the unit, a timeout) stops a run without skipping unsnap.

The signal raises :class:`Interrupted` in the main thread, which unwinds the
run's steps to its ``finally``, where unsnap undoes every snapshot; a second
SIGTERM while that happens is ignored, so the clean-up is not cut short.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from hostbook.manifest.errors import EXIT_RUNTIME


class Interrupted(BaseException):
    """The run got SIGTERM; unsnap still runs (it is in a ``finally``).

    A BaseException, like KeyboardInterrupt, so that no step's error handling
    (which turns a HostbookError into a failed step and goes on) swallows it.
    """

    exit_code = EXIT_RUNTIME


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """While inside, SIGTERM raises :class:`Interrupted` (once); outside, as before."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    fired: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        if fired:
            return  # already stopping: let unsnap finish
        fired.append(signum)
        raise Interrupted("terminated (SIGTERM): snapshots removed, run stopped")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
