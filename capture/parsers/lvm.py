"""Parse the JSON of one ``lvm fullreport`` run into VG, PV, LV and segment rows.

fullreport prints one report object per VG (orphan PVs in one of their
own), each with ``vg``, ``pv``, ``lv``, ``pvseg`` and ``seg`` arrays of
string-valued rows; ``--units b --nosuffix`` makes every size a byte count.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

# The columns requested of each report (stable facts only; see storage_lvm).
VG_FIELDS = (
    "vg_uuid,vg_name,vg_extent_size,vg_size,vg_tags,vg_allocation_policy,vg_systemid,"
    "max_lv,max_pv,vg_mda_copies,vg_missing_pv_count"
)
PV_FIELDS = (
    "pv_uuid,pv_name,pv_major,pv_minor,dev_size,pv_size,pe_start,pv_mda_count,pv_ba_size,"
    "pv_tags,pv_missing,vg_name,vg_uuid"
)
LV_FIELDS = (
    "lv_uuid,lv_name,lv_full_name,lv_parent,lv_layout,lv_role,lv_size,lv_metadata_size,"
    "seg_count,origin,origin_uuid,pool_lv,pool_lv_uuid,data_lv,metadata_lv,lv_tags,"
    "lv_permissions,lv_skip_activation,lv_attr"
)
SEG_FIELDS = (
    "lv_uuid,segtype,seg_start,seg_size,stripes,stripe_size,region_size,chunk_size,devices,"
    "metadata_devices,discards,zero,cache_mode,cache_policy"
)
PVSEG_FIELDS = "pv_uuid,pvseg_start"

_DEVICE = re.compile(r"^(?P<name>.+)\((?P<extent>\d+)\)$")


@dataclass
class Report:
    vgs: list[dict[str, str]] = field(default_factory=list)
    pvs: list[dict[str, str]] = field(default_factory=list)
    lvs: list[dict[str, str]] = field(default_factory=list)
    segs: list[dict[str, str]] = field(default_factory=list)


class LvmParseError(ValueError):
    """The output is not fullreport JSON."""


def _json_start(text: str) -> str:
    """Drop anything lvm printed before the JSON (warnings go to stderr, but be safe)."""
    index = text.find("{")
    return text[index:] if index >= 0 else text


def parse_fullreport(text: str) -> Report:
    try:
        data = json.loads(_json_start(text))
    except json.JSONDecodeError as exc:
        raise LvmParseError(f"lvm fullreport output is not JSON: {exc.msg}") from None
    report = Report()
    for item in data.get("report", []):
        vg_rows = item.get("vg", [])
        vg_name = vg_rows[0].get("vg_name", "") if vg_rows else ""
        report.vgs.extend(vg_rows)
        for row in item.get("pv", []):
            row = dict(row)
            row.setdefault("vg_name", vg_name)
            report.pvs.append(row)
        for row in item.get("lv", []):
            row = dict(row)
            row["_vg"] = vg_name
            report.lvs.append(row)
        report.segs.extend(item.get("seg", []))
    return report


def number(value: str | None) -> int | None:
    if value is None:
        return None
    value = value.strip()
    return int(value) if value.isdigit() else None


def words(value: str | None) -> list[str]:
    """A comma-separated list column (tags, roles) as a sorted list."""
    return sorted(v for v in (value or "").split(",") if v)


def segment_devices(value: str | None) -> list[str]:
    """``/dev/sda2(0),[lv_rimage_0](0)`` -> ['/dev/sda2', '[lv_rimage_0]']."""
    names = []
    for part in (value or "").split(","):
        match = _DEVICE.match(part.strip())
        if match:
            names.append(match["name"])
    return names


def bare(name: str | None) -> str:
    """An LV name without the brackets hidden LVs are shown in."""
    return (name or "").strip("[]")
