"""The mkfs/mkswap command lines that recreate a recorded filesystem.

Each builder turns the recorded superblock facts back into the creating
tool's options: same UUID and label, same block and inode sizes, same
feature set (ext: ``-O none,<features>`` sets exactly the recorded ones),
same XFS geometry, same btrfs profiles and features, same FAT serial.  The
size is given explicitly when the device keeps its recorded size (so a
filesystem that did not fill its device does not either), and left to the
tool when the device was resized.  What cannot be reproduced is returned
as a problem (the plan refuses) or a note (the plan says what differs).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hostbook.manifest.sections.storage import FilesystemEntry, SwapEntry
from hostbook.restore.plan.steps import Command
from hostbook.restore.units import MIB

EXT_TYPES = ("ext2", "ext3", "ext4")
SUPPORTED = (*EXT_TYPES, "xfs", "btrfs", "vfat")
# Default mount options mke2fs.conf commonly sets; cleared when not recorded.
EXT_DEFAULT_MOUNT_OPTIONS = ("acl", "user_xattr")
EXT_ERRORS = {"continue": "continue", "remount read-only": "remount-ro", "panic": "panic"}
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


@dataclass
class MkfsPlan:
    """Commands that make one filesystem, plus what the plan must say about it."""

    commands: list[Command] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


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


def ext_commands(entry: FilesystemEntry, device: str, exact: bool) -> MkfsPlan:
    plan = MkfsPlan()
    ext = entry.ext
    if ext is None:
        plan.problems.append(f"{describe(entry)}: no ext superblock facts recorded")
        return plan
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
        plan.problems.append(
            f"{describe(entry)}: external journal {ext.journal_device} is not recreated"
        )
    elif "has_journal" in ext.features and ext.journal_size:
        if ext.journal_size % MIB == 0:
            argv += ["-J", f"size={ext.journal_size // MIB}"]
        else:
            plan.notes.append(f"{describe(entry)}: journal size left to mke2fs")
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
    plan.commands.append(Command(tuple(argv)))
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
        plan.commands.append(Command((*tune, device)))
    return plan


def xfs_commands(entry: FilesystemEntry, device: str, exact: bool) -> MkfsPlan:
    plan = MkfsPlan()
    xfs = entry.xfs
    if xfs is None:
        plan.problems.append(f"{describe(entry)}: no XFS geometry recorded")
        return plan
    if not xfs.log_internal:
        plan.problems.append(f"{describe(entry)}: external log device is not recreated")
    if xfs.realtime not in (None, "none"):
        plan.problems.append(f"{describe(entry)}: realtime device is not recreated")
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
    plan.commands.append(Command(tuple(argv)))
    return plan


def btrfs_commands(entry: FilesystemEntry, devices: list[str], sizes: list[int | None]
                   ) -> MkfsPlan:
    plan = MkfsPlan()
    btrfs = entry.btrfs
    argv = ["mkfs.btrfs", "-f", "-q"]
    if entry.uuid:
        argv += ["-U", entry.uuid]
    if entry.label:
        argv += ["-L", entry.label]
    if btrfs is None:
        plan.notes.append(f"{describe(entry)}: no btrfs details recorded; mkfs defaults")
        plan.commands.append(Command((*argv, *devices)))
        return plan
    if btrfs.node_size:
        argv += ["-n", str(btrfs.node_size)]
    if btrfs.sector_size:
        argv += ["-s", str(btrfs.sector_size)]
    if btrfs.checksum:
        argv += ["--csum", btrfs.checksum]
    for option, profile in (("-d", btrfs.data_profile), ("-m", btrfs.metadata_profile)):
        if profile:
            chosen = profile.split(",")[0]
            if "," in profile:
                plan.notes.append(f"{describe(entry)}: was converting ({profile}); made {chosen}")
            argv += [option, chosen]
    recorded = {f.upper() for f in btrfs.features}
    wanted = {BTRFS_FEATURES[f] for f in recorded if f in BTRFS_FEATURES}
    unknown = sorted(f for f in recorded if f not in BTRFS_FEATURES and f not in BTRFS_IMPLIED)
    if unknown:
        plan.notes.append(
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
    plan.commands.append(Command((*argv, *devices)))
    return plan


def vfat_commands(entry: FilesystemEntry, device: str) -> MkfsPlan:
    plan = MkfsPlan()
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
    plan.commands.append(Command(tuple(argv)))
    return plan


def swap_commands(entry: SwapEntry, device: str) -> MkfsPlan:
    plan = MkfsPlan()
    argv = ["mkswap", "-f"]
    if entry.uuid:
        argv += ["-U", entry.uuid]
    else:
        plan.notes.append(f"{describe(entry)}: no UUID recorded; mkswap makes a new one")
    if entry.label:
        argv += ["-L", entry.label]
    if entry.page_size and entry.page_size != 4096:
        argv += ["-p", str(entry.page_size)]
    argv.append(device)
    plan.commands.append(Command(tuple(argv)))
    return plan


def blkid_expect(entry: FilesystemEntry | SwapEntry) -> dict[str, str]:
    """What ``blkid -p`` shows once the filesystem exists (the done-check)."""
    expect = {"TYPE": entry.fstype if isinstance(entry, FilesystemEntry) else "swap"}
    if entry.uuid:
        expect["UUID"] = entry.uuid
    return expect
