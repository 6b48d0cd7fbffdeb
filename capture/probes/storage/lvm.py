"""Storage probe 5: LVM, from one read-only ``lvm fullreport`` run.

``--readonly`` reads the on-disk metadata without locks and never activates
anything.  Hidden sub-LVs (raid images, pool data/metadata, cache pools) are
not entries of their own: their facts (metadata size, the PVs they use) are
folded into the visible LV they belong to.  Snapshots are recorded with
their origin and ``snapshot: true``.
"""

from __future__ import annotations

from typing import Any

from hostbook.capture.parsers.lvm import (
    LV_FIELDS,
    PV_FIELDS,
    PVSEG_FIELDS,
    SEG_FIELDS,
    VG_FIELDS,
    LvmParseError,
    Report,
    bare,
    number,
    parse_fullreport,
    segment_devices,
    words,
)
from hostbook.capture.probe import Probe, ProbeContext
from hostbook.capture.probes.storage.inventory import (
    StorageState,
    device_id,
    display_name,
    state,
)

FULLREPORT = (
    "lvm", "fullreport", "--all", "--readonly", "--reportformat", "json", "--units", "b",
    "--nosuffix",
    "--configreport", "vg", "-o", VG_FIELDS,
    "--configreport", "pv", "-o", PV_FIELDS,
    "--configreport", "lv", "-o", LV_FIELDS,
    "--configreport", "seg", "-o", SEG_FIELDS,
    "--configreport", "pvseg", "-o", PVSEG_FIELDS,
)  # fmt: skip


def _needed(st: StorageState) -> bool:
    return any(
        st.included(d.kname)
        and (d.blkid.get("TYPE") == "LVM2_member" or (d.dm_uuid or "").startswith("LVM-"))
        for d in st.devices.values()
    )


class _Lvm:
    """Turns report rows into entries, resolving devices and hidden sub-LVs."""

    def __init__(self, ctx: ProbeContext, st: StorageState, report: Report) -> None:
        self.ctx = ctx
        self.st = st
        self.report = report
        self.pv_by_name: dict[str, str] = {}
        self.vgs_seen: set[str] = set()  # VGs with at least one captured (or missing) PV
        self.lv_by_key: dict[tuple[str, str], dict[str, str]] = {}
        self.segs: dict[str, list[dict[str, str]]] = {}
        for seg in report.segs:
            self.segs.setdefault(seg.get("lv_uuid", ""), []).append(seg)
        for rows in self.segs.values():
            rows.sort(key=lambda s: number(s.get("seg_start")) or 0)
        for lv in report.lvs:
            self.lv_by_key[(lv["_vg"], bare(lv.get("lv_name")))] = lv

    # -- PVs and VGs -------------------------------------------------------

    def _pv_device(self, pv: dict[str, str]) -> str | None:
        kname = self.st.by_devno.get(f"{pv.get('pv_major')}:{pv.get('pv_minor')}")
        if kname is None and pv.get("pv_name", "").startswith("/dev/"):
            kname = self.st.resolve_path(self.ctx.runner, pv["pv_name"])
        return kname

    def pv_entries(self) -> None:
        """PVs on captured devices; then the missing PVs of the VGs those belong to."""
        present = [(pv, self._pv_device(pv)) for pv in self.report.pvs]
        for pv, kname in present:
            if (kname is not None and self.st.included(kname) and not pv.get("pv_missing")
                    and pv.get("pv_uuid") and pv.get("vg_name")):
                self.vgs_seen.add(pv["vg_name"])
        for pv, kname in present:
            uuid = pv.get("pv_uuid", "")
            missing = bool(pv.get("pv_missing")) or kname is None
            if not uuid or (kname is not None and not self.st.included(kname)):
                continue
            if missing and pv.get("vg_name", "") not in self.vgs_seen:
                continue  # a VG outside the captured devices
            ident = f"pv:{uuid}"
            self.pv_by_name[pv.get("pv_name", "")] = ident
            if missing:
                self.ctx.mark_incomplete(
                    f"pv {uuid}",
                    f"VG {pv.get('vg_name') or '?'} lists this PV but no device carries it",
                )
            self.st.add_entry(
                {
                    "id": ident,
                    "type": "pv",
                    "name": display_name(self.st, kname),
                    "device": device_id(self.st, kname),
                    "uuid": uuid,
                    "format": self.st.devices[kname].blkid.get("VERSION") if kname else None,
                    "size": number(pv.get("pv_size")) or 0,
                    "pe_start": number(pv.get("pe_start")) or 0,
                    "metadata_copies": number(pv.get("pv_mda_count")),
                    "bootloader_area": number(pv.get("pv_ba_size")) or None,
                    "tags": words(pv.get("pv_tags")),
                    "missing": missing,
                }
            )

    def vg_entries(self) -> None:
        for vg in self.report.vgs:
            name = vg.get("vg_name", "")
            if name not in self.vgs_seen:
                continue
            pvs = sorted(
                f"pv:{pv['pv_uuid']}" for pv in self.report.pvs
                if pv.get("vg_name") == name and pv.get("pv_uuid")
            )
            missing = number(vg.get("vg_missing_pv_count")) or 0
            if missing:
                self.ctx.mark_incomplete(f"vg {name}", f"{missing} PV(s) missing")
            self.st.add_entry(
                {
                    "id": f"vg:{name}",
                    "type": "vg",
                    "name": name,
                    "uuid": vg.get("vg_uuid", ""),
                    "extent_size": number(vg.get("vg_extent_size")) or 0,
                    "size": number(vg.get("vg_size")) or 0,
                    "pvs": pvs,
                    "tags": words(vg.get("vg_tags")),
                    "allocation_policy": vg.get("vg_allocation_policy") or None,
                    "system_id": vg.get("vg_systemid") or None,
                    "max_lv": number(vg.get("max_lv")) or 0,
                    "max_pv": number(vg.get("max_pv")) or 0,
                    "metadata_copies": vg.get("vg_mda_copies") or None,
                    "missing_pvs": missing,
                }
            )

    # -- LVs ---------------------------------------------------------------

    def pvs_of(self, vg: str, lv: dict[str, str], depth: int = 0) -> set[str]:
        """PV ids holding an LV's data, following hidden sub-LVs."""
        found: set[str] = set()
        if depth > 16:
            return found
        names = [lv.get("data_lv"), lv.get("metadata_lv")]
        for seg in self.segs.get(lv.get("lv_uuid", ""), []):
            names += segment_devices(seg.get("devices"))
            names += segment_devices(seg.get("metadata_devices"))
            if seg.get("segtype") in ("cache", "writecache"):
                names.append(lv.get("pool_lv"))  # the cache's fast device is its data too
        for name in filter(None, names):
            if name in self.pv_by_name:
                found.add(self.pv_by_name[name])
            sub = self.lv_by_key.get((vg, bare(name)))
            if sub is not None and sub is not lv:
                found |= self.pvs_of(vg, sub, depth + 1)
        return found

    def lv_entries(self) -> None:
        for lv in self.report.lvs:
            name = lv.get("lv_name", "")
            if name.startswith("[") or lv["_vg"] not in self.vgs_seen:
                continue  # hidden sub-LV (folded into its parent), or a VG not captured
            self.st.add_entry(self.lv_entry(lv))

    def lv_entry(self, lv: dict[str, str]) -> dict[str, Any]:
        vg = lv["_vg"]
        name = lv.get("lv_name", "")
        segs = self.segs.get(lv.get("lv_uuid", ""), [])
        first = segs[0] if segs else {}
        segtype = first.get("segtype") or "unknown"
        roles = words(lv.get("lv_role"))
        stripes = number(first.get("stripes"))
        snapshot = "snapshot" in roles
        # a cached LV names its hidden [x_corig] as origin: only snapshots have one
        origin = (lv.get("origin") or None) if snapshot else None
        pool = bare(lv.get("pool_lv")) or None
        pool_lv = self.lv_by_key.get((vg, pool)) if pool else None
        entry: dict[str, Any] = {
            "id": f"lv:{vg}/{name}",
            "type": "lv",
            "name": f"{vg}/{name}",
            "vg": f"vg:{vg}",
            "lv_name": name,
            "uuid": lv.get("lv_uuid", ""),
            "size": number(lv.get("lv_size")) or 0,
            "segment_type": segtype,
            "stripes": stripes if segtype.startswith(("striped", "raid", "mirror")) else None,
            "stripe_size": number(first.get("stripe_size")) or None,
            "region_size": number(first.get("region_size")) or None,
            "mirrors": (stripes - 1) if stripes and segtype in ("raid1", "mirror") else None,
            "chunk_size": number(first.get("chunk_size")) or None,
            "pool": None,
            "pool_metadata_size": number(lv.get("lv_metadata_size")) or None,
            "zero": None,
            "discards": None,
            "origin": f"lv:{vg}/{origin}" if origin else None,
            "snapshot": snapshot,
            "cache_pool": None,
            "cache_size": None,
            "cache_mode": first.get("cache_mode") or None,
            "cache_policy": first.get("cache_policy") or None,
            "read_only": lv.get("lv_permissions", "").startswith("read-only"),
            "activation_skip": lv.get("lv_skip_activation") not in (None, "", "0"),
            "tags": words(lv.get("lv_tags")),
            "pvs": sorted(self.pvs_of(vg, lv)),
            "segments": [],
        }
        if segtype == "thin-pool":
            entry["zero"] = first.get("zero") in ("zero", "1")
            entry["discards"] = first.get("discards") or None
        if segtype == "thin" and pool:
            entry["pool"] = f"lv:{vg}/{pool}"
        if segtype in ("cache", "writecache") and pool:
            entry["cache_pool"] = pool
            if pool_lv is not None:
                entry["cache_size"] = number(pool_lv.get("lv_size"))
                if not entry["pool_metadata_size"]:
                    entry["pool_metadata_size"] = number(pool_lv.get("lv_metadata_size"))
        if len(segs) > 1:
            entry["segments"] = [
                {
                    "segment_type": seg.get("segtype") or "unknown",
                    "size": number(seg.get("seg_size")) or 0,
                    "stripes": number(seg.get("stripes")),
                    "stripe_size": number(seg.get("stripe_size")) or None,
                    "pvs": sorted(
                        self.pv_by_name[d] for d in segment_devices(seg.get("devices"))
                        if d in self.pv_by_name
                    ),
                }
                for seg in segs
            ]
        return entry


def collect(ctx: ProbeContext, doc: dict[str, Any]) -> None:
    st = state(doc)
    if not _needed(st):
        return
    result = ctx.run(list(FULLREPORT), timeout=120.0)
    if result.missing or result.timed_out:
        ctx.mark_incomplete("lvm", result.failure())
        return
    try:
        report = parse_fullreport(result.stdout)
    except LvmParseError as exc:
        ctx.mark_incomplete("lvm", f"{exc} ({result.failure()})")
        return
    if not result.ok:
        # lvm exits non-zero for a partial VG but still reports the rest.
        ctx.mark_incomplete("lvm", result.failure())
    lvm = _Lvm(ctx, st, report)
    lvm.pv_entries()
    lvm.vg_entries()
    lvm.lv_entries()


PROBE = Probe(
    name="storage_lvm",
    section="storage",
    commands=("lvm",),
    collect=collect,
    description="LVM PVs, VGs and LVs from one read-only lvm fullreport",
)
