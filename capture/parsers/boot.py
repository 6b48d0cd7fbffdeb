"""Parse bootloader facts: ``efibootmgr -v`` and ``debconf-show grub-pc``.

Both parsers take whatever the tool printed and never raise: what they cannot
read is returned in ``unknown`` so the probe can warn about it, and the rest of
the output still counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: ``Boot0001* debian<TAB>HD(...)/File(...)``: number, active mark, then the label.
#: efibootmgr prints "*" for an active entry and a space otherwise, then one space.
_ENTRY = re.compile(r"^Boot(?P<num>[0-9A-Fa-f]{4})(?P<active>[* ]) ?(?P<rest>.*)$")
_HEX4 = re.compile(r"^[0-9A-Fa-f]{4}$")
#: Lines efibootmgr prints besides entries and orders, which carry nothing captured.
_IGNORED = re.compile(
    r"^(?:\w*Mirror\w*|\w+Order):"  # memory-mirror settings; Driver/SysPrep orders
    r"|^No \w+ is set"  # "No BootOrder is set; firmware will attempt recovery"
    r"|^\s+(?:dp|data):"  # efibootmgr 18: the path and optional data in hex
)
#: A hard-drive media node: ``HD(partition,GPT|MBR,signature,start,size)``.
_HD = re.compile(
    r"HD\((?P<number>\d+),(?P<scheme>GPT|MBR),(?P<signature>[^,()]+)(?:,[^()]*)?\)",
    re.IGNORECASE,
)
#: A file node; efibootmgr 17 may print optional data right after the path.
_FILE = re.compile(r"/File\((?P<path>[^()]*)\)")


@dataclass
class EfiHardDrive:
    """The partition an EFI device path points at, as its HD() node names it."""

    number: int
    scheme: str
    """"GPT" or "MBR"."""
    signature: str
    """GPT partition GUID (lower case as printed), or MBR disk signature (0x...)."""


@dataclass
class EfiBoot:
    """What ``efibootmgr -v`` printed, line by line."""

    order: list[str] | None = None
    """BootOrder, or None when efibootmgr printed none."""
    current: str | None = None
    """BootCurrent: the entry the firmware started this boot from (none on a
    direct kernel boot)."""
    next: str | None = None
    timeout: int | None = None
    entries: list[dict[str, object]] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    """Non-empty lines not understood."""


def parse_efibootmgr(text: str) -> EfiBoot:
    """BootCurrent, BootNext, Timeout, BootOrder and the Boot#### lines.

    efibootmgr 17 prints ``Boot0001* label<TAB>device path`` with ``-v`` and the
    label alone without it, or when the device path cannot be formatted; an
    inactive entry has a space instead of the ``*``.  Optional data follows the
    path directly (17) or comes on indented ``dp:``/``data:`` lines (18).
    """
    result = EfiBoot()
    for raw in text.splitlines():
        line = raw.rstrip("\n")
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        value = value.strip()
        if sep and key == "BootOrder":
            result.order = [x.strip().upper() for x in value.split(",") if x.strip()]
            continue
        if sep and key == "BootCurrent" and _HEX4.match(value):
            result.current = value.upper()
            continue
        if sep and key == "BootNext" and _HEX4.match(value):
            result.next = value.upper()
            continue
        if sep and key == "Timeout":
            words = value.split()
            if words and words[0].isdigit():
                result.timeout = int(words[0])
                continue
        match = _ENTRY.match(line)
        if match:
            label, tab, path = match["rest"].partition("\t")
            result.entries.append(
                {
                    "number": match["num"].upper(),
                    "label": label.strip(),
                    "active": match["active"] == "*",
                    "path": (path.strip() or None) if tab else None,
                }
            )
            continue
        if not _IGNORED.match(line):
            result.unknown.append(line.strip())
    return result


def efi_hard_drive(path: str | None) -> EfiHardDrive | None:
    """The HD() node of an EFI device path, if it has one."""
    match = _HD.search(path or "")
    if not match:
        return None
    return EfiHardDrive(int(match["number"]), match["scheme"].upper(), match["signature"])


def efi_loader(path: str | None) -> str | None:
    """The file an EFI device path starts (``\\EFI\\debian\\shimx64.efi``), if any."""
    match = _FILE.search(path or "")
    return match["path"] if match and match["path"] else None


def parse_debconf_show(text: str) -> dict[str, str]:
    """``debconf-show PACKAGE``: ``[*] question: value`` per line -> {question: value}.

    The ``*`` marks a question already asked; values are given as stored (a
    multiselect is comma separated).  Lines that are not ``question: value`` are
    skipped.
    """
    values: dict[str, str] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("*"):
            stripped = stripped[1:].lstrip()
        key, sep, value = stripped.partition(":")
        key = key.strip()
        if sep and key and " " not in key and "/" in key:
            values[key] = value.strip()
    return values


def split_multiselect(value: str | None) -> list[str]:
    """A debconf multiselect value as a list: ``a, b`` -> [a, b]; empty -> []."""
    return [item.strip() for item in (value or "").split(",") if item.strip()]
