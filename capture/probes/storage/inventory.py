"""The block-device inventory every storage probe works from.

One enumeration feeds all storage probes: which block devices exist, how
they stack (partition of, slave of), their sysfs facts, udev properties when
udevd runs, and one ``blkid -p`` reading of their signatures.  The inventory
also decides the stable entry id of each device (:func:`device_id`), so a
probe can reference a device built by another probe without running after
it.

Enumeration: with udevd running (``/run/udev/control`` present), pyudev
lists the devices and their properties through ``runner.value`` so the
result is recorded and replays.  Without udevd (containers, this kind of
build machine, some live systems) the list comes from ``/sys/class/block``
and signatures from ``blkid -p`` alone; the capture still completes.  sysfs
attributes are read through the runner in both cases.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any

from hostbook.capture.parsers.blkid import parse_export, read_signatures
from hostbook.capture.parsers.findmnt import Mount
from hostbook.capture.probe import ProbeContext

SYS_BLOCK = "/sys/class/block"
STATE_KEY = "_storage_state"
# Devices whose content is recreated at every boot (compressed RAM swap, RAM
# disks): their signatures carry fresh random UUIDs each time.
VOLATILE_DEVICES = ("zram*", "ram*")
# udev properties worth keeping (the rest is rules bookkeeping).
UDEV_PREFIXES = ("ID_", "DM_", "MD_")
UDEV_KEYS = ("DEVLINKS", "DEVTYPE", "DEVNAME")
# Least descriptive by-id names last when choosing a disk's id.
_WEAK_BY_ID = ("wwn-", "nvme-eui.", "nvme-nvme.", "scsi-0", "scsi-1", "scsi-S", "lvm-", "dm-",
               "md-", "nvme-uuid.")


@dataclass
class BlockDevice:
    """One kernel block device with what sysfs, udev and blkid say about it."""

    kname: str
    devno: str | None = None
    size: int = 0
    partition: int | None = None
    parent: str | None = None
    start: int | None = None  # 512-byte sectors
    read_only: bool = False
    removable: bool = False
    rotational: bool = False
    logical_sector_size: int = 512
    physical_sector_size: int = 512
    slaves: list[str] = field(default_factory=list)
    holders: list[str] = field(default_factory=list)
    dm_name: str | None = None
    dm_uuid: str | None = None
    loop: dict[str, Any] | None = None
    md: dict[str, Any] | None = None
    model: str | None = None
    vendor: str | None = None
    serial: str | None = None
    wwid: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    by_id: list[str] = field(default_factory=list)
    by_path: str | None = None
    blkid: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return f"/dev/{self.kname}"

    @property
    def fstype(self) -> str | None:
        return self.blkid.get("TYPE")

    @property
    def kind(self) -> str:
        """disk, partition, loop, md, dm or other."""
        if self.partition is not None:
            return "partition"
        if self.loop is not None or self.kname.startswith("loop"):
            return "loop"
        if self.md is not None or self.kname.startswith("md"):
            return "md"
        if self.dm_name is not None or self.kname.startswith("dm-"):
            return "dm"
        return "disk"


@dataclass
class StorageState:
    """What the storage probes share while one capture runs."""

    udev: bool = False
    devices: dict[str, BlockDevice] = field(default_factory=dict)
    by_devno: dict[str, str] = field(default_factory=dict)
    excluded: set[str] = field(default_factory=set)
    entries: list[dict[str, Any]] = field(default_factory=list)
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)  # entry id -> table
    mounts: list[Mount] = field(default_factory=list)
    swaps: set[str] = field(default_factory=set)  # knames in /proc/swaps
    luks_uuids: dict[str, str] = field(default_factory=dict)  # entry id -> luks uuid
    fs_ids: dict[str, str] = field(default_factory=dict)  # fs uuid -> fs entry id
    crypttab: list[Any] = field(default_factory=list)

    def device(self, kname: str | None) -> BlockDevice | None:
        return self.devices.get(kname) if kname else None

    def included(self, kname: str | None) -> bool:
        return kname is not None and kname in self.devices and kname not in self.excluded

    def children(self, kname: str) -> list[BlockDevice]:
        """Partitions of ``kname``, by number."""
        parts = [d for d in self.devices.values() if d.parent == kname]
        return sorted(parts, key=lambda d: d.partition or 0)

    def holders_of(self, kname: str) -> list[BlockDevice]:
        return [self.devices[h] for h in self.devices[kname].holders if h in self.devices]

    def resolve_path(self, runner: Any, path: str) -> str | None:
        """Kernel name of a /dev path (/dev/sda1, /dev/mapper/x, /dev/md/y, by-id links)."""
        if not path.startswith("/dev/"):
            return None
        name = path[len("/dev/"):]
        if name in self.devices:
            return name
        target = runner.read_link(path)
        if target:
            base = target.rstrip("/").rsplit("/", 1)[-1]
            if base in self.devices:
                return base
        if path.startswith("/dev/mapper/"):
            wanted = path[len("/dev/mapper/"):]
            for dev in self.devices.values():
                if dev.dm_name == wanted:
                    return dev.kname
        return None

    def add_entry(self, entry: dict[str, Any]) -> None:
        self.entries.append(entry)


def state(doc: dict[str, Any]) -> StorageState:
    """The shared state kept in the document being built (removed before validation)."""
    value = doc.get(STATE_KEY)
    if not isinstance(value, StorageState):
        value = StorageState()
        doc[STATE_KEY] = value
    return value


# ---------------------------------------------------------------------------
# Enumeration
# ---------------------------------------------------------------------------


def udev_running(ctx: ProbeContext) -> bool:
    names = ctx.runner.list_dir("/run/udev")
    return bool(names) and "control" in (names or [])


def _udev_devices() -> list[dict[str, Any]]:
    """pyudev enumeration (runs only live; the result is recorded)."""
    import pyudev  # imported here: replays and udev-less hosts never need libudev

    context = pyudev.Context()
    devices = []
    for device in context.list_devices(subsystem="block"):
        props = {
            key: str(device.properties[key])
            for key in device.properties
            if key.startswith(UDEV_PREFIXES) or key in UDEV_KEYS
        }
        devices.append({"name": device.sys_name, "properties": dict(sorted(props.items()))})
    return sorted(devices, key=lambda d: d["name"])


def _read(ctx: ProbeContext, path: str) -> str | None:
    text = ctx.runner.read_file(path)
    if text is None:
        return None
    return text.strip()


def _int(text: str | None, default: int | None = None) -> int | None:
    if text is None:
        return default
    try:
        return int(text.strip())
    except ValueError:
        return default


def _sysfs_device(ctx: ProbeContext, kname: str) -> BlockDevice:
    base = f"{SYS_BLOCK}/{kname}"
    dev = BlockDevice(kname=kname)
    dev.devno = _read(ctx, f"{base}/dev")
    dev.size = (_int(_read(ctx, f"{base}/size"), 0) or 0) * 512
    dev.read_only = _read(ctx, f"{base}/ro") == "1"
    dev.partition = _int(_read(ctx, f"{base}/partition"))
    if dev.partition is not None:
        link = ctx.runner.read_link(base) or ""
        parts = link.rstrip("/").split("/")
        dev.parent = parts[-2] if len(parts) >= 2 else None
        dev.start = _int(_read(ctx, f"{base}/start"))
    else:
        dev.removable = _read(ctx, f"{base}/removable") == "1"
        dev.rotational = _read(ctx, f"{base}/queue/rotational") == "1"
        dev.logical_sector_size = _int(_read(ctx, f"{base}/queue/logical_block_size"), 512) or 512
        dev.physical_sector_size = (
            _int(_read(ctx, f"{base}/queue/physical_block_size"), 512) or 512
        )
    dev.slaves = ctx.runner.list_dir(f"{base}/slaves") or []
    dev.holders = ctx.runner.list_dir(f"{base}/holders") or []
    if kname.startswith("dm-"):
        dev.dm_name = _read(ctx, f"{base}/dm/name")
        dev.dm_uuid = _read(ctx, f"{base}/dm/uuid") or None
    if kname.startswith("loop") and dev.partition is None:
        backing = _read(ctx, f"{base}/loop/backing_file")
        if backing is not None:
            dev.loop = {
                "backing_file": backing,
                "offset": _int(_read(ctx, f"{base}/loop/offset"), 0),
                "size_limit": _int(_read(ctx, f"{base}/loop/sizelimit"), 0),
                "autoclear": _read(ctx, f"{base}/loop/autoclear") == "1",
                "partscan": _read(ctx, f"{base}/loop/partscan") == "1",
            }
    if kname.startswith("md") and dev.partition is None:
        dev.md = _sysfs_md(ctx, base)
    if dev.partition is None and not kname.startswith(("dm-", "md", "loop")):
        dev.model = _read(ctx, f"{base}/device/model") or None
        dev.vendor = _read(ctx, f"{base}/device/vendor") or None
        dev.serial = (_read(ctx, f"{base}/serial") or _read(ctx, f"{base}/device/serial")
                      or None)
        dev.wwid = _read(ctx, f"{base}/wwid") or _read(ctx, f"{base}/device/wwid") or None
    return dev


def _sysfs_md(ctx: ProbeContext, base: str) -> dict[str, Any] | None:
    names = ctx.runner.list_dir(f"{base}/md")
    if names is None:
        return None
    info: dict[str, Any] = {
        "level": _read(ctx, f"{base}/md/level"),
        "raid_disks": _int(_read(ctx, f"{base}/md/raid_disks")),
        "chunk_size": _int(_read(ctx, f"{base}/md/chunk_size")),
        "layout": _int(_read(ctx, f"{base}/md/layout")),
        "metadata_version": _read(ctx, f"{base}/md/metadata_version"),
        "bitmap": _read(ctx, f"{base}/md/bitmap/location"),
        "consistency_policy": _read(ctx, f"{base}/md/consistency_policy"),
        "members": {},
    }
    for name in names:
        if name.startswith("dev-"):
            info["members"][name[4:]] = {
                "slot": _read(ctx, f"{base}/md/{name}/slot"),
                "state": _read(ctx, f"{base}/md/{name}/state"),
            }
    return info


def _by_links(ctx: ProbeContext, folder: str) -> dict[str, list[str]]:
    """Without udev properties: read /dev/disk/<folder> links if something made them."""
    names = ctx.runner.list_dir(f"/dev/disk/{folder}") or []
    result: dict[str, list[str]] = {}
    for name in names:
        target = ctx.runner.read_link(f"/dev/disk/{folder}/{name}")
        if target:
            result.setdefault(target.rsplit("/", 1)[-1], []).append(name)
    return result


def enumerate_devices(ctx: ProbeContext, st: StorageState) -> None:
    """Fill ``st.devices`` from udev (if running) or sysfs, then apply exclusions."""
    st.udev = udev_running(ctx)
    udev: dict[str, dict[str, str]] = {}
    if st.udev:
        try:
            listed = ctx.runner.value("storage.udev.block", _udev_devices)
        except Exception as exc:  # libudev missing or broken: sysfs still works
            ctx.mark_incomplete("udev", f"pyudev enumeration failed: {exc}")
            listed = None
        if isinstance(listed, list):
            udev = {d["name"]: d.get("properties", {}) for d in listed}
            names = sorted(udev)
        else:
            st.udev = False
    if not st.udev:
        names = ctx.runner.list_dir(SYS_BLOCK) or []
        if not names:
            ctx.mark_incomplete("devices", f"{SYS_BLOCK} cannot be listed")
    by_id = {} if st.udev else _by_links(ctx, "by-id")
    by_path = {} if st.udev else _by_links(ctx, "by-path")
    for name in names:
        dev = _sysfs_device(ctx, name)
        props = udev.get(name, {})
        dev.properties = props
        if props:
            links = props.get("DEVLINKS", "").split()
            dev.by_id = sorted(
                link.rsplit("/", 1)[-1] for link in links if link.startswith("/dev/disk/by-id/")
            )
            paths = sorted(
                link.rsplit("/", 1)[-1]
                for link in links
                if link.startswith("/dev/disk/by-path/")
            )
            dev.by_path = paths[0] if paths else None
            dev.serial = props.get("ID_SERIAL_SHORT") or dev.serial
            dev.model = props.get("ID_MODEL") or dev.model
            dev.vendor = props.get("ID_VENDOR") or dev.vendor
            dev.wwid = props.get("ID_WWN") or dev.wwid
        else:
            dev.by_id = sorted(by_id.get(name, []))
            dev.by_path = sorted(by_path[name])[0] if name in by_path else None
        st.devices[name] = dev
        if dev.devno:
            st.by_devno[dev.devno] = name
    _apply_exclusions(ctx, st)


def _matches(kname: str, patterns: list[str] | tuple[str, ...]) -> bool:
    return any(
        fnmatch.fnmatchcase(kname, p) or fnmatch.fnmatchcase(f"/dev/{kname}", p)
        for p in patterns
    )


def _apply_exclusions(ctx: ProbeContext, st: StorageState) -> None:
    """Leave out excluded devices, and everything that sits only on them.

    ``ctx.options["storage_devices"]`` (used by tests and scoped captures)
    restricts the capture to the named devices and what is built on them.
    """
    patterns = list(ctx.config.storage.exclude_devices)
    only = [str(p).removeprefix("/dev/") for p in ctx.options.get("storage_devices") or []]
    for name, dev in st.devices.items():
        if dev.size == 0 or _matches(name, VOLATILE_DEVICES) or _matches(name, patterns):
            st.excluded.add(name)
    if only:
        wanted = {n for n in st.devices if n in only}
        changed = True
        while changed:
            changed = False
            for name, dev in st.devices.items():
                if name in wanted:
                    continue
                if (dev.parent in wanted) or (dev.slaves and any(s in wanted for s in dev.slaves)):
                    wanted.add(name)
                    changed = True
        st.excluded.update(n for n in st.devices if n not in wanted)
    changed = True
    while changed:
        changed = False
        for name, dev in st.devices.items():
            if name in st.excluded:
                continue
            below = ([dev.parent] if dev.parent else []) + dev.slaves
            if below and all(b in st.excluded for b in below):
                st.excluded.add(name)
                changed = True


# ---------------------------------------------------------------------------
# Signatures
# ---------------------------------------------------------------------------


def _probe_order(st: StorageState) -> list[BlockDevice]:
    """Devices to read, those udev expects to be blank last (see probe_signatures)."""
    wanted = [
        d for d in st.devices.values()
        if st.included(d.kname) and lvm_layer(d) not in ("pool", "tpool", "tdata", "tmeta",
                                                            "cdata", "cmeta", "real", "cow")
        and not lvm_internal(st, d)
    ]

    return sorted(wanted, key=lambda d: (udev_blank(d), d.kname))


def udev_blank(dev: BlockDevice) -> bool:
    """udev found neither a signature nor a table on this whole device."""
    props = dev.properties
    return bool(props) and dev.partition is None and not (
        props.get("ID_FS_TYPE") or props.get("ID_PART_TABLE_TYPE")
    )


def _not_blank(ctx: ProbeContext, paths: list[str]) -> list[str]:
    """Which of ``paths`` carry anything, by one high-level blkid run.

    High-level blkid (cache disabled) goes through every device given even
    when one holds nothing, where low-level mode stops there.  What it finds
    is then read again in low-level mode.
    """
    result = ctx.run(["blkid", "-c", "/dev/null", "-o", "export", *paths])
    if result.missing or result.timed_out or result.returncode not in (0, 2):
        return paths
    found = parse_export(result.stdout)
    return [p for p in paths if p in found]


def probe_signatures(ctx: ProbeContext, st: StorageState) -> None:
    """``blkid -p -o export`` over every included device, in as few runs as possible.

    blkid resumes after a device it cannot read (reported as incomplete) or
    a blank one (:func:`hostbook.capture.parsers.blkid.read_signatures`), so
    each such device costs one more process: blank devices are put last
    where udev can tell (a partition always reports its table entry, so only
    whole devices can be blank), and when udev names several, one high-level
    run checks them all first.  The hidden parts of LVs are not read: their
    content belongs to the LV built on them.
    """
    order = _probe_order(st)
    blank = [d.path for d in order if udev_blank(d)]
    pending = [d.path for d in order if not udev_blank(d)]
    # one blank device at the end stops nothing; several would cost one run each
    pending += _not_blank(ctx, blank) if len(blank) > 1 else blank
    found = read_signatures(ctx.run, pending)
    for path, values in found.devices.items():
        name = path.removeprefix("/dev/")
        if name in st.devices:
            st.devices[name].blkid = values
    for part, reason in found.unread:
        ctx.mark_incomplete(part, reason)


# ---------------------------------------------------------------------------
# Stable ids
# ---------------------------------------------------------------------------


def disk_key(dev: BlockDevice) -> str:
    """The most stable name of a whole disk (see the model's module docstring)."""
    strong = [n for n in dev.by_id if not n.startswith(_WEAK_BY_ID) and "-part" not in n]
    weak = [n for n in dev.by_id if n.startswith(("wwn-", "nvme-eui.", "nvme-uuid."))]
    if strong:
        return strong[0]
    if weak:
        return weak[0]
    if dev.serial:
        prefix = "virtio" if dev.kname.startswith("vd") else "serial"
        return f"{prefix}-{_clean(dev.serial)}"
    if dev.wwid:
        return f"wwid-{_clean(dev.wwid)}"
    if dev.by_path:
        return f"path-{dev.by_path}"
    return dev.kname


def _clean(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9._:-]+", "_", value.strip())


def split_lvm_dm_name(name: str) -> tuple[str, str] | None:
    """``vg--a-lv--b`` -> ("vg-a", "lv-b"): device-mapper doubles dashes in names."""
    for index, char in enumerate(name):
        if char != "-":
            continue
        before = name[index - 1] if index else ""
        after = name[index + 1] if index + 1 < len(name) else ""
        if before != "-" and after != "-":
            vg, lv = name[:index], name[index + 1:]
            return vg.replace("--", "-"), lv.replace("--", "-")
    return None


def luks_uuid_from_dm(dm_uuid: str) -> str | None:
    """``CRYPT-LUKS2-<32 hex>-<name>`` -> the dashed LUKS UUID."""
    match = re.match(r"^CRYPT-LUKS[12]-([0-9a-f]{32})-", dm_uuid)
    if not match:
        return None
    h = match.group(1)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def lvm_internal(st: StorageState, dev: BlockDevice) -> bool:
    """True for the hidden parts of an LV (raid images, pool data, snapshot cow...).

    They carry copies of the data of the LV built on them, so their
    signatures must not be taken for filesystems of their own.
    """
    layer = lvm_layer(dev)
    if layer is None:
        return False
    if layer not in ("", "pool"):
        return True
    vg_uuid = (dev.dm_uuid or "")[4:36]
    for holder in st.holders_of(dev.kname):
        holder_uuid = holder.dm_uuid or ""
        if holder_uuid.startswith("LVM-") and holder_uuid[4:36] == vg_uuid:
            return True
    return False


def lvm_layer(dev: BlockDevice) -> str | None:
    """The suffix of an LVM dm uuid (``-tpool``, ``-real``, ``-cow``...), '' for a plain LV."""
    uuid = dev.dm_uuid or ""
    if not uuid.startswith("LVM-"):
        return None
    rest = uuid[4 + 64:]
    return rest.lstrip("-")


def device_id(st: StorageState, kname: str | None, depth: int = 0) -> str | None:
    """The entry id of the device ``kname`` (None when excluded or unknown)."""
    dev = st.device(kname)
    if dev is None or not st.included(dev.kname) or depth > 32:
        return None
    kind = dev.kind
    if kind == "partition":
        parent = device_id(st, dev.parent, depth + 1)
        return f"{parent}-part{dev.partition}" if parent else None
    if kind == "loop":
        backing = (dev.loop or {}).get("backing_file")
        return f"loop:{backing}" if backing else f"loop:{dev.kname}"
    if kind == "md":
        uuid = md_uuid(st, dev)
        return f"md:{uuid}" if uuid else f"md:{dev.kname}"
    if kind == "dm":
        uuid = dev.dm_uuid or ""
        if uuid.startswith("LVM-"):
            names = split_lvm_dm_name(dev.dm_name or "")
            if names is None or lvm_internal(st, dev):
                return None
            # a plain LV, or the public face of a thin pool ("-pool" uuid suffix)
            return f"lv:{names[0]}/{names[1]}"
        if uuid.startswith("CRYPT-LUKS"):
            luks = luks_uuid_from_dm(uuid)
            below = st.device(dev.slaves[0]) if dev.slaves else None
            if below is not None and below.blkid.get("UUID"):
                luks = below.blkid["UUID"]
            return f"luks:{luks}" if luks else f"dm:{dev.dm_name}"
        if uuid.startswith("CRYPT-PLAIN-") or (uuid == "" and _is_plain_crypt(st, dev)):
            return f"crypt:{dev.dm_name}"
        return f"dm:{dev.dm_name or dev.kname}"
    return f"disk:{disk_key(dev)}"


def _is_plain_crypt(st: StorageState, dev: BlockDevice) -> bool:
    return any(getattr(c, "name", None) == dev.dm_name for c in st.crypttab)


def md_uuid(st: StorageState, dev: BlockDevice) -> str | None:
    """The array UUID in mdadm's colon form, from its members' signatures."""
    from hostbook.capture.parsers.mdadm import uuid_from_blkid

    for slave in dev.slaves:
        member = st.device(slave)
        if member is not None and member.blkid.get("TYPE") == "linux_raid_member":
            uuid = member.blkid.get("UUID")
            if uuid:
                return uuid_from_blkid(uuid)
    cached = (dev.md or {}).get("uuid")
    return cached if isinstance(cached, str) else None


def display_name(st: StorageState, kname: str | None) -> str | None:
    """How people name a device: vg/lv for LVs, the mapping name for dm, else kname."""
    dev = st.device(kname)
    if dev is None:
        return None
    devname = (dev.md or {}).get("devname")
    if isinstance(devname, str) and devname:
        return f"md/{devname}"  # /dev/md/<name>: md127 and md126 swap between boots
    if dev.dm_name:
        names = split_lvm_dm_name(dev.dm_name) if (dev.dm_uuid or "").startswith("LVM-") else None
        return f"{names[0]}/{names[1]}" if names else dev.dm_name
    return dev.kname


def filesystem_device(st: StorageState, dev: BlockDevice) -> BlockDevice:
    """The member that names a multi-device filesystem (btrfs): the first by id."""
    uuid = dev.blkid.get("UUID")
    if dev.fstype != "btrfs" or not uuid:
        return dev
    members = [
        d for d in st.devices.values()
        if st.included(d.kname) and d.fstype == "btrfs" and d.blkid.get("UUID") == uuid
    ]
    return min(members, key=lambda d: device_id(st, d.kname) or d.kname, default=dev)


def filesystem_id(st: StorageState, kname: str | None) -> str | None:
    """The id of the filesystem (or swap) entry on device ``kname``."""
    dev = st.device(kname)
    if dev is None:
        return None
    if dev.fstype == "swap":
        ident = device_id(st, dev.kname)
        return f"swap:{ident}" if ident else None
    ident = device_id(st, filesystem_device(st, dev).kname)
    return f"fs:{ident}" if ident else None


USED_FLOOR = 1 << 20


def round_used(value: int | None) -> int | None:
    """Round up to the next m/8 x 2^k (m = 8..15), at least 1 MiB.

    Steps are 6-12.5% apart, so the recorded figure moves only when usage
    really changes, and it never understates what a target must hold.
    """
    if value is None or value < 0:
        return None
    if value <= USED_FLOOR:
        return USED_FLOOR
    exponent = value.bit_length() - 4  # 2^exponent is 1/8..1/16 of value
    step = 1 << max(exponent, 0)
    return -(-value // step) * step
