"""Refuse target disks that are busy or that the running system depends on.

Asked of the live system with one ``lsblk -J -b -O`` call: a target disk is
refused when it, or anything stacked on it (partitions, md arrays, dm-crypt,
LVM volumes), is mounted, used as swap, is an active md/dm/LVM device, or
backs the running root or the medium a live system booted from.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hostbook.manifest.errors import BadInputError, RuntimeFailure
from hostbook.restore.runner import RestoreRunner

# Where live systems mount the medium they booted from.
LIVE_MEDIUM_MOUNTS = (
    "/run/live/medium",
    "/lib/live/mount/medium",
    "/cdrom",
    "/run/archiso/bootmnt",
    "/run/initramfs/live",
)
SYSTEM_MOUNTS = ("/", "/usr", "/boot", "/boot/efi", "/efi", *LIVE_MEDIUM_MOUNTS)


@dataclass(frozen=True)
class PresentDevice:
    """A block device as lsblk reports it, with what is stacked on it."""

    name: str
    type: str
    size: int
    mountpoints: tuple[str, ...]
    children: tuple[PresentDevice, ...]
    model: str | None = None
    serial: str | None = None
    wwn: str | None = None
    log_sec: int = 512
    fstype: str | None = None

    def walk(self) -> Iterable[PresentDevice]:
        yield self
        for child in self.children:
            yield from child.walk()


def _device(node: dict[str, Any]) -> PresentDevice:
    mounts = tuple(m for m in (node.get("mountpoints") or []) if m)
    return PresentDevice(
        name=str(node.get("kname") or node.get("name")),
        type=str(node.get("type") or ""),
        size=int(node.get("size") or 0),
        mountpoints=mounts,
        children=tuple(_device(c) for c in node.get("children") or []),
        model=(node.get("model") or "").strip() or None,
        serial=(node.get("serial") or "").strip() or None,
        wwn=node.get("wwn"),
        log_sec=int(node.get("log-sec") or 512),
        fstype=node.get("fstype"),
    )


def present_devices(runner: RestoreRunner) -> dict[str, PresentDevice]:
    """Every top-level block device of the running system, by kernel name."""
    result = runner.run(["lsblk", "-J", "-b", "-O"])
    if not result.ok:
        raise RuntimeFailure(f"cannot list block devices: {result.failure()}")
    try:
        nodes = json.loads(result.stdout)["blockdevices"]
    except (ValueError, KeyError) as exc:
        raise RuntimeFailure(f"lsblk -J: unexpected output ({exc})") from None
    return {d.name: d for d in (_device(n) for n in nodes)}


def busy_reasons(device: PresentDevice) -> list[str]:
    """Why writing ``device`` would break something running; empty when it is free."""
    reasons = []
    for node in device.walk():
        for mount in node.mountpoints:
            if mount == "[SWAP]":
                reasons.append(f"/dev/{node.name} is active swap")
            elif mount in SYSTEM_MOUNTS:
                reasons.append(f"/dev/{node.name} holds the running system's {mount}")
            else:
                reasons.append(f"/dev/{node.name} is mounted on {mount}")
        stacked = node.type.startswith("raid") or node.type in ("lvm", "crypt", "dm", "md")
        if node is not device and stacked:
            reasons.append(f"/dev/{node.name} ({node.type}) is active on it")
    return reasons


def check_targets(targets: Iterable[str], devices: dict[str, PresentDevice]) -> None:
    """Refuse the whole restore if any target is unknown, not a disk, or busy."""
    problems = []
    for name in targets:
        device = devices.get(name)
        if device is None:
            problems.append(f"/dev/{name}: no such disk on this system")
            continue
        if device.type not in ("disk", "loop"):
            problems.append(f"/dev/{name}: is a {device.type}, not a whole disk")
            continue
        problems.extend(busy_reasons(device))
    if problems:
        raise BadInputError("refusing to restore: " + "; ".join(problems))
