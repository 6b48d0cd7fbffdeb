"""Revision specs: which archive of a volume and target a restore takes.

As in backy: ``0`` is the newest, ``1`` the one before, and so on; a tool's
archive id (a restic id or its prefix of 8 or more characters, a borg
archive name, a file name); ``@TIME`` the newest archive at or before TIME
(ISO 8601; without a zone it is UTC); ``manifest:REV`` the archives of the
run closest before that manifest commit, so layout and data come from the
same moment: an archive tagged with that commit if there is one (the newest
such), else the newest archive made at or before the commit's time.
Every refusal is one line naming the volume, the target and what exists.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from hostbook.manifest.errors import BadInputError
from hostbook.restore.data.archive import Archive, iso

CommitLookup = Callable[[str], tuple[str, datetime] | None]
"""A manifest revision -> (sha, commit time), None when it names no commit."""

MANIFEST = "manifest:"


def parse_time(text: str) -> datetime:
    """``2024-05-01``, ``2024-05-01T12:00``, ``...Z`` or ``...+02:00``; UTC when no zone."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadInputError(f"--at @{text}: not an ISO 8601 time (e.g. 2024-05-01T12:00Z)"
                            ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _what(archives: list[Archive], where: str) -> str:
    if not archives:
        return f"{where} has no archives"
    return (f"{where} has {len(archives)} archive(s): 0 ({iso(archives[0].time)}) to "
            f"{len(archives) - 1} ({iso(archives[-1].time)})")


def resolve(archives: list[Archive], spec: str | None, where: str,
            commits: CommitLookup | None = None) -> Archive:
    """The archive ``spec`` names among ``archives`` (newest first, as listed)."""
    text = (spec or "0").strip()
    if not archives:
        raise BadInputError(f"{where}: no archive to restore")
    if text.isdigit() and len(text) < 8:
        number = int(text)
        if number >= len(archives):
            raise BadInputError(f"--at {text}: {_what(archives, where)}")
        return archives[number]
    if text.startswith("@"):
        moment = parse_time(text[1:])
        for archive in archives:
            if archive.time <= moment:
                return archive
        raise BadInputError(f"--at {text}: nothing at or before {iso(moment)}; "
                            f"{_what(archives, where)}")
    if text.startswith(MANIFEST):
        rev = text[len(MANIFEST):]
        found = commits(rev) if commits is not None and rev else None
        if found is None:
            raise BadInputError(f"--at {text}: {rev!r} names no commit of the manifest "
                                "repository")
        sha, committed = found
        tagged = [a for a in archives if a.manifest == sha]
        if tagged:
            return tagged[0]
        for archive in archives:
            if archive.time <= committed:
                return archive
        raise BadInputError(f"--at {text}: no archive made at or before commit {sha[:12]} "
                            f"({iso(committed)}); {_what(archives, where)}")
    matching = [a for a in archives if a.matches(text)]
    if len(matching) == 1:
        return matching[0]
    if matching:
        raise BadInputError(f"--at {text}: names {len(matching)} archives of {where}; "
                            "give more of the id")
    raise BadInputError(f"--at {text}: no such archive id; {_what(archives, where)}")
