"""Is a step's result already on the device?  Asked of the live system's tools.

This is what makes `apply` safe to re-run after a kill -9 or a power loss: a
destructive step whose result is already present (same UUID, same table) is
skipped rather than repeated, even when the journal did not get to say so;
and an activation (open, assemble, mount) whose result went away with a
reboot is done again.  Every check is a read-only query.
"""

from __future__ import annotations

import json
import os

from hostbook.capture.parsers.blkid import parse_export
from hostbook.process.runner import Runner
from hostbook.restore.plan.steps import DoneCheck


def blkid_values(runner: Runner, device: str) -> dict[str, str]:
    """``blkid -p`` of one device (low-level probe, no cache); empty when none."""
    result = runner.query(["blkid", "-p", "-o", "export", device])
    if result.returncode != 0:
        return {}
    found = parse_export(result.stdout)
    return next(iter(found.values()), {}) if found else {}


def _lvm_names(runner: Runner, kind: str, field: str) -> set[str]:
    result = runner.query(["lvm", kind, "--reportformat", "json", "-o", field])
    if result.returncode != 0:
        return set()
    try:
        report = json.loads(result.stdout)["report"][0]
    except (ValueError, KeyError, IndexError):
        return set()
    rows: list[dict[str, object]] = next(iter(report.values()), [])
    return {str(row.get(field, "")) for row in rows}


def table_matches(runner: Runner, device: str, expect: dict[str, str]) -> bool:
    """The disk carries the label, id and partitions (start, size, uuid) expected."""
    result = runner.query(["sfdisk", "--json", device])
    if result.returncode != 0:
        return False
    try:
        table = json.loads(result.stdout)["partitiontable"]
        wanted = json.loads(expect.get("partitions", "[]"))
    except (ValueError, KeyError):
        return False
    if table.get("label") != expect.get("label"):
        return False
    if str(table.get("id", "")).lower() != expect.get("id", "").lower():
        return False
    have = [
        [int(p.get("start", -1)), int(p.get("size", -1)), str(p.get("uuid", "")).lower()]
        for p in table.get("partitions", [])
    ]
    return have == [[w[0], w[1], str(w[2]).lower()] for w in wanted]


def is_done(runner: Runner, check: DoneCheck) -> bool:
    """True when the system already carries what the step would create."""
    kind, device, expect = check.kind, check.device, check.expect
    if kind == "never":
        return False
    if kind == "blkid":
        found = blkid_values(runner, device)
        return bool(found) and all(found.get(k) == v for k, v in expect.items())
    if kind == "ptable":
        return table_matches(runner, device, expect)
    if kind == "md-members":
        for member in expect.get("members", "").split():
            found = blkid_values(runner, member)
            if found.get("TYPE") != "linux_raid_member" or found.get("UUID") != expect["uuid"]:
                return False
        return True
    if kind == "md":
        result = runner.query(["mdadm", "--detail", "--export", device])
        return result.returncode == 0 and f"MD_UUID={expect.get('uuid', '')}" in result.stdout
    if kind == "lvm-vg":
        return expect.get("name", "") in _lvm_names(runner, "vgs", "vg_name")
    if kind == "lvm-lv":
        return expect.get("name", "") in _lvm_names(runner, "lvs", "lv_full_name")
    if kind == "mapper":
        if "backing" not in expect:
            return runner.query(["dmsetup", "info", expect.get("name", "")]).returncode == 0
        # open, and on the expected device: a same-named mapping of another
        # device must not pass for this one
        result = runner.query(["cryptsetup", "status", expect.get("name", "")])
        shown = next((line.split(":", 1)[1].strip() for line in result.stdout.splitlines()
                      if line.strip().startswith("device:")), None)
        return (result.returncode == 0 and shown is not None
                and os.path.realpath(shown) == os.path.realpath(expect["backing"]))
    if kind in ("mounted", "unmounted"):
        result = runner.query(["findmnt", "--json", "--mountpoint", expect.get("path", "")])
        mounted = result.returncode == 0 and bool(result.stdout.strip())
        return mounted if kind == "mounted" else not mounted
    if kind == "subvolume":
        result = runner.query(["btrfs", "subvolume", "show", expect.get("path", "")])
        return result.returncode == 0
    if kind == "default-subvolume":
        result = runner.query(["btrfs", "subvolume", "get-default", expect.get("top", "")])
        words = result.stdout.split()
        if result.returncode != 0 or not words:
            return False
        if "path" in words:
            return words[words.index("path") + 1] == expect.get("path")
        return expect.get("path") == ""  # "ID 5 (FS_TREE)": the top level
    if kind == "file":
        return runner.query(["test", "-s", expect.get("path", "")]).returncode == 0
    if kind == "key-opens":
        result = runner.query(["cryptsetup", "open", "--test-passphrase", "--key-file",
                             expect.get("path", ""), device])
        return result.returncode == 0
    raise ValueError(f"unknown done-check kind {kind!r}")
