"""How large every layer becomes on the target, and whether what it holds fits.

Sizes flow upwards from the disks: a partition's planned size (from
:mod:`hostbook.restore.plan.table_fit`) gives its md array, LUKS payload or PV their size, PVs give
their VG its extents, the VG's extents go to the LVs (recorded sizes first,
then the shares restore.yaml gives), and each filesystem fills its device
when that device changed size.  Every change is computed relative to what
was recorded, so an unchanged device keeps its exact recorded size.

Whether the content still fits is checked where it is known: a filesystem
against its recorded use, a VG against the space its LVs need.  Each check
adds a line of arithmetic to the plan, and each failure a refusal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from hostbook.manifest.sections.restore import RestoreDocument
from hostbook.manifest.sections.storage import (
    CryptEntry,
    DiskEntry,
    FilesystemEntry,
    LoopEntry,
    LuksEntry,
    LvEntry,
    MdEntry,
    PartitionEntry,
    PvEntry,
    StorageEntry,
    SwapEntry,
    VgEntry,
)
from hostbook.restore.plan.layout import StorageView
from hostbook.restore.plan.table_fit import TableFit
from hostbook.restore.units import MIB, align_up, human

LUKS2_DEFAULT_OFFSET = 16 * MIB
LUKS1_DEFAULT_OFFSET = 2 * MIB
# Space a new filesystem needs beyond its data, by type: a filesystem cannot be
# made smaller than mkfs allows, whatever the data needs.
FS_MINIMUM = {"xfs": 300 * MIB, "btrfs": 128 * MIB, "ext4": 2 * MIB, "ext3": 2 * MIB,
              "ext2": 1 * MIB, "swap": 1 * MIB}
# LV segment types a share of free space may be given to (lvcreate -l N%FREE).
SHAREABLE = ("linear", "striped")


@dataclass
class LvSize:
    """How an LV's size is given to lvcreate."""

    size: int  # planned bytes (an estimate when percent is set)
    percent_free: int | None = None  # lvcreate -l N%FREE, after the fixed LVs


@dataclass
class Sizing:
    """Planned sizes (bytes) by recorded entry id, with the arithmetic behind them."""

    planned: dict[str, int] = field(default_factory=dict)
    resized: set[str] = field(default_factory=set)
    estimated: set[str] = field(default_factory=set)
    sector: dict[str, int] = field(default_factory=dict)
    lv_sizes: dict[str, LvSize] = field(default_factory=dict)
    lv_order: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def recorded_size(view: StorageView, ident: str) -> int | None:
    """The size a device had when captured (LUKS: its payload)."""
    entry = view.get(ident)
    if isinstance(entry, DiskEntry | LoopEntry | PartitionEntry | LvEntry):
        return entry.size
    if isinstance(entry, MdEntry):
        return entry.size
    if isinstance(entry, LuksEntry):
        below = recorded_size(view, entry.device)
        return None if below is None else below - luks_offset(entry)
    return None


def luks_offset(entry: LuksEntry) -> int:
    if entry.data_offset is not None:
        return entry.data_offset
    return LUKS2_DEFAULT_OFFSET if entry.version == 2 else LUKS1_DEFAULT_OFFSET


def md_data_members(entry: MdEntry) -> float:
    """How many members' worth of data the array holds (raid1: one; raid5 of n: n-1)."""
    active = [m for m in entry.members if m.role.isdigit()]
    n = entry.raid_devices or len(active) or 1
    level = entry.level
    if level in ("raid0", "linear"):
        return float(n)
    if level in ("raid4", "raid5"):
        return float(max(n - 1, 1))
    if level == "raid6":
        return float(max(n - 2, 1))
    if level == "raid10":
        copies = 2
        layout = entry.layout or ""
        if layout[1:].isdigit():
            copies = int(layout[1:])
        return n / copies
    return 1.0


def lv_allocation(lv: LvEntry, extent: int) -> int:
    """Bytes an LV takes from its VG (hidden metadata and images included, estimated)."""
    if lv.snapshot or lv.segment_type == "thin":
        return 0
    size = align_up(lv.size, extent)
    images = lv.stripes or 1
    if lv.segment_type in ("raid1", "mirror"):
        copies = (lv.mirrors or 1) + 1
        return size * copies + copies * extent
    if lv.segment_type in ("raid4", "raid5", "raid6", "raid10"):
        parity = {"raid4": 1, "raid5": 1, "raid6": 2}.get(lv.segment_type, 0)
        data = max(images - parity, 1) if lv.segment_type != "raid10" else max(images // 2, 1)
        return align_up(size * images // data, extent) + images * extent
    if lv.segment_type == "thin-pool":
        return size + align_up(lv.pool_metadata_size or 4 * MIB, extent)
    return size


def content_minimum(view: StorageView, device: str) -> tuple[int | None, str]:
    """The least size the content of ``device`` needs, and what that content is."""
    fs = view.filesystem_on(device)
    if isinstance(fs, FilesystemEntry):
        floor = FS_MINIMUM.get(fs.fstype, 0)
        if fs.used is not None:
            return max(fs.used, floor), f"{fs.fstype} {fs.label or ''} uses {human(fs.used)}"
        return None, f"{fs.fstype} with no recorded use"
    if isinstance(fs, SwapEntry):
        return FS_MINIMUM["swap"], "swap"
    return None, "its content"


def _lss(view: StorageView, sizing: Sizing, entry: StorageEntry) -> int:
    """Logical sector size of a planned device (what sits on it must not go below)."""
    refs: list[str] = []
    if isinstance(entry, PartitionEntry):
        refs = [entry.disk]
    elif isinstance(entry, MdEntry):
        refs = [m.device for m in entry.members]
    elif isinstance(entry, LuksEntry):
        below = sizing.sector.get(entry.device, 512)
        return max(below, entry.sector_size or 512)
    elif isinstance(entry, LvEntry):
        vg = view.get(entry.vg)
        refs = list(vg.pvs) if isinstance(vg, VgEntry) else []
        refs = [p.device for p in (view.get(r) for r in refs)
                if isinstance(p, PvEntry) and p.device]
    return max((sizing.sector.get(r, 512) for r in refs), default=512)


def plan_sizes(
    view: StorageView,
    included: Iterable[str],
    fits: dict[str, TableFit],
    targets: dict[str, tuple[int, int]],
    policy: RestoreDocument,
) -> Sizing:
    """Sizes for every included entry; ``targets`` is disk id -> (size, sector size)."""
    sizing = Sizing()
    wanted = set(included)
    for disk_id, (size, sector) in targets.items():
        sizing.planned[disk_id] = size
        sizing.sector[disk_id] = sector
        entry = view.get(disk_id)
        if isinstance(entry, DiskEntry | LoopEntry) and entry.size != size:
            sizing.resized.add(disk_id)
    for fit in fits.values():
        sizing.lines.extend(fit.lines)
        sizing.problems.extend(fit.problems)
        for planned in fit.partitions:
            sizing.planned[planned.entry.id] = planned.size
            if planned.size != planned.entry.size:
                sizing.resized.add(planned.entry.id)
    ordered = view.ordered(wanted)
    for entry in ordered:
        if isinstance(entry, PartitionEntry):
            sizing.sector[entry.id] = _lss(view, sizing, entry)
        elif isinstance(entry, MdEntry):
            _md(view, sizing, entry)
        elif isinstance(entry, LuksEntry):
            _luks(view, sizing, entry)
        elif isinstance(entry, CryptEntry):
            continue
    for vg in (e for e in ordered if isinstance(e, VgEntry)):
        _vg(view, sizing, vg, policy, wanted)
    for entry in ordered:
        if isinstance(entry, FilesystemEntry | SwapEntry):
            _filesystem(view, sizing, entry)
    return sizing


def _changed(sizing: Sizing, view: StorageView, ident: str) -> int:
    """Planned minus recorded size of a device (0 when unknown or unchanged)."""
    recorded = recorded_size(view, ident)
    planned = sizing.planned.get(ident)
    if recorded is None or planned is None:
        return 0
    return planned - recorded


def _md(view: StorageView, sizing: Sizing, md: MdEntry) -> None:
    sizing.sector[md.id] = _lss(view, sizing, md)
    members = [m.device for m in md.members if m.role.isdigit()] or [
        m.device for m in md.members
    ]
    deltas = [_changed(sizing, view, m) for m in members]
    recorded = md.size
    if recorded is None:
        sizes = [sizing.planned.get(m) for m in members]
        known = [s for s in sizes if s is not None]
        recorded = int(min(known) * md_data_members(md)) if known else 0
        sizing.estimated.add(md.id)
    delta = min(deltas) if deltas else 0
    if md.level == "linear":
        delta = sum(deltas)
    planned = recorded + int(delta * md_data_members(md)) if md.level != "linear" else (
        recorded + delta)
    sizing.planned[md.id] = planned
    if planned != md.size:
        sizing.resized.add(md.id)
        sizing.estimated.add(md.id)
        sizing.lines.append(
            f"md {md_short(md)}: members change by {human(delta)} -> array "
            f"{human(md.size or 0)} -> about {human(planned)}"
        )


def md_short(md: MdEntry) -> str:
    return (md.array_name or md.name or md.uuid).split(":", 1)[-1]


def _luks(view: StorageView, sizing: Sizing, luks: LuksEntry) -> None:
    sizing.sector[luks.id] = _lss(view, sizing, luks)
    below = sizing.planned.get(luks.device)
    if below is None:
        return
    planned = below - luks_offset(luks)
    sizing.planned[luks.id] = planned
    if luks.device in sizing.resized:
        sizing.resized.add(luks.id)
        if luks.device in sizing.estimated:
            sizing.estimated.add(luks.id)
    if planned <= 0:
        sizing.problems.append(
            f"LUKS {luks.uuid}: its device ({human(below)}) is smaller than the LUKS header "
            f"({human(luks_offset(luks))})"
        )
    below_sector = max((sizing.sector.get(luks.device, 512),), default=512)
    if luks.sector_size and luks.sector_size < below_sector:
        sizing.problems.append(
            f"LUKS {luks.uuid}: recorded encryption sector size {luks.sector_size} is below "
            f"the target's {below_sector}-byte logical sectors"
        )


def _vg(
    view: StorageView, sizing: Sizing, vg: VgEntry, policy: RestoreDocument, wanted: set[str]
) -> None:
    extent = vg.extent_size or 4 * MIB
    pvs = [p for p in (view.get(i) for i in vg.pvs) if isinstance(p, PvEntry)]
    capacity = vg.size
    resized = False
    estimated = False
    for pv in pvs:
        if pv.device is None:
            continue
        delta = _changed(sizing, view, pv.device)
        change = 0
        if delta:
            resized = True
            estimated = estimated or pv.device in sizing.estimated
            old_dev = recorded_size(view, pv.device) or pv.size
            old_extents = (old_dev - pv.pe_start) // extent
            new_extents = max((old_dev + delta - pv.pe_start) // extent, 0)
            change = (new_extents - old_extents) * extent
            capacity += change
            sizing.resized.add(pv.id)
            sizing.estimated.add(pv.id)
        sizing.planned[pv.id] = pv.size + change
    sizing.planned[vg.id] = capacity
    if resized:
        sizing.resized.add(vg.id)
        if estimated:
            sizing.estimated.add(vg.id)
    lvs = [lv for lv in view.lvs_of(vg) if lv.id in wanted and not lv.snapshot]
    shares = {p.id: p.free_percent for p in policy.lvs if p.id in {lv.id for lv in lvs}}
    fixed = [lv for lv in lvs if lv.id not in shares]
    shared = [lv for p in policy.lvs for lv in lvs if lv.id == p.id]
    for lv in shared:
        if lv.segment_type not in SHAREABLE:
            sizing.problems.append(
                f"restore.yaml lvs: {lv.id} is a {lv.segment_type} LV; only linear and "
                "striped LVs can take a share of free space"
            )
    metadata = [lv.pool_metadata_size or 4 * MIB for lv in lvs if lv.segment_type == "thin-pool"]
    spare = align_up(max(metadata), extent) if metadata else 0
    need_fixed = sum(lv_allocation(lv, extent) for lv in fixed) + spare
    minima = {}
    for lv in shared:
        floor, what = content_minimum(view, lv.id)
        minima[lv.id] = (align_up(floor, extent) if floor is not None else lv.size, what)
    for lv in fixed:
        sizing.lv_sizes[lv.id] = LvSize(lv.size)
        sizing.planned[lv.id] = lv.size
    free_after = capacity - need_fixed
    check = resized or bool(shared)
    if check:
        parts = ", ".join(f"{lv.lv_name} {human(lv_allocation(lv, extent))}"
                          for lv in fixed if lv_allocation(lv, extent))
        if spare:
            parts += f", pool metadata spare {human(spare)}"
        sizing.lines.append(
            f"VG {vg.name}: {human(capacity)} ({human(vg.size)} recorded); LVs at their "
            f"recorded sizes need {human(need_fixed)} ({parts or 'nothing'})"
        )
        need_min = need_fixed + sum(m for m, _ in minima.values())
        if need_min > capacity:
            sizing.problems.append(
                f"VG {vg.name}: needs {human(need_min)} but would hold only {human(capacity)} "
                f"({human(need_min - capacity)} short)"
            )
    used_percent = 0.0
    for lv in shared:
        percent = shares[lv.id]
        size = max((int(free_after * percent / 100) // extent) * extent, 0)
        remaining = 100.0 - used_percent
        lvm_percent = max(int(percent * 100 / remaining), 1) if remaining > 0 else 100
        used_percent += percent
        sizing.lv_sizes[lv.id] = LvSize(size, min(lvm_percent, 100))
        sizing.planned[lv.id] = size
        sizing.estimated.add(lv.id)
        if size != lv.size:
            sizing.resized.add(lv.id)
        floor, what = minima[lv.id]
        sizing.lines.append(
            f"LV {lv.name}: {percent:g}% of the {human(max(free_after, 0))} left in "
            f"{vg.name} = about {human(size)} (recorded {human(lv.size)}; {what})"
        )
        if size < floor:
            sizing.problems.append(
                f"LV {lv.name}: its share would be {human(size)}, below the {human(floor)} "
                f"its content needs"
            )
    order = [lv.id for lv in fixed if lv.segment_type == "thin-pool"]
    order += [lv.id for lv in fixed if lv.segment_type not in ("thin-pool", "thin")]
    order += [lv.id for lv in shared]
    order += [lv.id for lv in fixed if lv.segment_type == "thin"]
    sizing.lv_order.extend(order)
    for lv in lvs:
        sizing.sector[lv.id] = _lss(view, sizing, lv)


def _filesystem(view: StorageView, sizing: Sizing, entry: FilesystemEntry | SwapEntry) -> None:
    device = entry.device
    planned_dev = sizing.planned.get(device)
    if planned_dev is None:
        return
    recorded_dev = recorded_size(view, device)
    kind = entry.fstype if isinstance(entry, FilesystemEntry) else "swap"
    label = f"{kind} {entry.label or entry.uuid or entry.id}"
    if device not in sizing.resized or recorded_dev == planned_dev:
        if entry.size is not None:
            sizing.planned[entry.id] = entry.size
        return
    sizing.planned[entry.id] = planned_dev
    sizing.resized.add(entry.id)
    if device in sizing.estimated:
        sizing.estimated.add(entry.id)
    if isinstance(entry, SwapEntry):
        sizing.lines.append(f"{label}: {human(entry.size or 0)} -> {human(planned_dev)}")
        return
    floor = FS_MINIMUM.get(entry.fstype, 0)
    if entry.used is None:
        if recorded_dev is not None and planned_dev < recorded_dev:
            sizing.problems.append(
                f"{label}: its use is not recorded, so it cannot be made smaller "
                f"({human(recorded_dev)} -> {human(planned_dev)})"
            )
        else:
            sizing.lines.append(f"{label}: {human(recorded_dev or 0)} -> {human(planned_dev)}")
        return
    need = max(entry.used, floor)
    verdict = "fits" if planned_dev >= need else "does NOT fit"
    sizing.lines.append(
        f"{label}: {human(entry.size or recorded_dev or 0)} -> {human(planned_dev)}; "
        f"recorded use {human(entry.used)}"
        + (f", {entry.fstype} minimum {human(floor)}" if floor > entry.used else "")
        + f": {verdict}"
    )
    if planned_dev < need:
        sizing.problems.append(
            f"{label}: would be {human(planned_dev)} but holds {human(need)} "
            f"({human(need - planned_dev)} short)"
        )
