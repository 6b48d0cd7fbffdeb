"""What a tool did: the one result shape every layer reads."""

from __future__ import annotations

import shlex
from dataclasses import dataclass


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


def error_line(stderr: str) -> str:
    """The line of a tool's stderr that says what went wrong.

    Tools often end with a hint (age prints a report URL last), so a line that
    says "error" wins over the last line.
    """
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    for line in lines:
        if "error" in line.lower():
            return line
    return lines[-1] if lines else "no message"


def text(data: bytes | str | None) -> str:
    """Tool output as text; bytes that are not UTF-8 survive as surrogate escapes."""
    if data is None:
        return ""
    if isinstance(data, str):
        return data
    return data.decode("utf-8", errors="surrogateescape")
