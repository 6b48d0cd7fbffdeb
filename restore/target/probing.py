"""What the live system has: its block devices, their identities and links, what is on them.

Everything a restore asks of the system it runs on before planning, all of
it read-only (queries, link reads, directory listings) and so replayable
from a recording: the device tree (one ``lsblk -J -b -O``), the identities
of the present disks with their /dev/disk/by-path names, the device a
/dev/disk link points at, the signatures ``wipefs`` lists on each target,
the partitions a target already has, and the identities (UUIDs, VG names)
that disks which are not targets carry.  The planner gets the answers and
never asks itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from hostbook.capture.parsers.blkid import read_signatures
from hostbook.manifest.errors import BadInputError, RuntimeFailure
from hostbook.process.runner import Runner
from hostbook.restore.target.diskmap import DiskIdentity


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
    pttype: str | None = None
    display: str | None = None  # lsblk's NAME: the mapping name of a dm device

    def walk(self) -> Iterable[PresentDevice]:
        yield self
        for child in self.children:
            yield from child.walk()

    @property
    def path(self) -> str:
        return f"/dev/{self.name}"

    def identity(self, by_path: str | None = None) -> DiskIdentity:
        return DiskIdentity(self.name, self.name, self.size, self.log_sec, self.wwn,
                            self.serial, by_path, self.model)


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
        pttype=node.get("pttype"),
        display=node.get("name"),
    )


def parse_lsblk(text: str) -> dict[str, PresentDevice]:
    """``lsblk -J -b -O`` output -> top-level devices by kernel name."""
    try:
        nodes = json.loads(text)["blockdevices"]
    except (ValueError, KeyError, TypeError) as exc:
        raise RuntimeFailure(f"lsblk -J: unexpected output ({exc})") from None
    devices: dict[str, PresentDevice] = {}
    for node in nodes:
        device = _device(node)
        # dm/md devices stacked on several disks appear under each; the tree
        # roots are the disks (and loops) themselves.
        devices[device.name] = device
    return devices


def present_devices(runner: Runner) -> dict[str, PresentDevice]:
    """Every top-level block device of the running system, by kernel name."""
    result = runner.query(["lsblk", "-J", "-b", "-O"])
    if not result.ok:
        raise RuntimeFailure(f"cannot list block devices: {result.failure()}")
    return parse_lsblk(result.stdout)


def present_identities(system: Runner, devices: dict[str, PresentDevice]
                       ) -> list[DiskIdentity]:
    """The whole disks (and loops) with a medium, with their /dev/disk/by-path names."""
    by_path: dict[str, str] = {}
    for name in system.list_dir("/dev/disk/by-path") or []:
        target = system.read_link(f"/dev/disk/by-path/{name}")
        if target and "-part" not in name:
            by_path.setdefault(target.rsplit("/", 1)[-1], name)
    return [d.identity(by_path.get(d.name)) for d in devices.values()
            if d.type in ("disk", "loop") and d.size > 0]


def resolve_device(system: Runner, value: str) -> str:
    """A kernel name from ``sdb``, ``/dev/sdb`` or a /dev/disk/... link."""
    if not value.startswith("/dev/disk/"):
        return value.removeprefix("/dev/")
    target = system.read_link(value)
    if target is None:
        raise BadInputError(f"{value}: no such device link on this system")
    return target.rstrip("/").rsplit("/", 1)[-1]


def list_signatures(system: Runner, device: PresentDevice) -> dict[str, list[str]]:
    """``wipefs`` listing (read-only) of a target disk and everything on it."""
    found: list[str] = []
    for node in device.walk():
        result = system.query(["wipefs", "--json", f"/dev/{node.name}"])
        if result.returncode != 0:
            found.append(f"/dev/{node.name}: cannot list signatures ({result.failure()})")
            continue
        try:
            signatures = json.loads(result.stdout or "{}").get("signatures", [])
        except ValueError:
            signatures = []
        for sig in signatures:
            words = [sig.get("type") or "?"]
            if sig.get("label"):
                words.append(f"label {sig['label']!r}")
            if sig.get("uuid"):
                words.append(f"UUID {sig['uuid']}")
            found.append(f"/dev/{node.name}: {' '.join(words)} at offset {sig.get('offset')}")
    return {device.path: found}


def existing_partitions(device: PresentDevice) -> list[str]:
    """The partition nodes a target disk has now (the wipe clears each first)."""
    return [f"/dev/{c.name}" for c in device.children if c.type == "part"]


def foreign_identities(system: Runner, devices: dict[str, PresentDevice],
                       targets: Sequence[str]) -> dict[str, str]:
    """UUIDs (and VG names) on every device that is not a target, by device path.

    A restore recreates identities; the same filesystem UUID, PV UUID or VG
    name on another attached disk (the old disk still plugged in) would make
    the kernel, LVM or mdadm take one for the other.  The devices are read
    with one ``blkid -p`` run, resumed past any it stops at.
    """
    from hostbook.capture.probes.storage.inventory import split_lvm_dm_name

    found: dict[str, str] = {}
    paths: list[str] = []
    for name, device in sorted(devices.items()):
        if name in targets or device.size == 0:
            continue
        for node in device.walk():
            if node.type == "lvm":
                names = split_lvm_dm_name(node.display or node.name)
                if names is not None:
                    found.setdefault(f"vg:{names[0]}", node.path)
            if node.path not in paths:
                paths.append(node.path)
    for path, values in read_signatures(system.query, paths).devices.items():
        for key in ("UUID", "PTUUID", "PART_ENTRY_UUID"):
            if values.get(key):
                found.setdefault(values[key], path)
    return found
