"""Storage probe 7: filesystems and swap on every captured block device.

blkid's reading (type, UUID, label, version) is the base; each known type
adds what its mkfs needs, from one read-only call: ``dumpe2fs -h`` (ext2/3/4),
``xfs_db -r`` (xfs), ``btrfs inspect-internal dump-super`` per member plus the
subvolume listing (btrfs; through the mount when mounted, from the root and
chunk trees when not).  Any other type is recorded with what blkid reports.
"""

from __future__ import annotations

from typing import Any

from hostbook.capture.parsers import btrfs as parse_btrfs
from hostbook.capture.parsers import dumpe2fs as parse_dumpe2fs
from hostbook.capture.parsers import xfs as parse_xfs
from hostbook.capture.probe import Probe, ProbeContext
from hostbook.capture.probes.storage.inventory import (
    BlockDevice,
    StorageState,
    device_id,
    display_name,
    filesystem_device,
    filesystem_id,
    round_used,
    state,
)
from hostbook.capture.probes.storage.mounts import mount_device

# Signatures other probes turn into entries (or that are not content).
OTHER_LAYERS = frozenset({"crypto_LUKS", "LVM2_member", "linux_raid_member"})
# blkid keys that have fields of their own (or describe the partition, not the content).
_OWN_KEYS = frozenset({"TYPE", "UUID", "UUID_SUB", "LABEL", "VERSION", "BLOCK_SIZE", "USAGE",
                       "PTTYPE", "PTUUID"})
EXT_TYPES = frozenset({"ext2", "ext3", "ext4", "ext4dev"})
XFS_PRINT = "print dblocks fdblocks logstart logblocks"


def _properties(dev: BlockDevice) -> dict[str, str]:
    return {
        key: value for key, value in sorted(dev.blkid.items())
        if key not in _OWN_KEYS and not key.startswith("PART_ENTRY_")
    }


def _on_plain_crypt(st: StorageState, dev: BlockDevice) -> bool:
    """Content of a plain dm-crypt mapping is made anew at each boot (random key)."""
    ident = device_id(st, dev.kname) or ""
    return ident.startswith("crypt:")


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


class _Filesystems:
    def __init__(self, ctx: ProbeContext, st: StorageState) -> None:
        self.ctx = ctx
        self.st = st
        self.mounts: dict[str, list[Any]] = {}
        for mount in st.mounts:
            kname = mount_device(ctx, st, mount)
            if kname is not None:
                self.mounts.setdefault(kname, []).append(mount)
        for mounts in self.mounts.values():
            mounts.sort(key=lambda m: m.target)

    def base(self, dev: BlockDevice, fstype: str) -> dict[str, Any]:
        volatile = _on_plain_crypt(self.st, dev)
        return {
            "id": filesystem_id(self.st, dev.kname),
            "type": "filesystem",
            "name": display_name(self.st, dev.kname),
            "device": device_id(self.st, dev.kname),
            "fstype": fstype,
            "uuid": None if volatile else dev.blkid.get("UUID"),
            "uuid_sub": None if volatile else dev.blkid.get("UUID_SUB"),
            "label": dev.blkid.get("LABEL"),
            "version": dev.blkid.get("VERSION"),
            "block_size": _int(dev.blkid.get("BLOCK_SIZE")),
            "size": None,
            "used": None,
            "properties": _properties(dev),
        }

    def mounted_used(self, knames: list[str]) -> int | None:
        for kname in knames:
            for mount in self.mounts.get(kname, []):
                if mount.used is not None:
                    return int(mount.used)
        return None

    # -- per type ----------------------------------------------------------

    def ext(self, dev: BlockDevice, entry: dict[str, Any]) -> int | None:
        result = self.ctx.run_ok(["dumpe2fs", "-h", dev.path], f"filesystem {dev.kname}")
        if result is None:
            return None
        fields = parse_dumpe2fs.parse_fields(result.stdout)
        if "Block size" not in fields:
            self.ctx.mark_incomplete(f"filesystem {dev.kname}", "dumpe2fs printed no superblock")
            return None
        entry["ext"] = parse_dumpe2fs.ext_details(fields)
        entry["size"] = parse_dumpe2fs.filesystem_size(fields)
        return parse_dumpe2fs.used_bytes(fields)

    def xfs(self, dev: BlockDevice, entry: dict[str, Any]) -> int | None:
        argv = ["xfs_db", "-r", "-c", "info", "-c", "sb 0", "-c", XFS_PRINT, dev.path]
        result = self.ctx.run_ok(argv, f"filesystem {dev.kname}")
        if result is None:
            return None
        info = parse_xfs.parse_info(result.stdout)
        if "data" not in info:
            self.ctx.mark_incomplete(f"filesystem {dev.kname}", "xfs_db printed no geometry")
            return None
        details = parse_xfs.xfs_details(info)
        entry["xfs"] = details
        entry["size"] = details["block_size"] * details["data_blocks"]
        sb = parse_xfs.parse_prints(result.stdout)
        if "dblocks" in sb and "fdblocks" in sb:
            log = sb.get("logblocks", 0) if sb.get("logstart") else 0
            return (sb["dblocks"] - sb["fdblocks"] - log) * details["block_size"]
        return None

    def vfat(self, dev: BlockDevice, entry: dict[str, Any]) -> None:
        version = dev.blkid.get("VERSION", "")
        entry["vfat"] = {
            "fat_size": _int(version.removeprefix("FAT")),
            "sector_size": _int(dev.blkid.get("BLOCK_SIZE")),
        }

    def btrfs(self, dev: BlockDevice, entry: dict[str, Any]) -> int | None:
        uuid = dev.blkid.get("UUID")
        members = sorted(
            (d for d in self.st.devices.values()
             if self.st.included(d.kname) and d.fstype == "btrfs"
             and d.blkid.get("UUID") == uuid and device_id(self.st, d.kname)),
            key=lambda d: device_id(self.st, d.kname) or "",
        )
        details: dict[str, Any] = {"devices": []}
        first_super: dict[str, Any] | None = None
        for member in members:
            result = self.ctx.run_ok(
                ["btrfs", "inspect-internal", "dump-super", member.path],
                f"filesystem {member.kname}",
            )
            if result is None:
                continue
            sup = parse_btrfs.parse_super(result.stdout)
            first_super = first_super or sup
            details["devices"].append(
                {
                    "devid": parse_btrfs.super_int(sup, "dev_item.devid") or 0,
                    "device": device_id(self.st, member.kname),
                    "uuid": parse_btrfs.super_str(sup, "dev_item.uuid"),
                    "size": parse_btrfs.super_int(sup, "dev_item.total_bytes"),
                }
            )
        details["devices"].sort(key=lambda d: d["devid"])
        used: int | None = None
        if first_super is not None:
            csum = parse_btrfs.super_str(first_super, "csum_type") or ""
            details.update(
                node_size=parse_btrfs.super_int(first_super, "nodesize"),
                sector_size=parse_btrfs.super_int(first_super, "sectorsize"),
                checksum=csum.split("(")[-1].rstrip(")") if "(" in csum else csum or None,
                features=parse_btrfs.super_features(first_super),
                num_devices=parse_btrfs.super_int(first_super, "num_devices"),
            )
            entry["size"] = parse_btrfs.super_int(first_super, "total_bytes")
            used = parse_btrfs.super_int(first_super, "bytes_used")
            expected = details["num_devices"] or 0
            if expected > len(details["devices"]):
                self.ctx.mark_incomplete(
                    f"filesystem {dev.kname}",
                    f"btrfs {uuid}: {expected} devices, {len(details['devices'])} present",
                )
        mounts = [m for member in members for m in self.mounts.get(member.kname, [])]
        if mounts:
            self.btrfs_mounted(sorted(mounts, key=lambda m: m.target)[0].target, uuid, details)
        elif members:
            self.btrfs_unmounted(members[0], details)
        entry["btrfs"] = details
        entry["uuid_sub"] = None
        return used

    def _subvolumes(self, subvols: list[parse_btrfs.Subvolume], details: dict[str, Any]) -> None:
        listed = []
        readonly_snapshots = 0
        for sub in subvols:
            if sub.readonly and sub.parent_uuid:
                readonly_snapshots += 1
                continue
            listed.append(
                {
                    "id": sub.id,
                    "path": sub.path,
                    "parent": sub.parent,
                    "uuid": sub.uuid,
                    "readonly": sub.readonly,
                    "snapshot_of": sub.parent_uuid,
                }
            )
        details["subvolumes"] = sorted(listed, key=lambda s: s["id"])
        details["readonly_snapshots"] = readonly_snapshots

    def btrfs_mounted(self, target: str, uuid: str | None, details: dict[str, Any]) -> None:
        part = f"btrfs {target}"
        # -a: paths from the top level (with a <FS_TREE>/ prefix the parser drops),
        # whichever subvolume the mount shows
        listing = self.ctx.run_ok(
            ["btrfs", "subvolume", "list", "-a", "-p", "-u", "-q", target], part
        )
        readonly = self.ctx.run_ok(["btrfs", "subvolume", "list", "-r", target], part)
        default = self.ctx.run_ok(["btrfs", "subvolume", "get-default", target], part)
        if listing is not None:
            subvols = parse_btrfs.parse_subvolume_list(listing.stdout)
            ro_ids = parse_btrfs.parse_ids(readonly.stdout) if readonly is not None else set()
            for sub in subvols:
                sub.readonly = sub.id in ro_ids
            self._subvolumes(subvols, details)
        if default is not None:
            details["default_subvolume"] = parse_btrfs.parse_default(default.stdout)
        sysfs = f"/sys/fs/btrfs/{uuid}"
        for kind in ("data", "metadata", "system"):
            names = self.ctx.runner.list_dir(f"{sysfs}/allocation/{kind}") or []
            profiles = [n for n in names if n in parse_btrfs.PROFILES]
            details[f"{kind}_profile"] = ",".join(sorted(profiles)) or None
        details["quota"] = self.ctx.runner.list_dir(f"{sysfs}/qgroups") is not None

    def btrfs_unmounted(self, member: BlockDevice, details: dict[str, Any]) -> None:
        part = f"filesystem {member.kname}"
        roots = self.ctx.run_ok(
            ["btrfs", "inspect-internal", "dump-tree", "-t", "root", member.path], part
        )
        chunks = self.ctx.run_ok(
            ["btrfs", "inspect-internal", "dump-tree", "-t", "chunk", member.path], part
        )
        if roots is not None:
            tree = parse_btrfs.parse_root_tree(roots.stdout)
            self._subvolumes(tree.subvolumes, details)
            details["default_subvolume"] = tree.default if tree.default is not None else 5
            details["quota"] = tree.quota
            if any(s["path"] is None for s in details["subvolumes"]):
                self.ctx.mark_incomplete(
                    part, "subvolume paths inside plain directories need the filesystem mounted"
                )
        if chunks is not None:
            profiles = parse_btrfs.parse_chunk_profiles(chunks.stdout)
            for kind in ("data", "metadata", "system"):
                details[f"{kind}_profile"] = ",".join(profiles.get(kind, [])) or None

    # -- entries -----------------------------------------------------------

    def filesystem(self, dev: BlockDevice, fstype: str) -> None:
        entry = self.base(dev, fstype)
        used: int | None = None
        if fstype in EXT_TYPES:
            used = self.ext(dev, entry)
        elif fstype == "xfs":
            used = self.xfs(dev, entry)
        elif fstype == "vfat":
            self.vfat(dev, entry)
        elif fstype == "btrfs":
            used = self.btrfs(dev, entry)
        knames = [dev.kname]
        if fstype == "btrfs":
            knames = [m.kname for m in self.st.devices.values()
                      if m.fstype == "btrfs" and m.blkid.get("UUID") == dev.blkid.get("UUID")]
        mounted = self.mounted_used(sorted(knames))
        entry["used"] = round_used(mounted if mounted is not None else used)
        self.st.add_entry(entry)

    def swap(self, dev: BlockDevice) -> None:
        volatile = _on_plain_crypt(self.st, dev)
        self.st.add_entry(
            {
                "id": filesystem_id(self.st, dev.kname),
                "type": "swap",
                "name": display_name(self.st, dev.kname),
                "device": device_id(self.st, dev.kname),
                "uuid": None if volatile else dev.blkid.get("UUID"),
                "label": dev.blkid.get("LABEL"),
                "version": dev.blkid.get("VERSION"),
                "page_size": _int(dev.blkid.get("BLOCK_SIZE")),
                "size": dev.size,
                "active": dev.kname in self.st.swaps,
            }
        )

    def unreadable(self, dev: BlockDevice) -> None:
        """A mounted device whose signature could not be read: record the mount's view."""
        mount = self.mounts[dev.kname][0]
        entry = self.base(dev, mount.fstype)
        entry["used"] = round_used(mount.used)
        self.st.add_entry(entry)
        already = any(i["part"] == f"device {dev.kname}"
                      for i in self.ctx.incomplete.get(self.ctx.section, []))
        if not already:
            self.ctx.mark_incomplete(f"filesystem {dev.kname}", "mounted but no signature found")


def collect(ctx: ProbeContext, doc: dict[str, Any]) -> None:
    st = state(doc)
    fs = _Filesystems(ctx, st)
    for dev in list(st.devices.values()):
        if not st.included(dev.kname) or device_id(st, dev.kname) is None:
            continue
        fstype = dev.fstype
        if fstype is None:
            if dev.kname in fs.mounts:
                fs.unreadable(dev)
            continue
        if fstype in OTHER_LAYERS:
            continue
        if fstype == "swap":
            fs.swap(dev)
        elif fstype == "btrfs" and filesystem_device(st, dev) is not dev:
            continue  # recorded once, on its first member
        else:
            fs.filesystem(dev, fstype)


PROBE = Probe(
    name="storage_filesystems",
    section="storage",
    commands=("dumpe2fs", "xfs_db", "btrfs"),
    collect=collect,
    description="filesystems and swap: blkid, dumpe2fs -h, xfs_db -r, btrfs dump-super/subvolumes",
)
