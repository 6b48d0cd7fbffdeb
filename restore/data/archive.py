"""What a restorable archive is, wherever it lives, and where a source looks for them.

Every source tool lists its archives as :class:`Archive` records: the id the
tool takes, the time, size and file count when known, and the labels the
run tagged it with (run id, run stamp, manifest commit).  The run stamp
names the integrity database that run recorded for the volume.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

STAMP = re.compile(r"\d{8}T\d{6}Z")


def stamp_time(stamp: str) -> datetime:
    """A run stamp (``20240501T120000Z``) as a UTC time."""
    return datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def iso(moment: datetime) -> str:
    """A time as people read it: ISO 8601 in UTC, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Where:
    """Which archives a source lists: one host's job on one volume."""

    host: str
    job: str
    volume_key: str
    mount_root: str
    """Where runs mount the volume's snapshot (restic records this path)."""

    @property
    def stable_path(self) -> str:
        """The path the archive's files sit under in restic (``/run/hostbook/volumes/<key>``)."""
        return f"{self.mount_root.rstrip('/')}/{self.volume_key}"

    @property
    def name_prefix(self) -> str:
        """The start of every borg, tar and xfsdump archive name of this job and volume."""
        return f"{self.host}-{self.job}-{self.volume_key}-"


@dataclass
class Archive:
    """One restorable archive of one volume on one archive target."""

    tool: str
    target: str
    """The archive target's label in jobs.yaml."""
    id: str
    """What the tool is given: a restic snapshot id, a borg archive name, a file name."""
    time: datetime
    size: int | None = None
    files: int | None = None
    labels: dict[str, Any] = field(default_factory=dict)
    """host, job, volume, key, run, stamp, manifest, as the run tagged the archive."""
    short_id: str | None = None
    parts: list[str] = field(default_factory=list)
    """The files restored in order to get this archive (xfsdump: level 0 up to it)."""
    revision: int = 0
    """0 for the newest archive of its volume and target, 1 for the one before, ..."""

    @property
    def run(self) -> str | None:
        return self.labels.get("run")

    @property
    def manifest(self) -> str | None:
        return self.labels.get("manifest")

    @property
    def stamp(self) -> str | None:
        """The run stamp: tagged, else read from the archive's name."""
        stamp = self.labels.get("stamp")
        if stamp:
            return str(stamp)
        found = STAMP.search(self.id)
        return found.group(0) if found else None

    def matches(self, ident: str) -> bool:
        """Whether ``ident`` names this archive (a restic id prefix of 8+ characters)."""
        if ident == self.id or ident == self.short_id:
            return True
        return len(ident) >= 8 and self.id.startswith(ident)

    def to_json(self) -> dict[str, Any]:
        return {
            "revision": self.revision, "tool": self.tool, "target": self.target, "id": self.id,
            "short_id": self.short_id, "time": iso(self.time), "size": self.size,
            "files": self.files, "run": self.run, "manifest": self.manifest,
            "stamp": self.stamp, **({"parts": self.parts} if self.parts else {}),
        }


def newest_first(archives: list[Archive]) -> list[Archive]:
    """Sorted newest first, numbered from 0."""
    ordered = sorted(archives, key=lambda a: (a.time, a.id), reverse=True)
    for number, archive in enumerate(ordered):
        archive.revision = number
    return ordered


def labels_of(tags: list[str]) -> dict[str, str]:
    """``NAME=VALUE`` tags (restic) as a dict; other tags are left out."""
    found = {}
    for tag in tags:
        name, sep, value = tag.partition("=")
        if sep and name in ("host", "job", "volume", "key", "run", "stamp", "manifest"):
            found[name] = value
    return found
