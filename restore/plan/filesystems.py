"""The mkfs/mkswap command lines that recreate a recorded filesystem.

Each builder turns the recorded superblock facts back into the creating
tool's options: same UUID and label, same block and inode sizes, same
feature set (ext: ``-O none,<features>`` sets exactly the recorded ones),
same XFS geometry, same btrfs profiles and features, same FAT serial.  The
size is given explicitly when the device keeps its recorded size (so a
filesystem that did not fill its device does not either), and left to the
tool when the device was resized.  What cannot be reproduced is returned
as a problem (the plan refuses) or a note (the plan says what differs).
btrfs, with its several devices and its subvolumes, is
:mod:`hostbook.restore.plan.btrfs`; swap is made here too.
"""

from __future__ import annotations

from hostbook.manifest.sections.storage import FilesystemEntry, SwapEntry
from hostbook.restore.plan.context import Built, Planning
from hostbook.restore.plan.signatures import signature_check
from hostbook.restore.plan.steps import Command, Step
from hostbook.restore.units import MIB, human

EXT_TYPES = ("ext2", "ext3", "ext4")
SUPPORTED = (*EXT_TYPES, "xfs", "btrfs", "vfat")
# Default mount options mke2fs.conf commonly sets; cleared when not recorded.
EXT_DEFAULT_MOUNT_OPTIONS = ("acl", "user_xattr")
EXT_ERRORS = {"continue": "continue", "remount read-only": "remount-ro", "panic": "panic"}
def describe(entry: FilesystemEntry | SwapEntry) -> str:
    kind = entry.fstype if isinstance(entry, FilesystemEntry) else "swap"
    name = entry.label or entry.uuid or entry.id
    return f"{kind} {name}"


def check_sector(entry: FilesystemEntry, device_sector: int) -> str | None:
    """Why ``entry`` cannot live on a device with ``device_sector``-byte sectors, if so."""
    smallest: int | None = None
    what = ""
    if entry.ext is not None:
        smallest, what = entry.ext.block_size, "block size"
    elif entry.xfs is not None:
        smallest, what = entry.xfs.sector_size, "sector size"
    elif entry.vfat is not None and entry.vfat.sector_size:
        smallest, what = entry.vfat.sector_size, "sector size"
    elif entry.btrfs is not None and entry.btrfs.sector_size:
        smallest, what = entry.btrfs.sector_size, "sector size"
    if smallest is not None and smallest < device_sector:
        return (f"{describe(entry)}: recorded {what} {smallest} is below the target device's "
                f"{device_sector}-byte logical sectors")
    return None


def missing_facts(entry: FilesystemEntry) -> str | None:
    """What the capture did not record that making ``entry`` again needs, or None."""
    if entry.fstype in EXT_TYPES and entry.ext is None:
        return "ext superblock facts"
    if entry.fstype == "xfs" and entry.xfs is None:
        return "XFS geometry"
    return None


def ext_commands(entry: FilesystemEntry, device: str, exact: bool) -> Built:
    built = Built()
    ext = entry.ext
    if ext is None:
        built.problems.append(f"{describe(entry)}: no ext superblock facts recorded")
        return built
    argv = ["mke2fs", "-F", "-q", "-t", entry.fstype]
    if entry.uuid:
        argv += ["-U", entry.uuid]
    if entry.label:
        argv += ["-L", entry.label]
    argv += ["-b", str(ext.block_size)]
    if ext.revision == "0":
        argv += ["-r", "0"]
    else:
        argv += ["-O", ",".join(["none", *ext.features])]
        if ext.inode_size:
            argv += ["-I", str(ext.inode_size)]
    if exact:
        argv += ["-N", str(ext.inode_count)]
    elif ext.bytes_per_inode:
        argv += ["-i", str(ext.bytes_per_inode)]
    argv += ["-m", f"{ext.reserved_percent:g}"]
    if ext.blocks_per_group and ext.blocks_per_group != 8 * ext.block_size:
        argv += ["-g", str(ext.blocks_per_group)]
    if "flex_bg" in ext.features and ext.flex_bg_size and ext.flex_bg_size != 16:
        argv += ["-G", str(ext.flex_bg_size)]
    if ext.journal_device:
        built.problems.append(
            f"{describe(entry)}: external journal {ext.journal_device} is not recreated"
        )
    elif "has_journal" in ext.features and ext.journal_size:
        if ext.journal_size % MIB == 0:
            argv += ["-J", f"size={ext.journal_size // MIB}"]
        else:
            built.notes.append(f"{describe(entry)}: journal size left to mke2fs")
    extended = []
    if ext.raid_stride:
        extended.append(f"stride={ext.raid_stride}")
    if ext.raid_stripe_width:
        extended.append(f"stripe_width={ext.raid_stripe_width}")
    if extended:
        argv += ["-E", ",".join(extended)]
    errors = EXT_ERRORS.get((ext.errors_behavior or "").lower())
    if errors:
        argv += ["-e", errors]
    argv.append(device)
    if exact:
        argv.append(str(ext.block_count))
    built.commands.append(Command(tuple(argv)))
    tune = ["tune2fs"]
    if ext.max_mount_count is not None:
        tune += ["-c", str(ext.max_mount_count)]
    if ext.check_interval is not None:
        tune += ["-i", f"{ext.check_interval}s"]
    if ext.reserved_uid is not None:
        tune += ["-u", str(ext.reserved_uid)]
    if ext.reserved_gid is not None:
        tune += ["-g", str(ext.reserved_gid)]
    wanted = list(ext.default_mount_options)
    cleared = [f"^{o}" for o in EXT_DEFAULT_MOUNT_OPTIONS if o not in wanted]
    if wanted or cleared:
        tune += ["-o", ",".join([*wanted, *cleared])]
    tune_ext = []
    if ext.hash_algorithm:
        tune_ext.append(f"hash_alg={ext.hash_algorithm}")
    if ext.mount_options:
        tune_ext.append(f"mount_opts={ext.mount_options}")
    if tune_ext:
        tune += ["-E", ",".join(tune_ext)]
    if len(tune) > 1 and ext.revision != "0":
        built.commands.append(Command((*tune, device)))
    return built


def xfs_commands(entry: FilesystemEntry, device: str, exact: bool) -> Built:
    built = Built()
    xfs = entry.xfs
    if xfs is None:
        built.problems.append(f"{describe(entry)}: no XFS geometry recorded")
        return built
    if not xfs.log_internal:
        built.problems.append(f"{describe(entry)}: external log device is not recreated")
    if xfs.realtime not in (None, "none"):
        built.problems.append(f"{describe(entry)}: realtime device is not recreated")
    features = dict(xfs.features)
    crc = features.get("crc", 1)
    meta = [f"uuid={entry.uuid}"] if entry.uuid else []
    meta += [f"{k}={features[k]}" for k in ("crc", "finobt", "rmapbt", "reflink", "bigtime",
                                            "inobtcount") if k in features and (
        crc or k == "crc")]
    inode = [f"size={xfs.inode_size}"]
    if xfs.imaxpct is not None:
        inode.append(f"maxpct={xfs.imaxpct}")
    if crc:
        inode += [f"{k}={features[k]}" for k in ("sparse", "nrext64") if k in features]
    else:
        inode += [f"{k}={features[k]}" for k in ("attr", "projid32bit") if k in features]
    naming = []
    if xfs.directory_block_size:
        naming.append(f"size={xfs.directory_block_size}")
    naming.append("version=ci" if xfs.ascii_ci else "version=2")
    if not crc and xfs.ftype is not None:
        naming.append(f"ftype={int(xfs.ftype)}")
    log = []
    if xfs.log_size:
        log.append(f"size={xfs.log_size}")
    if xfs.log_version:
        log.append(f"version={xfs.log_version}")
    if xfs.log_sunit:
        log.append(f"sunit={xfs.log_sunit * (xfs.log_block_size or xfs.block_size) // 512}")
    if xfs.lazy_count is not None:
        log.append(f"lazy-count={int(xfs.lazy_count)}")
    data = []
    if exact:
        data += [f"agcount={xfs.ag_count}", f"size={xfs.data_blocks * xfs.block_size}"]
    if xfs.sunit and xfs.swidth:
        data += [f"sunit={xfs.sunit * xfs.block_size // 512}",
                 f"swidth={xfs.swidth * xfs.block_size // 512}"]
    argv = ["mkfs.xfs", "-f", "-q", "-m", ",".join(meta)]
    if entry.label:
        argv += ["-L", entry.label]
    argv += ["-b", f"size={xfs.block_size}", "-s", f"size={xfs.sector_size}",
             "-i", ",".join(inode), "-n", ",".join(naming)]
    if log:
        argv += ["-l", ",".join(log)]
    if data:
        argv += ["-d", ",".join(data)]
    argv.append(device)
    built.commands.append(Command(tuple(argv)))
    return built


def vfat_commands(entry: FilesystemEntry, device: str) -> Built:
    built = Built()
    argv = ["mkfs.fat"]
    vfat = entry.vfat
    if vfat is not None and vfat.fat_size:
        argv += ["-F", str(vfat.fat_size)]
    if vfat is not None and vfat.sector_size:
        argv += ["-S", str(vfat.sector_size)]
    if entry.uuid:
        argv += ["-i", entry.uuid.replace("-", "")]
    if entry.label:
        argv += ["-n", entry.label]
    argv.append(device)
    built.commands.append(Command(tuple(argv)))
    return built


def swap_commands(entry: SwapEntry, device: str) -> Built:
    built = Built()
    argv = ["mkswap", "-f"]
    if entry.uuid:
        argv += ["-U", entry.uuid]
    else:
        built.notes.append(f"{describe(entry)}: no UUID recorded; mkswap makes a new one")
    if entry.label:
        argv += ["-L", entry.label]
    if entry.page_size and entry.page_size != 4096:
        argv += ["-p", str(entry.page_size)]
    argv.append(device)
    built.commands.append(Command(tuple(argv)))
    return built


def plan_filesystem(ctx: Planning, fs: FilesystemEntry) -> None:
    """An ext, XFS or FAT filesystem on its device (btrfs: see its own module)."""
    device = ctx.path(fs.device)
    exact = fs.device not in ctx.sizing.resized
    if fs.fstype in EXT_TYPES:
        built = ext_commands(fs, device, exact)
    elif fs.fstype == "xfs":
        built = xfs_commands(fs, device, exact)
    else:
        built = vfat_commands(fs, device)
    add_filesystem(ctx, fs, device, built)


def add_filesystem(ctx: Planning, fs: FilesystemEntry, device: str, built: Built) -> None:
    """The step that makes ``fs`` on ``device``, refused where its sectors cannot fit."""
    problem = check_sector(fs, ctx.sizing.sector.get(fs.device, 512))
    if problem:
        ctx.problems.append(problem)
    exact = fs.device not in ctx.sizing.resized
    what = f"{fs.fstype} {fs.label!r}" if fs.label else fs.fstype
    size = ctx.sizing.planned.get(fs.id)
    ctx.add(Step(
        id=fs.id, layer="filesystem",
        summary=f"make {what} on {device} (UUID {fs.uuid})"
                + (f", {human(size)}" if size and not exact else ""),
        commands=ctx.take(built), devices=(device,),
        done=signature_check(device, fs),
    ))


def plan_swap(ctx: Planning, swap: SwapEntry) -> None:
    device = ctx.path(swap.device)
    ctx.add(Step(
        id=swap.id, layer="swap",
        summary=f"make swap on {device} (UUID {swap.uuid})",
        commands=ctx.take(swap_commands(swap, device)), devices=(device,),
        done=signature_check(device, swap),
    ))
