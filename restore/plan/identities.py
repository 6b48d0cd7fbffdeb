"""``--new-identities``: identities another attached device carries are made new.

A restore recreates each filesystem with its recorded UUID, so that fstab,
crypttab and the bootloader find it.  When the original is still attached
(a copy made beside it), a second filesystem with that UUID makes the kernel
take one for the other, and XFS refuses to mount it at all.  The planner
refuses that; asked for new identities, it gives exactly those filesystems,
swap areas, partitions and GPT disks a new UUID instead and says so, since
whatever names the old one (fstab, the bootloader) must then be updated by
hand.  LUKS, LVM and md identities are not renamed: their metadata ties them
to each other, so a clash there is still refused.

The new UUID is derived from the old one and the target disks, so planning
again (and resuming an apply) makes the same steps.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from hostbook.manifest.sections.storage import (
    DiskEntry,
    FilesystemEntry,
    LoopEntry,
    PartitionEntry,
    StorageDocument,
    StorageEntry,
    SwapEntry,
)

RENAMEABLE = (FilesystemEntry, SwapEntry, PartitionEntry, DiskEntry, LoopEntry)
"""The entries whose clashing identity ``--new-identities`` replaces."""
_NAMESPACE = uuid.UUID("6f1c1b8e-3d1a-4c55-9a57-1b0f0b7d2e10")


def _new_uuid(old: str, kind: str, targets: Sequence[str]) -> str:
    fresh = uuid.uuid5(_NAMESPACE, "\0".join([old, *sorted(targets)]))
    if kind == "vfat":  # a FAT volume id: 8 hex digits, XXXX-XXXX
        text = fresh.hex[:8].upper()
        return f"{text[:4]}-{text[4:]}"
    return str(fresh).upper() if old.isupper() else str(fresh)


def _renamed(entry: StorageEntry, clashes: Mapping[str, str], targets: Sequence[str]
             ) -> tuple[StorageEntry, str | None]:
    """The entry with a new identity where its recorded one clashes, and the note."""
    if isinstance(entry, FilesystemEntry | SwapEntry | PartitionEntry) and entry.uuid and (
            entry.uuid.lower() in clashes):
        kind = entry.fstype if isinstance(entry, FilesystemEntry) else entry.type
        new = _new_uuid(entry.uuid, kind, targets)
        note = (f"{entry.id}: new UUID {new} (the recorded {entry.uuid} is on "
                f"{clashes[entry.uuid.lower()]}); update what names the old one (fstab, "
                "the bootloader)")
        return entry.model_copy(update={"uuid": new}), note
    if isinstance(entry, DiskEntry | LoopEntry) and entry.table is not None and (
            entry.table.type == "gpt" and entry.table.id
            and entry.table.id.lower() in clashes):
        new = _new_uuid(entry.table.id, "gpt", targets)
        note = (f"{entry.id}: new GPT disk GUID {new} (the recorded {entry.table.id} is on "
                f"{clashes[entry.table.id.lower()]})")
        return entry.model_copy(update={"table": entry.table.model_copy(update={"id": new})}), note
    return entry, None


def with_new_identities(storage: StorageDocument, foreign: Mapping[str, str],
                        targets: Sequence[str]) -> tuple[StorageDocument, list[str]]:
    """``storage`` with a new identity for each filesystem, swap, partition or GPT disk
    whose identity is present elsewhere; and a note per change."""
    clashes = {key.lower(): where for key, where in foreign.items()}
    notes: list[str] = []
    entries = []
    for entry in storage.entries:
        entry, note = _renamed(entry, clashes, targets)
        entries.append(entry)
        if note is not None:
            notes.append(note)
    if not notes:
        return storage, []
    return storage.model_copy(update={"entries": entries}), notes
