"""Healthchecks-style monitoring pings: start, success, failure with the log's tail.

The protocol is the one healthchecks.io (and compatible servers) speak:
``<url>/start`` when a job starts, ``<url>`` on success, ``<url>/fail`` on
failure; a POST body (the tail of the job's log) is shown to whoever looks
at the check.  ``rid`` ties start and end together so the server can
measure the duration.  A ping that fails never fails the job: monitoring is
told, not asked, and the timeout is short.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from importlib.metadata import PackageNotFoundError, version

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
