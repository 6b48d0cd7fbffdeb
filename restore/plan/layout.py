"""An index over storage.yaml for the planner: lookups, dependents, order, skips.

storage.yaml is a flat list of entries that reference each other by id; the
planner needs the reverse too (what sits on this partition?) and an order in
which every entry comes after what it is built on.  Building that once here
keeps the planner's modules about restoring, not about walking references.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

from hostbook.manifest.errors import BadInputError
from hostbook.manifest.sections.storage import (
    ENTRY_ORDER,
    DiskEntry,
    FilesystemEntry,
    LoopEntry,
    LvEntry,
    MountEntry,
    PartitionEntry,
    PvEntry,
    StorageDocument,
    StorageEntry,
    SwapEntry,
    VgEntry,
    entry_references,
)

_RANK = {name: index for index, name in enumerate(ENTRY_ORDER)}

DiskLike: TypeAlias = DiskEntry | LoopEntry


@dataclass
class StorageView:
    """storage.yaml with the lookups the planner needs."""

    document: StorageDocument
    by_id: dict[str, StorageEntry] = field(default_factory=dict)
    dependents: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for entry in self.document.entries:
            self.by_id[entry.id] = entry
        for entry in self.document.entries:
            for ref in entry_references(entry):
                self.dependents.setdefault(ref, []).append(entry.id)

    # -- lookups -------------------------------------------------------------

    def get(self, ident: str) -> StorageEntry | None:
        return self.by_id.get(ident)

    def of_type(self, kind: type) -> list:  # type: ignore[type-arg]
        return [e for e in self.document.entries if isinstance(e, kind)]

    def disks(self) -> list[DiskLike]:
        return [e for e in self.document.entries if isinstance(e, DiskEntry | LoopEntry)]

    def partitions_of(self, owner: str) -> list[PartitionEntry]:
        parts = [e for e in self.document.entries
                 if isinstance(e, PartitionEntry) and e.disk == owner]
        return sorted(parts, key=lambda p: p.number)

    def content_of(self, device: str) -> list[StorageEntry]:
        """Entries built directly on ``device`` (filesystem, swap, md, LUKS, PV...)."""
        return [self.by_id[i] for i in self.dependents.get(device, []) if i in self.by_id]

    def filesystem_on(self, device: str) -> FilesystemEntry | SwapEntry | None:
        for entry in self.content_of(device):
            if isinstance(entry, FilesystemEntry | SwapEntry) and entry.device == device:
                return entry
        return None

    def pv_on(self, device: str) -> PvEntry | None:
        for entry in self.content_of(device):
            if isinstance(entry, PvEntry):
                return entry
        return None

    def lvs_of(self, vg: VgEntry) -> list[LvEntry]:
        return sorted((e for e in self.document.entries
                       if isinstance(e, LvEntry) and e.vg == vg.id), key=lambda e: e.id)

    def mounts(self) -> list[MountEntry]:
        return self.of_type(MountEntry)

    def disk_of(self, ident: str, depth: int = 0) -> list[str]:
        """Ids of the disks an entry ultimately lives on."""
        entry = self.by_id.get(ident)
        if entry is None or depth > 64:
            return []
        if isinstance(entry, DiskEntry | LoopEntry):
            return [entry.id]
        found: list[str] = []
        for ref in entry_references(entry):
            for disk in self.disk_of(ref, depth + 1):
                if disk not in found:
                    found.append(disk)
        return found

    # -- closure and order ---------------------------------------------------

    def closure(self, roots: Iterable[str]) -> set[str]:
        """``roots`` and everything built on them, transitively."""
        seen: set[str] = set()
        stack = [r for r in roots if r in self.by_id]
        while stack:
            ident = stack.pop()
            if ident in seen:
                continue
            seen.add(ident)
            stack.extend(self.dependents.get(ident, []))
        return seen

    def resolve_skip(self, items: Sequence[str]) -> set[str]:
        """Entry ids (and mountpoints) named in restore.yaml's skip list, with dependents."""
        roots: list[str] = []
        mountpoints = {m.mountpoint: m for m in self.mounts()}
        fstab = {line.mountpoint: line for line in self.document.fstab.entries}
        for item in items:
            if item in self.by_id:
                roots.append(item)
            elif item in fstab and fstab[item].target:
                roots.append(str(fstab[item].target))
            elif item in mountpoints and mountpoints[item].filesystem:
                roots.append(str(mountpoints[item].filesystem))
            else:
                raise BadInputError(
                    f"restore.yaml skip: {item!r} is neither an entry id nor a mountpoint "
                    "of storage.yaml"
                )
        return self.closure(roots)

    def ordered(self, ids: Iterable[str]) -> list[StorageEntry]:
        """Entries in dependency order (everything after what it is built on)."""
        wanted = {i for i in ids if i in self.by_id}
        done: set[str] = set()
        result: list[StorageEntry] = []

        def key(ident: str) -> tuple[int, str]:
            return (_RANK.get(self.by_id[ident].type, 99), ident)

        remaining = sorted(wanted, key=key)
        while remaining:
            progressed = False
            for ident in list(remaining):
                refs = [r for r in entry_references(self.by_id[ident]) if r in wanted]
                if all(r in done for r in refs):
                    result.append(self.by_id[ident])
                    done.add(ident)
                    remaining.remove(ident)
                    progressed = True
                    break
            if not progressed:
                raise BadInputError(
                    f"storage.yaml: circular references among {', '.join(remaining)}"
                )
        return result
