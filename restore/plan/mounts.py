"""Which restored filesystems get mounted where under the target root, in what order.

fstab is the authority (it is what the host mounts at boot): its lines are
taken in file order, a line that names a restored filesystem is mounted
under the target root with its options, except options that only make sense
at boot (``noauto``, ``nofail``, ``x-systemd.*``...) or would stop a data
restore (``ro``).  A parent must be mounted before what sits inside it, so a
line that comes before its parent in fstab waits for it; otherwise fstab's
order is kept.  Without fstab lines, the mounts seen at capture are used.
Each mount is one step (``mkdir -p`` and ``mount``), after every filesystem.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from hostbook.manifest.sections.storage import BtrfsDetails, FilesystemEntry
from hostbook.restore.plan.context import Planning
from hostbook.restore.plan.layout import StorageView
from hostbook.restore.plan.steps import Command, DoneCheck, Step

# Options dropped from fstab when mounting for the restore.
BOOT_ONLY = frozenset({"defaults", "noauto", "auto", "nofail", "user", "users", "owner",
                       "group", "_netdev", "ro", "rw", "sw"})
BOOT_ONLY_PREFIXES = ("x-systemd.", "x-gvfs-", "x-initrd.", "comment=", "x-mount.")
MOUNTABLE = ("ext2", "ext3", "ext4", "xfs", "btrfs", "vfat")
BLOCK_SPECS = ("UUID=", "LABEL=", "PARTUUID=", "PARTLABEL=", "/dev/")


@dataclass(frozen=True)
class PlannedMount:
    """One mount of a restored filesystem under the target root."""

    mountpoint: str  # as on the host, e.g. /home
    path: str  # under the target root, e.g. /mnt/target/home
    filesystem: str  # entry id
    fstype: str
    options: str  # for mount -o ('' for none)
    subvolume: str | None
    source: str  # "fstab" or "captured mounts"


def restore_options(options: str, fs: FilesystemEntry) -> tuple[str, str | None]:
    """fstab options minus boot-only ones; subvolid= becomes subvol= when known."""
    kept: list[str] = []
    subvolume: str | None = None
    for option in (o.strip() for o in options.split(",")):
        if not option or option in BOOT_ONLY or option.startswith(BOOT_ONLY_PREFIXES):
            continue
        if option.startswith("subvolid=") and fs.btrfs is not None:
            path = _subvolume_path(fs.btrfs, option.split("=", 1)[1])
            if path is not None:
                option = f"subvol={path}"
        if option.startswith("subvol="):
            subvolume = option.split("=", 1)[1].lstrip("/")
        kept.append(option)
    return ",".join(kept), subvolume


def _subvolume_path(btrfs: BtrfsDetails, ident: str) -> str | None:
    if not ident.isdigit():
        return None
    for sub in btrfs.subvolumes:
        if sub.id == int(ident):
            return sub.path
    return None


def under(root: str, mountpoint: str) -> str:
    """``/mnt/target`` + ``/home`` -> ``/mnt/target/home``; ``/`` -> the root itself."""
    clean = posixpath.normpath("/" + mountpoint.lstrip("/"))
    return root if clean == "/" else root.rstrip("/") + clean


def plan_mounts(view: StorageView, restored: set[str], root: str) -> tuple[
        list[PlannedMount], list[str]]:
    """Mounts for the restored filesystems, in the order to mount them; plus notes."""
    notes: list[str] = []
    chosen: list[PlannedMount] = []
    seen: set[str] = set()
    lines = view.document.fstab.entries
    for line in lines:
        if line.fstype in ("swap", "none") or line.mountpoint in ("none", "swap"):
            continue
        fs = view.get(line.target) if line.target else None
        if not isinstance(fs, FilesystemEntry):
            if line.target is None and line.spec.startswith(BLOCK_SPECS):
                notes.append(f"fstab {line.mountpoint}: {line.spec} names nothing in "
                             "storage.yaml; not mounted")
            continue
        if fs.id not in restored:
            continue
        if fs.fstype not in MOUNTABLE or line.mountpoint in seen:
            continue
        options, subvolume = restore_options(line.options, fs)
        chosen.append(PlannedMount(line.mountpoint, under(root, line.mountpoint), fs.id,
                                   fs.fstype, options, subvolume, "fstab"))
        seen.add(line.mountpoint)
    if not chosen:
        for mount in sorted(view.mounts(), key=lambda m: m.mountpoint):
            fs = view.get(mount.filesystem) if mount.filesystem else None
            if not isinstance(fs, FilesystemEntry) or fs.id not in restored:
                continue
            if fs.fstype not in MOUNTABLE or mount.mountpoint in seen:
                continue
            options = f"subvol={mount.subvolume}" if mount.subvolume else ""
            chosen.append(PlannedMount(mount.mountpoint, under(root, mount.mountpoint), fs.id,
                                       fs.fstype, options, mount.subvolume, "captured mounts"))
            seen.add(mount.mountpoint)
        if chosen:
            notes.append("no fstab lines name the restored filesystems; mounting as captured")
    return _parents_first(chosen), notes


def _inside(parent: str, child: str) -> bool:
    parent = posixpath.normpath(parent)
    child = posixpath.normpath(child)
    return parent != child and (parent == "/" or child.startswith(parent + "/"))


def _parents_first(mounts: list[PlannedMount]) -> list[PlannedMount]:
    """fstab order, except that a mount waits for every mount it sits inside."""
    pending = list(mounts)
    ordered: list[PlannedMount] = []
    while pending:
        ready = next(m for m in pending
                     if not any(_inside(o.mountpoint, m.mountpoint) for o in pending))
        ordered.append(ready)
        pending.remove(ready)
    return ordered


def plan_mount_steps(ctx: Planning, mounts: list[PlannedMount]) -> None:
    for mount in mounts:
        fs = ctx.view.get(mount.filesystem)
        assert isinstance(fs, FilesystemEntry)
        device = ctx.path(fs.device)
        argv = ["mount", "-t", mount.fstype]
        if mount.options:
            argv += ["-o", mount.options]
        ctx.add(Step(
            id=f"mount:{mount.mountpoint}", layer="mount",
            summary=f"mount {device} on {mount.path}"
                    + (f" ({mount.options})" if mount.options else ""),
            commands=(Command(("mkdir", "-p", mount.path)),
                      Command((*argv, device, mount.path))),
            devices=(device,), destructive=False,
            done=DoneCheck("mounted", device, {"path": mount.path}),
        ))
