"""Plan a storage restore: manifest + disk map + policy -> ordered steps.

Pure: it reads no device.  What the live system says (which disks are
present, how large, what signatures they carry) is gathered beforehand and
passed in, so the same inputs always give the same plan, the plan can be
tested on recorded outputs, and ``verify`` can rebuild the plan's
expectations later.  Order: wipe each target disk, write its partition
table, then md arrays, LUKS containers, PVs, VGs and LVs, filesystems and
swap, btrfs subvolumes, mounts under the target root, and last the keyfiles
crypttab names (they live on the restored filesystems).
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, field

from hostbook.manifest.partition_table import partition_node
from hostbook.manifest.sections.restore import RestoreDocument
from hostbook.manifest.sections.storage import (
    CryptEntry,
    CrypttabLine,
    DiskEntry,
    DmEntry,
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
    entry_references,
)
from hostbook.restore.plan import filesystems as mkfs
from hostbook.restore.plan import stack
from hostbook.restore.plan.layout import StorageView
from hostbook.restore.plan.mounts import PlannedMount, plan_mounts
from hostbook.restore.plan.partitions import (
    TableFit,
    fit_table,
    grow_problem,
    table_script,
)
from hostbook.restore.plan.sizing import Sizing, plan_sizes
from hostbook.restore.plan.steps import Command, DoneCheck, Step
from hostbook.restore.target.devices import DevicePaths, luks_name, lv_mapper_path, lv_path, md_path
from hostbook.restore.target.diskmap import (
    DiskIdentity,
    MapEntry,
    known_disks,
    map_lines,
    recorded_matches,
)
from hostbook.restore.target.guard import DeviceGuard
from hostbook.restore.units import human

WORK_DIR = "/run/hostbook-restore"
KEYFILE_BYTES = 4096


@dataclass
class PlanInput:
    """Everything the planner needs; gathered from the manifest and the live system."""

    host: str
    storage: StorageDocument
    policy: RestoreDocument
    mapping: Sequence[MapEntry]
    target_root: str
    signatures: dict[str, list[str]] = field(default_factory=dict)  # disk path -> found
    existing: dict[str, list[str]] = field(default_factory=dict)  # disk path -> partitions
    resuming: bool = False
    # Identities already on disks that are not targets: UUID or "vg:<name>" -> device.
    foreign: dict[str, str] = field(default_factory=dict)


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
            "refusals": list(self.refusals),
            "steps": [s.as_dict() for s in self.steps],
        }


def needed_disks(storage: StorageDocument, policy: RestoreDocument) -> list[str]:
    """Ids of the recorded disks a restore with this policy writes."""
    view = StorageView(storage)
    skipped = view.resolve_skip(policy.skip)
    return [d.id for d in view.disks() if d.id not in skipped]


def policy_problems(recorded: Sequence[DiskIdentity], storage: StorageDocument,
                    policy: RestoreDocument) -> list[tuple[tuple[str | int, ...], str]]:
    """What restore.yaml names that storage.yaml does not have: (path, message).

    Checked when the two files are loaded, so each problem is reported at its
    line of restore.yaml, before any disk is looked at: a disk rule for no
    recorded disk (or for one already ruled), a ``grow`` partition the disk
    does not have, an ``lvs`` id that is no LV.
    """
    view = StorageView(storage)
    problems: list[tuple[tuple[str | int, ...], str]] = []
    ruled: dict[str, int] = {}
    for index, rule in enumerate(policy.disks):
        found = recorded_matches(recorded, rule.id)
        if len(found) != 1:
            what = "several recorded disks; use the entry id" if found else (
                f"no disk of storage.yaml (recorded: {known_disks(recorded)})")
            problems.append((("disks", index, "id"), f"{rule.id!r} names {what}"))
            continue
        disk = found[0].key
        if disk in ruled:
            problems.append((("disks", index, "id"),
                             f"{rule.id!r}: {disk} already has a rule (disks item {ruled[disk]})"))
        ruled.setdefault(disk, index)
        if isinstance(rule.grow, int):
            entry = view.get(disk)
            problem = ("grow: the disk has no partition table"
                       if getattr(entry, "table", None) is None
                       else grow_problem(view.partitions_of(disk), rule.grow))
            if problem:
                problems.append((("disks", index, "grow"), f"{disk} {problem}"))
    lvs = {e.id for e in storage.entries if isinstance(e, LvEntry)}
    for index, share in enumerate(policy.lvs):
        if share.id not in lvs:
            problems.append((("lvs", index, "id"),
                             f"{share.id!r} names no LV of storage.yaml"))
    return problems


class _Planner:
    def __init__(self, request: PlanInput) -> None:
        self.request = request
        self.view = StorageView(request.storage)
        self.policy = request.policy
        self.notes: list[str] = []
        self.problems: list[str] = []
        self.steps: list[Step] = []
        self.emitted: set[str] = set()
        disk_paths = {e.recorded.key: e.target.path for e in request.mapping}
        self.paths = DevicePaths(self.view, disk_paths)
        self.guard = DeviceGuard(frozenset(disk_paths.values()))
        self.targets = {e.recorded.key: e.target for e in request.mapping}

    # -- what is restored ------------------------------------------------------

    def restorable(self) -> set[str]:
        view = self.view
        skipped = view.resolve_skip(self.policy.skip)
        mapped = set(self.targets)
        for disk in view.disks():
            if disk.id not in mapped and disk.id not in skipped:
                self.problems.append(f"recorded disk {disk.id} has no target in the disk map")
        wanted = view.closure(mapped) - skipped
        dropped: set[str] = set()
        for entry in view.ordered(wanted):
            if isinstance(entry, MountEntry):
                dropped.add(entry.id)
                continue
            refs = [r for r in _refs(entry) if r in view.by_id]
            lost = [r for r in refs if r in dropped or r not in wanted]
            if lost:
                if not any(r in dropped for r in lost):
                    self.problems.append(
                        f"{entry.id} also sits on {', '.join(lost)}, which is not restored "
                        "(map its disk or skip it)"
                    )
                dropped.add(entry.id)
                continue
            reason = self._not_restored(entry)
            if reason is not None:
                dropped.add(entry.id)
                if reason:
                    self.notes.append(reason)
        for ident in sorted(skipped):
            entry = view.get(ident)
            if entry is not None and not isinstance(entry, MountEntry):
                self.notes.append(f"{ident}: skipped (restore.yaml)")
        return wanted - dropped

    def _not_restored(self, entry: StorageEntry) -> str | None:
        if isinstance(entry, LvEntry) and entry.snapshot:
            return f"LV {entry.name}: a snapshot; not recreated (snapshots hold data)"
        if isinstance(entry, CryptEntry):
            return (f"dm-crypt {entry.name}: plain (no header); set up at boot from crypttab, "
                    "nothing to restore")
        if isinstance(entry, DmEntry):
            self.problems.append(
                f"dm {entry.name} ({entry.subsystem or 'device-mapper'}): not restored; add "
                f"{entry.id} to skip in restore.yaml"
            )
            return ""
        if isinstance(entry, FilesystemEntry) and entry.fstype not in mkfs.SUPPORTED:
            self.problems.append(
                f"{entry.fstype} on {entry.name or entry.device}: no way to recreate it; add "
                f"{entry.id} to skip in restore.yaml"
            )
            return ""
        if isinstance(entry, MdEntry) and not entry.assembled and entry.level == "unknown":
            self.problems.append(f"md {entry.uuid}: level unknown (never assembled); skip it")
            return ""
        return None

    # -- steps -----------------------------------------------------------------

    def add(self, step: Step) -> None:
        self.steps.append(step)

    def plan(self) -> Plan:
        request = self.request
        restored = self.restorable()
        fits = self._fits(restored)
        targets = {k: (t.size, t.logical_sector_size) for k, t in self.targets.items()}
        sizing = plan_sizes(self.view, restored, fits, targets, self.policy)
        for disk_id in self.targets:
            self._disk(disk_id, fits.get(disk_id), restored)
        for entry in self.view.ordered(restored):
            self._entry(entry, restored, sizing)
        mounts, mount_notes = plan_mounts(self.view, restored, request.target_root)
        self.notes += mount_notes
        self._mounts(mounts)
        keyfiles = self._keyfiles(restored)
        for step in self.steps:
            self.guard.allow_derived(step.wait_for)
        self._guard_paths(restored, fits)
        self._clashes(restored)
        problems = self.problems + sizing.problems
        return Plan(
            host=request.host,
            target_root=request.target_root,
            mapping=list(request.mapping),
            steps=self.steps,
            guard=self.guard,
            sizing=sizing,
            paths=dict(self.paths.paths),
            mounts=mounts,
            restored=restored,
            fits=fits,
            signatures=dict(request.signatures),
            notes=self.notes,
            refusals=list(dict.fromkeys(problems)),
            keyfiles=keyfiles,
        )

    def _clashes(self, restored: set[str]) -> None:
        """Refuse identities that another (non-target) disk of this system carries."""
        foreign = {k.lower(): v for k, v in self.request.foreign.items()}
        for ident in sorted(restored):
            entry = self.view.get(ident)
            keys: list[tuple[str, str]] = []
            if isinstance(entry, FilesystemEntry | SwapEntry | LuksEntry | PvEntry) and entry.uuid:
                keys.append((entry.uuid, f"UUID {entry.uuid} ({ident})"))
            elif isinstance(entry, MdEntry):
                keys.append((stack.md_blkid_uuid(entry.uuid), f"md UUID {entry.uuid}"))
            elif isinstance(entry, VgEntry):
                keys.append((f"vg:{entry.name}", f"VG name {entry.name}"))
            elif isinstance(entry, PartitionEntry) and entry.uuid:
                keys.append((entry.uuid, f"partition UUID {entry.uuid}"))
            elif isinstance(entry, DiskEntry | LoopEntry) and entry.table is not None and (
                    entry.table.type == "gpt" and entry.table.id):
                keys.append((entry.table.id, f"GPT disk GUID {entry.table.id}"))
            for key, what in keys:
                where = foreign.get(key.lower())
                if where is not None:
                    self.problems.append(
                        f"{what} is already on {where}, which is not a target: a second copy "
                        "would clash; detach or wipe that device first"
                    )

    def _guard_paths(self, restored: set[str], fits: dict[str, TableFit]) -> None:
        derived: set[str] = set()
        for ident in restored:
            path = self.paths.path(ident)
            if path is not None:
                derived.add(path)
            entry = self.view.get(ident)
            if isinstance(entry, LvEntry):
                derived.add(lv_mapper_path(entry))
        for parts in self.request.existing.values():
            derived.update(parts)
        self.guard.allow_derived(derived)

    def _fits(self, restored: set[str]) -> dict[str, TableFit]:
        fits: dict[str, TableFit] = {}
        grow = {d.id: d.grow for d in self.policy.disks}
        for disk_id, target in self.targets.items():
            disk = self.view.get(disk_id)
            if not isinstance(disk, DiskEntry | LoopEntry):
                continue
            if disk.table is None:
                if target.size < disk.size:
                    content = [e for e in self.view.content_of(disk_id) if e.id in restored]
                    if content:
                        self.problems.append(
                            f"{disk_id}: the whole disk ({human(disk.size)}) holds "
                            f"{content[0].id}; the target has {human(target.size)}"
                        )
                continue
            parts = [p for p in self.view.partitions_of(disk_id)]
            fits[disk_id] = fit_table(
                disk_id, disk.table, parts, disk.size, target.size,
                target.logical_sector_size, grow.get(disk_id, "last"),
                label=f"{target.path} ({disk_id})",
            )
        return fits

    def _disk(self, disk_id: str, fit: TableFit | None, restored: set[str]) -> None:
        target = self.targets[disk_id]
        path = target.path
        table_check: DoneCheck | None = None
        if fit is not None:
            sector = fit.sector_size
            parts = sorted(fit.partitions, key=lambda p: p.entry.number)
            table_check = DoneCheck("ptable", path, {
                "label": fit.table.type,
                "id": fit.table.id or "",
                "partitions": json.dumps(
                    [[p.start // sector, p.size // sector,
                      p.entry.uuid if fit.table.type == "gpt" and p.entry.uuid else ""]
                     for p in parts],
                    separators=(",", ":")),
            })
        existing = list(reversed(self.request.existing.get(path, [])))
        found = self.request.signatures.get(path, [])
        commands = [Command(("wipefs", "--all", part)) for part in existing]
        commands.append(Command(("wipefs", "--all", path)))
        notes = tuple(f"found: {line}" for line in found) or ("no signatures found",)
        # Done when the disk already carries the table this plan writes: wiping
        # then would destroy the restore's own work (a re-run after a kill).
        self.add(Step(
            id=f"wipe:{disk_id}", layer="wipe",
            summary=f"wipe every signature on {path} ({target.describe()})",
            commands=tuple(commands), devices=(path, *existing), notes=notes,
            done=table_check or self._whole_disk_check(disk_id, path, restored),
            stable_key=path,
        ))
        if fit is None or table_check is None:
            return
        script = table_script(fit, path)
        numbers = [p.entry.number for p in fit.partitions]
        wait = tuple(partition_node(path, n) for n in sorted(numbers))
        commands = [Command(("sfdisk", "--quiet", "--wipe", "always", "--wipe-partitions",
                             "always", path), stdin=script)]
        if numbers:
            commands.append(Command(("partx", "--update", "--nr", f"1:{max(numbers)}", path)))
        label = "GPT" if fit.table.type == "gpt" else "MBR"
        self.add(Step(
            id=f"table:{disk_id}", layer="partition",
            summary=f"write the {label} partition table on {path} "
                    f"({len(numbers)} partition{'s' if len(numbers) != 1 else ''})",
            commands=tuple(commands), devices=(path,), done=table_check, wait_for=wait,
            notes=tuple(fit.lines),
        ))

    def _whole_disk_check(self, disk_id: str, path: str, restored: set[str]) -> DoneCheck:
        """A disk without a table: done when its content's signature is there."""
        for entry in self.view.content_of(disk_id):
            if entry.id not in restored:
                continue
            if isinstance(entry, FilesystemEntry | SwapEntry):
                return DoneCheck("blkid", path, mkfs.blkid_expect(entry))
            if isinstance(entry, LuksEntry):
                return DoneCheck("blkid", path, {"TYPE": "crypto_LUKS", "UUID": entry.uuid})
            if isinstance(entry, PvEntry):
                return DoneCheck("blkid", path, {"TYPE": "LVM2_member", "UUID": entry.uuid})
            if isinstance(entry, MdEntry):
                return DoneCheck("blkid", path, {"TYPE": "linux_raid_member",
                                                 "UUID": stack.md_blkid_uuid(entry.uuid)})
        return DoneCheck("never")

    def _entry(self, entry: StorageEntry, restored: set[str], sizing: Sizing) -> None:
        if isinstance(entry, MdEntry):
            self._md(entry)
        elif isinstance(entry, LuksEntry):
            self._luks(entry)
        elif isinstance(entry, PvEntry):
            self._pv(entry)
        elif isinstance(entry, VgEntry):
            self._vg(entry, restored, sizing)
        elif isinstance(entry, FilesystemEntry):
            self._filesystem(entry, sizing)
        elif isinstance(entry, SwapEntry):
            self._swap(entry)

    def _path(self, ident: str | None) -> str:
        path = self.paths.path(ident) if ident else None
        if path is None:
            raise ValueError(f"no target path for {ident}")
        return path

    def _md(self, md: MdEntry) -> None:
        path = md_path(md)
        active, spares = stack.md_members(md)
        members = [self._path(m) for m in active]
        spare_paths = [self._path(m) for m in spares]
        built = stack.md_create(md, path, members, spare_paths, self.policy.md_resync)
        self.problems += built.problems
        self.notes += built.notes
        blkid_uuid = stack.md_blkid_uuid(md.uuid)
        self.add(Step(
            id=f"md:{md.uuid}", layer="md",
            summary=f"create md {md.level} {path} from {', '.join(members)}",
            commands=tuple(built.commands), devices=(path, *members, *spare_paths),
            done=DoneCheck("md-members", "", {"uuid": blkid_uuid,
                                              "members": " ".join(members + spare_paths)}),
            wait_for=(path,),
        ))
        self.add(Step(
            id=f"md-run:{md.uuid}", layer="md", summary=f"make sure {path} is running",
            commands=(stack.md_assemble(md, path, members + spare_paths),),
            devices=(path, *members), destructive=False,
            done=DoneCheck("md", path, {"uuid": md.uuid}), wait_for=(path,),
        ))

    def _luks(self, luks: LuksEntry) -> None:
        device = self._path(luks.device)
        name = luks_name(luks)
        mapped = self._path(luks.id)
        built = stack.luks_format(luks, device, name)
        self.problems += built.problems
        self.notes += built.notes
        extra = max(luks.keyslots_in_use - 1 - len(self._keyfile_lines(luks)), 0)
        if extra:
            self.notes.append(
                f"LUKS {luks.uuid}: {extra} more keyslot(s) were in use (other passphrases or "
                "keys); only the passphrase given now and crypttab keyfiles are enrolled"
            )
        self.add(Step(
            id=f"luks:{luks.uuid}", layer="luks",
            summary=f"create LUKS{luks.version} {luks.uuid} on {device}",
            commands=tuple(built.commands), devices=(device,),
            done=DoneCheck("blkid", device, {"TYPE": "crypto_LUKS", "UUID": luks.uuid}),
        ))
        self.add(Step(
            id=f"luks-open:{luks.uuid}", layer="crypt", summary=f"open {device} as {mapped}",
            commands=(stack.luks_open(luks, device, name),), devices=(device, mapped),
            destructive=False,
            done=DoneCheck("mapper", mapped, {"name": name, "backing": device}),
            wait_for=(mapped,),
        ))

    def _pv(self, pv: PvEntry) -> None:
        if pv.device is None:
            self.problems.append(f"PV {pv.uuid}: its device was missing at capture")
            return
        device = self._path(pv.device)
        built = stack.pvcreate(pv, device)
        self.notes += built.notes
        self.add(Step(
            id=f"pv:{pv.uuid}", layer="lvm", summary=f"make {device} an LVM PV ({pv.uuid})",
            commands=tuple(built.commands), devices=(device,),
            done=DoneCheck("blkid", device, {"TYPE": "LVM2_member", "UUID": pv.uuid}),
        ))

    def _vg(self, vg: VgEntry, restored: set[str], sizing: Sizing) -> None:
        pvs = [p for p in (self.view.get(i) for i in vg.pvs) if isinstance(p, PvEntry)]
        missing = [p.uuid for p in pvs if p.id not in restored]
        if missing or vg.missing_pvs:
            self.problems.append(
                f"VG {vg.name}: PV(s) {', '.join(missing) or '(missing at capture)'} are not "
                "restored; the VG cannot be made whole"
            )
            return
        pv_paths = [self._path(p.device) for p in pvs]
        built = stack.vgcreate(vg, pv_paths)
        self.notes += built.notes
        self.add(Step(
            id=f"vg:{vg.name}", layer="lvm",
            summary=f"create VG {vg.name} on {', '.join(pv_paths)} "
                    f"(extent {human(vg.extent_size)})",
            commands=tuple(built.commands), devices=tuple(pv_paths),
            done=DoneCheck("lvm-vg", "", {"name": vg.name}),
        ))
        self.add(Step(
            id=f"vg-activate:{vg.name}", layer="lvm",
            summary=f"activate the LVs of {vg.name} made so far",
            commands=(Command(("vgchange", "--activate", "y", vg.name)),),
            destructive=False, done=DoneCheck("never"),
        ))
        all_pvs = {p.id for p in pvs}
        for ident in sizing.lv_order:
            lv = self.view.get(ident)
            if not isinstance(lv, LvEntry) or lv.vg != vg.id or ident not in restored:
                continue
            size = sizing.lv_sizes.get(ident)
            if size is None:
                continue
            lv_pvs = [p for p in lv.pvs if p in all_pvs]
            on = [self._path(self.view.by_id[p].device) for p in lv_pvs  # type: ignore[union-attr]
                  ] if lv_pvs and set(lv_pvs) != all_pvs else []
            pool = self.view.get(lv.pool) if lv.pool else None
            pool_name = pool.lv_name if isinstance(pool, LvEntry) else None
            built = stack.lvcreate(lv, size, vg.extent_size, on, pool_name)
            self.problems += built.problems
            self.notes += built.notes
            if not built.commands:
                continue
            how = (f"{size.percent_free}% of the free space (about {human(size.size)})"
                   if size.percent_free is not None else human(lv.size))
            kind = "" if lv.segment_type == "linear" else f"{lv.segment_type} "
            public = lv.segment_type != "thin-pool"
            self.add(Step(
                id=f"lv:{lv.name}", layer="lvm", summary=f"create {kind}LV {lv.name}, {how}",
                commands=tuple(built.commands), devices=tuple(on),
                done=DoneCheck("lvm-lv", "", {"name": lv.name}),
                wait_for=(lv_path(lv),) if public else (),
            ))

    def _filesystem(self, fs: FilesystemEntry, sizing: Sizing) -> None:
        device = self._path(fs.device)
        exact = fs.device not in sizing.resized
        sector = sizing.sector.get(fs.device, 512)
        problem = mkfs.check_sector(fs, sector)
        if problem:
            self.problems.append(problem)
        if fs.fstype in mkfs.EXT_TYPES:
            built = mkfs.ext_commands(fs, device, exact)
        elif fs.fstype == "xfs":
            built = mkfs.xfs_commands(fs, device, exact)
        elif fs.fstype == "vfat":
            built = mkfs.vfat_commands(fs, device)
        else:
            members = [d.device for d in (fs.btrfs.devices if fs.btrfs else []) if d.device]
            members = members or [fs.device]
            paths = [self._path(m) for m in members]
            built = mkfs.btrfs_commands(fs, paths, self._btrfs_sizes(fs, members, sizing))
            device = paths[0]
        self.problems += built.problems
        self.notes += built.notes
        what = f"{fs.fstype} {fs.label!r}" if fs.label else fs.fstype
        size = sizing.planned.get(fs.id)
        self.add(Step(
            id=fs.id, layer="filesystem",
            summary=f"make {what} on {device} (UUID {fs.uuid})"
                    + (f", {human(size)}" if size and not exact else ""),
            commands=tuple(built.commands), devices=(device,),
            done=DoneCheck("blkid", device, mkfs.blkid_expect(fs)),
        ))
        if fs.fstype == "btrfs" and fs.btrfs is not None:
            self._btrfs_tree(fs, device)

    def _btrfs_sizes(self, fs: FilesystemEntry, members: list[str], sizing: Sizing
                     ) -> list[int | None]:
        """Per member, the size btrfs had on it when smaller than the device (-b)."""
        sizes: list[int | None] = []
        for member in members:
            recorded = next((d.size for d in fs.btrfs.devices if d.device == member), None
                            ) if fs.btrfs else None
            device = self.view.get(member)
            device_size = getattr(device, "size", None)
            smaller = (recorded is not None and device_size is not None
                       and recorded < device_size and member not in sizing.resized)
            sizes.append(recorded if smaller else None)
        return sizes

    def _btrfs_tree(self, fs: FilesystemEntry, device: str) -> None:
        btrfs = fs.btrfs
        assert btrfs is not None
        subvolumes = [s for s in sorted(btrfs.subvolumes, key=lambda s: s.id) if s.path]
        default = next((s.path for s in btrfs.subvolumes
                        if s.id == btrfs.default_subvolume and s.path), None)
        if not subvolumes and not btrfs.quota and default is None:
            return
        top = f"{WORK_DIR}/btrfs-{fs.uuid}"
        self.add(Step(
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
                commands.append(Command(("btrfs", "property", "set", "-ts", where, "ro",
                                         "true")))
            self.add(Step(
                id=f"subvolume:{fs.uuid}:{sub.path}", layer="subvolume",
                summary=f"create subvolume {sub.path}" + (" (read-only)" if sub.readonly
                                                          else ""),
                commands=tuple(commands), devices=(device,),
                done=DoneCheck("subvolume", device, {"path": where}),
            ))
        if default is not None:
            self.add(Step(
                id=f"btrfs-default:{fs.uuid}", layer="subvolume",
                summary=f"make {default} the default subvolume",
                commands=(Command(("btrfs", "subvolume", "set-default", f"{top}/{default}")),),
                devices=(device,),
                done=DoneCheck("default-subvolume", device, {"top": top, "path": default}),
            ))
        if btrfs.quota:
            self.add(Step(
                id=f"btrfs-quota:{fs.uuid}", layer="subvolume", summary="enable quota groups",
                commands=(Command(("btrfs", "quota", "enable", top)),), devices=(device,),
                destructive=False, done=DoneCheck("never"),
            ))
        self.add(Step(
            id=f"btrfs-top-off:{fs.uuid}", layer="subvolume",
            summary=f"unmount {top}", commands=(Command(("umount", top)),),
            devices=(device,), destructive=False,
            done=DoneCheck("unmounted", device, {"path": top}),
        ))

    def _swap(self, swap: SwapEntry) -> None:
        device = self._path(swap.device)
        built = mkfs.swap_commands(swap, device)
        self.notes += built.notes
        self.add(Step(
            id=swap.id, layer="swap",
            summary=f"make swap on {device} (UUID {swap.uuid})",
            commands=tuple(built.commands), devices=(device,),
            done=DoneCheck("blkid", device, mkfs.blkid_expect(swap)),
        ))

    def _mounts(self, mounts: list[PlannedMount]) -> None:
        for mount in mounts:
            fs = self.view.get(mount.filesystem)
            assert isinstance(fs, FilesystemEntry)
            device = self._path(fs.device)
            argv = ["mount", "-t", mount.fstype]
            if mount.options:
                argv += ["-o", mount.options]
            self.add(Step(
                id=f"mount:{mount.mountpoint}", layer="mount",
                summary=f"mount {device} on {mount.path}"
                        + (f" ({mount.options})" if mount.options else ""),
                commands=(Command(("mkdir", "-p", mount.path)),
                          Command((*argv, device, mount.path))),
                devices=(device,), destructive=False,
                done=DoneCheck("mounted", device, {"path": mount.path}),
            ))

    def _keyfile_lines(self, luks: LuksEntry) -> list[CrypttabLine]:
        lines = []
        for line in self.view.document.crypttab.entries:
            key = line.key_file or ""
            if line.target != luks.id or key in ("", "none", "-") or key.startswith("/dev/"):
                continue
            lines.append(line)
        return lines

    def _keyfiles(self, restored: set[str]) -> list[str]:
        reports = []
        root = self.request.target_root
        for luks in self.view.of_type(LuksEntry):
            if luks.id not in restored:
                continue
            slots = sorted(luks.keyslots, key=lambda k: k.slot)
            spare = [s for s in slots[1:]]
            for line in self._keyfile_lines(luks):
                key = line.key_file or ""
                if ":" in key or not key.startswith("/"):
                    self.notes.append(
                        f"crypttab {line.name}: key file {key} is not a plain path; "
                        "not regenerated"
                    )
                    continue
                path = root + posixpath.normpath(key)
                device = self._path(luks.device)
                slot = spare.pop(0) if spare else None
                kdf, _ = stack.pbkdf_args(luks, slot or stack.first_keyslot(luks))
                slot_args = ["--key-slot", str(slot.slot)] if slot else []
                self.add(Step(
                    id=f"keyfile:{line.name}", layer="keyfile",
                    summary=f"generate a new key file {path} ({KEYFILE_BYTES} random bytes)",
                    commands=(Command(("install", "-d", "-m", "0700", posixpath.dirname(path))),
                              Command(("dd", "if=/dev/urandom", f"of={path}",
                                       f"bs={KEYFILE_BYTES}", "count=1", "status=none")),
                              Command(("chmod", "0400", path))),
                    destructive=False, done=DoneCheck("file", "", {"path": path}),
                ))
                self.add(Step(
                    id=f"keyslot:{line.name}", layer="keyfile",
                    summary=f"enroll {path} in LUKS {luks.uuid}"
                            + (f" keyslot {slot.slot}" if slot else ""),
                    commands=(Command(("cryptsetup", "luksAddKey", "--batch-mode",
                                       "--key-file=-", *kdf, *slot_args, device, path),
                                      secret=luks.id, secret_name=luks_name(luks)),),
                    devices=(device,),
                    done=DoneCheck("key-opens", device, {"path": path}),
                ))
                reports.append(
                    f"{key}: regenerated as {path} (new random key, enrolled in LUKS "
                    f"{luks.uuid}); the old key file no longer opens it"
                )
        return reports


def _refs(entry: StorageEntry) -> list[str]:
    return entry_references(entry)


def make_plan(request: PlanInput) -> Plan:
    """The restore plan for ``request`` (refusals are in ``plan.refusals``)."""
    return _Planner(request).plan()
