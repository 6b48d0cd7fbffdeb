"""The run journal: every transient thing a run makes is written down before it is made.

A run that is killed between snap and unsnap leaves mounts, LVM snapshots
and ZFS holds behind.  The journal is how the next run finds them: each
resource is appended (and fsync'd) *before* the command that creates it
runs, and marked removed after it is gone.  A resource whose run never
wrote its ``end`` record belongs to an interrupted run and is undone, newest
first, before anything else happens.

Undoing must therefore cope with resources that were announced but never
made (the run died between the record and the command); the undo functions
check before they act.

One JSON object per line, appended durably (:mod:`hostbook.manifest.durable`);
a torn last line (the crash hit mid-write) is ignored.  When nothing is open
any more the file is emptied.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hostbook.jobs.private_files import replace_private
from hostbook.manifest.durable import durable_append, json_lines


@dataclass
class Resource:
    """One transient thing: a mount, an LVM snapshot, a ZFS hold, a btrfs snapshot."""

    id: str
    kind: str
    run: str
    volume: str
    details: dict[str, Any] = field(default_factory=dict)
    run_finished: bool = False

    def describe(self) -> str:
        what = self.details.get("target") or self.details.get("name") or self.details.get("path")
        return f"{self.kind} {what}" if what else self.kind


def new_run_id() -> str:
    """The run's UTC start and 8 random hex digits: sorts by time, unique per host."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:8]


@dataclass
class JournalState:
    """What the journal says now: open resources and which runs finished."""

    resources: list[Resource]
    finished_runs: set[str]
    started_runs: dict[str, dict[str, Any]]


class Journal:
    """Append-only, fsync'd record of a host's transient resources."""

    def __init__(self, path: Path, enabled: bool = True) -> None:
        self.path = path
        self.enabled = enabled
        self.run_id: str | None = None
        self.opened: list[Resource] = []
        """Resources this process recorded and has not removed, oldest first (kept in
        memory too, so a dry run, whose journal writes nothing, can still unsnap)."""

    # -- writing ---------------------------------------------------------------------

    def _append(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        durable_append(self.path, json.dumps(record, sort_keys=True))

    def begin(self, steps: list[str], jobs: list[str], run_id: str | None = None) -> str:
        """Start a run (with the id it was given, or a new one); returns its id."""
        self.opened = []
        self.run_id = run_id or new_run_id()
        self._append(
            {"event": "begin", "run": self.run_id, "pid": os.getpid(), "time": time.time(),
             "steps": steps, "jobs": jobs}
        )
        return self.run_id

    def intend(self, kind: str, volume: str, /, **details: Any) -> Resource:
        """Record a resource that is about to be made; call before running the command."""
        resource = Resource(
            id=uuid.uuid4().hex[:12], kind=kind, run=self.run_id or "-", volume=volume,
            details=details,
        )
        self.opened.append(resource)
        self._append(
            {"event": "made", "id": resource.id, "kind": kind, "run": resource.run,
             "volume": volume, "details": details, "time": time.time()}
        )
        return resource

    def removed(self, resource: Resource) -> None:
        """Record that a resource is gone."""
        self.opened = [r for r in self.opened if r.id != resource.id]
        self._append({"event": "removed", "id": resource.id, "time": time.time()})

    def adopt(self, resource: Resource) -> None:
        """Move a resource kept by an earlier, finished run into this run."""
        self._append({"event": "adopt", "id": resource.id, "run": self.run_id})
        resource.run = self.run_id or resource.run
        resource.run_finished = False
        self.opened.append(resource)

    def end(self) -> None:
        """Finish the run: what is still open now was kept on purpose (``--step``)."""
        if self.run_id is not None:
            self._append({"event": "end", "run": self.run_id, "time": time.time()})
        self.compact()

    # -- reading ---------------------------------------------------------------------

    def _records(self) -> Iterator[dict[str, Any]]:
        # a line torn by a crash is skipped: its resource was never made either
        return json_lines(self.path)

    def state(self) -> JournalState:
        """Replay the file into the set of open resources."""
        open_: dict[str, Resource] = {}
        finished: set[str] = set()
        started: dict[str, dict[str, Any]] = {}
        for record in self._records():
            event = record.get("event")
            if event == "begin":
                started[str(record.get("run"))] = record
            elif event == "made":
                open_[str(record["id"])] = Resource(
                    id=str(record["id"]), kind=str(record.get("kind")),
                    run=str(record.get("run")), volume=str(record.get("volume", "")),
                    details=dict(record.get("details") or {}),
                )
            elif event == "removed":
                open_.pop(str(record.get("id")), None)
            elif event == "adopt" and str(record.get("id")) in open_:
                open_[str(record["id"])].run = str(record.get("run"))
            elif event == "end":
                finished.add(str(record.get("run")))
        resources = list(open_.values())
        for resource in resources:
            resource.run_finished = resource.run in finished
        return JournalState(resources, finished, started)

    def open_resources(self) -> list[Resource]:
        """Resources not yet removed, oldest first."""
        return self.state().resources

    def compact(self) -> None:
        """Rewrite the file with only what is still open (empty when nothing is)."""
        if not self.enabled or not self.path.exists():
            return
        state = self.state()
        keep_runs = {r.run for r in state.resources}
        keep_ids = {r.id for r in state.resources}
        lines = []
        for record in self._records():
            event = record.get("event")
            if (event in ("begin", "end") and record.get("run") in keep_runs) or (
                event in ("made", "adopt") and record.get("id") in keep_ids
            ):
                lines.append(record)
        replace_private(
            self.path, [(json.dumps(record, sort_keys=True) + "\n").encode() for record in lines]
        )
