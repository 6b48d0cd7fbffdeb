"""A hostbook command started in the background, its output kept in a file.

``hostbook serve`` starts ``hostbook run`` this way: the same program, the
same lock and the same event log as a run from a timer or a shell, never a
run inside the server's own process (a server restart then would not cut a
run short in the middle of a step it cannot resume).  Like every child it
gets its own session; unlike a tool it is not bound to the thread that
started it (no ``PR_SET_PDEATHSIG``: a web server's worker threads come and
go), and its output goes to a file, not a pipe nobody might read.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hostbook.manifest.durable import open_private, private_dir
from hostbook.process.environment import tool_environment


def hostbook_argv(*args: str) -> list[str]:
    """This hostbook (the interpreter it runs in) with ``args``."""
    return [sys.executable, "-m", "hostbook", *args]


@dataclass
class Background:
    """A started command: poll it, wait for it; its output is in ``output``."""

    argv: list[str]
    output: Path
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    def poll(self) -> int | None:
        """The exit code once it has ended (the child is reaped), else None."""
        return self.process.poll()

    def wait(self, timeout: float | None = None) -> int:
        return self.process.wait(timeout=timeout)


def start_background(argv: Sequence[str], output: Path,
                     env: Mapping[str, str] | None = None) -> Background:
    """Start ``argv`` in a session of its own, stdout and stderr appended to ``output``.

    ``output`` is created 0600 in a 0700 folder (it may hold what a tool
    said about root's files).  Raises OSError when the program cannot start.
    """
    private_dir(output.parent, tighten=True)
    fd = open_private(output, os.O_WRONLY | os.O_APPEND)
    try:
        process = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=fd, stderr=fd,
            env=tool_environment(env), close_fds=True, start_new_session=True)
    finally:
        os.close(fd)
    return Background(list(argv), output, process)
