"""Every real run keeps its own event stream: ``<state>/runs/<host>/<run id>.jsonl``.

The same JSON objects ``run --json`` prints (one per line), written as they
happen whatever the run's own output is (a terminal's bar, a timer's log),
so that a run started by a timer can be followed live and read afterwards
(``hostbook serve`` tails these files for its live page and its run
history).  Progress is written every :data:`LOG_EVERY` seconds, more often
than ``run --json`` prints it, since a page showing a running archive is
what reads it.  A log is not the record of what happened (the journal and
the history are): it is flushed, not fsynced, and only the newest
:data:`KEEP_LOGS` of a host are kept.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hostbook.jobs.run.events import Event, Sink, progress_event
from hostbook.jobs.run.progress import Throttle
from hostbook.jobs.run.run_journal import new_run_id
from hostbook.manifest.durable import open_private, private_dir
from hostbook.manifest.errors import BadInputError

__all__ = ["EventLogSink", "RunLog", "check_run_id", "host_runs", "new_run_id", "prune",
           "read_events", "run_log_path", "runs_dir", "summarize"]

LOG_EVERY = 0.5
"""Seconds between progress events in the event log."""
KEEP_LOGS = 200
"""Event logs kept per host; older ones are removed when a run starts."""
RUN_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{8}")
"""What a run id looks like: its UTC start and 8 hex digits (``20261204T205800Z-1a2b3c4d``)."""
READ_LIMIT = 8 << 20
"""At most this much of one event log is read at once (a log is a few hundred KiB)."""


def check_run_id(text: str) -> str:
    """A run id as given on the command line or in a URL; anything else is refused."""
    if not RUN_ID.fullmatch(text):
        raise BadInputError(f"run id {text!r}: expected YYYYMMDDTHHMMSSZ-xxxxxxxx")
    return text


def runs_dir(state_dir: Path, host: str) -> Path:
    return state_dir / "runs" / host


def run_log_path(state_dir: Path, host: str, run_id: str) -> Path:
    return runs_dir(state_dir, host) / f"{check_run_id(run_id)}.jsonl"


class EventLogSink:
    """Passes every event on to the run's own sink and appends it to the run's log."""

    def __init__(self, inner: Sink, path: Path, every: float = LOG_EVERY,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.inner = inner
        self.path = path
        self.throttle = Throttle(every, now)
        self._fd: int | None = None
        self._failed = False

    def _open(self) -> int | None:
        """The log, created with the first event (a run refused by the lock leaves none)."""
        if self._fd is None and not self._failed:
            try:
                private_dir(self.path.parent.parent, tighten=True)
                private_dir(self.path.parent, tighten=True)
                prune(self.path.parent, KEEP_LOGS - 1)
                self._fd = open_private(self.path, os.O_WRONLY | os.O_APPEND)
            except OSError:
                self._failed = True
        return self._fd

    def _write(self, event: Event) -> None:
        if self._open() is None:
            return
        assert self._fd is not None
        line = json.dumps(event.to_json(), sort_keys=True) + "\n"
        try:
            os.write(self._fd, line.encode("utf-8"))
        except OSError:  # a full disk must not fail the run: the log is a view of it
            self.close_log()
            self._failed = True

    def emit(self, event: Event) -> None:
        self.inner.emit(event)
        if event.event == "step-start":
            self.throttle.forget((event.job, event.step))
        self._write(event)

    def progress(self, job: str | None, step: str, fraction: float | None, text: str,
                 data: Mapping[str, Any] | None = None) -> None:
        self.inner.progress(job, step, fraction, text, data)
        if self.throttle.due((job, step)):
            self._write(progress_event(job, step, fraction, text, data))

    def close_log(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def close(self) -> None:
        self.inner.close()
        self.close_log()


def prune(directory: Path, keep: int, suffix: str = ".jsonl") -> None:
    """Keep the newest ``keep`` files named ``<run id><suffix>`` in ``directory``."""
    logs = sorted(p for p in directory.glob(f"*{suffix}") if RUN_ID.fullmatch(p.stem))
    for old in logs[: max(0, len(logs) - keep)]:
        with contextlib.suppress(OSError):
            old.unlink()


def read_events(path: Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """The whole events from ``offset`` on, and the offset after the last whole line.

    A line still being written (no newline yet) is left for the next call, so
    a reader that follows a running log never sees half an event.
    """
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read(READ_LIMIT)
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1
    events = []
    for raw in data[:end].splitlines():
        with contextlib.suppress(ValueError):
            event = json.loads(raw)
            if isinstance(event, dict):
                events.append(event)
    return events, offset + end


@dataclass(frozen=True)
class RunLog:
    """One run as its event log tells it: when, what, how it ended (None: still going)."""

    run: str
    host: str
    path: Path
    started: float | None
    message: str
    status: str | None
    exit_code: int | None
    finished: float | None

    def to_json(self) -> dict[str, Any]:
        return {"run": self.run, "host": self.host, "started": self.started,
                "message": self.message, "status": self.status,
                "exit_code": self.exit_code, "finished": self.finished}


TAIL = 16384
"""Bytes read from a log's end for its summary (the run-end event is the last line)."""


def _first_and_last(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The first event and the events of the log's tail (a summary reads no more)."""
    try:
        with path.open("rb") as handle:
            first_line = handle.readline()
            size = os.fstat(handle.fileno()).st_size
            handle.seek(max(0, size - TAIL))
            tail = handle.read(TAIL)
    except OSError:
        return {}, []
    events = []
    for raw in tail.split(b"\n")[1:] if size > TAIL else tail.split(b"\n"):
        with contextlib.suppress(ValueError):
            event = json.loads(raw)
            if isinstance(event, dict):
                events.append(event)
    first: dict[str, Any] = {}
    with contextlib.suppress(ValueError):
        loaded = json.loads(first_line)
        first = loaded if isinstance(loaded, dict) else {}
    return first, events


def summarize(path: Path, host: str) -> RunLog:
    """A run's summary from its log's first and last events."""
    first, tail = _first_and_last(path)
    last = next((e for e in reversed(tail) if e.get("event") == "run-end"), None)
    return RunLog(
        run=path.stem, host=host, path=path, started=first.get("time"),
        message=str(first.get("message", "")),
        status=last.get("status") if last else None,
        exit_code=last.get("exit_code") if last else None,
        finished=last.get("time") if last else None)


def host_runs(state_dir: Path, host: str, limit: int = 50) -> Iterator[RunLog]:
    """A host's runs, newest first (run ids sort by their start time)."""
    directory = runs_dir(state_dir, host)
    try:
        names = sorted((p for p in directory.iterdir() if p.suffix == ".jsonl"
                        and RUN_ID.fullmatch(p.stem)), reverse=True)
    except (FileNotFoundError, NotADirectoryError):
        return
    for path in names[:limit]:
        yield summarize(path, host)
