"""What rebuilding a host needs, read from its manifest alone (pure).

Three places a program must be found:

- ``live``: the live environment runs the layout and data phases (sfdisk,
  mdadm, cryptsetup, lvm, the mkfs of every recorded filesystem, the
  archivers of its jobs);
- ``target``: the boot phase runs the restored system's own bootloader and
  initramfs tools in its chroot, so GRUB's modules and the initramfs hooks
  match the kernel that boots (a live system's grub-install of another
  version would put foreign modules into /boot);
- ``firmware``: the mode the live system booted in, when the host's
  bootloader writes NVRAM.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from hostbook.manifest.sections.storage import (
    DiskEntry,
    FilesystemEntry,
    LuksEntry,
    LvEntry,
    MdEntry,
    PartitionEntry,
    PvEntry,
    StorageDocument,
    SwapEntry,
)
from hostbook.restore.boot.facts import recorded_loader
from hostbook.restore.doctor.packages import GRUB_PLATFORM, package_of

Where = Literal["live", "target"]

MKFS = {"ext2": "mke2fs", "ext3": "mke2fs", "ext4": "mke2fs", "xfs": "mkfs.xfs",
        "btrfs": "mkfs.btrfs", "vfat": "mkfs.fat"}
ARCHIVER_PROGRAMS = {"restic": ("restic",), "borg": ("borg",), "tar": ("tar", "zstd"),
                     "xfsdump": ("xfsrestore",)}
"""The programs restoring from each archiver's targets runs (restore/data's sources)."""


@dataclass(frozen=True)
class Need:
    """One program (or, with ``alternatives``, one of several) and why the rebuild runs it."""

    program: str
    why: str
    where: Where = "live"
    package: str = ""
    alternatives: tuple[str, ...] = ()

    @property
    def programs(self) -> tuple[str, ...]:
        return (self.program, *self.alternatives)

    @property
    def packages(self) -> str:
        """The package(s) to install, in words."""
        return self.package or " or ".join(dict.fromkeys(package_of(p) for p in self.programs))

    def describe(self) -> str:
        return f"{' or '.join(self.programs)} (package {self.packages}): {self.why}"


def _add(needs: dict[tuple[str, Where], Need], need: Need) -> None:
    key = (need.program, need.where)
    if key not in needs:
        needs[key] = need


def layout_needs(storage: StorageDocument) -> list[Need]:
    """The live tools the layout phase runs for these entries."""
    needs: dict[tuple[str, Where], Need] = {}
    for base in ("wipefs", "blkid", "lsblk", "udevadm", "mount"):
        _add(needs, Need(base, "wiping, probing and mounting the target disks"))
    _add(needs, Need("git", "reading the manifest repository (its commits name the archives)"))
    for entry in storage.entries:
        if isinstance(entry, DiskEntry | PartitionEntry) and getattr(entry, "table", None):
            _add(needs, Need("sfdisk", f"the partition table of {entry.id}"))
        elif isinstance(entry, MdEntry):
            _add(needs, Need("mdadm", f"md array {entry.id}"))
        elif isinstance(entry, LuksEntry):
            _add(needs, Need("cryptsetup", f"LUKS container {entry.id}"))
        elif isinstance(entry, PvEntry | LvEntry):
            _add(needs, Need("lvm", f"LVM ({entry.id})"))
        elif isinstance(entry, FilesystemEntry) and entry.fstype in MKFS:
            _add(needs, Need(MKFS[entry.fstype], f"{entry.fstype} filesystem {entry.id}"))
        elif isinstance(entry, SwapEntry):
            _add(needs, Need("mkswap", f"swap {entry.id}"))
    return list(needs.values())


def data_needs(jobs: Any | None) -> list[Need]:
    """The archivers' restore tools for every archive target of the host's jobs."""
    needs: dict[tuple[str, Where], Need] = {}
    for job in getattr(jobs, "jobs", []) or []:
        for target in job.archive:
            for program in ARCHIVER_PROGRAMS.get(target.tool, ()):
                _add(needs, Need(program, f"job {job.name}'s {target.tool} archives"))
    return list(needs.values())


def boot_needs(storage: StorageDocument) -> list[Need]:
    """The restored system's tools the boot phase runs in its chroot."""
    loader = recorded_loader(storage.boot)
    needs = [Need("chroot", "running the restored system's own tools"),
             Need("update-initramfs", "the initramfs of every installed kernel", "target",
                  alternatives=("dracut",)),
             Need("lsinitramfs", "checking the initramfs holds the root's tools", "target",
                  alternatives=("lsinitrd",))]
    if loader.kind in ("grub-bios", "grub-efi", "shim"):
        firmware = "bios" if loader.kind == "grub-bios" else "uefi"
        package = f"grub2-common, {GRUB_PLATFORM[firmware]}"
        if loader.kind == "shim":
            package += ", grub-efi-amd64-signed, shim-signed"
        needs.append(Need("grub-install", f"GRUB for {firmware}"
                          + (" behind shim" if loader.kind == "shim" else ""), "target",
                          package=package))
        needs.append(Need("grub-mkconfig", "grub.cfg naming the root filesystem", "target"))
    if loader.kind == "systemd-boot":
        needs.append(Need("bootctl", "systemd-boot in the ESP", "target"))
    if loader.uefi:
        needs.append(Need("efibootmgr", "the NVRAM boot entries and BootOrder", "target"))
    return needs


def all_needs(storage: StorageDocument, jobs: Any | None) -> list[Need]:
    """Every need, live ones first, each program once per place."""
    needs: dict[tuple[str, Where], Need] = {}
    for need in [*layout_needs(storage), *data_needs(jobs), *boot_needs(storage)]:
        _add(needs, need)
    return list(needs.values())


def programs_of(needs: Iterable[Need]) -> list[str]:
    return sorted({p for n in needs for p in n.programs})
