"""Storage probe 2: partition tables, one ``sfdisk --dump`` per partitioned device.

The dump is sfdisk's own re-creation script: its header and partition
fields are recorded so :func:`hostbook.manifest.sections.storage.sfdisk_script`
can write the same text back.
"""

from __future__ import annotations

from typing import Any

from hostbook.capture.parsers.sfdisk import MBR_EXTENDED_TYPES, TYPE_NAMES, DumpError, parse_dump
from hostbook.capture.probe import Probe, ProbeContext
from hostbook.capture.probes.storage.inventory import BlockDevice, StorageState, device_id, state

SUPPORTED = ("gpt", "dos")


def _has_table(st: StorageState, dev: BlockDevice) -> bool:
    if dev.partition is not None or not st.included(dev.kname):
        return False
    return bool(dev.blkid.get("PTTYPE")) or bool(st.children(dev.kname))


def _kind(label: str, number: int, ptype: str) -> str | None:
    if label != "dos":
        return None
    if number > 4:
        return "logical"
    return "extended" if ptype.lower() in MBR_EXTENDED_TYPES else "primary"


def collect(ctx: ProbeContext, doc: dict[str, Any]) -> None:
    st = state(doc)
    for dev in list(st.devices.values()):
        if not _has_table(st, dev):
            continue
        owner = device_id(st, dev.kname)
        pttype = dev.blkid.get("PTTYPE")
        if owner is None:
            continue
        if pttype and pttype not in SUPPORTED:
            ctx.mark_incomplete(f"table {dev.kname}", f"{pttype} partition tables are not read")
            continue
        result = ctx.run_ok(["sfdisk", "--dump", dev.path], f"table {dev.kname}")
        if result is None:
            continue
        try:
            dump = parse_dump(result.stdout)
        except DumpError as exc:
            ctx.mark_incomplete(f"table {dev.kname}", f"sfdisk --dump: {exc}")
            continue
        label = dump.headers.get("label", "")
        if label not in SUPPORTED:
            ctx.mark_incomplete(f"table {dev.kname}", f"{label} partition tables are not read")
            continue
        sector = dump.header_int("sector-size") or dev.logical_sector_size
        st.tables[owner] = {
            "type": label,
            "id": dump.headers.get("label-id"),
            "unit": dump.headers.get("unit", "sectors"),
            "sector_size": sector,
            "first_lba": dump.header_int("first-lba"),
            "last_lba": dump.header_int("last-lba"),
            "table_length": dump.header_int("table-length"),
        }
        knames = {c.partition: c.kname for c in st.children(dev.kname)}
        signature = (dump.headers.get("label-id") or "").lower().removeprefix("0x")
        for part in dump.partitions:
            ptype = part.type
            uuid = part.uuid
            if label == "dos" and signature:
                # the PARTUUID the kernel and blkid give MBR partitions (fstab may use it)
                uuid = f"{signature}-{part.number:02x}"
            st.add_entry(
                {
                    "id": f"{owner}-part{part.number}",
                    "type": "partition",
                    "name": knames.get(part.number),
                    "disk": owner,
                    "number": part.number,
                    "start": part.start * sector,
                    "size": part.size * sector,
                    "partition_type": ptype,
                    "type_name": TYPE_NAMES.get(ptype.upper() if label == "gpt" else ptype.lower()),
                    "uuid": uuid,
                    "label": part.name,
                    "attributes": part.attrs,
                    "bootable": part.bootable,
                    "kind": _kind(label, part.number, ptype),
                }
            )


PROBE = Probe(
    name="storage_partitions",
    section="storage",
    commands=("sfdisk",),
    collect=collect,
    description="GPT and MBR partition tables (sfdisk --dump, one per partitioned device)",
)
