"""What restore needs from a command runner: the capture runner plus stdin."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from hostbook.capture.runner import DEFAULT_TIMEOUT, CommandResult


class RestoreRunner(Protocol):
    """A runner that can feed text (an sfdisk script, a passphrase) on stdin."""

    def run(
        self, argv: Sequence[str], timeout: float = DEFAULT_TIMEOUT, stdin: str | None = None
    ) -> CommandResult: ...
