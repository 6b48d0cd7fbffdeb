"""Apply a restore plan: run each step once, journaled, resumable.

Before anything runs, the device guard checks every command of the whole
plan.  Then, for each step:

- if its result can be seen on the system (its done-check), it is skipped:
  a destructive step is never repeated on a device that carries its result,
  and an activation that survived is not redone;
- else, for a destructive step the system cannot be asked about (the wipe),
  the journal decides: done in an earlier run means skipped;
- else its commands run, journaled before (``started``) and after (``done``
  or ``failed``).

Activations (open, assemble, mount) have done-checks, so after a reboot they
simply run again; the journal alone never skips them.  A run that had to wipe
every target disk does not ask about its destructive steps: nothing it is
about to write can already be there.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from hostbook.manifest.errors import RuntimeFailure
from hostbook.process.runner import Runner
from hostbook.restore.apply.apply_journal import Journal
from hostbook.restore.apply.done_checks import is_done
from hostbook.restore.apply.kernel_log import kernel_clock, kernel_lines_since
from hostbook.restore.apply.passphrases import PassphraseSource
from hostbook.restore.plan.steps import Step
from hostbook.restore.target.guard import DeviceGuard

STEP_TIMEOUT = 3600.0
WAIT_SECONDS = 60.0


@dataclass
class ApplyOutcome:
    """Which steps ran, which were skipped (and why), and the commands' time."""

    ran: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    command_seconds: float = 0.0
    commands: int = 0


Progress = Callable[[str, Step, int, int], None]


def wait_for_devices(runner: Runner, paths: Sequence[str],
                     timeout: float | None = None) -> list[str]:
    """Let udev finish, then wait until every path exists; return those still missing."""
    if not paths:
        return []
    timeout = WAIT_SECONDS if timeout is None else timeout
    runner.command(["udevadm", "settle", f"--timeout={max(int(timeout), 1)}"],
                   timeout=timeout + 5)
    deadline = time.monotonic() + timeout
    missing = [p for p in paths if not os.path.exists(p)]
    while missing and time.monotonic() < deadline:
        time.sleep(0.1)
        missing = [p for p in missing if not os.path.exists(p)]
    return missing


def _skip_reason(step: Step, runner: Runner, finished: dict[str, str],
                 fresh: bool) -> str | None:
    if fresh:
        return None
    if step.done is not None and step.done.kind != "never":
        if is_done(runner, step.done):
            return "result already on the device" if step.destructive else "already in place"
        return None
    if step.destructive and finished.get(step.id) == step.fingerprint():
        return "done in an earlier run"
    return None


def _failed(runner: Runner, step: Step, detail: str, since: float | None) -> RuntimeFailure:
    """The step's failure, followed by what the kernel said since the step started."""
    message = f"step {step.id} ({step.summary}): {detail}"
    kernel = kernel_lines_since(runner, since)
    if kernel:
        message += "\n" + "\n".join(f"  kernel: {line}" for line in kernel)
    return RuntimeFailure(message)


def apply_steps(
    steps: Sequence[Step],
    guard: DeviceGuard,
    journal: Journal,
    runner: Runner,
    passphrases: PassphraseSource,
    progress: Progress | None = None,
) -> ApplyOutcome:
    """Run the plan; raise RuntimeFailure at the first failing command."""
    for step in steps:  # refuse the whole plan before touching anything
        guard.check_step(step)
    outcome = ApplyOutcome()
    finished = journal.finished()
    total = len(steps)
    wipes = [s.id for s in steps if s.layer == "wipe"]
    for index, step in enumerate(steps, 1):
        fingerprint = step.fingerprint()
        # Once this run has wiped every target disk, nothing the plan writes can be
        # there yet: asking would only cost a process per step.  Activations are
        # still asked about: an earlier step may have done them (mdadm --create
        # starts the array it makes).
        fresh = (bool(wipes) and step.destructive and step.layer != "wipe"
                 and all(w in outcome.ran for w in wipes))
        reason = _skip_reason(step, runner, finished, fresh)
        if reason is not None:
            journal.record(step.id, fingerprint, "skipped", reason)
            outcome.skipped[step.id] = reason
            if progress:
                progress("skip", step, index, total)
            continue
        if progress:
            progress("run", step, index, total)
        journal.record(step.id, fingerprint, "started")
        since = kernel_clock(runner, step.id)
        for command in step.commands:
            stdin = command.stdin
            secrets: list[str] = []
            if command.secret is not None:
                secret = passphrases.get(command.secret, command.secret_name or "")
                stdin = secret if stdin is None else stdin + secret
                secrets.append(secret)
            started = time.monotonic()
            result = runner.command(command.argv, timeout=STEP_TIMEOUT, stdin=stdin,
                                    secrets=secrets)
            outcome.command_seconds += time.monotonic() - started
            outcome.commands += 1
            if result.missing or result.timed_out or result.returncode not in command.ok_codes:
                journal.record(step.id, fingerprint, "failed", result.failure())
                raise _failed(runner, step, result.failure(), since)
        missing = wait_for_devices(runner, step.wait_for)
        if missing:
            detail = f"{', '.join(missing)} did not appear"
            journal.record(step.id, fingerprint, "failed", detail)
            raise _failed(runner, step, detail, since)
        journal.record(step.id, fingerprint, "done")
        outcome.ran.append(step.id)
    return outcome
