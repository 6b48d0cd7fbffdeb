"""Progress of a long step as people and programs read it: bytes, files, rate, ETA.

The archivers read their tools' machine-readable progress (restic ``--json``
status lines, borg ``--progress --log-json`` ``archive_progress`` lines) and
feed a :class:`TransferMeter`, which adds the rate (over the last few
seconds) and, when the total is known, the time left.  The sinks decide how
often to show it: a bar on a terminal, a line every N seconds in a log, an
event in ``run --json``.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hostbook.manifest.units import human

WINDOW = 10.0
"""Seconds of samples the rate is measured over."""


def clock() -> float:
    return time.monotonic()


def human_seconds(seconds: float) -> str:
    """``3725`` -> ``1:02:05``; ``38`` -> ``0:38``."""
    value = int(max(0, seconds))
    hours, rest = divmod(value, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass
class Transfer:
    """One progress reading: what is done, of how much, how fast, how long to go."""

    bytes_done: int = 0
    bytes_total: int | None = None
    files_done: int = 0
    files_total: int | None = None
    rate: float | None = None
    """Bytes per second over the last :data:`WINDOW` seconds."""
    eta: float | None = None
    """Seconds left."""

    @property
    def fraction(self) -> float | None:
        if self.bytes_total:
            return min(1.0, self.bytes_done / self.bytes_total)
        return None

    def text(self) -> str:
        """``1.5 GiB of 3 GiB, 1200 of 3000 files, 45 MiB/s, 0:38 left``."""
        size = human(self.bytes_done) + (
            f" of {human(self.bytes_total)}" if self.bytes_total else "")
        files = f"{self.files_done}" + (
            f" of {self.files_total}" if self.files_total else "") + " files"
        parts = [size, files]
        if self.rate is not None:
            parts.append(f"{human(int(self.rate))}/s")
        if self.eta is not None:
            parts.append(f"{human_seconds(self.eta)} left")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {"bytes_done": self.bytes_done, "bytes_total": self.bytes_total,
                "files_done": self.files_done, "files_total": self.files_total,
                "rate": round(self.rate) if self.rate is not None else None,
                "eta": round(self.eta) if self.eta is not None else None}


@dataclass
class TransferMeter:
    """Turns the tool's running counters into :class:`Transfer` readings with a rate."""

    now: Callable[[], float] = clock
    _samples: deque[tuple[float, int]] = field(default_factory=deque)

    def reading(self, bytes_done: int, files_done: int, bytes_total: int | None = None,
                files_total: int | None = None, eta: float | None = None) -> Transfer:
        moment = self.now()
        self._samples.append((moment, bytes_done))
        while len(self._samples) > 2 and moment - self._samples[0][0] > WINDOW:
            self._samples.popleft()
        first_time, first_bytes = self._samples[0]
        rate = ((bytes_done - first_bytes) / (moment - first_time)
                if moment - first_time >= 1.0 else None)
        if eta is None and rate and bytes_total:
            eta = max(0.0, (bytes_total - bytes_done) / rate)
        return Transfer(bytes_done, bytes_total, files_done, files_total, rate, eta)


@dataclass
class Throttle:
    """At most one update per ``every`` seconds per key (the first one at once)."""

    every: float
    now: Callable[[], float] = clock
    _last: dict[Any, float] = field(default_factory=dict)

    def due(self, key: Any) -> bool:
        moment = self.now()
        last = self._last.get(key)
        if last is not None and moment - last < self.every:
            return False
        self._last[key] = moment
        return True

    def forget(self, key: Any) -> None:
        self._last.pop(key, None)
