"""btrfs: one filesystem over its devices, then its subvolumes, default and quotas.

``mkfs.btrfs`` gets the recorded UUID, label, node and sector size,
checksum, data and metadata profiles and features (``-O`` sets exactly the
recorded ones; runtime flags are left out), over every member device, with
``-b`` where btrfs used less of each device than it had.  The subvolumes are
then created under the top level (mounted at a work directory for it),
read-only ones marked so, the default subvolume set and quotas enabled.
"""

from __future__ import annotations

import posixpath

from hostbook.manifest.sections.storage import FilesystemEntry
from hostbook.restore.plan.context import Built, Planning, options
from hostbook.restore.plan.filesystems import add_filesystem, describe
from hostbook.restore.plan.steps import Command, DoneCheck, Step

WORK_DIR = "/run/hostbook-restore"
"""Where the top level of each btrfs is mounted while its subvolumes are made."""

# btrfs superblock feature names -> mkfs.btrfs -O names (btrfs-progs 6.x).
BTRFS_FEATURES = {
    "EXTENDED_IREF": "extref",
    "SKINNY_METADATA": "skinny-metadata",
    "NO_HOLES": "no-holes",
    "RAID56": "raid56",
    "RAID1C34": "raid1c34",
    "MIXED_GROUPS": "mixed-bg",
    "ZONED": "zoned",
}
BTRFS_DEFAULT_FEATURES = ("extref", "skinny-metadata", "no-holes")
# Feature flags the kernel sets at run time (or that follow from other options).
BTRFS_IMPLIED = frozenset({
    "MIXED_BACKREF", "BIG_METADATA", "DEFAULT_SUBVOL", "COMPRESS_LZO", "COMPRESS_ZSTD",
    "FREE_SPACE_TREE", "FREE_SPACE_TREE_VALID", "VERITY", "METADATA_UUID",
})


def btrfs_commands(entry: FilesystemEntry, devices: list[str], sizes: list[int | None]
                   ) -> Built:
    built = Built()
    btrfs = entry.btrfs
    argv = ["mkfs.btrfs", "-f", "-q"]
    if entry.uuid:
        argv += ["-U", entry.uuid]
    if entry.label:
        argv += ["-L", entry.label]
    if btrfs is None:
        built.notes.append(f"{describe(entry)}: no btrfs details recorded; mkfs defaults")
        built.commands.append(Command((*argv, *devices)))
        return built
    argv += options(("-n", btrfs.node_size), ("-s", btrfs.sector_size),
                    ("--csum", btrfs.checksum))
    for option, profile in (("-d", btrfs.data_profile), ("-m", btrfs.metadata_profile)):
        if profile:
            chosen = profile.split(",")[0]
            if "," in profile:
                built.notes.append(f"{describe(entry)}: was converting ({profile}); made {chosen}")
            argv += [option, chosen]
    recorded = {f.upper() for f in btrfs.features}
    wanted = {BTRFS_FEATURES[f] for f in recorded if f in BTRFS_FEATURES}
    unknown = sorted(f for f in recorded if f not in BTRFS_FEATURES and f not in BTRFS_IMPLIED)
    if unknown:
        built.notes.append(
            f"{describe(entry)}: features {', '.join(unknown).lower()} left to mkfs")
    features = sorted(wanted) + [f"^{f}" for f in BTRFS_DEFAULT_FEATURES if f not in wanted]
    if "mixed-bg" in wanted:
        argv.append("-M")
        features.remove("mixed-bg")
    if features:
        argv += ["-O", ",".join(features)]
    runtime = "free-space-tree" if "FREE_SPACE_TREE" in recorded else "^free-space-tree"
    argv += ["-R", runtime]
    known = [s for s in sizes if s is not None]
    if len(known) == len(devices) and known and len(set(known)) == 1:
        argv += ["-b", str(known[0])]
    built.commands.append(Command((*argv, *devices)))
    return built


def plan_btrfs(ctx: Planning, fs: FilesystemEntry) -> None:
    """The filesystem over its members (the first names it), then its subvolume tree."""
    members = [d.device for d in (fs.btrfs.devices if fs.btrfs else []) if d.device]
    members = members or [fs.device]
    paths = [ctx.path(m) for m in members]
    add_filesystem(ctx, fs, paths[0], btrfs_commands(fs, paths, _member_sizes(ctx, fs, members)))
    if fs.btrfs is not None:
        _subvolume_tree(ctx, fs, paths[0])


def _member_sizes(ctx: Planning, fs: FilesystemEntry, members: list[str]) -> list[int | None]:
    """Per member, the size btrfs had on it when smaller than the device (-b)."""
    sizes: list[int | None] = []
    for member in members:
        recorded = next((d.size for d in fs.btrfs.devices if d.device == member), None
                        ) if fs.btrfs else None
        device = ctx.view.get(member)
        device_size = getattr(device, "size", None)
        smaller = (recorded is not None and device_size is not None
                   and recorded < device_size and member not in ctx.sizing.resized)
        sizes.append(recorded if smaller else None)
    return sizes


def _subvolume_tree(ctx: Planning, fs: FilesystemEntry, device: str) -> None:
    btrfs = fs.btrfs
    assert btrfs is not None
    subvolumes = [s for s in sorted(btrfs.subvolumes, key=lambda s: s.id) if s.path]
    default = next((s.path for s in btrfs.subvolumes
                    if s.id == btrfs.default_subvolume and s.path), None)
    if not subvolumes and not btrfs.quota and default is None:
        return
    top = f"{WORK_DIR}/btrfs-{fs.uuid}"
    ctx.add(Step(
        id=f"btrfs-top:{fs.uuid}", layer="subvolume",
        summary=f"mount the top level of btrfs {fs.label or fs.uuid} at {top}",
        commands=(Command(("mkdir", "-p", top)),
                  Command(("mount", "-t", "btrfs", "-o", "subvolid=5", device, top))),
        devices=(device,), destructive=False,
        done=DoneCheck("mounted", device, {"path": top}),
    ))
    for sub in subvolumes:
        assert sub.path is not None
        where = f"{top}/{sub.path}"
        commands = []
        parent = posixpath.dirname(sub.path)
        if parent:
            commands.append(Command(("mkdir", "-p", f"{top}/{parent}")))
        commands.append(Command(("btrfs", "subvolume", "create", where)))
        if sub.readonly:
            commands.append(Command(("btrfs", "property", "set", "-ts", where, "ro", "true")))
        ctx.add(Step(
            id=f"subvolume:{fs.uuid}:{sub.path}", layer="subvolume",
            summary=f"create subvolume {sub.path}" + (" (read-only)" if sub.readonly else ""),
            commands=tuple(commands), devices=(device,),
            done=DoneCheck("subvolume", device, {"path": where}),
        ))
    if default is not None:
        ctx.add(Step(
            id=f"btrfs-default:{fs.uuid}", layer="subvolume",
            summary=f"make {default} the default subvolume",
            commands=(Command(("btrfs", "subvolume", "set-default", f"{top}/{default}")),),
            devices=(device,),
            done=DoneCheck("default-subvolume", device, {"top": top, "path": default}),
        ))
    if btrfs.quota:
        ctx.add(Step(
            id=f"btrfs-quota:{fs.uuid}", layer="subvolume", summary="enable quota groups",
            commands=(Command(("btrfs", "quota", "enable", top)),), devices=(device,),
            destructive=False, done=DoneCheck("never"),
        ))
    ctx.add(Step(
        id=f"btrfs-top-off:{fs.uuid}", layer="subvolume",
        summary=f"unmount {top}", commands=(Command(("umount", top)),),
        devices=(device,), destructive=False,
        done=DoneCheck("unmounted", device, {"path": top}),
    ))
