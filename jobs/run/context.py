"""What every job step is given: the command runner, the journal, the log and the clock.

Steps never print or read the clock themselves: the runner hands them this
context, so a dry run, a test and a real run differ only in what is inside.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from hostbook.jobs.commands import CommandResult, Commands
from hostbook.jobs.run.run_journal import Journal
from hostbook.manifest.errors import RuntimeFailure


class StepFailed(RuntimeFailure):
    """A step could not do its job; the message is the one-line reason."""


@dataclass
class StepContext:
    """Shared by the steps of one run."""

    host: str
    commands: Commands
    journal: Journal
    log: Callable[[str], None]
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    mount_root: Path = Path("/run/hostbook/volumes")
    announce: Callable[[str], None] | None = None
    """Shows a command that does not go through ``commands`` (a send | receive pipe)."""
    warn: Callable[[str], None] | None = None
    """Tells the person running hostbook (stderr) about a risk that is not a failure."""
    warned: set[str] = field(default_factory=set)

    def warn_once(self, key: str, text: str) -> None:
        """Warn about ``key`` (e.g. a file) once per run, however many steps use it."""
        if key in self.warned:
            return
        self.warned.add(key)
        (self.warn or self.log)(f"warning: {text}")

    def command(self, text: str) -> None:
        """Announce a command line (logged like the ones ``commands`` runs)."""
        (self.announce or self.log)(text)

    @property
    def dry_run(self) -> bool:
        return self.commands.dry_run

    @property
    def stamp(self) -> str:
        """The run's UTC time as used in snapshot and archive names (sorts as text)."""
        return self.now.strftime("%Y%m%dT%H%M%SZ")

    def run(self, argv: list[str], *, timeout: float | None = 120.0,
            mutates: bool = True) -> CommandResult:
        return self.commands.run(argv, timeout=timeout, mutates=mutates)

    def must(self, argv: list[str], *, timeout: float | None = 120.0,
             mutates: bool = True) -> CommandResult:
        """Run a command that has to succeed; raise StepFailed with its reason otherwise."""
        result = self.commands.run(argv, timeout=timeout, mutates=mutates)
        if not result.ok:
            raise StepFailed(result.failure())
        return result
