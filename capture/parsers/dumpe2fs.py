"""Parse the superblock listing of ``dumpe2fs -h`` into what mke2fs/tune2fs need.

Counters that move while the filesystem is used (free blocks and inodes,
mount count, times, journal position, superblock checksum) are read only to
derive the used size, never copied into the manifest.
"""

from __future__ import annotations

from typing import Any


def parse_fields(text: str) -> dict[str, str]:
    """``Key:   value`` lines into a dict (the journal section included)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key and not key.startswith((" ", "\t")):
            fields.setdefault(key.strip(), value.strip())
    return fields


def _int(fields: dict[str, str], key: str) -> int | None:
    value = fields.get(key, "").split(" ")[0]
    try:
        return int(value)
    except ValueError:
        return None


# Feature bits that record the filesystem's state (set while mounted or with
# orphans pending), not how it was made.
STATE_FEATURES = frozenset({"needs_recovery", "orphan_present"})


def _words(fields: dict[str, str], key: str) -> list[str]:
    value = fields.get(key, "")
    if value in ("", "(none)"):
        return []
    return sorted(w for w in value.split() if w not in STATE_FEATURES)


def _size(value: str | None) -> int | None:
    """``4096k`` / ``64M`` (dumpe2fs journal sizes) in bytes."""
    if not value:
        return None
    units = {"k": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    number, unit = value[:-1], value[-1]
    if unit in units and number.isdigit():
        return int(number) * units[unit]
    return int(value) if value.isdigit() else None


def ext_details(fields: dict[str, str]) -> dict[str, Any]:
    """The ``ext:`` record of a filesystem entry."""
    block_size = _int(fields, "Block size") or 0
    block_count = _int(fields, "Block count") or 0
    inode_count = _int(fields, "Inode count") or 0
    reserved = _int(fields, "Reserved block count") or 0
    details: dict[str, Any] = {
        "revision": fields.get("Filesystem revision #", "").split(" ")[0] or None,
        "features": _words(fields, "Filesystem features"),
        "flags": _words(fields, "Filesystem flags"),
        "default_mount_options": _words(fields, "Default mount options"),
        "mount_options": fields.get("Mount options") or None,
        "block_size": block_size,
        "block_count": block_count,
        "inode_size": _int(fields, "Inode size"),
        "inode_count": inode_count,
        "inodes_per_group": _int(fields, "Inodes per group") or 0,
        "blocks_per_group": _int(fields, "Blocks per group") or 0,
        "bytes_per_inode": (block_count * block_size) // inode_count if inode_count else 0,
        "reserved_percent": round(100.0 * reserved / block_count, 2) if block_count else 0.0,
        "reserved_uid": _int(fields, "Reserved blocks uid"),
        "reserved_gid": _int(fields, "Reserved blocks gid"),
        "errors_behavior": fields.get("Errors behavior") or None,
        "max_mount_count": _int(fields, "Maximum mount count"),
        "check_interval": _int(fields, "Check interval"),
        "raid_stride": _int(fields, "RAID stride"),
        "raid_stripe_width": _int(fields, "RAID stripe width"),
        "flex_bg_size": _int(fields, "Flex block group size"),
        "hash_algorithm": fields.get("Default directory hash") or None,
        "checksum_type": fields.get("Checksum type") or None,
        "journal_size": _size(fields.get("Total journal size")),
        "journal_device": fields.get("Journal UUID") or None,
        "creator_os": fields.get("Filesystem OS type") or None,
    }
    if details["default_mount_options"] == ["(none)"]:
        details["default_mount_options"] = []
    return details


def used_bytes(fields: dict[str, str]) -> int | None:
    """Bytes in use: (block count - free blocks) x block size."""
    block_size = _int(fields, "Block size")
    block_count = _int(fields, "Block count")
    free = _int(fields, "Free blocks")
    if block_size is None or block_count is None or free is None:
        return None
    return (block_count - free) * block_size


def filesystem_size(fields: dict[str, str]) -> int | None:
    block_size = _int(fields, "Block size")
    block_count = _int(fields, "Block count")
    if block_size is None or block_count is None:
        return None
    return block_size * block_count
