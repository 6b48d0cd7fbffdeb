"""Apply a restore plan: run each step once, journaled, resumable.

Order of questions for every step: does the guard allow every device it
names?  Did the journal record it finished with the same fingerprint?  Is its
result already on the device?  Only then are its commands run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from hostbook.manifest.errors import RuntimeFailure
from hostbook.restore.checks import is_done
from hostbook.restore.guard import DeviceGuard
from hostbook.restore.journal import Journal
from hostbook.restore.runner import RestoreRunner
from hostbook.restore.secrets import PassphraseSource
from hostbook.restore.steps import Step

STEP_TIMEOUT = 3600.0


@dataclass
class ApplyOutcome:
    """Which steps ran, which were skipped (and why)."""

    ran: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


Progress = Callable[[str, Step], None]


def apply_steps(
    steps: Sequence[Step],
    guard: DeviceGuard,
    journal: Journal,
    runner: RestoreRunner,
    passphrases: PassphraseSource,
    progress: Progress | None = None,
) -> ApplyOutcome:
    """Run the plan; raise RuntimeFailure at the first failing command."""
    for step in steps:  # refuse the whole plan before touching anything
        guard.check_step(step)
    outcome = ApplyOutcome()
    finished = journal.finished()
    for step in steps:
        fingerprint = step.fingerprint()
        if finished.get(step.id) == fingerprint:
            outcome.skipped[step.id] = "done in an earlier run"
            if progress:
                progress("skip", step)
            continue
        if step.done is not None and is_done(runner, step.done):
            journal.record(step.id, fingerprint, "skipped", "result already on the device")
            outcome.skipped[step.id] = "result already on the device"
            if progress:
                progress("skip", step)
            continue
        if progress:
            progress("run", step)
        journal.record(step.id, fingerprint, "started")
        for command in step.commands:
            stdin = command.stdin
            if command.secret is not None:
                secret = passphrases.get(command.secret, command.secret)
                stdin = secret if stdin is None else stdin + secret
            result = runner.run(command.argv, timeout=STEP_TIMEOUT, stdin=stdin)
            if result.missing or result.timed_out or result.returncode not in command.ok_codes:
                journal.record(step.id, fingerprint, "failed", result.failure())
                raise RuntimeFailure(f"step {step.id} ({step.summary}): {result.failure()}")
        journal.record(step.id, fingerprint, "done")
        outcome.ran.append(step.id)
    return outcome
