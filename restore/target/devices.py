"""Where each recorded device will be on the target system.

Recorded kernel names (sda3, md127, dm-2) mean nothing on the new hardware.
The restore names devices by what it creates: the mapped disk's partitions,
``/dev/md/<array name>``, ``/dev/mapper/<LUKS name>`` and ``/dev/<vg>/<lv>``.
Those are the paths every command uses and the device guard allows.
"""

from __future__ import annotations

from hostbook.manifest.names import device_name_problem
from hostbook.manifest.partition_table import partition_node
from hostbook.manifest.sections.storage import (
    CryptEntry,
    DiskEntry,
    LoopEntry,
    LuksEntry,
    LvEntry,
    MdEntry,
    PartitionEntry,
    StorageEntry,
)
from hostbook.restore.plan.layout import StorageView


def md_short_name(entry: MdEntry) -> str:
    """The name part of ``host:name`` (what /dev/md/ shows), else the kernel name."""
    if entry.array_name:
        return entry.array_name.split(":", 1)[-1]
    if entry.name:
        return entry.name.removeprefix("md/")
    return "md-" + entry.uuid.replace(":", "")[:8]


def md_path(entry: MdEntry) -> str:
    return f"/dev/md/{md_short_name(entry)}"


def luks_name(entry: LuksEntry) -> str:
    """The mapping name: crypttab's, else the name it had open, else luks-<uuid>."""
    return entry.crypttab_name or entry.name or f"luks-{entry.uuid}"


def lv_path(entry: LvEntry) -> str:
    vg, lv = entry.name.split("/", 1)
    return f"/dev/{vg}/{lv}"


def lv_mapper_path(entry: LvEntry) -> str:
    """The /dev/mapper name: dashes doubled, as device-mapper names LVs."""
    vg, lv = entry.name.split("/", 1)
    return f"/dev/mapper/{vg.replace('-', '--')}-{lv.replace('-', '--')}"


def check_name(kind: str, name: str) -> str:
    """Refuse names that would turn into odd paths (they come from a file people edit).

    The storage schema refuses them first, with the file's line and column
    (the same rule: hostbook.manifest.names); this guards plans made in code.
    """
    if device_name_problem(kind, name):
        raise ValueError(f"{kind} name {name!r} has characters restore does not put in paths")
    return name


class DevicePaths:
    """Recorded entry id -> the device path it gets on the target system."""

    def __init__(self, view: StorageView, disk_paths: dict[str, str]) -> None:
        self.view = view
        self.disk_paths = dict(disk_paths)
        self.paths: dict[str, str] = dict(disk_paths)

    def path(self, ident: str) -> str | None:
        if ident in self.paths:
            return self.paths[ident]
        entry = self.view.get(ident)
        found = self._path(entry) if entry is not None else None
        if found is not None:
            self.paths[ident] = found
        return found

    def _path(self, entry: StorageEntry) -> str | None:
        if isinstance(entry, DiskEntry | LoopEntry):
            return self.disk_paths.get(entry.id)
        if isinstance(entry, PartitionEntry):
            owner = self.path(entry.disk)
            return partition_node(owner, entry.number) if owner else None
        if isinstance(entry, MdEntry):
            return f"/dev/md/{check_name('md', md_short_name(entry))}"
        if isinstance(entry, LuksEntry):
            return f"/dev/mapper/{check_name('LUKS mapping', luks_name(entry))}"
        if isinstance(entry, CryptEntry):
            return f"/dev/mapper/{check_name('dm-crypt mapping', entry.name)}"
        if isinstance(entry, LvEntry):
            vg, lv = entry.name.split("/", 1)
            check_name("VG", vg)
            check_name("LV", lv)
            return lv_path(entry)
        return None
