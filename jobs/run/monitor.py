"""Healthchecks-style monitoring pings: start, success, failure with the log's tail.

The protocol is the one healthchecks.io (and compatible servers) speak:
``<url>/start`` when a job starts, ``<url>`` on success, ``<url>/fail`` on
failure; a POST body (the tail of the job's log) is shown to whoever looks
at the check.  ``rid`` ties start and end together so the server can
measure the duration.  A ping that fails never fails the job: monitoring is
told, not asked, and the timeout is short.

:class:`RunMonitor` keeps each job's log lines as the run emits them, pings
every job's URL when the run starts, and at its end sends each job's
outcome with the tail of its log.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version

from hostbook.jobs.run.context import FAILED
from hostbook.jobs.run.events import Event
from hostbook.manifest.sections.jobs import Job

try:
    _VERSION = version("hostbook")
except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    _VERSION = "unknown"

MAX_BODY = 10000  # healthchecks keeps the first 10 kB of a body by default


def ping_url(url: str, kind: str, run_id: str | None = None) -> str:
    """The URL to ping for ``kind`` (start, success, fail)."""
    parts = urllib.parse.urlsplit(url)
    path = parts.path.rstrip("/")
    if kind in ("start", "fail"):
        path += f"/{kind}"
    query = parts.query
    if run_id:
        query = (query + "&" if query else "") + urllib.parse.urlencode({"rid": run_id})
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, query, ""))


def ping(url: str, kind: str, body: str = "", timeout: float = 10.0,
         run_id: str | None = None) -> str | None:
    """Send one ping; returns None on success, else a one-line reason."""
    data = body.encode("utf-8", errors="replace")[-MAX_BODY:] if body else None
    request = urllib.request.Request(
        ping_url(url, kind, run_id),
        data=data,
        method="POST" if data is not None else "GET",
        headers={"User-Agent": f"hostbook/{_VERSION}", "Content-Type": "text/plain"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        return f"monitor ping {kind}: HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"monitor ping {kind}: {reason}"
    if status >= 400:
        return f"monitor ping {kind}: HTTP {status}"
    return None


def run_uuid(run_id: str | None) -> str | None:
    """healthchecks wants a UUID as ``rid``: derive a stable one from the run id."""
    if not run_id:
        return None
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"hostbook-run:{run_id}"))


class RunMonitor:
    """The pings of one run: its jobs' log tails, a start ping and an end ping per job."""

    def __init__(self, jobs: Sequence[Job], host: str, enabled: bool) -> None:
        self.jobs = [job for job in jobs if job.monitor is not None]
        self.host = host
        self.enabled = enabled
        self.tails: dict[str, deque[str]] = {
            j.name: deque(maxlen=max(50, j.monitor.log_lines if j.monitor else 0))
            for j in jobs
        }

    def remember(self, event: Event) -> None:
        """Keep the event's log line for its job (a run-wide one for every job)."""
        line = time.strftime("%H:%M:%S ", time.localtime(event.time)) + event.text()
        if event.job in self.tails:
            self.tails[event.job].append(line)
        elif event.job is None:
            for tail in self.tails.values():
                tail.append(line)

    def start(self, run_id: str | None, warn: Callable[[str], None]) -> None:
        """``<url>/start`` for every monitored job; a failed ping is a warning to ``warn``."""
        if not self.enabled:
            return
        for job in self.jobs:
            assert job.monitor is not None
            problem = ping(job.monitor.url, "start", timeout=job.monitor.timeout,
                           run_id=run_uuid(run_id))
            if problem:
                warn(f"warning: {problem}")

    def end(self, run_id: str | None, statuses: Mapping[str, str],
            warn: Callable[[str, str], None]) -> None:
        """Success or ``/fail`` per job with its log's tail; ``warn(job, text)`` on a
        failed ping."""
        if not self.enabled:
            return
        for job in self.jobs:
            assert job.monitor is not None
            status = statuses[job.name]
            kind = "fail" if status == FAILED else "success"
            lines = list(self.tails[job.name])[-job.monitor.log_lines:]
            body = f"{job.name} on {self.host}: {status}\n" + "\n".join(lines) + "\n"
            problem = ping(job.monitor.url, kind, body, timeout=job.monitor.timeout,
                           run_id=run_uuid(run_id))
            if problem:
                warn(job.name, f"warning: {problem}")
