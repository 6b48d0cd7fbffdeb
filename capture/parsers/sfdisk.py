"""Parse ``sfdisk --dump``: the table header and one line per partition.

The dump is sfdisk's own re-creation script, so parsing it (rather than the
JSON listing) gives exactly the fields sfdisk needs to write the table back.
GPT names are quoted with ``\\xNN`` escapes for quotes and backslashes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")
_FIELD = re.compile(r'\s*(?P<key>[a-z-]+)(?:=(?:"(?P<quoted>[^"]*)"|(?P<plain>[^,]*)))?\s*(?:,|$)')
_NUMBER = re.compile(r"(\d+)\s*$")

# Names of the types people meet, as fdisk prints them (for readers only).
TYPE_NAMES: dict[str, str] = {
    "C12A7328-F81F-11D2-BA4B-00A0C93EC93B": "EFI System",
    "21686148-6449-6E6F-744E-656564454649": "BIOS boot",
    "0FC63DAF-8483-4772-8E79-3D69D8477DE4": "Linux filesystem",
    "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F": "Linux swap",
    "E6D6D379-F507-44C2-A23C-238F2A3DF928": "Linux LVM",
    "A19D880F-05FC-4D3B-A006-743F0F84911E": "Linux RAID",
    "CA7D7CCB-63ED-4C53-861C-1742536059CC": "Linux LUKS",
    "7FFEC5C9-2D00-49B7-8941-3EA10A5586B7": "Linux dm-crypt",
    "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709": "Linux root (x86-64)",
    "44479540-F297-41B2-9AF7-D131D5F0458A": "Linux root (x86)",
    "B921B045-1DF0-41C3-AF44-4C6F280D3FAE": "Linux root (ARM-64)",
    "933AC7E1-2EB4-4F13-B844-0E14E2AEF915": "Linux home",
    "3B8F8425-20E0-4F3B-907F-1A25A76F98E8": "Linux server data",
    "BC13C2FF-59E6-4262-A352-B275FD6F7172": "Linux extended boot",
    "8DA63339-0007-60C0-C436-083AC8230908": "Linux reserved",
    "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7": "Microsoft basic data",
    "E3C9E316-0B5C-4DB8-817D-F92DF00215AE": "Microsoft reserved",
    "DE94BBA4-06D1-4D40-A16A-BFD50179D6AC": "Windows recovery environment",
    "6A898CC3-1DD2-11B2-99A6-080020736631": "Solaris /usr & Apple ZFS",
    "83": "Linux",
    "82": "Linux swap / Solaris",
    "8e": "Linux LVM",
    "fd": "Linux raid autodetect",
    "5": "Extended",
    "f": "W95 Ext'd (LBA)",
    "85": "Linux extended",
    "ef": "EFI (FAT-12/16/32)",
    "ee": "GPT",
    "7": "HPFS/NTFS/exFAT",
    "b": "W95 FAT32",
    "c": "W95 FAT32 (LBA)",
    "e": "W95 FAT16 (LBA)",
    "6": "FAT16",
    "da": "Non-FS data",
    "a5": "FreeBSD",
}

MBR_EXTENDED_TYPES = frozenset({"5", "f", "85"})


@dataclass
class DumpPartition:
    """One partition line of the dump."""

    node: str
    number: int
    start: int
    size: int
    type: str
    uuid: str | None = None
    name: str | None = None
    attrs: str | None = None
    bootable: bool = False


@dataclass
class Dump:
    """The parsed dump: header keys as written, then the partitions."""

    headers: dict[str, str] = field(default_factory=dict)
    partitions: list[DumpPartition] = field(default_factory=list)

    def header_int(self, key: str) -> int | None:
        value = self.headers.get(key)
        return int(value) if value is not None and value.isdigit() else None


class DumpError(ValueError):
    """The text is not an sfdisk dump; the message names the line."""


def unescape_name(value: str) -> str:
    """``we\\x22ird`` -> ``we"ird``."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value)


def parse_dump(text: str) -> Dump:
    """Parse the whole dump; raise DumpError on a line it cannot read."""
    dump = Dump()
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        node, sep, rest = stripped.partition(" : ")
        if sep:
            dump.partitions.append(_partition(node.strip(), rest, lineno))
            continue
        key, sep, value = stripped.partition(":")
        if not sep or dump.partitions:
            raise DumpError(f"line {lineno}: not a header or partition line: {stripped!r}")
        dump.headers[key.strip()] = value.strip()
    if "label" not in dump.headers:
        raise DumpError("line 1: no 'label:' header")
    return dump


def _partition(node: str, rest: str, lineno: int) -> DumpPartition:
    number = _NUMBER.search(node)
    if number is None:
        raise DumpError(f"line {lineno}: no partition number in {node!r}")
    values: dict[str, str | None] = {}
    position = 0
    while position < len(rest):
        match = _FIELD.match(rest, position)
        if match is None or match.end() == position:
            raise DumpError(f"line {lineno}: cannot read {rest[position:]!r}")
        quoted = match["quoted"]
        values[match["key"]] = quoted if quoted is not None else (match["plain"] or "").strip()
        position = match.end()
    try:
        start = int(values.get("start") or "")
        size = int(values.get("size") or "")
    except ValueError:
        raise DumpError(f"line {lineno}: start/size missing or not numbers") from None
    name = values.get("name")
    return DumpPartition(
        node=node,
        number=int(number.group(1)),
        start=start,
        size=size,
        type=values.get("type") or "",
        uuid=values.get("uuid") or None,
        name=unescape_name(name) if name is not None else None,
        attrs=values.get("attrs") or None,
        bootable="bootable" in values,
    )
