"""How a run says what it does: events to the sink, log lines to the monitor's tails.

Commands the runner echoes, messages of the steps and warnings all become
events of the step that is running; a step is announced, timed, and its
errors turned into a failed status here, so that one failing step never
stops the next (an archive without an integrity database is still better
than none).
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from hostbook.jobs.run.context import FAILED
from hostbook.jobs.run.events import Event, Sink
from hostbook.jobs.run.monitor import RunMonitor
from hostbook.jobs.run.outcome import SKIPPED, JobOutcome, StepState
from hostbook.jobs.run.sigterm import Interrupted
from hostbook.manifest.errors import HostbookError
from hostbook.manifest.sections.jobs import Job


class RunReporter:
    """The run's voice: every event goes to the sink and into the jobs' log tails."""

    def __init__(self, sink: Sink, monitor: RunMonitor,
                 warn: Callable[[str], None] | None = None) -> None:
        self.sink = sink
        self.monitor = monitor
        self._warn = warn
        self.current: tuple[str | None, str | None] = (None, None)

    def emit(self, event: Event) -> None:
        self.sink.emit(event)
        self.monitor.remember(event)

    def echo(self, text: str) -> None:
        """A command the runner runs (or, in a dry run, prints)."""
        job, step = self.current
        self.emit(Event("command", job=job, step=step, message=text))

    def log(self, text: str) -> None:
        job, step = self.current
        self.emit(Event("message", job=job, step=step, message=text))

    def warn(self, text: str) -> None:
        """A warning goes to the log and, whatever the output format, to stderr."""
        self.log(text)
        if self._warn is not None:
            self._warn(text)
        else:
            print(text, file=sys.stderr)

    def progress(self, fraction: float | None, text: str,
                 data: Mapping[str, Any] | None = None) -> None:
        job, step = self.current
        self.sink.progress(job, step or "", fraction, text, data)

    @contextlib.contextmanager
    def step(self, outcome: JobOutcome, job: Job, step: str, **data: Any
             ) -> Iterator[StepState]:
        """Announce a step, time it, and turn an error into a failed step."""
        state = StepState(outcome)
        self.current = (job.name, step)
        self.emit(Event("step-start", job=job.name, volume=job.volume.ident, step=step,
                        data=data))
        started = time.monotonic()
        try:
            yield state
        except Interrupted as exc:
            state.mark(FAILED, str(exc))
            raise  # the run stops here; unsnap still runs
        except HostbookError as exc:
            state.mark(FAILED, str(exc))
        except OSError as exc:  # a store or destination that cannot be written
            state.mark(FAILED, f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))
        finally:
            state.outcome.mark(step, state.status, "; ".join(state.messages))
            self.emit(Event(
                "step-end", job=job.name, volume=job.volume.ident, step=step,
                status=state.status, message="; ".join(state.messages),
                data={**data, "duration": round(time.monotonic() - started, 3)},
            ))
            self.current = (None, None)

    def ended(self, outcome: JobOutcome, job: Job, step: str, status: str, why: str) -> None:
        """A step that did not run for this job: skipped, or done by another job."""
        outcome.steps[step] = status
        self.emit(Event("step-end", job=job.name, volume=job.volume.ident, step=step,
                        status=status, message=why))

    def skip(self, outcome: JobOutcome, job: Job, step: str, why: str) -> None:
        self.ended(outcome, job, step, SKIPPED, why)
