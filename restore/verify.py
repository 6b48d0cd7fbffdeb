"""Verify a restore: capture the rebuilt storage again and compare it with the manifest.

Only what restore promises is compared: identities (UUIDs, labels, names),
sizes (as the plan computed them: exact where nothing was resized, within a
stated tolerance where the tool decides the last bytes, e.g. an md array's
data offset or an LV's share of free space) and creation settings (table
type and ids, md level/metadata/members, LUKS parameters and key
derivation, PV/VG/LV shape, filesystem features and geometry, btrfs
profiles, subvolumes and default subvolume, swap).  Entry ids are
translated through the disk map first, since a partition's id carries the
id of the disk it is on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hostbook.manifest.sections.storage import (
    DiskEntry,
    FilesystemEntry,
    LoopEntry,
    LuksEntry,
    LvEntry,
    MdEntry,
    MountEntry,
    PartitionEntry,
    PvEntry,
    StorageDocument,
    StorageEntry,
    SwapEntry,
    VgEntry,
)
from hostbook.restore.plan.planner import Plan
from hostbook.restore.units import MIB, human

# How far a size the tools decide may be from the plan's estimate.
ESTIMATE_TOLERANCE = 16 * MIB
ESTIMATE_FRACTION = 0.02
# btrfs feature flags set by use (mount options, set-default), not by mkfs.
BTRFS_RUNTIME = frozenset({"COMPRESS_LZO", "COMPRESS_ZSTD", "VERITY", "DEFAULT_SUBVOL",
                           "METADATA_UUID"})


@dataclass(frozen=True)
class Difference:
    """One promise the rebuilt storage does not keep."""

    label: str
    field: str
    expected: Any
    found: Any

    def describe(self) -> str:
        if self.field == "(entry)":
            return f"{self.label}: {self.expected}"
        return f"{self.label} {self.field}: expected {self.expected!r}, found {self.found!r}"


@dataclass
class VerifyReport:
    """The differences, and what was checked."""

    differences: list[Difference] = field(default_factory=list)
    checked: int = 0
    mounts_checked: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


class IdMap:
    """Recorded entry ids -> the ids the re-capture gives the same things."""

    def __init__(self, disks: dict[str, str]) -> None:
        self.disks = disks

    def __call__(self, ident: str | None) -> str | None:
        if ident is None:
            return None
        for prefix in ("fs:", "swap:"):
            if ident.startswith(prefix):
                inner = self(ident[len(prefix):])
                return f"{prefix}{inner}"
        for old, new in self.disks.items():
            if ident == old or ident.startswith(old + "-part"):
                return new + ident[len(old):]
        return ident

    def many(self, idents: Iterable[str]) -> list[str]:
        return sorted(str(self(i)) for i in idents)


def captured_disk_ids(plan: Plan, captured: StorageDocument) -> dict[str, str]:
    """Recorded disk id -> the id the re-capture gave its target disk."""
    by_name = {e.name: e.id for e in captured.entries if isinstance(e, DiskEntry | LoopEntry)}
    return {m.recorded.key: by_name.get(m.target.name, f"(missing {m.target.path})")
            for m in plan.mapping}


class _Compare:
    def __init__(self, plan: Plan, recorded: StorageDocument, captured: StorageDocument) -> None:
        self.plan = plan
        self.recorded = {e.id: e for e in recorded.entries}
        self.captured = {e.id: e for e in captured.entries}
        self.ids = IdMap(captured_disk_ids(plan, captured))
        self.report = VerifyReport()

    def diff(self, label: str, name: str, expected: Any, found: Any) -> None:
        if expected != found:
            self.report.differences.append(Difference(label, name, expected, found))

    def fields(self, label: str, old: Any, new: Any, names: Iterable[str]) -> None:
        for name in names:
            self.diff(label, name, getattr(old, name), getattr(new, name))

    def size(self, label: str, ident: str, found: int | None, name: str = "size") -> None:
        sizing = self.plan.sizing
        expected = sizing.planned.get(ident)
        if expected is None or found is None:
            return
        if ident in sizing.estimated:
            slack = max(ESTIMATE_TOLERANCE, int(expected * ESTIMATE_FRACTION))
            if abs(found - expected) > slack:
                self.report.differences.append(Difference(
                    label, name, f"about {human(expected)} (within {human(slack)})",
                    human(found)))
            return
        self.diff(label, name, expected, found)

    def run(self) -> VerifyReport:
        for ident in sorted(self.plan.restored):
            old = self.recorded.get(ident)
            if old is None or isinstance(old, MountEntry):
                continue
            new_id = self.ids(ident)
            new = self.captured.get(str(new_id))
            label = _label(old)
            if new is None or type(new) is not type(old):
                self.report.differences.append(
                    Difference(label, "(entry)", f"missing after the restore (as {new_id})", None))
                continue
            self.report.checked += 1
            self.entry(label, old, new)
        expected_ids = {self.ids(i) for i in self.plan.restored}
        for ident, entry in sorted(self.captured.items()):
            if ident not in expected_ids and not isinstance(entry, MountEntry):
                self.report.differences.append(
                    Difference(_label(entry), "(entry)", "present but not in the plan", None))
        self.mounts()
        return self.report

    def entry(self, label: str, old: StorageEntry, new: StorageEntry) -> None:
        if isinstance(old, DiskEntry | LoopEntry):
            assert isinstance(new, DiskEntry | LoopEntry)
            self.table(label, old, new)
        elif isinstance(old, PartitionEntry):
            assert isinstance(new, PartitionEntry)
            self.fields(label, old, new, ("number", "partition_type", "uuid", "label",
                                          "attributes", "bootable", "kind"))
            fit = self.plan.fits.get(old.disk)
            planned = fit.planned(old.id) if fit else None
            if planned is not None:
                self.diff(label, "start", planned.start, new.start)
                self.diff(label, "size", planned.size, new.size)
        elif isinstance(old, MdEntry):
            assert isinstance(new, MdEntry)
            self.fields(label, old, new, ("uuid", "level", "metadata", "array_name",
                                          "raid_devices", "chunk_size", "layout"))
            if old.bitmap in ("none", "internal"):
                self.diff(label, "bitmap", old.bitmap, new.bitmap)
            self.diff(label, "members", sorted((str(self.ids(m.device)), m.role)
                                               for m in old.members),
                      sorted((m.device, m.role) for m in new.members))
            self.size(label, old.id, new.size)
        elif isinstance(old, LuksEntry):
            assert isinstance(new, LuksEntry)
            self.luks(label, old, new)
        elif isinstance(old, PvEntry):
            assert isinstance(new, PvEntry)
            self.fields(label, old, new, ("uuid", "pe_start"))
            self.diff(label, "device", self.ids(old.device), new.device)
            self.size(label, old.id, new.size)
        elif isinstance(old, VgEntry):
            assert isinstance(new, VgEntry)
            self.fields(label, old, new, ("name", "extent_size", "tags", "max_lv", "max_pv"))
            self.diff(label, "pvs", self.ids.many(old.pvs), sorted(new.pvs))
            self.size(label, old.id, new.size)
        elif isinstance(old, LvEntry):
            assert isinstance(new, LvEntry)
            self.fields(label, old, new, ("segment_type", "stripes", "stripe_size", "mirrors",
                                          "chunk_size", "pool", "pool_metadata_size", "zero",
                                          "discards", "tags", "activation_skip"))
            self.size(label, old.id, new.size)
        elif isinstance(old, FilesystemEntry):
            assert isinstance(new, FilesystemEntry)
            self.filesystem(label, old, new)
        elif isinstance(old, SwapEntry):
            assert isinstance(new, SwapEntry)
            self.fields(label, old, new, ("uuid", "label", "version", "page_size"))
            self.size(label, old.id, new.size)

    def table(self, label: str, old: DiskEntry | LoopEntry, new: DiskEntry | LoopEntry) -> None:
        fit = self.plan.fits.get(old.id)
        if old.table is None or fit is None:
            return
        if new.table is None:
            self.diff(label, "table", old.table.type, None)
            return
        self.fields(f"{label} table", old.table, new.table, ("type", "table_length"))
        self.diff(f"{label} table", "id", (old.table.id or "").lower(),
                  (new.table.id or "").lower())
        self.diff(f"{label} table", "sector_size", fit.sector_size, new.table.sector_size)
        if fit.keep_first_lba is not None:
            self.diff(f"{label} table", "first_lba", fit.keep_first_lba, new.table.first_lba)
        if fit.keep_last_lba is not None:
            self.diff(f"{label} table", "last_lba", fit.keep_last_lba, new.table.last_lba)

    def luks(self, label: str, old: LuksEntry, new: LuksEntry) -> None:
        self.fields(label, old, new, ("version", "uuid", "label", "subsystem", "cipher",
                                      "key_size", "hash", "sector_size", "data_offset",
                                      "integrity", "metadata_size", "keyslots_size", "flags"))
        made = {k.slot: k for k in new.keyslots}
        wanted = sorted(old.keyslots, key=lambda k: k.slot)
        enrolled = 1 + sum(1 for line in self.plan.keyfiles if old.uuid in line)
        for slot in wanted[:enrolled]:
            found = made.get(slot.slot)
            slot_label = f"{label} keyslot {slot.slot}"
            if found is None:
                self.diff(slot_label, "(entry)", "missing", None)
                continue
            self.fields(slot_label, slot, found, ("type", "key_size", "cipher", "af_hash",
                                                  "af_stripes"))
            self.diff(slot_label, "kdf", slot.kdf, found.kdf)

    def filesystem(self, label: str, old: FilesystemEntry, new: FilesystemEntry) -> None:
        self.fields(label, old, new, ("fstype", "uuid", "label"))
        resized = old.id in self.plan.sizing.resized
        if old.fstype != "vfat":
            self.size(label, old.id, new.size)
        if old.ext is not None and new.ext is not None:
            names = ["revision", "features", "default_mount_options", "mount_options",
                     "block_size", "inode_size", "blocks_per_group", "reserved_uid",
                     "reserved_gid", "errors_behavior", "max_mount_count", "check_interval",
                     "raid_stride", "raid_stripe_width", "flex_bg_size", "hash_algorithm",
                     "checksum_type", "journal_size"]
            if not resized:
                names += ["block_count", "inode_count", "inodes_per_group", "bytes_per_inode"]
            self.fields(f"{label} ext", old.ext, new.ext, names)
            if abs(old.ext.reserved_percent - new.ext.reserved_percent) > 0.015:
                self.diff(f"{label} ext", "reserved_percent", old.ext.reserved_percent,
                          new.ext.reserved_percent)
        if old.xfs is not None and new.xfs is not None:
            names = ["block_size", "sector_size", "inode_size", "imaxpct", "naming_version",
                     "directory_block_size", "ascii_ci", "ftype", "log_internal", "log_size",
                     "log_version", "log_sunit", "lazy_count", "features", "sunit", "swidth"]
            if not resized:
                names += ["data_blocks", "ag_count", "ag_size"]
            self.fields(f"{label} xfs", old.xfs, new.xfs, names)
        if old.btrfs is not None and new.btrfs is not None:
            self.btrfs(label, old, new)
        if old.vfat is not None and new.vfat is not None:
            self.fields(f"{label} vfat", old.vfat, new.vfat, ("fat_size", "sector_size"))

    def btrfs(self, label: str, old: FilesystemEntry, new: FilesystemEntry) -> None:
        a, b = old.btrfs, new.btrfs
        assert a is not None and b is not None
        where = f"{label} btrfs"
        self.fields(where, a, b, ("node_size", "sector_size", "checksum", "num_devices",
                                  "data_profile", "metadata_profile", "system_profile"))
        self.diff(where, "features", sorted({f.upper() for f in a.features} - BTRFS_RUNTIME),
                  sorted({f.upper() for f in b.features} - BTRFS_RUNTIME))
        if a.quota is not None and b.quota is not None:
            self.diff(where, "quota", a.quota, b.quota)
        self.diff(where, "subvolumes", sorted((s.path or "", s.readonly) for s in a.subvolumes),
                  sorted((s.path or "", s.readonly) for s in b.subvolumes))

        def default(details: Any) -> str | None:
            if details.default_subvolume in (None, 5):
                return "(top level)"
            return next((s.path for s in details.subvolumes
                         if s.id == details.default_subvolume), f"id {details.default_subvolume}")

        self.diff(where, "default_subvolume", default(a), default(b))

    def mounts(self) -> None:
        planned = self.plan.mounts
        found = {e.mountpoint: e for e in self.captured.values() if isinstance(e, MountEntry)}
        under_target = [m for m in found if m == self.plan.target_root
                        or m.startswith(self.plan.target_root + "/")]
        if not planned:
            return
        if not under_target:
            self.report.notes.append(
                f"nothing is mounted under {self.plan.target_root}: mounts not checked"
            )
            return
        for mount in planned:
            self.report.mounts_checked += 1
            entry = found.get(mount.path)
            label = f"mount {mount.path}"
            if entry is None:
                self.report.differences.append(Difference(label, "(entry)", "not mounted",
                                                          None))
                continue
            self.diff(label, "filesystem", self.ids(mount.filesystem), entry.filesystem)
            if mount.subvolume is not None:
                self.diff(label, "subvolume", mount.subvolume.lstrip("/"),
                          (entry.subvolume or "").lstrip("/"))


def _label(entry: StorageEntry) -> str:
    if isinstance(entry, FilesystemEntry):
        name = f" {entry.label!r}" if entry.label else ""
        return f"{entry.fstype}{name} ({entry.id})"
    if isinstance(entry, SwapEntry):
        return f"swap ({entry.id})"
    kernel = getattr(entry, "name", None)
    return f"{entry.type} {kernel or entry.id}"


def compare(plan: Plan, recorded: StorageDocument, captured: StorageDocument) -> VerifyReport:
    """The differences between what the plan promised and what was captured."""
    report = _Compare(plan, recorded, captured).run()
    incomplete = [f"{i.part}: {i.reason}" for i in captured.incomplete]
    if incomplete:
        report.differences.append(Difference(
            "re-capture", "(entry)", "incomplete: " + "; ".join(incomplete), None))
    return report


def recapture(runner: Any, plan: Plan) -> StorageDocument:
    """Capture the storage of the plan's target disks (and what is built on them)."""
    from hostbook.capture.collect import collect_sections
    from hostbook.manifest.sections.config import ConfigDocument

    config = ConfigDocument.model_validate({"schema": ConfigDocument.schema_string()})
    devices = [e.target.path for e in plan.mapping]
    collected = collect_sections(runner, config, ["storage"], {"storage_devices": devices})
    return StorageDocument.model_validate(collected.documents["storage"])
