"""What every job step is given (the command runner, the journal, the log and the
clock) and the words it answers with (ok, warning, failed).

Steps never print or read the clock themselves: the runner hands them this
context, so a dry run, a test and a real run differ only in what is inside.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from hostbook.jobs.run.run_journal import Journal
from hostbook.manifest.errors import RuntimeFailure
from hostbook.process.result import CommandResult
from hostbook.process.runner import Runner

OK = "ok"
WARNING = "warning"
FAILED = "failed"

class ProgressFn(Protocol):
    """Called with the fraction done (None when unknown), a short status text and,
    from archivers, the counters behind it (bytes, files, rate, ETA) for ``--json``."""

    def __call__(self, fraction: float | None, text: str,
                 data: Mapping[str, Any] | None = None, /) -> None: ...


class StepFailed(RuntimeFailure):
    """A step could not do its job; the message is the one-line reason."""


@dataclass
class StepContext:
    """Shared by the steps of one run."""

    host: str
    runner: Runner
    journal: Journal
    log: Callable[[str], None]
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    mount_root: Path = Path("/run/hostbook/volumes")
    announce: Callable[[str], None] | None = None
    """Shows a line of what a dry run would do that is not one command (a planned send)."""
    warn: Callable[[str], None] | None = None
    """Tells the person running hostbook (stderr) about a risk that is not a failure."""
    warned: set[str] = field(default_factory=set)
    manifest_commit: str | None = None
    """The manifest commit the run's jobs were read at; every archive is tagged with it."""

    def warn_once(self, key: str, text: str) -> None:
        """Warn about ``key`` (e.g. a file) once per run, however many steps use it."""
        if key in self.warned:
            return
        self.warned.add(key)
        (self.warn or self.log)(f"warning: {text}")

    def show(self, text: str) -> None:
        """Announce a planned operation (logged like the commands the runner echoes)."""
        (self.announce or self.log)(text)

    @property
    def dry_run(self) -> bool:
        return self.runner.dry_run

    @property
    def stamp(self) -> str:
        """The run's UTC time as used in snapshot and archive names (sorts as text)."""
        return self.now.strftime("%Y%m%dT%H%M%SZ")

    @property
    def run_id(self) -> str | None:
        """The run's id in the journal (None before it began, or with no journal)."""
        return self.journal.run_id

    def must(self, argv: list[str], *, timeout: float | None = 120.0) -> CommandResult:
        """Run a command that has to succeed; raise StepFailed with its reason otherwise."""
        result = self.runner.command(argv, timeout=timeout)
        if not result.ok:
            raise StepFailed(result.failure())
        return result
