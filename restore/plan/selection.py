"""What a restore recreates: the mapped disks and what is built on them, less what is not.

Everything on a mapped disk is restored, except what restore.yaml skips
(and what is built on that), what sits partly on a disk that is not mapped,
and what cannot or need not be made again: snapshots (they hold data),
plain dm-crypt (set up at boot from crypttab), other device-mapper
devices, filesystems no mkfs here makes, md arrays never assembled.  Each is
said in the plan, as a note or as a refusal.  The policy itself is checked
against storage.yaml when both load (:func:`policy_problems`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from hostbook.manifest.sections.restore import RestoreDocument
from hostbook.manifest.sections.storage import (
    CryptEntry,
    DmEntry,
    FilesystemEntry,
    LvEntry,
    MdEntry,
    MountEntry,
    StorageDocument,
    StorageEntry,
    entry_references,
)
from hostbook.restore.plan.filesystems import SUPPORTED
from hostbook.restore.plan.layout import StorageView
from hostbook.restore.plan.table_fit import grow_problem
from hostbook.restore.target.diskmap import DiskIdentity, known_disks, recorded_matches


@dataclass
class Selection:
    """The entry ids restored, and what the plan says about the rest."""

    restored: set[str]
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def needed_disks(storage: StorageDocument, policy: RestoreDocument) -> list[str]:
    """Ids of the recorded disks a restore with this policy writes."""
    view = StorageView(storage)
    skipped = view.resolve_skip(policy.skip)
    return [d.id for d in view.disks() if d.id not in skipped]


def policy_problems(recorded: Sequence[DiskIdentity], storage: StorageDocument,
                    policy: RestoreDocument) -> list[tuple[tuple[str | int, ...], str]]:
    """What restore.yaml names that storage.yaml does not have: (path, message).

    Checked when the two files are loaded, so each problem is reported at its
    line of restore.yaml, before any disk is looked at: a disk rule for no
    recorded disk (or for one already ruled), a ``grow`` partition the disk
    does not have, an ``lvs`` id that is no LV.
    """
    view = StorageView(storage)
    problems: list[tuple[tuple[str | int, ...], str]] = []
    ruled: dict[str, int] = {}
    for index, rule in enumerate(policy.disks):
        found = recorded_matches(recorded, rule.id)
        if len(found) != 1:
            what = "several recorded disks; use the entry id" if found else (
                f"no disk of storage.yaml (recorded: {known_disks(recorded)})")
            problems.append((("disks", index, "id"), f"{rule.id!r} names {what}"))
            continue
        disk = found[0].key
        if disk in ruled:
            problems.append((("disks", index, "id"),
                             f"{rule.id!r}: {disk} already has a rule (disks item {ruled[disk]})"))
        ruled.setdefault(disk, index)
        if isinstance(rule.grow, int):
            entry = view.get(disk)
            problem = ("grow: the disk has no partition table"
                       if getattr(entry, "table", None) is None
                       else grow_problem(view.partitions_of(disk), rule.grow))
            if problem:
                problems.append((("disks", index, "grow"), f"{disk} {problem}"))
    lvs = {e.id for e in storage.entries if isinstance(e, LvEntry)}
    for index, share in enumerate(policy.lvs):
        if share.id not in lvs:
            problems.append((("lvs", index, "id"),
                             f"{share.id!r} names no LV of storage.yaml"))
    return problems


def select(view: StorageView, policy: RestoreDocument, mapped: set[str]) -> Selection:
    """What is restored when the disks ``mapped`` (recorded ids) have targets."""
    chosen = Selection(set())
    skipped = view.resolve_skip(policy.skip)
    for disk in view.disks():
        if disk.id not in mapped and disk.id not in skipped:
            chosen.problems.append(f"recorded disk {disk.id} has no target in the disk map")
    wanted = view.closure(mapped) - skipped
    dropped: set[str] = set()
    for entry in view.ordered(wanted):
        if isinstance(entry, MountEntry):
            dropped.add(entry.id)
            continue
        refs = [r for r in entry_references(entry) if r in view.by_id]
        lost = [r for r in refs if r in dropped or r not in wanted]
        if lost:
            if not any(r in dropped for r in lost):
                chosen.problems.append(
                    f"{entry.id} also sits on {', '.join(lost)}, which is not restored "
                    "(map its disk or skip it)"
                )
            dropped.add(entry.id)
            continue
        reason = _not_restored(entry, chosen.problems)
        if reason is not None:
            dropped.add(entry.id)
            if reason:
                chosen.notes.append(reason)
    for ident in sorted(skipped):
        entry = view.get(ident)
        if entry is not None and not isinstance(entry, MountEntry):
            chosen.notes.append(f"{ident}: skipped (restore.yaml)")
    chosen.restored = wanted - dropped
    return chosen


def _not_restored(entry: StorageEntry, problems: list[str]) -> str | None:
    """Why ``entry`` is not made again: a note, '' after adding a refusal, None if it is."""
    if isinstance(entry, LvEntry) and entry.snapshot:
        return f"LV {entry.name}: a snapshot; not recreated (snapshots hold data)"
    if isinstance(entry, CryptEntry):
        return (f"dm-crypt {entry.name}: plain (no header); set up at boot from crypttab, "
                "nothing to restore")
    if isinstance(entry, DmEntry):
        problems.append(
            f"dm {entry.name} ({entry.subsystem or 'device-mapper'}): not restored; add "
            f"{entry.id} to skip in restore.yaml"
        )
        return ""
    if isinstance(entry, FilesystemEntry) and entry.fstype not in SUPPORTED:
        problems.append(
            f"{entry.fstype} on {entry.name or entry.device}: no way to recreate it; add "
            f"{entry.id} to skip in restore.yaml"
        )
        return ""
    if isinstance(entry, MdEntry) and not entry.assembled and entry.level == "unknown":
        problems.append(f"md {entry.uuid}: level unknown (never assembled); skip it")
        return ""
    return None
