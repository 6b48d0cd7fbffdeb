"""Parse ``mdadm --detail --export`` and ``mdadm --examine``; name md's layouts.

The export form is ``KEY=value`` lines; members appear as
``MD_DEVICE_<dev>_ROLE`` / ``MD_DEVICE_<dev>_DEV`` pairs.  Chunk size, layout
and bitmap of an assembled array come from its sysfs directory, where the
kernel keeps them as numbers; :func:`layout_name` turns those into mdadm's
names.  An array nobody assembled has only its members' superblocks:
``mdadm --examine`` prints one ``/dev/X:`` block of ``Key : value`` lines per
member, with the role, chunk, layout and bitmap the export form leaves out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# drivers/md/raid5.h ALGORITHM_* values, as mdadm names them.
_RAID5_LAYOUTS = {
    0: "left-asymmetric",
    1: "right-asymmetric",
    2: "left-symmetric",
    3: "right-symmetric",
    4: "parity-first",
    5: "parity-last",
    8: "ddf-zero-restart",
    9: "ddf-N-restart",
    10: "ddf-N-continue",
    16: "left-asymmetric-6",
    17: "right-asymmetric-6",
    18: "left-symmetric-6",
    19: "right-symmetric-6",
    20: "parity-first-6",
}


@dataclass
class MdDetail:
    """What ``mdadm --detail --export`` says about one array."""

    values: dict[str, str] = field(default_factory=dict)
    members: dict[str, str] = field(default_factory=dict)  # device path -> role


def parse_export(text: str) -> MdDetail:
    detail = MdDetail()
    roles: dict[str, str] = {}
    paths: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep:
            continue
        if key.startswith("MD_DEVICE_") and key.endswith("_ROLE"):
            roles[key[len("MD_DEVICE_"):-len("_ROLE")]] = value
        elif key.startswith("MD_DEVICE_") and key.endswith("_DEV"):
            paths[key[len("MD_DEVICE_"):-len("_DEV")]] = value
        else:
            detail.values[key] = value
    for tag, role in roles.items():
        detail.members[paths.get(tag, "/" + tag.replace("_", "/"))] = role
    return detail


def layout_name(level: str, layout: int | None) -> str | None:
    """mdadm's name for a kernel layout number; None where the level has none."""
    if layout is None:
        return None
    if level in ("raid5", "raid6", "raid4"):
        return _RAID5_LAYOUTS.get(layout, str(layout))
    if level == "raid10":
        near, far, offset = layout & 0xFF, (layout >> 8) & 0xFF, bool(layout & 0x10000)
        if offset:
            return f"o{far}"
        if far == 1:
            return f"n{near}"
        if near == 1:
            return f"f{far}"
        return f"n{near}f{far}"
    return None


def uuid_from_blkid(value: str) -> str:
    """blkid's dashed md UUID in mdadm's colon form (xxxxxxxx:xxxxxxxx:...)."""
    hexdigits = value.replace("-", "").replace(":", "").lower()
    if len(hexdigits) != 32:
        return value
    return ":".join(hexdigits[i:i + 8] for i in range(0, 32, 8))


def parse_examine(text: str) -> dict[str, dict[str, str]]:
    """``mdadm --examine DEV...``: device path -> its superblock's ``Key : value``s."""
    blocks: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.splitlines():
        if line.startswith("/") and line.rstrip().endswith(":"):
            current = blocks.setdefault(line.rstrip()[:-1], {})
            continue
        key, sep, value = line.partition(" : ")
        if current is not None and sep and key.strip():
            current.setdefault(key.strip(), value.strip())
    return blocks


def examine_role(fields: dict[str, str]) -> str:
    """The member's role as --detail --export names it: a slot number, or a word."""
    role = fields.get("Device Role", "").strip()
    if role.lower().startswith("active device "):
        return role.split()[-1]
    if role:
        return role.split()[0].lower()  # spare, journal, replacement ...
    this = fields.get("this", "").split()  # 0.90: "this  0  8  1  0  active sync  /dev/x"
    return this[0] if this and this[0].isdigit() else "unknown"


def size_bytes(text: str | None) -> int | None:
    """mdadm's ``64K`` / ``512K`` / ``1M`` chunk sizes in bytes."""
    if not text:
        return None
    units = {"K": 1024, "M": 1024**2, "G": 1024**3}
    number, unit = text[:-1], text[-1:].upper()
    if unit in units and number.isdigit():
        return int(number) * units[unit]
    return int(text) if text.isdigit() else None
