"""The `storage` section (captured): every layer from disk to mount.

The restore must be able to recreate each layer with the same identities
(partition table GUIDs, filesystem UUIDs, LVM and md UUIDs, LUKS parameters)
from this file alone, so it records what each creating tool needs and nothing
that changes while the host runs (free space, mount counts, device numbers).

Shape: a flat list of typed ``entries``, each with a stable ``id`` and
references to the entries it is built on (``disk``, ``device``, ``devices``,
``members``, ``pvs``, ``vg``, ``pool``, ``origin``, ``filesystem``).  The restore
planner orders its steps by those references (:func:`entry_references`), not by
file order.  Ids:

- ``disk:<key>``: key is a ``/dev/disk/by-id`` name (``virtio-SERIAL``,
  ``ata-MODEL_SERIAL``, ``wwn-...``), else a serial/WWID from sysfs, else the
  kernel name.
- ``loop:<backing file>``; partitions: ``<parent id>-part<N>`` (as by-id does).
- ``md:<array uuid>``, ``luks:<uuid>``, ``crypt:<mapping name>``, ``dm:<name>``.
- ``pv:<pv uuid>``, ``vg:<vg name>``, ``lv:<vg>/<lv>``.
- ``fs:<device id>`` and ``swap:<device id>``: a filesystem is identified by the
  device it lives on (its UUID is a field), so a snapshot or clone carrying
  the same UUID never collides.
- ``mount:<mountpoint>``.

Never written: keys, passphrases, LUKS salts or digests, token contents.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from hostbook.manifest import names
from hostbook.manifest.model import Record, SectionDocument, fail_at
from hostbook.manifest.partition_table import table_script


def _sector_size(value: int) -> int:
    if value < 512 or value > 1 << 20 or value & (value - 1):
        raise ValueError("a sector size is a power of two from 512 to 1048576 bytes")
    return value


def _pattern(pattern: re.Pattern[str], what: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


def _name_rule(rule: Callable[[str, str], str | None], kind: str) -> AfterValidator:
    def check(value: str) -> str:
        problem = rule(kind, value)
        if problem:
            raise ValueError(problem)
        return value

    return AfterValidator(check)


# Sizes, offsets and counts the restore computes with: never negative; a
# device, partition or LV of no bytes is not something capture records.
Bytes = Annotated[int, Field(ge=0)]
PositiveBytes = Annotated[int, Field(gt=0)]
SectorSize = Annotated[int, AfterValidator(_sector_size)]
Lba = Annotated[int, Field(ge=0)]
KernelName = Annotated[str, _pattern(names.KERNEL_NAME, "a kernel device name")]
UuidText = Annotated[str, _pattern(names.UUID_TEXT, "a UUID")]
LvmName = Annotated[str, _name_rule(names.lvm_name_problem, "LVM")]
DeviceName = Annotated[str, _name_rule(names.device_name_problem, "device")]

# ---------------------------------------------------------------------------
# Disks, loops and partition tables
# ---------------------------------------------------------------------------


class PartitionTable(Record):
    """A partition table header: what the first lines of ``sfdisk --dump`` say.

    Together with the partition entries that name this device as their
    ``disk``, it is enough to write the table back with sfdisk exactly
    (see :func:`sfdisk_script`).
    """

    type: Literal["gpt", "dos"] = Field(description="sfdisk label: gpt or dos (MBR)")
    id: str | None = Field(
        None, description="GPT disk GUID or MBR disk signature (0x...), as sfdisk prints it"
    )
    unit: Literal["sectors"] = Field("sectors", description="sfdisk unit; always sectors")
    sector_size: SectorSize = Field(description="logical sector size the table was written with")
    first_lba: Lba | None = Field(None, description="GPT first usable LBA")
    last_lba: Lba | None = Field(None, description="GPT last usable LBA")
    table_length: Annotated[int, Field(ge=1, le=65536)] | None = Field(
        None, description="GPT partition entry array length when not the default 128"
    )

    @model_validator(mode="after")
    def _table_id(self) -> PartitionTable:
        pattern = names.GUID if self.type == "gpt" else names.MBR_ID
        if self.id is not None and not pattern.fullmatch(self.id):
            kind = "a GUID" if self.type == "gpt" else "a disk signature such as 0x5eed1234"
            raise fail_at([(("id",), f"{self.id!r}: a {self.type} table id is {kind}")])
        return self


class DiskEntry(Record):
    """A whole disk (physical or virtual) and how to recognise it again."""

    id: str
    type: Literal["disk"] = "disk"
    name: KernelName = Field(
        description="kernel name, e.g. sda, nvme0n1 (may change between boots)")
    size: PositiveBytes = Field(description="size in bytes")
    logical_sector_size: SectorSize
    physical_sector_size: SectorSize
    rotational: bool
    removable: bool
    read_only: bool = False
    model: str | None = None
    vendor: str | None = None
    serial: str | None = None
    wwn: str | None = Field(None, description="World Wide Name or WWID, when the device has one")
    transport: str | None = Field(None, description="bus the disk hangs on (ata, nvme, usb, ...)")
    by_id: list[str] = Field(default_factory=list, description="/dev/disk/by-id link names")
    by_path: str | None = Field(None, description="/dev/disk/by-path link name")
    table: PartitionTable | None = None


class LoopEntry(Record):
    """An attached loop device and its backing file."""

    id: str
    type: Literal["loop"] = "loop"
    name: KernelName = Field(description="kernel name, e.g. loop0")
    size: PositiveBytes
    logical_sector_size: SectorSize
    physical_sector_size: SectorSize
    backing_file: str | None = None
    offset: Bytes = Field(0, description="offset into the backing file, bytes")
    size_limit: Bytes = Field(0, description="size limit in bytes; 0 means the whole file")
    read_only: bool = False
    autoclear: bool = False
    partscan: bool = False
    table: PartitionTable | None = None


class PartitionEntry(Record):
    """One partition of a table; numbers, offsets and sizes exactly as written."""

    id: str
    type: Literal["partition"] = "partition"
    name: str | None = Field(None, description="kernel name, e.g. sda1")
    disk: str = Field(description="id of the disk (or loop/md) holding the table")
    number: Annotated[int, Field(ge=1, le=65536)]
    start: Bytes = Field(description="start offset in bytes")
    size: PositiveBytes = Field(description="size in bytes")
    partition_type: str = Field(
        description="GPT type GUID (upper case) or MBR type byte in hex (e.g. 83), as sfdisk writes"
    )
    type_name: str | None = Field(None, description="well-known name of the type, for readers")
    uuid: str | None = Field(
        None,
        description="GPT partition GUID (upper case); on MBR the PARTUUID the kernel derives "
        "(<disk signature>-<number in hex>), which follows from the table id",
    )
    label: str | None = Field(None, description="GPT partition name")
    attributes: str | None = Field(None, description="GPT attribute bits as sfdisk writes them")
    bootable: bool = Field(False, description="MBR active flag")
    kind: Literal["primary", "extended", "logical"] | None = Field(
        None, description="MBR partitions only"
    )

    @model_validator(mode="after")
    def _sfdisk_fields(self) -> PartitionEntry:
        """Every field sfdisk's input carries, in the forms sfdisk prints them.

        The restore writes them into sfdisk's input one partition per line
        (and the script through a heredoc), so nothing may break a line.
        """
        problems: list[tuple[tuple[str | int, ...], str]] = []
        if not (names.GUID.fullmatch(self.partition_type)
                or names.MBR_TYPE.fullmatch(self.partition_type)):
            problems.append((("partition_type",), f"{self.partition_type!r} is neither a GPT "
                             "type GUID nor an MBR type byte in hex"))
        if self.uuid is not None and not (names.GUID.fullmatch(self.uuid)
                                          or names.MBR_PARTUUID.fullmatch(self.uuid)):
            problems.append((("uuid",), f"{self.uuid!r} is neither a GPT partition GUID "
                             "nor an MBR PARTUUID (<disk signature>-<number>)"))
        if self.label is not None and (problem := names.gpt_name_problem(self.label)):
            problems.append((("label",), problem))
        if self.attributes is not None and not names.GPT_ATTRIBUTES.fullmatch(self.attributes):
            problems.append((("attributes",), f"{self.attributes!r}: GPT attributes as sfdisk "
                             "writes them, e.g. 'RequiredPartition LegacyBIOSBootable GUID:63'"))
        if problems:
            raise fail_at(problems)
        return self


# ---------------------------------------------------------------------------
# md RAID, dm-crypt, other device-mapper devices
# ---------------------------------------------------------------------------


class MdMember(Record):
    """A component device of an md array."""

    device: str = Field(description="id of the member device")
    device_uuid: str | None = Field(None, description="the member's own UUID (blkid UUID_SUB)")
    role: str = Field(description="slot number, or spare / faulty / journal")
    state: list[str] = Field(default_factory=list, description="e.g. in_sync, write_mostly")


class MdEntry(Record):
    """An md RAID array."""

    id: str
    type: Literal["md"] = "md"
    name: str | None = Field(
        None, description="md/<name> as in /dev/md/ (kernel numbers change), else kernel name"
    )
    array_name: str | None = Field(None, description="name in the metadata (host:name)")
    uuid: UuidText = Field(description="array UUID, as mdadm prints it")
    level: str = Field(description="raid0, raid1, raid5, raid6, raid10, linear, ...")
    metadata: str | None = Field(None, description="metadata version, e.g. 1.2 or 0.90")
    raid_devices: Annotated[int, Field(ge=0)] | None = None
    size: Bytes | None = Field(None, description="array size in bytes")
    chunk_size: Bytes | None = Field(None, description="bytes; striped levels only")
    layout: str | None = Field(None, description="e.g. left-symmetric, n2")
    bitmap: str | None = Field(None, description="none, internal or the bitmap file")
    consistency_policy: str | None = None
    assembled: bool = Field(True, description="False when seen only through its members")
    members: list[MdMember] = Field(default_factory=list)
    table: PartitionTable | None = None

    @field_validator("name")
    @classmethod
    def _md_name(cls, value: str | None) -> str | None:
        if value is not None and (problem := names.device_name_problem(
                "md", value.removeprefix("md/"))):
            raise ValueError(problem)
        return value

    @field_validator("array_name")
    @classmethod
    def _array_name(cls, value: str | None) -> str | None:
        """host:name: the part after the host is the /dev/md/ name restore uses."""
        if value is not None and (problem := names.device_name_problem(
                "md array", value.split(":", 1)[-1])):
            raise ValueError(problem)
        if value is not None and names.control_characters(value):
            raise ValueError("an md array name cannot hold control characters")
        return value


class Kdf(Record):
    """A key slot's key derivation parameters (never its salt)."""

    type: str = Field(description="pbkdf2, argon2i or argon2id")
    hash: str | None = Field(None, description="pbkdf2 hash")
    iterations: int | None = Field(None, description="pbkdf2 iterations")
    time: int | None = Field(None, description="argon2 iterations (time cost)")
    memory: int | None = Field(None, description="argon2 memory cost, KiB")
    cpus: int | None = Field(None, description="argon2 parallel threads")


class LuksKeyslot(Record):
    """A key slot in use: its parameters, never its key material."""

    slot: int
    type: str | None = Field(None, description="LUKS2 keyslot type (luks2, reencrypt)")
    key_size: int | None = Field(None, description="bits")
    priority: int | None = Field(None, description="LUKS2 priority, when not normal")
    cipher: str | None = Field(None, description="keyslot area encryption")
    af_hash: str | None = None
    af_stripes: int | None = None
    kdf: Kdf | None = None


class LuksEntry(Record):
    """A LUKS container: header parameters and, when open, its mapping."""

    id: str
    type: Literal["luks"] = "luks"
    name: DeviceName | None = Field(
        None, description="mapping name when open, else the crypttab name")
    device: str = Field(description="id of the device holding the header")
    version: Literal[1, 2]
    uuid: UuidText
    label: str | None = Field(None, description="LUKS2 label")
    subsystem: str | None = Field(None, description="LUKS2 subsystem")
    cipher: str | None = Field(None, description="data cipher, e.g. aes-xts-plain64")
    key_size: int | None = Field(None, description="volume key size in bits")
    hash: str | None = Field(None, description="LUKS1 hash spec / LUKS2 digest hash")
    sector_size: SectorSize | None = Field(None, description="encryption sector size in bytes")
    data_offset: Bytes | None = Field(None, description="start of the encrypted data, bytes")
    size: Bytes | None = Field(
        None, description="bytes of data inside: device size - data offset")
    integrity: str | None = Field(None, description="LUKS2 authenticated encryption")
    metadata_size: int | None = Field(None, description="LUKS2 metadata area (header + JSON)")
    keyslots_size: int | None = Field(None, description="LUKS2 binary keyslots area")
    flags: list[str] = Field(default_factory=list, description="persistent activation flags")
    requirements: list[str] = Field(default_factory=list, description="LUKS2 requirements")
    keyslots_in_use: int = 0
    keyslots: list[LuksKeyslot] = Field(default_factory=list)
    tokens: list[str] = Field(default_factory=list, description="token types present (sorted)")
    open: bool = Field(False, description="a dm-crypt mapping of it existed at capture")
    crypttab_name: DeviceName | None = None
    crypttab_options: str | None = None


class CryptEntry(Record):
    """A plain dm-crypt mapping (no header), e.g. swap with a random key."""

    id: str
    type: Literal["crypt"] = "crypt"
    name: DeviceName = Field(description="mapping name")
    device: str | None = Field(None, description="id of the underlying device, when known")
    source: str | None = Field(None, description="device as crypttab names it")
    key_file: str | None = Field(None, description="e.g. /dev/urandom (a path, never a key)")
    cipher: str | None = None
    key_size: int | None = Field(None, description="bits")
    hash: str | None = None
    offset: int | None = Field(None, description="sectors")
    sector_size: int | None = None
    options: str | None = Field(None, description="crypttab options")
    open: bool = False


class DmEntry(Record):
    """Any other device-mapper device (multipath, verity, integrity, ...)."""

    id: str
    type: Literal["dm"] = "dm"
    name: str = Field(description="mapping name")
    subsystem: str | None = Field(None, description="dm uuid prefix, e.g. mpath, CRYPT-VERITY")
    size: Bytes
    devices: list[str] = Field(default_factory=list, description="ids of the devices below")


# ---------------------------------------------------------------------------
# LVM
# ---------------------------------------------------------------------------


class PvEntry(Record):
    """An LVM physical volume."""

    id: str
    type: Literal["pv"] = "pv"
    name: str | None = Field(None, description="name of its device, for readers")
    device: str | None = Field(None, description="id of the device (None when missing)")
    uuid: str
    format: str | None = Field(None, description="label format as blkid reads it (LVM2 001)")
    size: Bytes = Field(description="pv_size in bytes")
    pe_start: Bytes = Field(description="start of the first extent, bytes")
    metadata_copies: int | None = Field(None, description="metadata areas on this PV")
    bootloader_area: int | None = Field(None, description="size of the bootloader area, bytes")
    tags: list[str] = Field(default_factory=list)
    missing: bool = Field(False, description="the VG lists it but its device was not found")


class VgEntry(Record):
    """An LVM volume group."""

    id: str
    type: Literal["vg"] = "vg"
    name: LvmName
    uuid: str
    extent_size: PositiveBytes = Field(description="bytes")
    size: Bytes = Field(description="bytes")
    pvs: list[str] = Field(default_factory=list, description="ids of its PVs")
    tags: list[str] = Field(default_factory=list)
    allocation_policy: str | None = None
    system_id: str | None = None
    max_lv: int = 0
    max_pv: int = 0
    metadata_copies: str | None = Field(None, description="vg_mda_copies (unmanaged or a number)")
    missing_pvs: int = Field(0, description="PVs the metadata lists but no device carries")


class LvSegment(Record):
    """One segment of an LV made of several (extended across PVs, mixed types)."""

    segment_type: str
    size: Bytes
    stripes: Annotated[int, Field(ge=1)] | None = None
    stripe_size: Bytes | None = None
    pvs: list[str] = Field(default_factory=list)


class LvEntry(Record):
    """An LVM logical volume: what lvcreate needs to make it again."""

    id: str
    type: Literal["lv"] = "lv"
    name: str = Field(description="vg/lv")
    vg: str = Field(description="id of its VG")
    lv_name: LvmName
    uuid: str
    size: PositiveBytes = Field(description="bytes")
    segment_type: str = Field(
        description="linear, striped, raid1, raid5, raid6, raid10, mirror, thin-pool, thin, "
        "cache, cache-pool, writecache, vdo, snapshot, ..."
    )
    stripes: Annotated[int, Field(ge=1)] | None = Field(
        None, description="striped/raid: number of stripes or images")
    stripe_size: Bytes | None = Field(None, description="bytes")
    region_size: Bytes | None = Field(None, description="raid/mirror region size, bytes")
    mirrors: Annotated[int, Field(ge=0)] | None = Field(
        None, description="raid1/mirror: copies beyond the first")
    chunk_size: Bytes | None = Field(None, description="thin-pool, cache or snapshot chunk, bytes")
    pool: str | None = Field(None, description="thin volume: id of its thin pool")
    pool_metadata_size: Bytes | None = Field(None, description="thin/cache pool metadata, bytes")
    zero: bool | None = Field(None, description="thin pool zeroes new blocks")
    discards: str | None = Field(None, description="thin pool discard mode")
    origin: str | None = Field(None, description="snapshot or thin snapshot: id of its origin")
    snapshot: bool = Field(
        False, description="a snapshot: recorded for review, the restore does not recreate it"
    )
    cache_pool: str | None = Field(None, description="cached LV: name of the cache pool")
    cache_size: Bytes | None = Field(None, description="cached LV: cache pool data size, bytes")
    cache_mode: str | None = None
    cache_policy: str | None = None
    read_only: bool = False
    activation_skip: bool = False
    tags: list[str] = Field(default_factory=list)
    pvs: list[str] = Field(default_factory=list, description="ids of the PVs its data uses")
    segments: list[LvSegment] = Field(
        default_factory=list, description="only when the LV has more than one segment"
    )

    @model_validator(mode="after")
    def _vg_and_lv(self) -> LvEntry:
        """``name`` is ``<vg>/<lv_name>``: restore makes /dev/<vg>/<lv> of it."""
        vg, sep, lv = self.name.partition("/")
        problem = names.lvm_name_problem("VG", vg) or names.lvm_name_problem("LV", lv)
        if problem or not sep:
            raise fail_at([(("name",), problem or f"{self.name!r}: expected <vg>/<lv>")])
        if lv != self.lv_name:
            raise fail_at([(("lv_name",), f"{self.lv_name!r} is not the LV part of name "
                            f"{self.name!r}")])
        return self


# ---------------------------------------------------------------------------
# Filesystems and swap
# ---------------------------------------------------------------------------


class ExtDetails(Record):
    """ext2/3/4 parameters from the superblock (``dumpe2fs -h``)."""

    revision: str | None = None
    features: list[str] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=list)
    default_mount_options: list[str] = Field(default_factory=list)
    mount_options: str | None = Field(None, description="tune2fs -E mount_opts string")
    block_size: int
    block_count: int
    inode_size: int | None = None
    inode_count: int
    inodes_per_group: int
    blocks_per_group: int
    bytes_per_inode: int = Field(description="block count x block size / inode count")
    reserved_percent: float = Field(description="reserved blocks, percent of all, 2 decimals")
    reserved_uid: int | None = None
    reserved_gid: int | None = None
    errors_behavior: str | None = None
    max_mount_count: int | None = None
    check_interval: int | None = Field(None, description="seconds; 0 means none")
    raid_stride: int | None = None
    raid_stripe_width: int | None = None
    flex_bg_size: int | None = None
    hash_algorithm: str | None = Field(None, description="default directory hash")
    checksum_type: str | None = None
    journal_size: int | None = Field(None, description="internal journal size, bytes")
    journal_device: str | None = Field(None, description="external journal UUID")
    creator_os: str | None = None


class XfsDetails(Record):
    """XFS geometry (``xfs_db -r -c info``, the same as ``xfs_info``)."""

    block_size: int
    data_blocks: int
    sector_size: int
    inode_size: int
    ag_count: int
    ag_size: int = Field(description="blocks per allocation group")
    imaxpct: int | None = None
    sunit: int | None = Field(None, description="stripe unit, blocks")
    swidth: int | None = Field(None, description="stripe width, blocks")
    naming_version: int | None = None
    directory_block_size: int | None = None
    ascii_ci: bool | None = None
    ftype: bool | None = None
    log_internal: bool = True
    log_device: str | None = Field(None, description="external log device, as recorded")
    log_block_size: int | None = None
    log_blocks: int | None = None
    log_size: int | None = Field(None, description="bytes")
    log_version: int | None = None
    log_sector_size: int | None = None
    log_sunit: int | None = None
    lazy_count: bool | None = None
    realtime: str | None = Field(None, description="realtime device, or none")
    features: dict[str, int] = Field(
        default_factory=dict,
        description="mkfs feature switches: crc, finobt, sparse, rmapbt, reflink, bigtime, ...",
    )


class BtrfsDevice(Record):
    """One member device of a btrfs filesystem."""

    devid: int
    device: str | None = Field(None, description="id of the device, None when missing")
    uuid: str | None = Field(None, description="device UUID (UUID_SUB)")
    size: int | None = Field(None, description="bytes given to btrfs on this device")


class BtrfsSubvolume(Record):
    """A subvolume: id, path from the top level, parent, flags."""

    id: int
    path: str | None = Field(None, description="path from the top-level subvolume (id 5)")
    parent: int | None = Field(None, description="id of the subvolume it sits in")
    uuid: str | None = None
    readonly: bool = False
    snapshot_of: str | None = Field(None, description="parent_uuid: set on writable snapshots")


class BtrfsDetails(Record):
    """btrfs filesystem facts (superblock, sysfs, subvolume listing)."""

    node_size: int | None = None
    sector_size: int | None = None
    checksum: str | None = None
    features: list[str] = Field(default_factory=list, description="incompat/compat_ro flags")
    num_devices: int | None = None
    devices: list[BtrfsDevice] = Field(default_factory=list)
    data_profile: str | None = Field(
        None, description="e.g. single, dup, raid1; comma-separated while converting"
    )
    metadata_profile: str | None = None
    system_profile: str | None = None
    default_subvolume: int | None = Field(None, description="id of the default subvolume")
    quota: bool | None = Field(None, description="quota groups enabled; None when not mounted")
    subvolumes: list[BtrfsSubvolume] = Field(
        default_factory=list,
        description="all subvolumes except read-only snapshots, which are data kept by "
        "snapshot jobs (listing them would rewrite the file at every snapshot)",
    )
    readonly_snapshots: int | None = Field(
        None, description="not listed one by one; None when unknown. Informational."
    )


class VfatDetails(Record):
    """FAT facts."""

    fat_size: int | None = Field(None, description="12, 16 or 32")
    sector_size: int | None = None


class FilesystemEntry(Record):
    """A filesystem on a block device (or on several, for btrfs)."""

    id: str
    type: Literal["filesystem"] = "filesystem"
    name: str | None = Field(None, description="name of its device, for readers")
    device: str = Field(description="id of the device (btrfs: the one with the lowest devid)")
    fstype: str = Field(description="as blkid names it: ext4, xfs, btrfs, vfat, ...")
    uuid: str | None = None
    uuid_sub: str | None = Field(None, description="per-device UUID (btrfs device UUID)")
    label: str | None = None
    version: str | None = Field(None, description="blkid VERSION")
    block_size: Bytes | None = Field(None, description="blkid BLOCK_SIZE")
    size: Bytes | None = Field(None, description="filesystem size in bytes")
    used: Bytes | None = Field(
        None,
        description="space in use, rounded UP to the next step of a 1/8-octave scale "
        "(m/8 x 2^k bytes, m = 8..15, at least 1 MiB): an upper bound within 12.5% that "
        "changes only when usage moves across a step, so ordinary churn does not rewrite "
        "the file. The restore uses it to check that a smaller target still fits.",
    )
    ext: ExtDetails | None = None
    xfs: XfsDetails | None = None
    btrfs: BtrfsDetails | None = None
    vfat: VfatDetails | None = None
    properties: dict[str, str] = Field(
        default_factory=dict, description="other types: what blkid reports"
    )


class SwapEntry(Record):
    """A swap area (swap on a plain dm-crypt mapping included)."""

    id: str
    type: Literal["swap"] = "swap"
    name: str | None = Field(None, description="name of its device, for readers")
    device: str
    uuid: str | None = None
    label: str | None = None
    version: str | None = None
    page_size: Bytes | None = None
    size: Bytes | None = Field(None, description="size of the device in bytes")
    active: bool = Field(False, description="in use (/proc/swaps) at capture")


class MountEntry(Record):
    """An active mount of a block-backed filesystem."""

    id: str
    type: Literal["mount"] = "mount"
    mountpoint: str
    filesystem: str | None = Field(None, description="id of the filesystem entry")
    device: str | None = Field(None, description="id of the device it is mounted from")
    fstype: str
    options: str
    fsroot: str = Field("/", description="path inside the filesystem that is mounted")
    subvolume: str | None = Field(None, description="btrfs subvolume path")
    fstab: str | None = Field(None, description="id of the fstab entry it comes from")


StorageEntry = Annotated[
    DiskEntry
    | LoopEntry
    | PartitionEntry
    | MdEntry
    | LuksEntry
    | CryptEntry
    | DmEntry
    | PvEntry
    | VgEntry
    | LvEntry
    | FilesystemEntry
    | SwapEntry
    | MountEntry,
    Field(discriminator="type"),
]

# The order entries are written in (grouped by layer, then by id).
ENTRY_ORDER: tuple[str, ...] = (
    "disk",
    "loop",
    "partition",
    "md",
    "luks",
    "crypt",
    "dm",
    "pv",
    "vg",
    "lv",
    "filesystem",
    "swap",
    "mount",
)


# ---------------------------------------------------------------------------
# fstab, crypttab, boot facts
# ---------------------------------------------------------------------------


class FstabLine(Record):
    """One fstab entry, parsed; ``target`` resolves its spec to an entry id."""

    id: str = Field(description="fstab:<mountpoint>, or fstab:swap:<spec> for swap")
    spec: str
    mountpoint: str
    fstype: str
    options: str = "defaults"
    dump: int = 0
    passno: int = 0
    target: str | None = Field(None, description="id of the filesystem/swap/device it names")


class Fstab(Record):
    """/etc/fstab: parsed entries and the raw text (comments kept)."""

    entries: list[FstabLine] = Field(default_factory=list)
    raw: str | None = Field(None, description="the file as it was, or None when absent")


class CrypttabLine(Record):
    """One crypttab entry, parsed."""

    id: str = Field(description="crypttab:<name>")
    name: str
    source: str = Field(description="device as written (UUID=..., /dev/...)")
    key_file: str | None = Field(None, description="'none', a path or /dev/urandom")
    options: str | None = None
    target: str | None = Field(None, description="id of the luks/crypt entry")


class Crypttab(Record):
    """/etc/crypttab: parsed entries and the raw text."""

    entries: list[CrypttabLine] = Field(default_factory=list)
    raw: str | None = None


class EfiBootEntry(Record):
    """A firmware boot entry (efibootmgr -v).

    ``path`` is kept as efibootmgr prints it; ``partition`` and ``loader`` are
    read from it so a rebuild can recreate the entry on the restored ESP (whose
    GPT GUID the restore keeps) without parsing device paths itself.
    """

    id: str = Field(description="efi:Boot<number>")
    number: str = Field(description="four hex digits")
    label: str
    active: bool
    path: str | None = Field(
        None, description="device path as efibootmgr prints it (None when it printed none)"
    )
    partition: str | None = Field(
        None, description="id of the captured partition the path's HD() node names"
    )
    loader: str | None = Field(
        None, description="file the entry starts, as in the path (\\EFI\\debian\\shimx64.efi)"
    )


class Boot(Record):
    """Bootloader facts a rebuild needs to make the host start again."""

    firmware: Literal["uefi", "bios"] | None = None
    root: str | None = Field(None, description="id of the filesystem mounted on /")
    boot: str | None = Field(None, description="id of the filesystem mounted on /boot")
    esp: list[str] = Field(default_factory=list, description="ids of EFI system partitions")
    esp_mounted: str | None = Field(
        None, description="id of the ESP filesystem in use (mounted, else mounted by fstab)"
    )
    bios_boot: list[str] = Field(default_factory=list, description="ids of BIOS boot partitions")
    grub_install_devices: list[str] = Field(
        default_factory=list, description="debconf grub-pc/install_devices (BIOS GRUB)"
    )
    grub_install_device_ids: list[str] = Field(
        default_factory=list, description="the same devices as entry ids, where resolvable"
    )
    efi_boot_order: list[str] = Field(
        default_factory=list, description="BootOrder: entry numbers, first tried first"
    )
    efi_timeout: int | None = Field(None, description="firmware boot menu timeout, seconds")
    efi_entries: list[EfiBootEntry] = Field(default_factory=list)
    efi_loaders: list[str] = Field(
        default_factory=list, description="directories under EFI/ on the mounted ESP"
    )


class StorageDocument(SectionDocument):
    """hosts/<host>/storage.yaml."""

    SECTION = "storage"

    entries: list[StorageEntry] = Field(default_factory=list)
    fstab: Fstab = Field(default_factory=Fstab)
    crypttab: Crypttab = Field(default_factory=Crypttab)
    boot: Boot = Field(default_factory=Boot)

    @model_validator(mode="after")
    def _references(self) -> StorageDocument:
        problems = check_references(self)
        if problems:
            raise fail_at(problems, "storage")
        return self


# ---------------------------------------------------------------------------
# Helpers for the restore planner and for tests
# ---------------------------------------------------------------------------

_REFERENCE_FIELDS = ("disk", "device", "vg", "pool", "origin", "filesystem")
_REFERENCE_LISTS = ("devices", "pvs")
Loc = tuple[str | int, ...]


def located_references(entry: Record) -> list[tuple[Loc, str]]:
    """Every id ``entry`` names, with its path inside the entry."""
    refs: list[tuple[Loc, str]] = []
    for name in _REFERENCE_FIELDS:
        value = getattr(entry, name, None)
        if isinstance(value, str):
            refs.append(((name,), value))
    for name in _REFERENCE_LISTS:
        values = getattr(entry, name, None)
        if isinstance(values, list):
            refs.extend(((name, i), v) for i, v in enumerate(values) if isinstance(v, str))
    if isinstance(entry, MdEntry):
        refs.extend((("members", i, "device"), m.device) for i, m in enumerate(entry.members))
    if isinstance(entry, FilesystemEntry) and entry.btrfs is not None:
        refs.extend((("btrfs", "devices", i, "device"), d.device)
                    for i, d in enumerate(entry.btrfs.devices) if d.device)
    return refs


def entry_references(entry: Record) -> list[str]:
    """Ids of the entries ``entry`` is built on: what must exist before it.

    A snapshot's origin is included (the origin must exist first) even though
    the restore does not recreate snapshots.
    """
    return list(dict.fromkeys(ref for _, ref in located_references(entry)))


def _document_references(doc: StorageDocument) -> list[tuple[Loc, str]]:
    """Every entry id the document names outside the entries' own ``id``."""
    refs: list[tuple[Loc, str]] = []
    for index, entry in enumerate(doc.entries):
        refs.extend((("entries", index, *loc), ref) for loc, ref in located_references(entry))
    targets = [("fstab", i, line.target) for i, line in enumerate(doc.fstab.entries)]
    targets += [("crypttab", i, line.target) for i, line in enumerate(doc.crypttab.entries)]
    refs.extend(((section, "entries", i, "target"), target)
                for section, i, target in targets if target)
    boot = doc.boot
    for name in ("root", "boot", "esp_mounted"):
        value = getattr(boot, name)
        if value:
            refs.append((("boot", name), value))
    for name in ("esp", "bios_boot", "grub_install_device_ids"):
        refs.extend((("boot", name, i), v) for i, v in enumerate(getattr(boot, name)))
    refs.extend((("boot", "efi_entries", i, "partition"), e.partition)
                for i, e in enumerate(boot.efi_entries) if e.partition)
    return refs


def check_references(doc: StorageDocument) -> list[tuple[Loc, str]]:
    """Duplicate ids, and ids named but not present: (path, message) for each.

    A capture that could not read every part lists it under ``incomplete``
    and may name devices it did not record (a member whose table it could
    not read); a complete one names only entries it has.  A mount's
    ``fstab`` names an fstab line.
    """
    problems: list[tuple[Loc, str]] = []
    seen: set[str] = set()
    for index, entry in enumerate(doc.entries):
        if entry.id in seen:
            problems.append((("entries", index, "id"), f"id {entry.id!r} is used twice"))
        seen.add(entry.id)
    fstab_ids = {line.id for line in doc.fstab.entries}
    for index, entry in enumerate(doc.entries):
        if isinstance(entry, MountEntry) and entry.fstab and entry.fstab not in fstab_ids:
            problems.append((("entries", index, "fstab"),
                             f"{entry.fstab!r} names no line of fstab.entries"))
    if doc.incomplete:
        return problems
    for loc, ref in _document_references(doc):
        if ref not in seen:
            problems.append((loc, f"{ref!r} names no entry of this file"))
    return problems


def sfdisk_script(document: StorageDocument, owner_id: str, device: str) -> str:
    """The ``sfdisk --dump`` text that recreates the table of ``owner_id`` on ``device``.

    Byte for byte what ``sfdisk --dump DEVICE`` printed at capture (with
    ``device`` in place of the captured device name), so the restore can feed
    it to ``sfdisk`` and the verifier can compare dumps.
    """
    owner = next((e for e in document.entries if e.id == owner_id), None)
    table = getattr(owner, "table", None)
    if not isinstance(table, PartitionTable):
        raise KeyError(f"{owner_id}: no such entry with a partition table")
    parts = [(e, e.start, e.size) for e in document.entries
             if isinstance(e, PartitionEntry) and e.disk == owner_id]
    return table_script(table, device, table.sector_size, table.first_lba, table.last_lba, parts)
