"""Storage probe 3: md RAID arrays (``mdadm --detail --export`` plus sysfs).

Assembled arrays are read from mdadm (name, UUID, members with roles) and
their sysfs directory (chunk size, layout, bitmap).  Members of arrays that
are not assembled (a rescue system, a disk from another host) are grouped by
their array UUID and read from their superblocks with one ``mdadm
--examine`` for all of them; nothing is ever assembled.
"""

from __future__ import annotations

from typing import Any

from hostbook.capture.parsers.mdadm import (
    examine_role,
    layout_name,
    parse_examine,
    parse_export,
    size_bytes,
    uuid_from_blkid,
)
from hostbook.capture.probe import Probe, ProbeContext
from hostbook.capture.probes.storage.inventory import (
    BlockDevice,
    StorageState,
    device_id,
    display_name,
    state,
)

_ROLE_WORDS = ("spare", "faulty", "journal")


def _bitmap(location: str | None) -> str | None:
    if location is None:
        return None
    if location == "none":
        return "none"
    if location.startswith(("+", "-")):
        return "internal"
    return location


def _chunk(level: str, value: int | None) -> int | None:
    if level in ("raid1", "linear", "multipath", "container") or not value:
        return None
    return value


def _member_role(slot: str | None, state_text: str | None, role: str | None) -> str:
    if role:
        return role
    words = (state_text or "").split(",")
    for word in _ROLE_WORDS:
        if word in words:
            return word
    return slot if slot and slot != "none" else "spare"


def assembled_entry(ctx: ProbeContext, st: StorageState, dev: BlockDevice) -> dict[str, Any]:
    md = dev.md or {}
    result = ctx.run_ok(["mdadm", "--detail", "--export", dev.path], f"md {dev.kname}")
    detail = parse_export(result.stdout) if result is not None else None
    values = detail.values if detail else {}
    level = values.get("MD_LEVEL") or md.get("level") or "unknown"
    uuid = values.get("MD_UUID")
    if uuid:
        md["uuid"] = uuid
    if values.get("MD_DEVNAME"):
        md["devname"] = values["MD_DEVNAME"]
    members = []
    roles = {path.rsplit("/", 1)[-1]: role for path, role in (detail.members.items()
                                                                if detail else [])}
    names = sorted(set(md.get("members", {})) | set(roles) | set(dev.slaves))
    for name in names:
        sysfs = md.get("members", {}).get(name, {})
        ident = device_id(st, name)
        if ident is None:
            continue
        states = sorted(w for w in (sysfs.get("state") or "").split(",") if w)
        member = st.device(name)
        members.append(
            {
                "device": ident,
                "device_uuid": member.blkid.get("UUID_SUB") if member else None,
                "role": _member_role(sysfs.get("slot"), sysfs.get("state"), roles.get(name)),
                "state": states,
            }
        )
    return {
        "id": device_id(st, dev.kname),
        "type": "md",
        "name": display_name(st, dev.kname),
        "array_name": values.get("MD_NAME"),
        "uuid": uuid or (device_id(st, dev.kname) or "").removeprefix("md:"),
        "level": level,
        "metadata": values.get("MD_METADATA") or md.get("metadata_version"),
        "raid_devices": int(values["MD_DEVICES"]) if values.get("MD_DEVICES", "").isdigit()
        else md.get("raid_disks"),
        "size": dev.size,
        "chunk_size": _chunk(level, md.get("chunk_size")),
        "layout": layout_name(level, md.get("layout")),
        "bitmap": _bitmap(md.get("bitmap")),
        "consistency_policy": md.get("consistency_policy"),
        "assembled": True,
        "members": sorted(members, key=lambda m: (m["role"].isdigit() is False,
                                                  int(m["role"]) if m["role"].isdigit() else 0,
                                                  m["device"])),
    }


def unassembled_entries(ctx: ProbeContext, st: StorageState, seen: set[str]) -> None:
    """Arrays whose members exist but which nobody assembled."""
    groups: dict[str, list[BlockDevice]] = {}
    for dev in st.devices.values():
        if not st.included(dev.kname) or dev.blkid.get("TYPE") != "linux_raid_member":
            continue
        if any((st.device(h) or dev).kind == "md" for h in dev.holders):
            continue
        uuid = uuid_from_blkid(dev.blkid.get("UUID", ""))
        if uuid and uuid not in seen:
            groups.setdefault(uuid, []).append(dev)
    if not groups:
        return
    paths = sorted(m.path for members in groups.values() for m in members)
    result = ctx.run_ok(["mdadm", "--examine", *paths], "md superblocks")
    supers = parse_examine(result.stdout) if result is not None else {}
    for uuid, members in sorted(groups.items()):
        first = members[0]
        values = supers.get(first.path, {})
        level = values.get("Raid Level", "unknown")
        bitmap = "internal" if "Internal Bitmap" in values else (
            "none" if values else None)
        st.add_entry(
            {
                "id": f"md:{uuid}",
                "type": "md",
                "name": None,
                "array_name": values.get("Name", "").split(" ")[0] or first.blkid.get("LABEL"),
                "uuid": uuid,
                "level": level,
                "metadata": values.get("Version") or first.blkid.get("VERSION"),
                "raid_devices": int(values["Raid Devices"])
                if values.get("Raid Devices", "").isdigit() else None,
                "chunk_size": _chunk(level, size_bytes(values.get("Chunk Size"))),
                "layout": values.get("Layout") if level not in ("raid1", "linear") else None,
                "bitmap": bitmap,
                "assembled": False,
                "members": [
                    {"device": device_id(st, m.kname), "device_uuid": m.blkid.get("UUID_SUB"),
                     "role": examine_role(supers.get(m.path, {})), "state": []}
                    for m in sorted(members, key=lambda d: device_id(st, d.kname) or "")
                ],
            }
        )


def collect(ctx: ProbeContext, doc: dict[str, Any]) -> None:
    st = state(doc)
    seen: set[str] = set()
    for dev in list(st.devices.values()):
        if dev.kind != "md" or dev.md is None or not st.included(dev.kname):
            continue
        entry = assembled_entry(ctx, st, dev)
        seen.add(entry["uuid"])
        st.add_entry(entry)
    unassembled_entries(ctx, st, seen)


PROBE = Probe(
    name="storage_md",
    section="storage",
    commands=("mdadm",),
    collect=collect,
    description="md RAID arrays: mdadm --detail --export per array, sysfs chunk/layout/bitmap",
)
