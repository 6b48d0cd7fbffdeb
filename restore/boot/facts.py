"""What the recorded boot facts say the host booted with.

storage.yaml's ``boot`` section holds what capture saw (firmware, GRUB's
install devices, the NVRAM entries and their loader files, the directories
under EFI/); this module reads one decision from it, used by the doctor
(which tools) and by the boot phase (which installer): BIOS GRUB, UEFI GRUB,
UEFI GRUB behind shim, or systemd-boot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hostbook.manifest.sections.storage import Boot, EfiBootEntry

LoaderKind = Literal["grub-bios", "grub-efi", "shim", "systemd-boot", "none"]

FALLBACK_LOADER = "\\EFI\\BOOT\\BOOTX64.EFI"
"""The removable-media path every x86_64 UEFI firmware tries without an NVRAM entry."""


@dataclass(frozen=True)
class RecordedLoader:
    """The bootloader a host used, as its boot facts say."""

    kind: LoaderKind
    firmware: Literal["uefi", "bios"] | None
    entries: tuple[EfiBootEntry, ...] = ()
    """The NVRAM entries that start a loader on one of the host's ESPs, BootOrder first."""
    fallback: bool = False
    """The ESP had EFI/BOOT (the removable-media fallback) when captured."""
    bootloader_id: str = "debian"
    """The directory under EFI/ GRUB or shim lives in (grub-install --bootloader-id)."""

    @property
    def uefi(self) -> bool:
        return self.kind in ("grub-efi", "shim", "systemd-boot")


def _loader_name(entry: EfiBootEntry) -> str:
    return (entry.loader or "").replace("/", "\\").rsplit("\\", 1)[-1].lower()


def _ordered(boot: Boot) -> list[EfiBootEntry]:
    """The host's own entries (a loader on a captured partition), in BootOrder."""
    own = [e for e in boot.efi_entries if e.partition and e.loader]
    rank = {number.upper(): index for index, number in enumerate(boot.efi_boot_order)}
    return sorted(own, key=lambda e: (rank.get(e.number.upper(), len(rank)), e.number))


def recorded_loader(boot: Boot) -> RecordedLoader:
    """The loader ``boot`` describes; ``none`` when the facts name no bootloader."""
    if boot.firmware == "bios" or (boot.firmware is None and boot.grub_install_devices):
        return RecordedLoader("grub-bios" if boot.grub_install_devices or boot.bios_boot
                              else "none", "bios")
    if boot.firmware != "uefi":
        return RecordedLoader("none", boot.firmware)
    entries = _ordered(boot)
    active = [e for e in entries if e.active] or entries
    names = [_loader_name(e) for e in active]
    loaders = {d.lower() for d in boot.efi_loaders}
    first = names[0] if names else ""
    if first.startswith("systemd-boot") or (not names and "systemd" in loaders):
        kind: LoaderKind = "systemd-boot"
    elif first.startswith("shim"):
        kind = "shim"
    elif first.startswith("grub") or (loaders - {"boot"}):
        kind = "grub-efi"
    else:
        kind = "none"
    directory = "debian"
    for entry in active:
        parts = [p for p in (entry.loader or "").replace("/", "\\").split("\\") if p]
        if len(parts) >= 3 and parts[0].lower() == "efi" and parts[1].lower() != "boot":
            directory = parts[1]
            break
    return RecordedLoader(kind, "uefi", tuple(entries), fallback="boot" in loaders,
                          bootloader_id=directory)
