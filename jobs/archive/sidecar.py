"""The metadata file beside a tar or xfsdump archive: what restic tags and borg comments say.

A file archive carries no tags of its own, so each ``<archive>`` gets an
``<archive>.json`` with the run's labels (:meth:`ArchiveRequest.labels`),
the tool and, for xfsdump, the level.  It is written 0600 under a temporary
name and renamed, so a sidecar is either whole or absent, and it is written
only after the archive itself was renamed into place: an archive may lack
its sidecar (a crash in between; listed with what its name says), never
the other way round.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hostbook.jobs.archive.base import ArchiveRequest
from hostbook.jobs.private_files import replace_private

SUFFIX = ".json"


def sidecar_path(archive: Path) -> Path:
    return archive.with_name(archive.name + SUFFIX)


def write_sidecar(archive: Path, request: ArchiveRequest, tool: str,
                  **extra: Any) -> Path:
    """Write ``archive``'s metadata beside it; returns the sidecar's path."""
    data = {**request.labels(), "tool": tool, "archive": archive.name, **extra}
    text = json.dumps(data, sort_keys=True, indent=1) + "\n"
    return replace_private(sidecar_path(archive), [text.encode()])


def read_sidecar(archive: Path) -> dict[str, Any]:
    """An archive's metadata; empty when it has no (readable, well-formed) sidecar."""
    try:
        data = json.loads(sidecar_path(archive).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
