"""Plan a storage restore: manifest + disk map + policy -> ordered steps.

Pure: it reads no device.  What the live system says (which disks are
present, how large, what signatures they carry) is gathered beforehand and
passed in, so the same inputs always give the same plan, the plan can be
tested on recorded outputs, and ``verify`` can rebuild the plan's
expectations later.

This module decides the order and leaves each layer's steps to the module
named after it, as capture's probes are (``capture/probes/storage/md.py``
reads what ``restore/plan/md.py`` makes again): what is restored
(:mod:`.selection`), each target's table (:mod:`.table_fit`) and every size
(:mod:`.sizing`); then wipe each target disk and write its partition table
(:mod:`.partitions`), md arrays (:mod:`.md`), LUKS containers (:mod:`.luks`),
PVs, VGs and LVs (:mod:`.lvm`), filesystems and swap (:mod:`.filesystems`,
:mod:`.btrfs` with its subvolumes), mounts under the target root
(:mod:`.mounts`), and last the key files crypttab names (:mod:`.keyfiles`:
they live on the restored filesystems).  Finally the device guard is given
every path the steps may touch, and identities another attached disk
already carries are refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from hostbook.manifest.sections.storage import (
    DiskEntry,
    FilesystemEntry,
    LoopEntry,
    LuksEntry,
    LvEntry,
    MdEntry,
    PartitionEntry,
    PvEntry,
    StorageDocument,
    StorageEntry,
    SwapEntry,
    VgEntry,
)
from hostbook.restore.plan import btrfs, filesystems, keyfiles, luks, lvm, md, mounts, partitions
from hostbook.restore.plan.context import PlanInput, Planning
from hostbook.restore.plan.identities import RENAMEABLE, with_new_identities
from hostbook.restore.plan.layout import StorageView
from hostbook.restore.plan.mounts import PlannedMount
from hostbook.restore.plan.selection import select
from hostbook.restore.plan.signatures import md_blkid_uuid
from hostbook.restore.plan.sizing import Sizing, plan_sizes
from hostbook.restore.plan.steps import Step
from hostbook.restore.plan.table_fit import TableFit
from hostbook.restore.target.devices import lv_mapper_path
from hostbook.restore.target.diskmap import MapEntry, map_lines
from hostbook.restore.target.guard import DeviceGuard

__all__ = ["Plan", "PlanInput", "make_plan"]


@dataclass
class Plan:
    """The ordered steps, and everything a person should read before running them."""

    host: str
    target_root: str
    mapping: list[MapEntry]
    steps: list[Step]
    guard: DeviceGuard
    sizing: Sizing
    paths: dict[str, str]
    mounts: list[PlannedMount]
    restored: set[str]
    fits: dict[str, TableFit]
    signatures: dict[str, list[str]]
    notes: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    keyfiles: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    """Parts the capture could not read (``--allow-incomplete``): not restored by the plan."""
    storage: StorageDocument | None = None
    """The storage as this plan rebuilds it (new UUIDs where ``--new-identities`` gave them):
    the boot phase writes fstab and checks grub.cfg by it."""

    @property
    def refused(self) -> bool:
        return bool(self.refusals)

    def map_lines(self) -> list[str]:
        return map_lines(self.mapping)

    def as_dict(self) -> dict[str, object]:
        return {
            "host": self.host,
            "target": self.target_root,
            "map": [
                {"recorded": e.recorded.key, "recorded_name": e.recorded.name,
                 "target": e.target.path, "rule": e.rule, "size": e.target.size,
                 "model": e.target.model, "serial": e.target.serial}
                for e in self.mapping
            ],
            "arithmetic": list(self.sizing.lines),
            "signatures": dict(self.signatures),
            "notes": list(self.notes),
            "keyfiles": list(self.keyfiles),
            "unknown": list(self.unknown),
            "refusals": list(self.refusals),
            "steps": [s.as_dict() for s in self.steps],
        }


def _filesystem(ctx: Planning, fs: FilesystemEntry) -> None:
    missing = filesystems.missing_facts(fs)
    if missing is not None and ctx.request.storage.incomplete:
        # --allow-incomplete: what the capture could not read is left out, not guessed
        ctx.restored.discard(fs.id)
        ctx.unknown.append(f"{fs.fstype} {fs.id}: not made and not mounted (no {missing} "
                           "recorded)")
        return
    if fs.fstype == "btrfs":
        btrfs.plan_btrfs(ctx, fs)
    else:
        filesystems.plan_filesystem(ctx, fs)


# The layers between the partition tables and the mounts, by entry type;
# entries come in dependency order, so each finds what it is built on made.
LAYERS: dict[type, Callable[[Planning, Any], None]] = {
    MdEntry: md.plan_md,
    LuksEntry: luks.plan_luks,
    PvEntry: lvm.plan_pv,
    VgEntry: lvm.plan_vg,
    FilesystemEntry: _filesystem,
    SwapEntry: filesystems.plan_swap,
}


def make_plan(request: PlanInput) -> Plan:
    """The restore plan for ``request`` (refusals are in ``plan.refusals``)."""
    renamed: list[str] = []
    if request.new_identities:
        storage, renamed = with_new_identities(request.storage, request.foreign,
                                               [e.target.path for e in request.mapping])
        request = replace(request, storage=storage)
    view = StorageView(request.storage)
    targets = {e.recorded.key: e.target for e in request.mapping}
    chosen = select(view, request.policy, set(targets))
    fits, fit_problems = partitions.fit_tables(view, request.policy, targets, chosen.restored)
    sizing = plan_sizes(view, chosen.restored, fits,
                        {k: (t.size, t.logical_sector_size) for k, t in targets.items()},
                        request.policy)
    ctx = Planning(request, view, targets, chosen.restored, fits, sizing,
                   notes=renamed + chosen.notes,
                   problems=chosen.problems + fit_problems)
    for disk_id in targets:
        partitions.plan_disk(ctx, disk_id)
    for entry in view.ordered(ctx.restored):
        layer = LAYERS.get(type(entry))
        if layer is not None:
            layer(ctx, entry)
    planned_mounts, mount_notes = mounts.plan_mounts(view, ctx.restored, request.target_root)
    ctx.notes += mount_notes
    mounts.plan_mount_steps(ctx, planned_mounts)
    reports = keyfiles.plan_keyfiles(ctx)
    guard = _guard(ctx)
    _clashes(ctx)
    return Plan(
        host=request.host,
        target_root=request.target_root,
        mapping=list(request.mapping),
        steps=ctx.steps,
        guard=guard,
        sizing=sizing,
        paths=dict(ctx.paths.paths),
        mounts=planned_mounts,
        restored=ctx.restored,
        fits=fits,
        signatures=dict(request.signatures),
        notes=ctx.notes,
        refusals=list(dict.fromkeys(ctx.problems + sizing.problems)),
        keyfiles=reports,
        unknown=[f"{i.part}: {i.reason}" for i in request.storage.incomplete] + ctx.unknown,
        storage=request.storage,
    )


def _guard(ctx: Planning) -> DeviceGuard:
    """The mapped disks, and every path the plan's steps create or may find on them."""
    guard = DeviceGuard(frozenset(t.path for t in ctx.targets.values()))
    for step in ctx.steps:
        guard.allow_derived(step.wait_for)
    derived: set[str] = set()
    for ident in ctx.restored:
        path = ctx.paths.path(ident)
        if path is not None:
            derived.add(path)
        entry = ctx.view.get(ident)
        if isinstance(entry, LvEntry):
            derived.add(lv_mapper_path(entry))
    for parts in ctx.request.existing.values():
        derived.update(parts)
    guard.allow_derived(derived)
    return guard


def _identity_keys(ident: str, entry: StorageEntry | None) -> list[tuple[str, str]]:
    """The identities ``entry`` brings back that must be unique on a system: (key, what)."""
    if isinstance(entry, FilesystemEntry | SwapEntry | LuksEntry | PvEntry) and entry.uuid:
        return [(entry.uuid, f"UUID {entry.uuid} ({ident})")]
    if isinstance(entry, MdEntry):
        return [(md_blkid_uuid(entry.uuid), f"md UUID {entry.uuid}")]
    if isinstance(entry, VgEntry):
        return [(f"vg:{entry.name}", f"VG name {entry.name}")]
    if isinstance(entry, PartitionEntry) and entry.uuid:
        return [(entry.uuid, f"partition UUID {entry.uuid}")]
    if isinstance(entry, DiskEntry | LoopEntry) and entry.table is not None and (
            entry.table.type == "gpt" and entry.table.id):
        return [(entry.table.id, f"GPT disk GUID {entry.table.id}")]
    return []


def _clashes(ctx: Planning) -> None:
    """Refuse identities that another (non-target) disk of this system carries."""
    foreign = {k.lower(): v for k, v in ctx.request.foreign.items()}
    for ident in sorted(ctx.restored):
        for key, what in _identity_keys(ident, ctx.view.get(ident)):
            where = foreign.get(key.lower())
            if where is not None:
                ctx.problems.append(
                    f"{what} is already on {where}, which is not a target: a second copy "
                    "would clash; detach or wipe that device first"
                    + (", or plan with --new-identities" if isinstance(
                        ctx.view.get(ident), RENAMEABLE) else "")
                )
