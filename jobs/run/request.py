"""What ``hostbook run`` is asked to do: which jobs and steps, and how to report them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from hostbook.jobs.run.events import Sink
from hostbook.jobs.run.jobs_file import LoadedJobs
from hostbook.manifest.errors import BadInputError

STEPS: tuple[str, ...] = ("snap", "sure", "clone", "archive", "retention", "unsnap")


@dataclass
class RunRequest:
    """What to run, and how to report it."""

    loaded: LoadedJobs
    job_names: list[str] = field(default_factory=list)
    steps: tuple[str, ...] = STEPS
    dry_run: bool = False
    sink: Sink | None = None
    wait: float | None = None
    now: datetime | None = None
    notify: bool = True
    warn: Callable[[str], None] | None = None
    """Where warnings for the person go (default: stderr), besides the run log."""
    run_id: str | None = None
    """The run's id when the caller chose it (``hostbook serve`` answers with it at once)."""


def parse_steps(values: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """``--step`` values (repeatable, comma-separated) in run order; all when none."""
    chosen: set[str] = set()
    for value in values:
        for part in value.split(","):
            name = part.strip()
            if not name:
                continue
            if name not in STEPS:
                raise BadInputError(f"unknown step {name!r} (steps: {', '.join(STEPS)})")
            chosen.add(name)
    return tuple(s for s in STEPS if s in chosen) if chosen else STEPS
