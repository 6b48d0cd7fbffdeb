"""Disks and their partition tables: wipe each target, then write its table.

Each target disk is wiped first (every partition node it has now, then the
disk), and the wipe lists what was found on it.  A disk that had a table
gets it back through ``sfdisk``, fitted to the target by
:mod:`hostbook.restore.plan.table_fit` and written by the manifest's sfdisk
writer (:func:`hostbook.manifest.partition_table.table_script`), so on a
disk like the recorded one it is byte for byte the dump capture recorded.
Both steps are done once the disk carries the table this plan writes (or,
for a disk without a table, its content's signature): wiping again would
destroy the restore's own work on a re-run after a kill.
"""

from __future__ import annotations

import json

from hostbook.manifest.partition_table import partition_node
from hostbook.manifest.partition_table import table_script as sfdisk_script
from hostbook.manifest.sections.restore import RestoreDocument
from hostbook.manifest.sections.storage import DiskEntry, LoopEntry
from hostbook.restore.plan.context import Planning
from hostbook.restore.plan.layout import StorageView
from hostbook.restore.plan.signatures import blkid_signature
from hostbook.restore.plan.steps import Command, DoneCheck, Step
from hostbook.restore.plan.table_fit import TableFit, fit_table
from hostbook.restore.target.diskmap import DiskIdentity
from hostbook.restore.units import human


def table_script(fit: TableFit, device: str) -> str:
    """The sfdisk script (``sfdisk --dump`` format) that writes ``fit`` on ``device``."""
    return sfdisk_script(fit.table, device, fit.sector_size, fit.keep_first_lba,
                         fit.keep_last_lba, [(p.entry, p.start, p.size) for p in fit.partitions])


def fit_tables(view: StorageView, policy: RestoreDocument, targets: dict[str, DiskIdentity],
               restored: set[str]) -> tuple[dict[str, TableFit], list[str]]:
    """Each target's table fitted to it; and why a disk without a table cannot be restored."""
    fits: dict[str, TableFit] = {}
    problems: list[str] = []
    grow = {d.id: d.grow for d in policy.disks}
    for disk_id, target in targets.items():
        disk = view.get(disk_id)
        if not isinstance(disk, DiskEntry | LoopEntry):
            continue
        if disk.table is None:
            if target.size < disk.size:
                content = [e for e in view.content_of(disk_id) if e.id in restored]
                if content:
                    problems.append(
                        f"{disk_id}: the whole disk ({human(disk.size)}) holds "
                        f"{content[0].id}; the target has {human(target.size)}"
                    )
            continue
        fits[disk_id] = fit_table(
            disk_id, disk.table, view.partitions_of(disk_id), disk.size, target.size,
            target.logical_sector_size, grow.get(disk_id, "last"),
            label=f"{target.path} ({disk_id})",
        )
    return fits, problems


def plan_disk(ctx: Planning, disk_id: str) -> None:
    """Wipe the target that receives ``disk_id``, then write its partition table."""
    fit = ctx.fits.get(disk_id)
    target = ctx.targets[disk_id]
    path = target.path
    table_check = _table_check(fit, path) if fit is not None else None
    existing = list(reversed(ctx.request.existing.get(path, [])))
    found = ctx.request.signatures.get(path, [])
    commands = [Command(("wipefs", "--all", part)) for part in existing]
    commands.append(Command(("wipefs", "--all", path)))
    notes = tuple(f"found: {line}" for line in found) or ("no signatures found",)
    ctx.add(Step(
        id=f"wipe:{disk_id}", layer="wipe",
        summary=f"wipe every signature on {path} ({target.describe()})",
        commands=tuple(commands), devices=(path, *existing), notes=notes,
        done=table_check or _whole_disk_check(ctx, disk_id, path),
        stable_key=path,
    ))
    if fit is None:
        return
    numbers = [p.entry.number for p in fit.partitions]
    wait = tuple(partition_node(path, n) for n in sorted(numbers))
    commands = [Command(("sfdisk", "--quiet", "--wipe", "always", "--wipe-partitions",
                         "always", path), stdin=table_script(fit, path))]
    if numbers:
        commands.append(Command(("partx", "--update", "--nr", f"1:{max(numbers)}", path)))
    label = "GPT" if fit.table.type == "gpt" else "MBR"
    ctx.add(Step(
        id=f"table:{disk_id}", layer="partition",
        summary=f"write the {label} partition table on {path} "
                f"({len(numbers)} partition{'s' if len(numbers) != 1 else ''})",
        commands=tuple(commands), devices=(path,), done=table_check, wait_for=wait,
        notes=tuple(fit.lines),
    ))


def _table_check(fit: TableFit, path: str) -> DoneCheck:
    """Done when ``path`` carries this table: label, id and every partition's place."""
    sector = fit.sector_size
    parts = sorted(fit.partitions, key=lambda p: p.entry.number)
    return DoneCheck("ptable", path, {
        "label": fit.table.type,
        "id": fit.table.id or "",
        "partitions": json.dumps(
            [[p.start // sector, p.size // sector,
              p.entry.uuid if fit.table.type == "gpt" and p.entry.uuid else ""]
             for p in parts],
            separators=(",", ":")),
    })


def _whole_disk_check(ctx: Planning, disk_id: str, path: str) -> DoneCheck:
    """A disk without a table: done when its content's signature is there."""
    for entry in ctx.view.content_of(disk_id):
        if entry.id not in ctx.restored:
            continue
        expect = blkid_signature(entry)
        if expect is not None:
            return DoneCheck("blkid", path, expect)
    return DoneCheck("never")
