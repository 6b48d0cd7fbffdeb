"""Runs started from the API, and the event stream of any run, as server-sent events.

``POST /api/hosts/{host}/run`` starts ``hostbook run --host H --run-id ID``
in the background (:mod:`hostbook.process.background`): the command a timer
runs, under the same host lock, writing the same event log.  The id is
chosen here so the answer can name it before the run has begun; a host
whose lock is held is answered 409 at once, and a run that loses the race
for the lock ends with its own message (kept with the run's output).

The stream of a run is its event log (:mod:`hostbook.jobs.run.event_log`)
followed as it grows: each event is one SSE message whose ``id`` is its
line number, so a browser that reconnects (``Last-Event-ID``) gets only the
events it missed; the stream ends after ``run-end``, or when the run's
process ended without one.  Polling the file every :data:`POLL` seconds
keeps an event's way from the run to the browser well under 250 ms and
costs one ``read`` per open stream per poll.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hostbook.jobs.run.event_log import KEEP_LOGS, new_run_id, prune, read_events, run_log_path
from hostbook.jobs.run.lock import RunLocked
from hostbook.process.background import Background, hostbook_argv, start_background
from hostbook.serve.reading import Reader

POLL = 0.05
"""Seconds between looks at a followed event log."""
HEARTBEAT = 15.0
"""Seconds of silence after which a comment keeps proxies from closing the stream."""
MAX_STREAM = 24 * 3600.0
"""A stream ends after this long even if the run has not (the browser reconnects)."""
OUTPUT_TAIL = 4000
"""Characters of a started run's own output shown when it ended without events."""


@dataclass
class Started:
    """A run this server started."""

    run: str
    host: str
    log: Path
    background: Background

    def to_json(self) -> dict[str, Any]:
        code = self.background.poll()
        out: dict[str, Any] = {"pid": self.background.pid, "exit_code": code,
                               "running": code is None}
        if code is not None and not self.log.exists():
            try:
                out["output"] = self.background.output.read_text(
                    encoding="utf-8", errors="replace")[-OUTPUT_TAIL:]
            except OSError:
                out["output"] = ""
        return out


@dataclass
class Launcher:
    """Starts runs and remembers the ones it started (for their exit code and output)."""

    reader: Reader
    repository: Path
    state_dir: Path | None = None
    started: dict[str, Started] = field(default_factory=dict)

    def start(self, host: str, jobs: list[str] | None = None) -> Started:
        name = self.reader.host(host)
        state = self.reader.state_of(name)
        # A jobs.yaml that does not load, or an unknown job, is refused here (400, 422).
        self.reader.jobs(name).select(list(jobs or []))
        holder = self.reader.running(name)
        if holder is not None:
            raise RunLocked(f"another hostbook run for {name} is in progress ({holder})")
        run_id = new_run_id()
        args = ["run", "--repo", str(self.repository), "--host", name, "--run-id", run_id,
                "--", *(jobs or [])]
        if self.state_dir is not None:
            args += ["--state-dir", str(self.state_dir)]
        output = state / "serve" / f"{run_id}.out"
        if output.parent.is_dir():
            prune(output.parent, KEEP_LOGS - 1, ".out")
        background = start_background(hostbook_argv(*args), output)
        started = Started(run_id, name, run_log_path(state, name, run_id), background)
        self.started[run_id] = started
        self._forget_finished()
        return started

    def _forget_finished(self, keep: int = 100) -> None:
        done = [k for k, s in self.started.items() if s.background.poll() is not None]
        for key in done[: max(0, len(done) - keep)]:
            del self.started[key]


def sse(event: dict[str, Any], number: int | None = None, name: str | None = None) -> bytes:
    lines = []
    if number is not None:
        lines.append(f"id: {number}")
    if name is not None:
        lines.append(f"event: {name}")
    lines.append("data: " + json.dumps(event, sort_keys=True))
    return ("\n".join(lines) + "\n\n").encode()


async def follow(log: Path, alive: Callable[[], bool], after: int = 0,
                 poll: float = POLL) -> AsyncIterator[bytes]:
    """The run's events from line ``after`` on, as SSE messages, until the run ends.

    ``alive`` says whether the run's process may still write (its process, or
    the host's lock, is there); asked once a second while the log is quiet.
    """
    offset, number, began = 0, 0, time.monotonic()
    quiet = checked = began
    yield b"retry: 1000\n\n"
    while time.monotonic() - began < MAX_STREAM:
        events, offset = read_events(log, offset)
        for event in events:
            number += 1
            if number > after:
                yield sse(event, number)
                quiet = time.monotonic()
            if event.get("event") == "run-end":
                yield sse({"run": log.stem, "ended": True}, None, "end")
                return
        if events:
            continue
        moment = time.monotonic()
        if moment - checked >= 1.0:
            checked = moment
            if not alive() and not read_events(log, offset)[0]:
                # Ended without a run-end: refused by the lock, or killed.
                yield sse({"run": log.stem, "ended": False}, None, "end")
                return
        if moment - quiet > HEARTBEAT:
            yield b": keep-alive\n\n"
            quiet = moment
        await asyncio.sleep(poll)
