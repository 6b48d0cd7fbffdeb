"""A host's storage stack as a tree from disk to mount, for the report.

storage.yaml is a flat list of entries that name what they are built on
(partition -> disk, LV -> VG, mount -> filesystem).  The tree hangs each entry
under its most telling base (a mount under its filesystem, an LV under its
VG, a partition under its disk); an entry built on several (an md array on
two partitions, a VG on two PVs) hangs under the first and names the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hostbook.manifest.sections.storage import StorageDocument, entry_references

PARENT_FIELDS = ("filesystem", "vg", "pool", "disk", "device")
"""Which reference is an entry's parent in the tree, first found first."""
IDENTITY_FIELDS = ("uuid", "serial", "wwn", "by_id", "backing_file")


@dataclass
class StorageNode:
    """One entry in the tree."""

    id: str
    type: str
    name: str
    size: int | None
    identity: str
    detail: str
    also_on: list[str] = field(default_factory=list)
    children: list[StorageNode] = field(default_factory=list)

    def count(self) -> int:
        return 1 + sum(child.count() for child in self.children)


def _identity(entry: dict[str, Any]) -> str:
    for key in IDENTITY_FIELDS:
        value = entry.get(key)
        if isinstance(value, list):
            value = value[0] if value else None
        if value:
            return f"{key} {value}"
    return entry.get("id", "")


def _detail(entry: dict[str, Any]) -> str:
    parts = []
    for key in ("fstype", "mountpoint", "label", "level", "segment_type", "options"):
        value = entry.get(key)
        if value not in (None, "", []):
            parts.append(f"{key} {value}")
    return ", ".join(parts)


def _parent(entry: Any, plain: dict[str, Any], known: set[str]) -> tuple[str | None, list[str]]:
    refs = [r for r in entry_references(entry) if r in known]
    for name in PARENT_FIELDS:
        value = plain.get(name)
        if isinstance(value, str) and value in known:
            return value, [r for r in refs if r != value]
    if refs:
        return refs[0], refs[1:]
    return None, []


def storage_tree(document: StorageDocument) -> list[StorageNode]:
    """The roots (disks, loops, anything built on nothing recorded) with their subtrees."""
    plain_entries = document.to_plain().get("entries", [])
    known = {e["id"] for e in plain_entries}
    nodes: dict[str, StorageNode] = {}
    parents: dict[str, str | None] = {}
    for entry, plain in zip(document.entries, plain_entries, strict=True):
        parent, others = _parent(entry, plain, known)
        nodes[plain["id"]] = StorageNode(
            plain["id"], plain.get("type", ""), str(plain.get("name") or plain.get(
                "mountpoint") or plain["id"]), plain.get("size"), _identity(plain),
            _detail(plain), also_on=others)
        parents[plain["id"]] = parent
    for ident, node in nodes.items():
        above = _ancestors(ident, parents)
        node.also_on = [ref for ref in node.also_on if ref not in above]
    roots = []
    for ident, node in nodes.items():
        parent = parents[ident]
        if parent is None or parent not in nodes or _cycles(ident, parents):
            roots.append(node)
        else:
            nodes[parent].children.append(node)
    return roots


def _ancestors(ident: str, parents: dict[str, str | None]) -> set[str]:
    """Every entry above ``ident`` in the tree (stops at a cycle)."""
    found: set[str] = set()
    current = parents.get(ident)
    while current is not None and current not in found and current != ident:
        found.add(current)
        current = parents.get(current)
    return found


def _cycles(ident: str, parents: dict[str, str | None]) -> bool:
    """Whether following parents from ``ident`` comes back to it (a broken file)."""
    seen = {ident}
    current = parents.get(ident)
    while current is not None:
        if current in seen:
            return True
        seen.add(current)
        current = parents.get(current)
    return False
