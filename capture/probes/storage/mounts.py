"""Storage probe 6: active mounts, /etc/fstab, /etc/crypttab, active swap.

One ``findmnt`` lists the mount table with the used space of each mounted
filesystem; only mounts of captured block devices become entries.  fstab
and crypttab are kept twice: parsed (each line resolved to the entry it
names) and as raw text, comments included.
"""

from __future__ import annotations

from typing import Any

from hostbook.capture.parsers.findmnt import FindmntError, Mount, option_value, parse
from hostbook.capture.parsers.fstab import TabError, parse_fstab
from hostbook.capture.probe import Probe, ProbeContext
from hostbook.capture.probes.storage.inventory import (
    StorageState,
    device_id,
    filesystem_id,
    state,
)
from hostbook.capture.probes.storage.luks import CRYPTTAB, resolve_spec

FSTAB = "/etc/fstab"
FINDMNT = ("findmnt", "--json", "--list", "--bytes", "--nofsroot",
           "-o", "SOURCE,TARGET,FSTYPE,OPTIONS,FSROOT,MAJ:MIN,USED,SIZE")


def mount_device(ctx: ProbeContext, st: StorageState, mount: Mount) -> str | None:
    """Kernel name of the block device behind a mount, if it is one."""
    if mount.majmin and not mount.majmin.startswith("0:"):
        kname = st.by_devno.get(mount.majmin)
        if kname:
            return kname
    return st.resolve_path(ctx.runner, mount.source)


def read_mounts(ctx: ProbeContext, st: StorageState) -> list[tuple[Mount, str]]:
    result = ctx.run_ok(list(FINDMNT), "mounts")
    if result is None:
        return []
    try:
        mounts = parse(result.stdout)
    except FindmntError as exc:
        ctx.mark_incomplete("mounts", str(exc))
        return []
    st.mounts = mounts
    found = []
    for mount in mounts:
        kname = mount_device(ctx, st, mount)
        if kname is not None and st.included(kname):
            found.append((mount, kname))
    return found


def read_swaps(ctx: ProbeContext, st: StorageState) -> None:
    text = ctx.runner.read_file("/proc/swaps") or ""
    for line in text.splitlines()[1:]:
        fields = line.split()
        if fields and fields[0].startswith("/dev/"):
            kname = st.resolve_path(ctx.runner, fields[0])
            if kname:
                st.swaps.add(kname)


def _unique(ident: str, taken: set[str]) -> str:
    candidate, count = ident, 1
    while candidate in taken:
        count += 1
        candidate = f"{ident}#{count}"
    taken.add(candidate)
    return candidate


def fstab_section(ctx: ProbeContext, st: StorageState) -> tuple[dict[str, Any], dict[str, str]]:
    """The ``fstab:`` record, and mountpoint -> fstab entry id for the mounts."""
    raw = ctx.runner.read_file(FSTAB)
    section: dict[str, Any] = {"entries": [], "raw": raw}
    by_mountpoint: dict[str, str] = {}
    if raw is None:
        return section, by_mountpoint
    try:
        lines = parse_fstab(raw, FSTAB)
    except TabError as exc:
        ctx.mark_incomplete("fstab", str(exc))
        return section, by_mountpoint
    taken: set[str] = set()
    for line in lines:
        base = f"fstab:swap:{line.spec}" if line.fstype == "swap" else f"fstab:{line.mountpoint}"
        ident = _unique(base, taken)
        kname = resolve_spec(ctx, st, line.spec)
        target = filesystem_id(st, kname) if kname else None
        if kname and target is None:
            target = device_id(st, kname)
        section["entries"].append(
            {
                "id": ident,
                "spec": line.spec,
                "mountpoint": line.mountpoint,
                "fstype": line.fstype,
                "options": line.options,
                "dump": line.dump,
                "passno": line.passno,
                "target": target,
            }
        )
        if line.fstype != "swap":
            by_mountpoint.setdefault(line.mountpoint, ident)
    return section, by_mountpoint


def crypttab_section(ctx: ProbeContext, st: StorageState) -> dict[str, Any]:
    raw = ctx.runner.read_file(CRYPTTAB)
    entries = []
    for line in st.crypttab:
        kname = resolve_spec(ctx, st, line.source)
        dev = st.device(kname)
        if dev is not None and dev.blkid.get("TYPE") == "crypto_LUKS" and dev.blkid.get("UUID"):
            target: str | None = f"luks:{dev.blkid['UUID']}"
        else:
            target = f"crypt:{line.name}"
        entries.append(
            {
                "id": f"crypttab:{line.name}",
                "name": line.name,
                "source": line.source,
                "key_file": line.key_file,
                "options": line.options,
                "target": target,
            }
        )
    return {"entries": entries, "raw": raw}


def collect(ctx: ProbeContext, doc: dict[str, Any]) -> None:
    st = state(doc)
    mounted = read_mounts(ctx, st)
    read_swaps(ctx, st)
    fstab, by_mountpoint = fstab_section(ctx, st)
    doc["fstab"] = fstab
    doc["crypttab"] = crypttab_section(ctx, st)
    taken: set[str] = set()
    for mount, kname in mounted:
        subvol = option_value(mount.options, "subvol") if mount.fstype == "btrfs" else None
        st.add_entry(
            {
                "id": _unique(f"mount:{mount.target}", taken),
                "type": "mount",
                "mountpoint": mount.target,
                "filesystem": filesystem_id(st, kname),
                "device": device_id(st, kname),
                "fstype": mount.fstype,
                "options": mount.options,
                "fsroot": mount.fsroot,
                "subvolume": subvol,
                "fstab": by_mountpoint.get(mount.target),
            }
        )


PROBE = Probe(
    name="storage_mounts",
    section="storage",
    commands=("findmnt",),
    collect=collect,
    description="mounts of block devices (findmnt), /etc/fstab and /etc/crypttab, active swap",
)
