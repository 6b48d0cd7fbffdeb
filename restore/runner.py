"""What restore needs from a command runner.

Queries (lsblk, blkid, the done-checks) need only the capture runner's
``run``, so recorded outputs replay them in tests; the executor also feeds
text on stdin (an sfdisk script, a passphrase), which the live runner does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from hostbook.capture.runner import DEFAULT_TIMEOUT, CommandResult


class QueryRunner(Protocol):
    """Runs read-only commands (a live, recording or replaying capture runner)."""

    def run(self, argv: Sequence[str], timeout: float = DEFAULT_TIMEOUT) -> CommandResult: ...


class RestoreRunner(Protocol):
    """A runner that can feed text (an sfdisk script, a passphrase) on stdin."""

    def run(
        self, argv: Sequence[str], timeout: float = DEFAULT_TIMEOUT, stdin: str | None = None
    ) -> CommandResult: ...
