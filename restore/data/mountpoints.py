"""Where a job's volume goes back: its mount point, under the restore's target root.

A ``path`` volume is its own mount point (``/home``, ``/``), or, when it is
a recorded mount of a filesystem fstab mounts elsewhere, fstab's place.  An ``lv``
volume goes where storage.yaml's fstab mounts the filesystem on that LV
(what ``restore apply`` mounts under the target), else where the capture
found it mounted (its ``fsroot /`` mount when there are several).  A volume whose mount
point nothing records cannot be placed, and the restore says so before it
writes anything.

A ``dataset`` volume is placed by ZFS itself: storage.yaml records block
devices, not pools, so the rebuilt dataset's ``mountpoint`` as ``zfs list``
reports it on the restoring machine is the place (with the pool imported
under the target, ``zpool import -R /mnt/target``, that already includes
the target).  A dataset mounted outside the target, or not at all, is
refused: restoring into the live system's own ``/srv`` would be a silent
overwrite.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from hostbook.jobs.snapshot.zfs import list_filesystems
from hostbook.manifest.errors import RuntimeFailure
from hostbook.manifest.sections.jobs import Volume
from hostbook.process.runner import Runner


def mount_point(volume: Volume, storage: Any | None) -> str | None:
    """The volume's mount point on the recorded host, None when nothing records one."""
    if volume.path is not None:
        return _booted_mount_point(volume.path, storage) or volume.path
    if volume.lv is None or storage is None:
        return None
    lvs = [e for e in storage.entries if getattr(e, "type", None) == "lv"
           and e.name == volume.lv]
    if not lvs:
        return None
    lv = lvs[0].id
    filesystems = {e.id for e in storage.entries
                   if getattr(e, "type", None) == "filesystem" and e.device == lv}
    booted = _fstab_mount_point(storage, filesystems)
    if booted is not None:
        return booted
    mounts = [e for e in storage.entries if getattr(e, "type", None) == "mount"
              and e.device == lv]
    mounts.sort(key=lambda m: (m.fsroot != "/", len(m.mountpoint)))
    return mounts[0].mountpoint if mounts else None


def _fstab_mount_point(storage: Any, filesystems: set[str]) -> str | None:
    """Where fstab mounts one of these filesystems at boot: what restore apply mounts."""
    for line in storage.fstab.entries:
        if line.target in filesystems and line.mountpoint.startswith("/"):
            return str(line.mountpoint)
    return None


def _booted_mount_point(path: str, storage: Any | None) -> str | None:
    """A path volume on a recorded mount: the same path under fstab's place for it.

    The same path on a host captured from its own root; not the same when it
    was captured with its filesystems mounted elsewhere (from a rescue system,
    or a layout mounted under /mnt), and then the restore must follow fstab,
    as ``restore apply`` does.  The deepest recorded mount holding the path
    decides; None when fstab does not mount that filesystem.
    """
    if storage is None:
        return None
    pure = PurePosixPath(path)
    holders = [e for e in storage.entries
               if getattr(e, "type", None) == "mount" and e.fsroot == "/" and e.filesystem
               and (pure == PurePosixPath(e.mountpoint)
                    or PurePosixPath(e.mountpoint) in pure.parents)]
    if not holders:
        return None
    mount = max(holders, key=lambda e: len(PurePosixPath(e.mountpoint).parts))
    booted = _fstab_mount_point(storage, {mount.filesystem})
    if booted is None:
        return None
    return str(PurePosixPath(booted) / pure.relative_to(mount.mountpoint))


def dataset_place(runner: Runner, dataset: str, target_root: str) -> tuple[str, str] | str:
    """(mount point on the host, directory here) of a rebuilt ZFS dataset, or why not.

    The mount point on the host is the directory with the target root taken
    off, which is what the dataset's ``mountpoint`` property says once the
    pool is imported without an altroot.
    """
    try:
        listed = list_filesystems(runner, dataset, recursive=True)  # the jobs' own query
    except RuntimeFailure as exc:
        return (f"{dataset} is not on this machine ({exc}): create or import its pool under "
                f"the target first (zpool import -R {target_root})")
    mine = [d for d in listed if d.name == dataset]
    if not mine or not mine[0].mountpoint.startswith("/"):
        how = mine[0].mountpoint if mine else "not listed"
        return (f"{dataset} has mountpoint {how}: restore data needs it mounted under "
                f"{target_root} (zfs set mountpoint, or zpool import -R {target_root})")
    directory = mine[0].mountpoint
    root = PurePosixPath(target_root)
    place = PurePosixPath(directory)
    if root != PurePosixPath("/") and root != place and root not in place.parents:
        return (f"{dataset} is mounted at {directory}, outside the target {target_root}: "
                f"import its pool with zpool import -R {target_root}")
    relative = str(place.relative_to(root))
    return ("/" if relative == "." else f"/{relative}"), directory


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
