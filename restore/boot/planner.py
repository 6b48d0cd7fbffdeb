"""The boot phase as ordered steps (pure: the manifest, the layout plan, what the tree holds).

Order: bind the live /dev /proc /sys /run into the tree; system files
(:mod:`.system_files`); the initramfs rebuilt; the bootloader
(:mod:`.loader`) and the NVRAM entries (:mod:`.nvram`); the checks
(:mod:`.checks`, :mod:`.initramfs`); the binds undone.  The same steps are
applied with a journal and rendered into the restore script, as the layout's
are.  A UEFI host whose NVRAM cannot be written from this live system (booted
in BIOS mode) is refused unless ``no_nvram``: then only the removable-media
fallback is written and checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from hostbook.manifest.sections.storage import (
    FilesystemEntry,
    LvEntry,
    PartitionEntry,
    StorageDocument,
    VgEntry,
)
from hostbook.restore.boot import checks
from hostbook.restore.boot.chroot import bind_steps, unbind_steps
from hostbook.restore.boot.facts import RecordedLoader, recorded_loader
from hostbook.restore.boot.initramfs import Tool, content_step, rebuild_step
from hostbook.restore.boot.loader import bios_steps, efi_steps, grub_config_step
from hostbook.restore.boot.nvram import PlacedEntry, nvram_steps
from hostbook.restore.boot.stack import below, disks_below, initramfs_tools
from hostbook.restore.boot.system_files import RestoredFiles, system_file_steps
from hostbook.restore.plan.steps import Step
from hostbook.restore.target.devices import lv_mapper_path

DEFAULT_ESP_MOUNTPOINT = "/boot/efi"


@dataclass(frozen=True)
class BootInput:
    """Everything the boot planner reads."""

    host: str
    storage: StorageDocument
    """As recorded."""
    planned: StorageDocument
    """As the layout plan rebuilt it (a new UUID where ``--new-identities`` gave one)."""
    paths: dict[str, str]
    """Recorded entry id -> the rebuilt device path (the layout plan's)."""
    target: str
    restored: RestoredFiles = field(default_factory=RestoredFiles)
    kept: set[str] | None = None
    """The entry ids the layout rebuilt (None: all)."""
    initramfs: Tool = "initramfs-tools"
    live_firmware: str = "uefi"
    no_nvram: bool = False


@dataclass
class BootPlan:
    host: str
    target: str
    loader: RecordedLoader
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)

    @property
    def refused(self) -> bool:
        return bool(self.refusals)

    @property
    def devices(self) -> list[str]:
        return sorted({d for s in self.steps for d in s.devices})


def esp_mountpoint(storage: StorageDocument) -> str:
    for line in storage.fstab.entries:
        if storage.boot.esp_mounted and line.target == storage.boot.esp_mounted:
            return line.mountpoint
    return DEFAULT_ESP_MOUNTPOINT


def root_names(storage: StorageDocument, planned: StorageDocument) -> list[str]:
    """How a kernel command line may name the rebuilt root: its UUID, its dm path."""
    entries = {e.id: e for e in planned.entries}
    root = entries.get(storage.boot.root or "")
    names = []
    if isinstance(root, FilesystemEntry) and root.uuid:
        names.append(f"UUID={root.uuid}")
    for ident in below(planned, storage.boot.root):
        entry = entries.get(ident)
        if isinstance(entry, LvEntry):
            names.append(lv_mapper_path(entry))
            break
    return names


def _bios_devices(request: BootInput) -> list[str]:
    boot = request.storage.boot
    entries = {e.id: e for e in request.storage.entries}
    disks = [d for d in boot.grub_install_device_ids if d in request.paths]
    if not disks:
        disks = [entries[p].disk for p in boot.bios_boot
                 if isinstance(entries.get(p), PartitionEntry)]
    if not disks:
        disks = disks_below(request.storage, boot.boot or boot.root)
    return list(dict.fromkeys(request.paths[d] for d in disks if d in request.paths))


def _placed(request: BootInput, loader: RecordedLoader) -> tuple[list[PlacedEntry], list[str]]:
    entries = {e.id: e for e in request.storage.entries}
    placed, notes = [], []
    for entry in loader.entries:
        part = entries.get(entry.partition or "")
        if not isinstance(part, PartitionEntry) or part.disk not in request.paths or (
                request.kept is not None and part.id not in request.kept):
            notes.append(f"NVRAM entry Boot{entry.number} {entry.label!r} is not recreated: "
                         f"its partition {entry.partition} is not rebuilt")
            continue
        placed.append(PlacedEntry(entry, request.paths[part.disk], part.number))
    return placed, notes


def plan_boot(request: BootInput) -> BootPlan:
    """The boot phase's steps for ``request`` (refusals in ``plan.refusals``)."""
    storage, target = request.storage, request.target
    loader = recorded_loader(storage.boot)
    plan = BootPlan(request.host, target, loader)
    nvram = loader.uefi and not request.no_nvram
    if nvram and request.live_firmware != "uefi":
        plan.refusals.append(
            "the host boots with UEFI, but this live system was booted in BIOS mode: its "
            "NVRAM entries cannot be written from here; boot the live system in UEFI mode, "
            "or give --no-nvram to write only the removable-media fallback "
            "\\EFI\\BOOT\\BOOTX64.EFI")
    if loader.kind == "none":
        plan.refusals.append("the boot facts name no bootloader (no GRUB install device, no "
                             "BIOS boot partition, no NVRAM entry of the host's own): "
                             "capture the host again, or install one by hand")
    plan.steps += bind_steps(target)
    plan.steps += system_file_steps(storage, request.planned, target, request.restored,
                                    request.kept)
    plan.steps.append(rebuild_step(target, request.initramfs))
    names = root_names(storage, request.planned)
    esp = esp_mountpoint(storage)
    if loader.kind == "grub-bios":
        devices = _bios_devices(request)
        if not devices:
            plan.refusals.append("no rebuilt disk to install BIOS GRUB on")
        plan.steps += bios_steps(target, devices)
        plan.steps.append(grub_config_step(target))
        plan.steps += [checks.mbr_check(d) for d in devices]
        plan.notes.append("GRUB for BIOS goes on " + ", ".join(devices)
                          + " (debconf's grub-pc/install_devices still names the recorded "
                          "disks: a later grub-pc upgrade asks again)")
    elif loader.uefi:
        fallback = loader.fallback or not nvram
        plan.steps += efi_steps(target, loader, esp, fallback)
        if loader.kind != "systemd-boot":
            plan.steps.append(grub_config_step(target))
        placed, notes = _placed(request, loader) if nvram else ([], [])
        plan.notes += notes
        plan.steps += nvram_steps(target, placed)
        for entry in placed:
            plan.steps.append(checks.loader_file_check(target, esp, entry.entry.loader or ""))
        if fallback:
            plan.steps.append(checks.fallback_check(target, esp))
        if placed:
            plan.steps.append(checks.boot_order_check(target, [p.number for p in placed]))
        if nvram and not placed:
            plan.refusals.append("no NVRAM entry of the host's own can be recreated (none "
                                 "recorded on a rebuilt ESP); give --no-nvram to write the "
                                 "removable-media fallback only")
        if not nvram:
            plan.notes.append("NVRAM is not written (--no-nvram): the firmware starts "
                              "\\EFI\\BOOT\\BOOTX64.EFI from the ESP")
    if names and loader.kind in ("grub-bios", "grub-efi", "shim"):
        plan.steps.append(checks.grub_cfg_check(target, names))
    elif names and loader.kind == "systemd-boot":
        plan.steps.append(checks.loader_entries_check(target, esp, names))
    tools = initramfs_tools(storage)
    plan.steps.append(content_step(target, request.initramfs, tools, "cryptsetup" in tools))
    root_vgs = [e.name for e in storage.entries if isinstance(e, VgEntry)
                and e.id in below(storage, storage.boot.root)]
    plan.steps += [checks.lvm_check(target, vg) for vg in root_vgs]
    plan.steps += unbind_steps(target)
    # Every boot step is repeated by a resumed run (none is skipped on the journal's
    # word): each is idempotent and cheap beside the data phase, and a check that
    # failed must see the steps before it run again once its cause is fixed (a
    # grub.cfg made before /dev/disk/by-uuid existed names the root by its node).
    # The rebuild journal skips the whole phase once its checks have passed.
    plan.steps = [replace(step, destructive=False) for step in plan.steps]
    return plan
