"""Storage probe 1: enumerate block devices, read signatures, record disks and loops.

Everything else builds on this inventory (see storage_inventory).  Disks get
their hardware identity (by-id names, serial, WWN, model) so the restore can
find them again; loop devices their backing file.  device-mapper devices
that no other probe claims (multipath, verity, integrity...) are recorded
as ``dm`` entries so that what sits on them keeps a parent.
"""

from __future__ import annotations

from typing import Any

from hostbook.capture.probe import Probe, ProbeContext
from hostbook.capture.probes.storage.inventory import (
    BlockDevice,
    StorageState,
    device_id,
    enumerate_devices,
    probe_signatures,
    state,
)

# dm uuid prefixes other probes turn into entries of their own.
_CLAIMED_DM = ("LVM-", "CRYPT-LUKS1-", "CRYPT-LUKS2-", "CRYPT-PLAIN-")


def _transport(dev: BlockDevice) -> str | None:
    bus = dev.properties.get("ID_BUS")
    if bus:
        return bus
    for prefix, name in (("nvme", "nvme"), ("vd", "virtio"), ("mmcblk", "mmc"), ("xvd", "xen")):
        if dev.kname.startswith(prefix):
            return name
    return None


def disk_entry(st: StorageState, dev: BlockDevice) -> dict[str, Any]:
    return {
        "id": device_id(st, dev.kname),
        "type": "disk",
        "name": dev.kname,
        "size": dev.size,
        "logical_sector_size": dev.logical_sector_size,
        "physical_sector_size": dev.physical_sector_size,
        "rotational": dev.rotational,
        "removable": dev.removable,
        "read_only": dev.read_only,
        "model": dev.model,
        "vendor": dev.vendor,
        "serial": dev.serial,
        "wwn": dev.wwid,
        "transport": _transport(dev),
        "by_id": dev.by_id,
        "by_path": dev.by_path,
    }


def loop_entry(st: StorageState, dev: BlockDevice) -> dict[str, Any]:
    loop = dev.loop or {}
    return {
        "id": device_id(st, dev.kname),
        "type": "loop",
        "name": dev.kname,
        "size": dev.size,
        "logical_sector_size": dev.logical_sector_size,
        "physical_sector_size": dev.physical_sector_size,
        "backing_file": loop.get("backing_file"),
        "offset": loop.get("offset") or 0,
        "size_limit": loop.get("size_limit") or 0,
        "read_only": dev.read_only,
        "autoclear": bool(loop.get("autoclear")),
        "partscan": bool(loop.get("partscan")),
    }


def dm_entry(st: StorageState, dev: BlockDevice) -> dict[str, Any]:
    uuid = dev.dm_uuid or ""
    subsystem = uuid.split("-", 1)[0] if "-" in uuid else (uuid or None)
    if uuid.startswith("CRYPT-"):
        subsystem = "-".join(uuid.split("-")[:2])
    return {
        "id": device_id(st, dev.kname),
        "type": "dm",
        "name": dev.dm_name or dev.kname,
        "subsystem": subsystem,
        "size": dev.size,
        "devices": sorted(filter(None, (device_id(st, s) for s in dev.slaves))),
    }


def collect(ctx: ProbeContext, doc: dict[str, Any]) -> None:
    st = state(doc)
    enumerate_devices(ctx, st)
    probe_signatures(ctx, st)
    for dev in st.devices.values():
        if not st.included(dev.kname) or device_id(st, dev.kname) is None:
            continue
        kind = dev.kind
        if kind == "disk":
            st.add_entry(disk_entry(st, dev))
        elif kind == "loop":
            st.add_entry(loop_entry(st, dev))
        elif kind == "dm" and not (dev.dm_uuid or "").startswith(_CLAIMED_DM):
            ident = device_id(st, dev.kname) or ""
            if ident.startswith("dm:"):
                st.add_entry(dm_entry(st, dev))


PROBE = Probe(
    name="storage_blockdevs",
    section="storage",
    commands=("blkid",),
    collect=collect,
    description="block devices (pyudev or sysfs), blkid -p signatures, disks, loops, other dm",
)
