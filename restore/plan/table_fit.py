"""Fit a recorded partition table onto a target disk: where each partition goes.

Same size and sector size: the table is written back exactly (the header's
first/last usable LBA included).  A larger disk: the partition the policy
names (default: the one that ends last) grows by the difference, rounded
down to whole MiB, and partitions after it move by the same amount.  A
smaller disk: the table is kept if every partition still ends before the
disk does; otherwise that partition shrinks by the shortfall, rounded up to
whole MiB.  Whether what lives on a shrunk partition still fits is the
sizing module's question.  Partition offsets are kept in bytes, so a table
moves between 512- and 4096-byte sector disks when every offset is a
multiple of the new sector size.  The table is then written by
:mod:`hostbook.restore.plan.partitions`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from hostbook.manifest.sections.storage import PartitionEntry, PartitionTable
from hostbook.restore.units import MIB, align_down, align_up, human

GPT_ENTRY_SIZE = 128
GPT_DEFAULT_ENTRIES = 128
MBR_MAX_SECTORS = 1 << 32


@dataclass(frozen=True)
class PlannedPartition:
    """A partition as the restore writes it (bytes)."""

    entry: PartitionEntry
    start: int
    size: int

    @property
    def end(self) -> int:
        return self.start + self.size


@dataclass
class TableFit:
    """The table to write on one target disk, and how it was derived."""

    owner: str
    table: PartitionTable
    sector_size: int
    partitions: list[PlannedPartition]
    keep_first_lba: int | None
    keep_last_lba: int | None
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    changed: set[str] = field(default_factory=set)

    def planned(self, ident: str) -> PlannedPartition | None:
        return next((p for p in self.partitions if p.entry.id == ident), None)


def _gpt_entry_sectors(table: PartitionTable, sector: int) -> int:
    entries = table.table_length or GPT_DEFAULT_ENTRIES
    return -(-entries * GPT_ENTRY_SIZE // sector)


def usable_end(table: PartitionTable, disk_size: int, sector: int) -> int:
    """Byte offset where the usable area of a disk of ``disk_size`` ends."""
    sectors = disk_size // sector
    if table.type == "gpt":
        return (sectors - 1 - _gpt_entry_sectors(table, sector)) * sector
    return min(sectors, MBR_MAX_SECTORS) * sector


def _recorded_end(table: PartitionTable, disk_size: int) -> int:
    if table.type == "gpt" and table.last_lba is not None:
        return (table.last_lba + 1) * table.sector_size
    return usable_end(table, disk_size, table.sector_size)


def grow_problem(parts: Sequence[PartitionEntry], grow: int | str) -> str | None:
    """Why restore.yaml's ``grow`` cannot name one of ``parts``, or None.

    Checked when restore.yaml is loaded (so the error points at its line)
    and again when a table is fitted.
    """
    if not isinstance(grow, int):
        return None
    chosen = next((p for p in parts if p.number == grow), None)
    if chosen is None:
        numbers = ", ".join(str(p.number) for p in sorted(parts, key=lambda p: p.number))
        return f"grow: {grow}: no such partition (partitions: {numbers or 'none'})"
    if chosen.kind == "extended":
        return f"grow: {grow} is the extended partition; name a logical one"
    return None


def _grow_candidate(parts: Sequence[PartitionEntry], grow: int | str) -> PartitionEntry | None:
    if grow == "none" or not parts:
        return None
    if grow == "last":
        ordinary = [p for p in parts if p.kind != "extended"] or list(parts)
        return max(ordinary, key=lambda p: (p.start + p.size, p.number))
    problem = grow_problem(parts, grow)
    if problem:
        raise ValueError(f"restore.yaml {problem}")
    return next(p for p in parts if p.number == grow)


def fit_table(
    owner: str,
    table: PartitionTable,
    parts: Sequence[PartitionEntry],
    recorded_size: int,
    target_size: int,
    target_sector: int,
    grow: int | str = "last",
    label: str = "",
) -> TableFit:
    """The table for a target disk of ``target_size`` bytes with ``target_sector`` sectors."""
    name = label or owner
    fit = TableFit(owner, table, target_sector, [PlannedPartition(p, p.start, p.size)
                                                  for p in parts], None, None)
    same_geometry = target_sector == table.sector_size
    if same_geometry:
        fit.keep_first_lba = table.first_lba
        if target_size == recorded_size:
            fit.keep_last_lba = table.last_lba
    elif table.first_lba is not None:
        first_bytes = table.first_lba * table.sector_size
        minimum = (2 + _gpt_entry_sectors(table, target_sector)) * target_sector
        if first_bytes % target_sector == 0 and first_bytes >= minimum:
            fit.keep_first_lba = first_bytes // target_sector
    if not same_geometry:
        fit.lines.append(
            f"{name}: {table.sector_size}-byte sectors recorded, {target_sector}-byte on the "
            "target: partition offsets kept in bytes"
        )
        for p in parts:
            if p.start % target_sector or p.size % target_sector:
                fit.problems.append(
                    f"{name} partition {p.number} (start {p.start}, size {p.size} bytes) is not "
                    f"a multiple of the target's {target_sector}-byte sectors"
                )
    if target_size == recorded_size or not parts:
        return fit
    try:
        grow_part = _grow_candidate(parts, grow)
    except ValueError as exc:
        fit.problems.append(f"{name}: {exc}")
        return fit
    old_end = _recorded_end(table, recorded_size)
    new_end = usable_end(table, target_size, target_sector)
    max_end = max(p.start + p.size for p in parts)
    delta = 0
    if new_end > old_end:
        if grow_part is None:
            fit.lines.append(
                f"{name}: target is {human(target_size - recorded_size)} larger; "
                "grow: none keeps every partition as recorded"
            )
            return fit
        delta = align_down(new_end - old_end, MIB)
        if delta == 0:
            return fit
        fit.lines.append(
            f"{name}: target {human(target_size)} vs recorded {human(recorded_size)}: "
            f"partition {grow_part.number} grows by {human(delta)} "
            f"({human(grow_part.size)} -> {human(grow_part.size + delta)})"
        )
    elif max_end > new_end:
        shortfall = max_end - new_end
        if grow_part is None:
            fit.problems.append(
                f"{name}: the partitions end at {human(max_end)} but the target's usable space "
                f"ends at {human(new_end)} ({human(shortfall)} short) and grow: none allows "
                "no partition to shrink"
            )
            return fit
        delta = -align_up(shortfall, MIB)
        new_size = grow_part.size + delta
        fit.lines.append(
            f"{name}: target {human(target_size)} vs recorded {human(recorded_size)}: "
            f"the partitions need {human(max_end)}, {human(shortfall)} more than the target's "
            f"usable {human(new_end)}; partition {grow_part.number} shrinks by {human(-delta)} "
            f"({human(grow_part.size)} -> {human(max(new_size, 0))})"
        )
        if new_size <= 0:
            fit.problems.append(
                f"{name}: partition {grow_part.number} would have to shrink below nothing"
            )
            return fit
    else:
        fit.lines.append(
            f"{name}: target {human(target_size)} vs recorded {human(recorded_size)}: every "
            f"partition still fits (they end at {human(max_end)}, usable space ends at "
            f"{human(new_end)})"
        )
        return fit
    grow_end = grow_part.start + grow_part.size
    planned = []
    for p in (PlannedPartition(e, e.start, e.size) for e in parts):
        start, size = p.start, p.size
        contains = p.entry.kind == "extended" and p.start <= grow_part.start and p.end >= grow_end
        if p.entry.id == grow_part.id or contains:
            size += delta
        elif p.start >= grow_end:
            start += delta
        if (start, size) != (p.start, p.size):
            fit.changed.add(p.entry.id)
            if start != p.start:
                fit.lines.append(f"{name}: partition {p.entry.number} moves to {human(start)}")
        planned.append(PlannedPartition(p.entry, start, size))
    fit.partitions = planned
    return fit
