"""Is a step's result already on the device?  Asked of the live system's tools.

This is what makes `apply` safe to re-run after a kill -9 or a power loss: a
destructive step whose result is already present (same UUID, same table id)
is skipped rather than repeated, even when the journal did not get to say so.
"""

from __future__ import annotations

import json

from hostbook.restore.runner import RestoreRunner
from hostbook.restore.steps import DoneCheck


def _blkid(runner: RestoreRunner, device: str) -> dict[str, str]:
    result = runner.run(["blkid", "-p", "-o", "export", device])
    if result.returncode != 0:
        return {}
    values = {}
    for line in result.stdout.splitlines():
        key, _, value = line.partition("=")
        values[key] = value
    return values


def _lvm_names(runner: RestoreRunner, kind: str, field: str) -> set[str]:
    result = runner.run(
        ["lvm", kind, "--reportformat", "json", "-o", field]
    )
    if result.returncode != 0:
        return set()
    try:
        report = json.loads(result.stdout)["report"][0]
    except (ValueError, KeyError, IndexError):
        return set()
    rows: list[dict[str, object]] = next(iter(report.values()), [])
    return {str(row.get(field.split(",")[0], "")) for row in rows}


def is_done(runner: RestoreRunner, check: DoneCheck) -> bool:
    """True when the device already carries what the step would create."""
    kind, device, expect = check.kind, check.device, check.expect
    if kind == "never":
        return False
    if kind == "blkid":
        found = _blkid(runner, device)
        return bool(found) and all(found.get(k) == v for k, v in expect.items())
    if kind == "ptable":
        result = runner.run(["sfdisk", "--json", device])
        if result.returncode != 0:
            return False
        try:
            table = json.loads(result.stdout)["partitiontable"]
        except (ValueError, KeyError):
            return False
        label_id = str(table.get("id", "")).lower()
        want = expect.get("id", "").lower()
        partitions = len(table.get("partitions", []))
        return label_id == want and str(partitions) == expect.get("partitions", str(partitions))
    if kind == "md":
        result = runner.run(
            ["mdadm", "--detail", "--export", device]
        )
        return result.returncode == 0 and f"MD_UUID={expect.get('uuid', '')}" in result.stdout
    if kind == "lvm-vg":
        return expect.get("name", "") in _lvm_names(runner, "vgs", "vg_name")
    if kind == "lvm-lv":
        return expect.get("name", "") in _lvm_names(runner, "lvs", "lv_full_name")
    if kind == "mapper":
        result = runner.run(["dmsetup", "info", expect.get("name", "")])
        return result.returncode == 0
    if kind == "mounted":
        result = runner.run(
            ["findmnt", "--json", "--mountpoint", expect.get("path", "")]
        )
        return result.returncode == 0 and bool(result.stdout.strip())
    raise ValueError(f"unknown done-check kind {kind!r}")
