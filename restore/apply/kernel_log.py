"""The kernel's messages since a step started, for a step that failed.

A failed mount says only "dmesg(1) may have more information"; the reason
(an XFS UUID already mounted, a bad superblock) is in the kernel's log.  The
clock is read when a step starts (through the runner, so a recording replays
it) and, when the step fails, ``dmesg --json`` is read and the lines stamped
since then are shown with the error.  printk stamps are seconds since boot on
the monotonic clock; a second of margin covers their coarser accounting.
"""

from __future__ import annotations

import json
import time

from hostbook.process.runner import Runner

MARGIN = 1.0
MAX_LINES = 10


def kernel_clock(runner: Runner, key: str) -> float | None:
    """Seconds since boot on the clock the kernel stamps its messages with."""
    value = runner.value(f"kernel-clock:{key}", lambda: time.clock_gettime(time.CLOCK_MONOTONIC))
    return float(value) if isinstance(value, int | float) else None


def kernel_lines_since(runner: Runner, since: float | None) -> list[str]:
    """The kernel's messages stamped at or after ``since`` (the newest ``MAX_LINES``).

    Empty when the log cannot be read (no dmesg, a restricted kernel log):
    the error is then shown as it is.
    """
    if since is None:
        return []
    result = runner.query(["dmesg", "--json"], timeout=30.0)
    if not result.ok:
        return []
    try:
        entries = json.loads(result.stdout).get("dmesg", [])
    except (ValueError, AttributeError):
        return []
    lines = [
        str(entry.get("msg", "")).strip() for entry in entries
        if isinstance(entry, dict) and isinstance(entry.get("time"), int | float)
        and entry["time"] >= since - MARGIN and str(entry.get("msg", "")).strip()
    ]
    return lines[-MAX_LINES:]
