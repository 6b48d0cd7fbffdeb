"""The apply journal: which steps finished, so an interrupted restore resumes.

One JSON object per line, appended and fsync'd before and after each step
(:func:`hostbook.manifest.durable.durable_append`: a line torn by a crash is
closed off before the next record), in a file only root reads (0600, its
folder 0700: it names the disks and what was done to them).
A step is skipped on re-run only when the journal says it finished *and* its
fingerprint matches (the plan did not change underneath).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hostbook.manifest.durable import durable_append, json_lines

Status = Literal["started", "done", "skipped", "failed"]


@dataclass(frozen=True)
class JournalEntry:
    step: str
    fingerprint: str
    status: Status
    detail: str = ""


class Journal:
    """An append-only step journal in a file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def entries(self) -> list[JournalEntry]:
        # a line torn by power loss is skipped: its step counts as not done
        return [JournalEntry(data["step"], data["fingerprint"], data["status"],
                             data.get("detail", ""))
                for data in json_lines(self.path)]

    def finished(self) -> dict[str, str]:
        """Step id -> fingerprint of every step whose last record is done or skipped."""
        last: dict[str, JournalEntry] = {}
        for entry in self.entries():
            last[entry.step] = entry
        return {
            step: entry.fingerprint
            for step, entry in last.items()
            if entry.status in ("done", "skipped")
        }

    def record(self, step: str, fingerprint: str, status: Status, detail: str = "") -> None:
        durable_append(self.path, json.dumps(
            {"step": step, "fingerprint": fingerprint, "status": status, "detail": detail,
             "time": int(time.time())},
            sort_keys=True,
        ))

    def reset(self) -> None:
        self.path.unlink(missing_ok=True)
