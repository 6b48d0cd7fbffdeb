"""The firmware's boot entries, recreated as recorded: number, label, loader, ESP partition.

Each recorded entry that starts a loader on one of the host's ESPs is made
again with its own number (``efibootmgr -b NNNN -B`` first, since the live
firmware may already use that number), on the mapped disk and the recorded
partition number (the restore keeps the partition's GPT GUID, which the HD()
node names); inactive entries stay inactive; BootOrder is the recorded order
of the entries recreated.  Firmware entries of its own (UiApp, the shell, PXE)
are the new firmware's business and are not touched.
"""

from __future__ import annotations

from dataclasses import dataclass

from hostbook.manifest.sections.storage import EfiBootEntry
from hostbook.restore.boot.chroot import in_chroot
from hostbook.restore.plan.steps import Command, Step


@dataclass(frozen=True)
class PlacedEntry:
    """A recorded entry with the rebuilt disk and partition number it points to."""

    entry: EfiBootEntry
    disk: str
    partition: int

    @property
    def number(self) -> str:
        return self.entry.number.upper()


def entry_step(target: str, placed: PlacedEntry) -> Step:
    entry = placed.entry
    delete = f"efibootmgr -q -b {placed.number} -B >/dev/null 2>&1 || true"
    create = ("efibootmgr -q -c -b \"$1\" -d \"$2\" -p \"$3\" -L \"$4\" -l \"$5\""
              + ("" if entry.active else " && efibootmgr -q -b \"$1\" -A"))
    return Step(
        id=f"nvram:{placed.number}", layer="nvram",
        summary=f"NVRAM entry Boot{placed.number} {entry.label!r}: {entry.loader} on "
        f"{placed.disk} partition {placed.partition}" + ("" if entry.active else " (inactive)"),
        commands=(Command(in_chroot(target, "sh", "-c", f"{delete}; {create}", "efibootmgr",
                                    placed.number, placed.disk, str(placed.partition),
                                    entry.label, entry.loader or "")),),
        devices=(placed.disk,))


def order_step(target: str, numbers: list[str]) -> Step:
    order = ",".join(numbers)
    return Step(id="nvram:order", layer="nvram", summary=f"BootOrder {order}",
                commands=(Command(in_chroot(target, "efibootmgr", "-q", "-o", order)),))


def nvram_steps(target: str, placed: list[PlacedEntry]) -> list[Step]:
    if not placed:
        return []
    return [*(entry_step(target, p) for p in placed),
            order_step(target, [p.number for p in placed])]
