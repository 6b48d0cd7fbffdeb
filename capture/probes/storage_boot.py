"""Storage probe 8: bootloader facts the rebuild needs to make the host start.

Firmware mode from /sys/firmware/efi; ESP and BIOS boot partitions by type;
which filesystems back /, /boot and the ESP; the BIOS GRUB install devices
from debconf (``debconf-show grub-pc``, only where BIOS GRUB is installed);
firmware boot entries from ``efibootmgr -v`` in UEFI mode.
"""

from __future__ import annotations

from typing import Any

from hostbook.capture.parse_boot import parse_efibootmgr
from hostbook.capture.probe import Probe, ProbeContext
from hostbook.capture.probes.storage_inventory import StorageState, state

ESP_TYPES = frozenset({"C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "ef"})
BIOS_BOOT_TYPES = frozenset({"21686148-6449-6E6F-744E-656564454649"})
ESP_MOUNTPOINTS = ("/boot/efi", "/efi", "/boot")
GRUB_PC_DIR = "/boot/grub/i386-pc"


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
    """grub-pc/install_devices as written, and the entry ids they resolve to."""
    if ctx.runner.list_dir(GRUB_PC_DIR) is None:
        return [], []
    result = ctx.optional(["debconf-show", "grub-pc"])
    devices: list[str] = []
    for line in (result.stdout if result else "").splitlines():
        key, sep, value = line.lstrip("* ").partition(":")
        if sep and key.strip() == "grub-pc/install_devices":
            devices = [d.strip() for d in value.split(",") if d.strip()]
    ids = []
    from hostbook.capture.probes.storage_inventory import device_id

    for path in devices:
        kname = st.resolve_path(ctx.runner, path)
        ident = device_id(st, kname) if kname else None
        if ident:
            ids.append(ident)
    return devices, sorted(set(ids))


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
        result = ctx.run_ok(["efibootmgr", "-v"], "efi boot entries")
        if result is not None:
            efi = parse_efibootmgr(result.stdout)
            boot["efi_boot_order"] = efi.order
            boot["efi_entries"] = [
                {"id": f"efi:Boot{e['number']}", **e}
                for e in sorted(efi.entries, key=lambda e: str(e["number"]))
            ]
    doc["boot"] = boot


PROBE = Probe(
    name="storage_boot",
    section="storage",
    commands=("debconf-show", "efibootmgr"),
    collect=collect,
    description="firmware mode, ESP/BIOS boot partitions, GRUB install devices, EFI entries",
)
