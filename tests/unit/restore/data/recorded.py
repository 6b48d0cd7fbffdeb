"""The recorded restic, borg and tar runs the data-restore unit tests replay.

``tests/fixtures/restore-data/record.py`` made them: two runs of one job
archiving one folder to restic, borg and tar (and a restic repository that
is not there), listed with the right and with a wrong password.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from hostbook.jobs.run.jobs_file import LoadedJobs, load_jobs
from hostbook.process.recording import ReplayRunner
from tests.paths import FIXTURES

RECORDED = FIXTURES / "restore-data"
SCENARIO: dict[str, Any] = json.loads((RECORDED / "scenario.json").read_text())
WORK = Path(SCENARIO["work"])
KEY = "path-tmp-hostbook-restore-data-data"
FIRST, SECOND = (c["sha"] for c in SCENARIO["commits"])


def loaded(state_dir: Path | None = None) -> LoadedJobs:
    """The recorded jobs.yaml, with the recorded run history as its state."""
    return load_jobs(file=RECORDED / "jobs.yaml", host=SCENARIO["host"],
                     state_dir=state_dir or RECORDED / "state")


def replay(name: str = "listing") -> ReplayRunner:
    return ReplayRunner(RECORDED / name)


def commits(rev: str) -> tuple[str, datetime] | None:
    """The recorded manifest repository's commits, by sha or HEAD / HEAD~1."""
    named = {"HEAD": SECOND, "HEAD~1": FIRST}
    sha = named.get(rev, rev)
    for commit in SCENARIO["commits"]:
        if commit["sha"].startswith(sha) and len(sha) >= 7:
            return commit["sha"], datetime.fromisoformat(commit["time"])
    return None
