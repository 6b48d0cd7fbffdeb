"""What running a system tool looks like to hostbook, wherever it is run from.

Capture (read-only probes, record/replay) and jobs (long, streamed, dry-runnable
commands) run tools in different ways, and neither may import the other; both
sit on this layer. So the shape of a tool's outcome and the environment every
tool runs in live here once: no shell, ``LC_ALL=C`` (output parsers expect
untranslated text) and the sbin directories on PATH (system tools live there on
Debian, and a non-root PATH often lacks them).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

_EXTRA_PATH = ("/usr/local/sbin", "/usr/sbin", "/sbin")


@dataclass(frozen=True)
class CommandResult:
    """What a command did: exit code and output; ``missing`` when not installed."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    missing: bool = False
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.missing and not self.timed_out

    def failure(self) -> str:
        """One line saying why the command did not succeed."""
        if self.missing:
            return f"{self.argv[0]}: not installed"
        if self.timed_out:
            return f"{shlex.join(self.argv)}: timed out"
        tail = (self.stderr.strip().splitlines() or [""])[-1]
        return f"{shlex.join(self.argv)}: exit {self.returncode}" + (f": {tail}" if tail else "")


def search_path(base: str | None = None) -> str:
    """PATH (``base``, else this process's) with the sbin directories appended."""
    parts = (base if base is not None else os.environ.get("PATH", "/usr/bin:/bin")).split(
        os.pathsep
    )
    parts += [p for p in _EXTRA_PATH if p not in parts]
    return os.pathsep.join(parts)


def tool_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment as tools should see it: C locale, sbin on PATH."""
    env = dict(os.environ)
    env.update({"LC_ALL": "C", "LANG": "C", "PATH": search_path()})
    env.pop("LANGUAGE", None)
    if extra:
        env.update(extra)
    return env
