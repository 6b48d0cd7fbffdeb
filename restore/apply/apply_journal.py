"""The apply journal: which steps finished, so an interrupted restore resumes.

One JSON object per line, appended and fsync'd before and after each step,
in a file only root reads (0600, its folder 0700: it names the disks and
what was done to them).
A step is skipped on re-run only when the journal says it finished *and* its
fingerprint matches (the plan did not change underneath).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hostbook.jobs.private_files import open_private, private_dir

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
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line torn by power loss: the step counts as not done
            out.append(
                JournalEntry(
                    data["step"], data["fingerprint"], data["status"], data.get("detail", "")
                )
            )
        return out

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
        private_dir(self.path.parent, tighten=True)
        line = json.dumps(
            {"step": step, "fingerprint": fingerprint, "status": status, "detail": detail,
             "time": int(time.time())},
            sort_keys=True,
        )
        fd = open_private(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, (line + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def reset(self) -> None:
        self.path.unlink(missing_ok=True)
