"""Storage probe 8: bootloader facts the rebuild needs to make the host start.

Firmware mode from /sys/firmware/efi; ESP and BIOS boot partitions by type;
which filesystems back /, /boot and the ESP; the BIOS GRUB install devices
from debconf (``debconf-show grub-pc``, only where BIOS GRUB is installed);
firmware boot entries, BootOrder and Timeout from ``efibootmgr -v`` in UEFI
mode, each entry tied to the captured partition its device path names.
"""

from __future__ import annotations

from typing import Any

from hostbook.capture.parsers.boot import (
    efi_hard_drive,
    efi_loader,
    parse_debconf_show,
    parse_efibootmgr,
    split_multiselect,
)
from hostbook.capture.probe import Probe, ProbeContext
from hostbook.capture.probes.storage.inventory import StorageState, device_id, state

ESP_TYPES = frozenset({"C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "ef"})
BIOS_BOOT_TYPES = frozenset({"21686148-6449-6E6F-744E-656564454649"})
ESP_MOUNTPOINTS = ("/boot/efi", "/efi", "/boot")
GRUB_PC_DIR = "/boot/grub/i386-pc"
GRUB_PC_QUESTION = "grub-pc/install_devices"


def _partitions(st: StorageState, types: frozenset[str]) -> list[str]:
    return sorted(
        e["id"] for e in st.entries
        if e.get("type") == "partition"
        and (e.get("partition_type", "").upper() in types or e.get("partition_type") in types)
    )


def _mounted_fs(st: StorageState, mountpoint: str) -> str | None:
    for entry in st.entries:
        if entry.get("type") == "mount" and entry.get("mountpoint") == mountpoint:
            fs = entry.get("filesystem")
            return fs if isinstance(fs, str) else None
    return None


def _backing_fs(st: StorageState, doc: dict[str, Any], mountpoint: str) -> str | None:
    """The filesystem mounted on ``mountpoint``, else the one fstab puts there.

    A live system or a rescue shell has its own root; fstab still says which
    filesystem is the host's root.
    """
    mounted = _mounted_fs(st, mountpoint)
    if mounted is not None:
        return mounted
    for line in doc.get("fstab", {}).get("entries", []):
        target = line.get("target")
        if line.get("mountpoint") == mountpoint and str(target).startswith("fs:"):
            return str(target)
    return None


def grub_devices(ctx: ProbeContext, st: StorageState) -> tuple[list[str], list[str]]:
    """grub-pc/install_devices as written, and the entry ids they resolve to.

    Debian's grub-pc keeps where it installs GRUB in debconf, as
    /dev/disk/by-id paths; an empty value is a real answer (GRUB installed by
    hand, or on no disk).  A path that names no block device here (a replaced
    disk) is kept and warned about: the next grub-pc upgrade would ask again.
    A host without debconf (not Debian-based) keeps no such record, so there
    is nothing to read and nothing missing: no warning.
    """
    if ctx.runner.list_dir(GRUB_PC_DIR) is None:
        return [], []
    result = ctx.runner.query(["debconf-show", "grub-pc"])
    if result.missing:
        return [], []
    if not result.ok:
        ctx.mark_incomplete("grub install devices", result.failure())
        return [], []
    values = parse_debconf_show(result.stdout)
    devices = split_multiselect(values.get(GRUB_PC_QUESTION))
    ids = []
    for path in devices:
        kname = st.resolve_path(ctx.runner, path)
        if kname is None:
            ctx.mark_incomplete(
                "grub install devices",
                f"{GRUB_PC_QUESTION} names {path}, which is no block device here",
            )
            continue
        ident = device_id(st, kname)
        if ident:
            ids.append(ident)
    return devices, sorted(set(ids))


def _partition_of(st: StorageState, path: str | None) -> str | None:
    """Id of the captured partition an EFI device path's HD() node names.

    GPT: by partition GUID.  MBR: HD() gives the disk signature and partition
    number, which make the PARTUUID the partitions probe derives
    (``<signature>-<number in hex>``).
    """
    hd = efi_hard_drive(path)
    if hd is None:
        return None
    wanted = hd.signature.lower()
    if hd.scheme == "MBR":
        try:
            wanted = f"{int(wanted, 16):08x}-{hd.number:02x}"
        except ValueError:
            return None
    for entry in st.entries:
        if entry.get("type") == "partition" and str(entry.get("uuid") or "").lower() == wanted:
            return str(entry["id"])
    return None


def efi_entries(ctx: ProbeContext, st: StorageState, boot: dict[str, Any]) -> None:
    """Firmware boot entries, BootOrder and Timeout from efibootmgr -v.

    BootCurrent and BootNext are read but not kept: they say how this one boot
    went, not how the host is set up.
    """
    result = ctx.run_ok(["efibootmgr", "-v"], "efi boot entries")
    if result is None:
        return
    efi = parse_efibootmgr(result.stdout)
    if efi.order is None and not efi.entries:
        reason = "efibootmgr -v printed no BootOrder and no Boot#### entry"
        if efi.unknown:
            reason += f" (first line: {efi.unknown[0][:80]!r})"
        ctx.mark_incomplete("efi boot entries", reason)
        return
    if efi.unknown:
        ctx.mark_incomplete(
            "efi boot entries",
            f"efibootmgr -v printed {len(efi.unknown)} line(s) not understood, "
            f"the first: {efi.unknown[0][:80]!r}",
        )
    boot["efi_boot_order"] = efi.order or []
    boot["efi_timeout"] = efi.timeout
    entries = []
    for item in sorted(efi.entries, key=lambda e: str(e["number"])):
        path = item["path"] if isinstance(item["path"], str) else None
        entries.append({
            "id": f"efi:Boot{item['number']}", **item,
            "partition": _partition_of(st, path), "loader": efi_loader(path),
        })
    boot["efi_entries"] = entries


def collect(ctx: ProbeContext, doc: dict[str, Any]) -> None:
    st = state(doc)
    uefi = ctx.runner.list_dir("/sys/firmware/efi") is not None
    boot: dict[str, Any] = {
        "firmware": "uefi" if uefi else "bios",
        "root": _backing_fs(st, doc, "/"),
        "boot": _backing_fs(st, doc, "/boot"),
        "esp": _partitions(st, ESP_TYPES),
        "bios_boot": _partitions(st, BIOS_BOOT_TYPES),
    }
    esp_ids = {f"fs:{p}" for p in boot["esp"]}
    for mountpoint in ESP_MOUNTPOINTS:
        fs = _mounted_fs(st, mountpoint)
        if fs in esp_ids:
            boot["esp_mounted"] = fs
            loaders = ctx.runner.list_dir(f"{mountpoint}/EFI") or []
            boot["efi_loaders"] = sorted(loaders)
            break
        fs = _backing_fs(st, doc, mountpoint)
        if fs in esp_ids and "esp_mounted" not in boot:
            boot["esp_mounted"] = fs
    devices, ids = grub_devices(ctx, st)
    boot["grub_install_devices"] = devices
    boot["grub_install_device_ids"] = ids
    if uefi:
        efi_entries(ctx, st, boot)
    doc["boot"] = boot


PROBE = Probe(
    name="storage_boot",
    section="storage",
    commands=("debconf-show", "efibootmgr"),
    collect=collect,
    description="firmware mode, ESP/BIOS boot partitions, GRUB install devices, EFI entries",
)
