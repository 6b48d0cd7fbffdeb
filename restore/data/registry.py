"""Every source tool, by the ``tool`` a job's archive target names.

The one place a source is looked up; a new one is a module with a
``SOURCE`` and one line here.  A target whose tool has no source is listed
as not restorable by hostbook, never silently skipped.
"""

from __future__ import annotations

from typing import Any

from hostbook.restore.data import borg, replicas, restic, streams, tar, xfsdump
from hostbook.restore.data.source import Source

SOURCES: dict[str, Source[Any]] = {
    source.tool: source for source in (restic.SOURCE, borg.SOURCE, tar.SOURCE, xfsdump.SOURCE,
                                       streams.ZFS_SOURCE, streams.BTRFS_SOURCE,
                                       replicas.ZFS_SOURCE, replicas.BTRFS_SOURCE)
}


def source_for(tool: str) -> Source[Any] | None:
    """The source of a target's tool, None when hostbook cannot restore from it yet."""
    return SOURCES.get(tool)
