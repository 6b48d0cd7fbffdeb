"""Where a job's volume goes back: its mount point, under the restore's target root.

A ``path`` volume is its own mount point (``/home``, ``/``).  An ``lv``
volume goes where storage.yaml's fstab mounts the filesystem on that LV
(what ``restore apply`` mounts under the target), else where the capture
found it mounted (its ``fsroot /`` mount when there are several).  A volume whose mount
point nothing records cannot be placed, and the restore says so before it
writes anything.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from hostbook.manifest.sections.jobs import Volume

DEFAULT_TARGET = "/mnt/target"


def mount_point(volume: Volume, storage: Any | None) -> str | None:
    """The volume's mount point on the recorded host, None when nothing records one."""
    if volume.path is not None:
        return volume.path
    if volume.lv is None or storage is None:
        return None
    lvs = [e for e in storage.entries if getattr(e, "type", None) == "lv"
           and e.name == volume.lv]
    if not lvs:
        return None
    lv = lvs[0].id
    filesystems = {e.id for e in storage.entries
                   if getattr(e, "type", None) == "filesystem" and e.device == lv}
    fstab = storage.fstab.entries
    for line in fstab:  # where the host mounts it at boot: what restore apply mounts
        if line.target in filesystems and line.mountpoint.startswith("/"):
            return str(line.mountpoint)
    mounts = [e for e in storage.entries if getattr(e, "type", None) == "mount"
              and e.device == lv]
    mounts.sort(key=lambda m: (m.fsroot != "/", len(m.mountpoint)))
    return mounts[0].mountpoint if mounts else None


def under_target(target_root: str, mountpoint: str) -> str:
    """``/mnt/target`` + ``/home`` = ``/mnt/target/home``; ``/`` is the target root itself."""
    relative = PurePosixPath(mountpoint).relative_to("/")
    joined = PurePosixPath(target_root) / relative
    return str(joined)


def volume_relative(mountpoint: str, path: str) -> str:
    """A ``--path`` (as it was on the host) relative to the volume's mount point.

    Raises ValueError when the path is not on that volume.
    """
    pure = PurePosixPath(path)
    if not pure.is_absolute() or ".." in pure.parts:
        raise ValueError(f"{path}: give an absolute path without '..'")
    try:
        relative = pure.relative_to(mountpoint)
    except ValueError:
        raise ValueError(f"{path}: not on the volume mounted at {mountpoint}") from None
    if str(relative) == ".":
        raise ValueError(f"{path}: that is the whole volume (leave --path out)")
    return str(relative)
