"""LVM: PVs with their recorded UUIDs, VGs with their extent size, LVs by segment type.

``pvcreate --uuid --norestorefile`` keeps each PV's identity (and its
metadata copies, bootloader area and data alignment), ``vgcreate`` the
extent size, tags, allocation policy and limits, ``lvcreate`` each LV's
segment type (linear, striped, RAID, thin pools before their thin volumes)
in extents, or in the share of free space restore.yaml gives.  LVs are
made in the order the sizing chose (fixed sizes first), each on the PVs it
was recorded on when that is not all of the VG's.
"""

from __future__ import annotations

from hostbook.manifest.sections.storage import LvEntry, PvEntry
from hostbook.manifest.sections.storage import VgEntry as VgRecord
from hostbook.restore.plan.context import Built, Planning
from hostbook.restore.plan.signatures import signature_check
from hostbook.restore.plan.sizing import LvSize
from hostbook.restore.plan.steps import Command, DoneCheck, Step
from hostbook.restore.target.devices import lv_path
from hostbook.restore.units import MIB, human

LV_RAID = ("raid1", "raid4", "raid5", "raid6", "raid10", "mirror")


def pvcreate(pv: PvEntry, device: str) -> Built:
    built = Built()
    argv = ["pvcreate", "--force", "--force", "--yes", "--uuid", pv.uuid, "--norestorefile"]
    if pv.metadata_copies is not None and pv.metadata_copies != 1:
        argv += ["--pvmetadatacopies", str(pv.metadata_copies)]
    if pv.bootloader_area:
        argv += ["--bootloaderareasize", f"{pv.bootloader_area}b"]
    if pv.pe_start and pv.pe_start != MIB:
        argv += ["--dataalignment", f"{pv.pe_start}b"]
    built.commands.append(Command((*argv, device)))
    return built


def vgcreate(vg: VgRecord, pv_paths: list[str]) -> Built:
    built = Built()
    argv = ["vgcreate", "--yes", "--physicalextentsize", f"{vg.extent_size // 1024}k"]
    for tag in vg.tags:
        argv += ["--addtag", tag]
    if vg.allocation_policy and vg.allocation_policy != "normal":
        argv += ["--alloc", vg.allocation_policy]
    if vg.max_lv:
        argv += ["--maxlogicalvolumes", str(vg.max_lv)]
    if vg.max_pv:
        argv += ["--maxphysicalvolumes", str(vg.max_pv)]
    if vg.metadata_copies and vg.metadata_copies != "unmanaged":
        argv += ["--vgmetadatacopies", vg.metadata_copies]
    if vg.system_id:
        built.notes.append(f"VG {vg.name}: system id {vg.system_id} is not set again")
    built.commands.append(Command((*argv, vg.name, *pv_paths)))
    return built


def lvcreate(lv: LvEntry, size: LvSize, extent: int, pv_paths: list[str],
             pool_name: str | None) -> Built:
    built = Built()
    vg, name = lv.name.split("/", 1)
    seg = lv.segment_type
    argv = ["lvcreate", "--yes", "--name", name]
    if seg not in ("thin-pool", "thin"):  # pools are zeroed as they are used instead
        argv += ["--wipesignatures", "y"]
    if seg == "thin":
        if pool_name is None:
            built.problems.append(f"LV {lv.name}: thin volume without a recorded pool")
            return built
        argv += ["--type", "thin", "--virtualsize", f"{lv.size // 1024}k", "--thinpool",
                 pool_name]
    else:
        if size.percent_free is not None:
            argv += ["--extents", f"{size.percent_free}%FREE"]
        else:
            argv += ["--extents", str(-(-size.size // extent))]
        if seg == "thin-pool":
            argv += ["--type", "thin-pool"]
            if lv.pool_metadata_size:
                argv += ["--poolmetadatasize", f"{lv.pool_metadata_size // 1024}k"]
            if lv.chunk_size:
                argv += ["--chunksize", f"{lv.chunk_size // 1024}k"]
            if lv.zero is not None:
                argv += ["--zero", "y" if lv.zero else "n"]
            if lv.discards:
                argv += ["--discards", lv.discards]
        elif seg == "striped" or (seg == "linear" and (lv.stripes or 1) > 1):
            argv += ["--type", "striped", "--stripes", str(lv.stripes or 1)]
            if lv.stripe_size:
                argv += ["--stripesize", f"{lv.stripe_size // 1024}k"]
        elif seg in LV_RAID:
            argv += ["--type", seg]
            images = lv.stripes or 2
            if seg in ("raid1", "mirror"):
                argv += ["--mirrors", str(lv.mirrors if lv.mirrors is not None else images - 1)]
            else:
                parity = {"raid4": 1, "raid5": 1, "raid6": 2}.get(seg, 0)
                data = images // 2 if seg == "raid10" else images - parity
                argv += ["--stripes", str(max(data, 1))]
                if lv.stripe_size:
                    argv += ["--stripesize", f"{lv.stripe_size // 1024}k"]
            if lv.region_size:
                argv += ["--regionsize", f"{lv.region_size // 1024}k"]
        elif seg in ("cache", "writecache"):
            built.notes.append(
                f"LV {lv.name}: made as a plain linear LV; its {seg} "
                f"({lv.cache_pool or 'pool'}) is not recreated"
            )
        elif seg != "linear":
            built.problems.append(f"LV {lv.name}: {seg} LVs are not restored")
            return built
    for tag in lv.tags:
        argv += ["--addtag", tag]
    if lv.activation_skip:
        argv += ["--setactivationskip", "y", "--ignoreactivationskip"]
    argv.append(vg)
    if seg not in ("thin",):
        argv += pv_paths
    built.commands.append(Command(tuple(argv)))
    if lv.read_only:
        built.notes.append(f"LV {lv.name}: was read-only; made read-write for the restore")
    return built


def plan_pv(ctx: Planning, pv: PvEntry) -> None:
    if pv.device is None:
        ctx.problems.append(f"PV {pv.uuid}: its device was missing at capture")
        return
    device = ctx.path(pv.device)
    ctx.add(Step(
        id=f"pv:{pv.uuid}", layer="lvm", summary=f"make {device} an LVM PV ({pv.uuid})",
        commands=ctx.take(pvcreate(pv, device)), devices=(device,),
        done=signature_check(device, pv),
    ))


def plan_vg(ctx: Planning, vg: VgRecord) -> None:
    """Create the VG on its PVs, activate it, then create its LVs."""
    pvs = [p for p in (ctx.view.get(i) for i in vg.pvs) if isinstance(p, PvEntry)]
    missing = [p.uuid for p in pvs if p.id not in ctx.restored]
    if missing or vg.missing_pvs:
        ctx.problems.append(
            f"VG {vg.name}: PV(s) {', '.join(missing) or '(missing at capture)'} are not "
            "restored; the VG cannot be made whole"
        )
        return
    pv_paths = [ctx.path(p.device) for p in pvs]
    ctx.add(Step(
        id=f"vg:{vg.name}", layer="lvm",
        summary=f"create VG {vg.name} on {', '.join(pv_paths)} "
                f"(extent {human(vg.extent_size)})",
        commands=ctx.take(vgcreate(vg, pv_paths)), devices=tuple(pv_paths),
        done=DoneCheck("lvm-vg", "", {"name": vg.name}),
    ))
    ctx.add(Step(
        id=f"vg-activate:{vg.name}", layer="lvm",
        summary=f"activate the LVs of {vg.name} made so far",
        commands=(Command(("vgchange", "--activate", "y", vg.name)),),
        destructive=False, done=DoneCheck("never"),
    ))
    for ident in ctx.sizing.lv_order:
        lv = ctx.view.get(ident)
        if isinstance(lv, LvEntry) and lv.vg == vg.id and ident in ctx.restored:
            _plan_lv(ctx, vg, lv, {p.id for p in pvs})


def _plan_lv(ctx: Planning, vg: VgRecord, lv: LvEntry, all_pvs: set[str]) -> None:
    size = ctx.sizing.lv_sizes.get(lv.id)
    if size is None:
        return
    lv_pvs = [p for p in lv.pvs if p in all_pvs]
    on = [ctx.path(ctx.view.by_id[p].device) for p in lv_pvs  # type: ignore[union-attr]
          ] if lv_pvs and set(lv_pvs) != all_pvs else []
    pool = ctx.view.get(lv.pool) if lv.pool else None
    pool_name = pool.lv_name if isinstance(pool, LvEntry) else None
    commands = ctx.take(lvcreate(lv, size, vg.extent_size, on, pool_name))
    if not commands:
        return
    how = (f"{size.percent_free}% of the free space (about {human(size.size)})"
           if size.percent_free is not None else human(lv.size))
    kind = "" if lv.segment_type == "linear" else f"{lv.segment_type} "
    public = lv.segment_type != "thin-pool"
    ctx.add(Step(
        id=f"lv:{lv.name}", layer="lvm", summary=f"create {kind}LV {lv.name}, {how}",
        commands=commands, devices=tuple(on),
        done=DoneCheck("lvm-lv", "", {"name": lv.name}),
        wait_for=(lv_path(lv),) if public else (),
    ))
