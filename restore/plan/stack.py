"""Command lines for the layers between partitions and filesystems: md, LUKS, LVM.

Each builder reads one recorded entry and returns the commands that make it
again with the recorded identity: ``mdadm --create --uuid --name``,
``cryptsetup luksFormat --uuid`` with the recorded cipher, key size, sector
size, metadata and keyslot areas and key derivation (exact iterations and
memory, so no benchmark decides them), ``pvcreate --uuid --norestorefile``,
``vgcreate -s``, ``lvcreate`` with the recorded segment type.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hostbook.manifest.sections.storage import LuksEntry, LuksKeyslot, LvEntry, MdEntry, PvEntry
from hostbook.manifest.sections.storage import VgEntry as VgRecord
from hostbook.restore.plan.sizing import LvSize
from hostbook.restore.plan.steps import Command
from hostbook.restore.units import MIB

# LUKS2 persistent activation flags -> cryptsetup open options.
LUKS_FLAGS = {
    "allow-discards": "--allow-discards",
    "same-cpu-crypt": "--perf-same_cpu_crypt",
    "submit-from-crypt-cpus": "--perf-submit_from_crypt_cpus",
    "no-read-workqueue": "--perf-no_read_workqueue",
    "no-write-workqueue": "--perf-no_write_workqueue",
}
LV_PLAIN = ("linear", "striped")
LV_RAID = ("raid1", "raid4", "raid5", "raid6", "raid10", "mirror")


@dataclass
class LayerPlan:
    commands: list[Command] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# -- md ------------------------------------------------------------------------


def md_blkid_uuid(uuid: str) -> str:
    """mdadm's ``a:b:c:d`` form -> the dashed form blkid reports for members."""
    h = uuid.replace(":", "").replace("-", "").lower()
    if len(h) != 32:
        return uuid
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def md_members(md: MdEntry) -> tuple[list[str], list[str]]:
    """(active member ids in slot order, spare member ids)."""
    active = sorted((m for m in md.members if m.role.isdigit()), key=lambda m: int(m.role))
    spares = [m for m in md.members if m.role == "spare"]
    return [m.device for m in active], [m.device for m in spares]


def md_create(md: MdEntry, path: str, members: list[str], spares: list[str],
              resync: bool) -> LayerPlan:
    plan = LayerPlan()
    if md.table is not None:
        plan.problems.append(f"md {path}: partitioned arrays are not restored")
    argv = ["mdadm", "--create", path, "--run", "--level", md.level,
            "--raid-devices", str(md.raid_devices or len(members))]
    if md.metadata:
        argv += ["--metadata", md.metadata]
    argv += ["--uuid", md.uuid]
    if md.array_name:
        argv += ["--name", md.array_name]
    if md.chunk_size:
        argv += ["--chunk", f"{md.chunk_size // 1024}K"]
    if md.layout:
        argv += ["--layout", md.layout]
    if md.bitmap in ("internal", "none"):
        argv += ["--bitmap", md.bitmap]
    elif md.bitmap:
        plan.notes.append(f"md {path}: external bitmap {md.bitmap} not recreated")
    if not resync and md.level not in ("raid0", "linear"):
        argv.append("--assume-clean")
    if spares:
        argv += ["--spare-devices", str(len(spares))]
    if len(members) < (md.raid_devices or len(members)):
        missing = (md.raid_devices or 0) - len(members)
        plan.notes.append(f"md {path}: created degraded, {missing} member(s) were not recorded")
        members = members + ["missing"] * missing
    plan.commands.append(Command((*argv, *members, *spares)))
    return plan


def md_assemble(md: MdEntry, path: str, members: list[str]) -> Command:
    return Command(("mdadm", "--assemble", path, "--uuid", md.uuid, *members))


# -- LUKS ----------------------------------------------------------------------


def first_keyslot(luks: LuksEntry) -> LuksKeyslot | None:
    usable = [k for k in luks.keyslots if k.type in (None, "luks2")]
    return min(usable, key=lambda k: k.slot) if usable else None


def pbkdf_args(luks: LuksEntry, slot: LuksKeyslot | None) -> tuple[list[str], list[str]]:
    """Options that make a keyslot with the recorded key derivation, and notes."""
    notes: list[str] = []
    if slot is None or slot.kdf is None:
        notes.append(f"LUKS {luks.uuid}: no keyslot recorded; key derivation left to cryptsetup")
        return [], notes
    kdf = slot.kdf
    args = ["--pbkdf", kdf.type]
    if kdf.type == "pbkdf2":
        if kdf.hash:
            args += ["--hash", kdf.hash]
        if kdf.iterations:
            args += ["--pbkdf-force-iterations", str(kdf.iterations)]
    else:
        if kdf.time:
            args += ["--pbkdf-force-iterations", str(kdf.time)]
        if kdf.memory:
            args += ["--pbkdf-memory", str(kdf.memory)]
        if kdf.cpus:
            args += ["--pbkdf-parallel", str(kdf.cpus)]
        if slot.af_hash:
            args += ["--hash", slot.af_hash]
    return args, notes


def luks_format(luks: LuksEntry, device: str, name: str) -> LayerPlan:
    plan = LayerPlan()
    argv = ["cryptsetup", "luksFormat", "--batch-mode", "--type", f"luks{luks.version}",
            "--uuid", luks.uuid]
    if luks.version == 2:
        if luks.label:
            argv += ["--label", luks.label]
        if luks.subsystem:
            argv += ["--subsystem", luks.subsystem]
    if luks.cipher:
        argv += ["--cipher", luks.cipher]
    if luks.key_size:
        argv += ["--key-size", str(luks.key_size)]
    slot = first_keyslot(luks)
    kdf, notes = pbkdf_args(luks, slot)
    plan.notes += notes
    if "--hash" not in kdf and luks.hash:
        argv += ["--hash", luks.hash]
    argv += kdf
    if luks.version == 2:
        if luks.sector_size:
            argv += ["--sector-size", str(luks.sector_size)]
        if luks.metadata_size:
            argv += ["--luks2-metadata-size", str(luks.metadata_size)]
        if luks.keyslots_size:
            argv += ["--luks2-keyslots-size", str(luks.keyslots_size)]
        if luks.integrity:
            argv += ["--integrity", luks.integrity]
    if luks.data_offset is not None:
        argv += ["--offset", str(luks.data_offset // 512)]
    if slot is not None:
        argv += ["--key-slot", str(slot.slot)]
    if luks.requirements:
        plan.problems.append(
            f"LUKS {luks.uuid}: header requirements {', '.join(luks.requirements)} "
            "(an unfinished reencryption?) are not recreated"
        )
    if luks.tokens:
        plan.notes.append(
            f"LUKS {luks.uuid}: tokens ({', '.join(luks.tokens)}) are not restored; enroll "
            "them again (e.g. systemd-cryptenroll)"
        )
    argv += ["--key-file=-", device]
    plan.commands.append(Command(tuple(argv), secret=luks.id, secret_name=name))
    return plan


def luks_open(luks: LuksEntry, device: str, name: str) -> Command:
    argv = ["cryptsetup", "open", "--type", f"luks{luks.version}", "--key-file=-"]
    flags = [LUKS_FLAGS[f] for f in luks.flags if f in LUKS_FLAGS]
    if flags:
        argv += ["--persistent", *flags]
    return Command((*argv, device, name), secret=luks.id, secret_name=name)


# -- LVM -----------------------------------------------------------------------


def pvcreate(pv: PvEntry, device: str) -> LayerPlan:
    plan = LayerPlan()
    argv = ["pvcreate", "--force", "--force", "--yes", "--uuid", pv.uuid, "--norestorefile"]
    if pv.metadata_copies is not None and pv.metadata_copies != 1:
        argv += ["--pvmetadatacopies", str(pv.metadata_copies)]
    if pv.bootloader_area:
        argv += ["--bootloaderareasize", f"{pv.bootloader_area}b"]
    if pv.pe_start and pv.pe_start != MIB:
        argv += ["--dataalignment", f"{pv.pe_start}b"]
    plan.commands.append(Command((*argv, device)))
    return plan


def vgcreate(vg: VgRecord, pv_paths: list[str]) -> LayerPlan:
    plan = LayerPlan()
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
        plan.notes.append(f"VG {vg.name}: system id {vg.system_id} is not set again")
    plan.commands.append(Command((*argv, vg.name, *pv_paths)))
    return plan


def lvcreate(lv: LvEntry, size: LvSize, extent: int, pv_paths: list[str],
             pool_name: str | None) -> LayerPlan:
    plan = LayerPlan()
    vg, name = lv.name.split("/", 1)
    seg = lv.segment_type
    argv = ["lvcreate", "--yes", "--name", name]
    if seg not in ("thin-pool", "thin"):  # pools are zeroed as they are used instead
        argv += ["--wipesignatures", "y"]
    if seg == "thin":
        if pool_name is None:
            plan.problems.append(f"LV {lv.name}: thin volume without a recorded pool")
            return plan
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
            plan.notes.append(
                f"LV {lv.name}: made as a plain linear LV; its {seg} "
                f"({lv.cache_pool or 'pool'}) is not recreated"
            )
        elif seg != "linear":
            plan.problems.append(f"LV {lv.name}: {seg} LVs are not restored")
            return plan
    for tag in lv.tags:
        argv += ["--addtag", tag]
    if lv.activation_skip:
        argv += ["--setactivationskip", "y", "--ignoreactivationskip"]
    argv.append(vg)
    if seg not in ("thin",):
        argv += pv_paths
    plan.commands.append(Command(tuple(argv)))
    if lv.read_only:
        plan.notes.append(f"LV {lv.name}: was read-only; made read-write for the restore")
    return plan
