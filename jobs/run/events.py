"""How a run tells people and programs what it is doing.

Three renderings of the same events: a progress bar per step on a
terminal, plain timestamped log lines otherwise (cron mail, journald), and
``--json``: one JSON object per line and per event, for scripts.  The run
logic emits events; it never formats output itself.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from hostbook.jobs.run.progress import Throttle


@dataclass
class Event:
    """One thing that happened: a run or step started or ended, a command, a message."""

    event: str  # run-start, run-end, step-start, step-end, command, message, progress
    job: str | None = None
    volume: str | None = None
    step: str | None = None
    status: str | None = None  # ok, warning, failed, skipped
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"event": self.event, "time": round(self.time, 3)}
        for key in ("job", "volume", "step", "status"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.message:
            out["message"] = self.message
        if self.data:
            out.update(self.data)
        return out

    def text(self) -> str:
        """The plain log line (without timestamp)."""
        who = " ".join(p for p in (self.job, self.step) if p)
        head = f"{who}: " if who else ""
        if self.event == "step-start":
            return f"{head}start"
        if self.event == "step-end":
            took = self.data.get("duration")
            extra = f" ({took:.1f}s)" if isinstance(took, int | float) else ""
            msg = f": {self.message}" if self.message else ""
            return f"{head}{self.status}{extra}{msg}"
        if self.event == "command":
            return f"{head}$ {self.message}"
        return f"{head}{self.message}"


def progress_event(job: str | None, step: str, fraction: float | None, text: str,
                   data: Mapping[str, Any] | None = None) -> Event:
    """The ``progress`` event of ``run --json`` (and of the run's event log)."""
    fields: dict[str, Any] = {"fraction": None if fraction is None else round(fraction, 4)}
    fields.update(data or {})
    return Event("progress", job=job, step=step, message=text, data=fields)


class Sink(Protocol):
    """Where events go."""

    def emit(self, event: Event) -> None: ...

    def progress(self, job: str | None, step: str, fraction: float | None, text: str,
                 data: Mapping[str, Any] | None = None) -> None: ...

    def close(self) -> None: ...


PLAIN_EVERY = 10.0
"""Seconds between progress lines in a log (cron, journald): never silent for long."""
JSON_EVERY = 2.0
"""Seconds between ``progress`` events in ``run --json``."""


class PlainSink:
    """Timestamped lines: for logs, cron mail and anything that is not a terminal.

    A long step prints a progress line every :data:`PLAIN_EVERY` seconds
    (``data archive: progress: 1.5 GiB of 3 GiB, ..., 0:38 left``).
    """

    def __init__(self, stream: IO[str] | None = None, commands: bool = True,
                 every: float = PLAIN_EVERY, now: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream or sys.stdout
        self.commands = commands
        self.throttle = Throttle(every, now)

    def emit(self, event: Event) -> None:
        if event.event == "command" and not self.commands:
            return
        if event.event == "step-start":
            self.throttle.forget((event.job, event.step))
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event.time))
        self.stream.write(f"{stamp} {event.text()}\n")
        self.stream.flush()

    def progress(self, job: str | None, step: str, fraction: float | None, text: str,
                 data: Mapping[str, Any] | None = None) -> None:
        if not text or not self.throttle.due((job, step)):
            return
        self.emit(Event("message", job=job, step=step, message=f"progress: {text}"))

    def close(self) -> None:
        self.stream.flush()


class JsonSink:
    """One JSON object per line and per event; progress every :data:`JSON_EVERY` seconds.

    Commands are events only in a dry run, where they are the point; otherwise
    a script gets the steps, their progress (``event: progress`` with the
    fraction, the text and, from archivers, bytes, files, rate and ETA) and
    their outcomes.
    """

    def __init__(self, stream: IO[str] | None = None, commands: bool = False,
                 every: float = JSON_EVERY, now: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream or sys.stdout
        self.commands = commands
        self.throttle = Throttle(every, now)

    def emit(self, event: Event) -> None:
        if event.event == "command" and not self.commands:
            return
        self.stream.write(json.dumps(event.to_json(), sort_keys=True) + "\n")
        self.stream.flush()

    def progress(self, job: str | None, step: str, fraction: float | None, text: str,
                 data: Mapping[str, Any] | None = None) -> None:
        if not self.throttle.due((job, step)):
            return
        self.emit(progress_event(job, step, fraction, text, data))

    def close(self) -> None:
        self.stream.flush()


class ProgressSink:
    """A progress bar per step on a terminal (rich), with step outcomes printed above."""

    def __init__(self, commands: bool = False, console: Any = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console = console or Console(stderr=False)
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<28}"),
            BarColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        self.commands = commands
        self._tasks: dict[tuple[str | None, str], Any] = {}
        self._progress.start()

    def emit(self, event: Event) -> None:
        key = (event.job, event.step or "")
        if event.event == "step-start":
            self._tasks[key] = self._progress.add_task(
                " ".join(p for p in (event.job, event.step) if p), total=None, status=""
            )
        elif event.event == "step-end":
            task = self._tasks.pop(key, None)
            if task is not None:
                self._progress.remove_task(task)
            self._print(event.text())
        elif event.event in ("message", "run-end") or (
            event.event == "command" and self.commands
        ):
            self._print(event.text())

    def _print(self, text: str) -> None:
        # Plain text: a message may hold brackets ("[backup] zfs send") that rich would
        # read as markup, and number highlighting would split it.
        self._progress.console.print(text, markup=False, highlight=False)

    def progress(self, job: str | None, step: str, fraction: float | None, text: str,
                 data: Mapping[str, Any] | None = None) -> None:
        task = self._tasks.get((job, step))
        if task is None:
            return
        if fraction is None:
            self._progress.update(task, status=text)
        else:
            self._progress.update(task, total=1.0, completed=min(1.0, fraction), status=text)

    def close(self) -> None:
        self._progress.stop()


def make_sink(as_json: bool, dry_run: bool = False, stream: IO[str] | None = None) -> Sink:
    """JSON when asked, a progress display on a terminal, plain lines otherwise.

    A dry run prints plain lines even on a terminal: its output is the list of
    commands, meant to be read (or saved) whole.
    """
    out = stream or sys.stdout
    if as_json:
        return JsonSink(out, commands=dry_run)
    if stream is None and out.isatty() and not dry_run:
        return ProgressSink()
    return PlainSink(out)
