"""Storage probe 9 (last): put the entries in their final, deterministic shape.

Attaches partition tables to the device entries that hold them, makes every
id unique, drops references to entries that were not captured, and sorts:
entries by layer then id, lists inside entries where order carries no
meaning.  It also removes the probes' shared state from the document.
"""

from __future__ import annotations

from typing import Any

from hostbook.capture.probe import Probe, ProbeContext
from hostbook.capture.probes.storage.inventory import STATE_KEY, StorageState
from hostbook.manifest.sections.storage import ENTRY_ORDER

_RANK = {name: index for index, name in enumerate(ENTRY_ORDER)}


def _dedupe(entries: list[dict[str, Any]]) -> None:
    """Give colliding ids (cloned UUIDs) a suffix naming the device they sit on."""
    seen: dict[str, int] = {}
    for entry in entries:
        seen[entry["id"]] = seen.get(entry["id"], 0) + 1
    for ident, count in seen.items():
        if count < 2:
            continue
        clashing = [e for e in entries if e["id"] == ident]
        clashing.sort(key=lambda e: str(e.get("device") or e.get("name") or ""))
        for entry in clashing[1:]:
            entry["id"] = f"{ident}@{entry.get('device') or entry.get('name')}"


def collect(ctx: ProbeContext, doc: dict[str, Any]) -> None:
    st = doc.pop(STATE_KEY, None)
    if not isinstance(st, StorageState):
        doc.setdefault("entries", [])
        return
    entries = [e for e in st.entries if e.get("id")]
    for entry in entries:
        table = st.tables.get(entry["id"])
        if table is not None and entry.get("type") in ("disk", "loop", "md"):
            entry["table"] = table
    _dedupe(entries)
    known = {e["id"] for e in entries}
    for entry in entries:
        if entry.get("type") == "partition" and entry.get("disk") not in known:
            ctx.mark_incomplete(f"partition {entry.get('name')}", "its disk was not captured")
    entries = [e for e in entries if e.get("type") != "partition" or e.get("disk") in known]
    entries.sort(key=lambda e: (_RANK.get(e.get("type", ""), 99), e["id"]))
    doc["entries"] = entries
    doc.setdefault("fstab", {})
    doc.setdefault("crypttab", {})
    doc.setdefault("boot", {})


PROBE = Probe(
    name="storage_assemble",
    section="storage",
    commands=(),
    collect=collect,
    description="final shape of storage.yaml: tables attached, ids unique, sorted",
)
