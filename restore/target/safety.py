"""Refuse target disks that are busy or that the running system depends on.

Judged on what one ``lsblk -J -b -O`` call said (:mod:`hostbook.restore.target.probing`):
a target disk is refused when it, or anything stacked on it (partitions, md
arrays, dm-crypt, LVM volumes), is mounted, used as swap, is an active
md/dm/LVM device, or backs the running root or the medium a live system
booted from.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hostbook.manifest.errors import BadInputError
from hostbook.restore.target.probing import PresentDevice

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
class Allowance:
    """What may be active on a target while an interrupted restore is resumed.

    An apply killed half-way leaves its own arrays assembled, containers open
    and filesystems mounted under the target root; the re-run must accept
    exactly those, and still refuse anything else.
    """

    mapper_names: frozenset[str] = frozenset()
    md_allowed: bool = False
    mount_root: str | None = None
    vg_names: frozenset[str] = frozenset()

    def allows(self, node: PresentDevice) -> bool:
        if node.type.startswith("raid") or node.type == "md":
            return self.md_allowed
        name = node.display or node.name
        if node.type == "lvm":
            from hostbook.capture.probes.storage.inventory import split_lvm_dm_name

            names = split_lvm_dm_name(name)  # pool internals (_tmeta, -tpool) included
            return names is not None and names[0] in self.vg_names
        if node.type in ("crypt", "dm"):
            return name in self.mapper_names
        return False

    def allows_mount(self, mount: str) -> bool:
        root = self.mount_root
        return root is not None and (mount == root or mount.startswith(root.rstrip("/") + "/"))


def busy_reasons(device: PresentDevice, allow: Allowance | None = None) -> list[str]:
    """Why writing ``device`` would break something running; empty when it is free."""
    allow = allow or Allowance()
    reasons = []
    for node in device.walk():
        for mount in node.mountpoints:
            if mount == "[SWAP]":
                reasons.append(f"/dev/{node.name} is active swap")
            elif mount in SYSTEM_MOUNTS:
                reasons.append(f"/dev/{node.name} holds the running system's {mount}")
            elif not allow.allows_mount(mount):
                reasons.append(f"/dev/{node.name} is mounted on {mount}")
        stacked = node.type.startswith("raid") or node.type in ("lvm", "crypt", "dm", "md")
        if node is not device and stacked and not allow.allows(node):
            named = f" {node.display}" if node.display and node.display != node.name else ""
            reasons.append(f"/dev/{node.name} ({node.type}{named}) is active on it")
    return reasons


def check_targets(targets: Iterable[str], devices: dict[str, PresentDevice],
                  allow: Allowance | None = None) -> None:
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
        if device.size == 0:
            problems.append(f"/dev/{name}: has no medium (size 0)")
            continue
        problems.extend(busy_reasons(device, allow))
    if problems:
        raise BadInputError("refusing to restore: " + "; ".join(problems))
