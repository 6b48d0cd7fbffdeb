"""Parse /etc/fstab and /etc/crypttab (whitespace-separated, octal escapes)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_OCTAL = re.compile(r"\\([0-7]{3})")


def unescape(field: str) -> str:
    """``/mnt/my\\040disk`` -> ``/mnt/my disk``."""
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


def _lines(text: str) -> list[tuple[int, list[str]]]:
    result = []
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            result.append((lineno, [unescape(f) for f in stripped.split()]))
    return result


@dataclass(frozen=True)
class FstabEntry:
    line: int
    spec: str
    mountpoint: str
    fstype: str
    options: str
    dump: int
    passno: int


@dataclass(frozen=True)
class CrypttabEntry:
    line: int
    name: str
    source: str
    key_file: str | None
    options: str | None


class TabError(ValueError):
    """A line the parser cannot read; the message names the file and line."""


def _number(value: str, where: str) -> int:
    if not value.isdigit():
        raise TabError(f"{where}: expected a number, got {value!r}")
    return int(value)


def parse_fstab(text: str, filename: str = "/etc/fstab") -> list[FstabEntry]:
    entries = []
    for lineno, fields in _lines(text):
        where = f"{filename}:{lineno}"
        if len(fields) < 3:
            raise TabError(f"{where}: fewer than 3 fields")
        entries.append(
            FstabEntry(
                line=lineno,
                spec=fields[0],
                mountpoint=fields[1],
                fstype=fields[2],
                options=fields[3] if len(fields) > 3 else "defaults",
                dump=_number(fields[4], where) if len(fields) > 4 else 0,
                passno=_number(fields[5], where) if len(fields) > 5 else 0,
            )
        )
    return entries


def parse_crypttab(text: str, filename: str = "/etc/crypttab") -> list[CrypttabEntry]:
    entries = []
    for lineno, fields in _lines(text):
        if len(fields) < 2:
            raise TabError(f"{filename}:{lineno}: fewer than 2 fields")
        entries.append(
            CrypttabEntry(
                line=lineno,
                name=fields[0],
                source=fields[1],
                key_file=fields[2] if len(fields) > 2 else None,
                options=fields[3] if len(fields) > 3 else None,
            )
        )
    return entries


def options_dict(options: str | None) -> dict[str, str]:
    """``luks,cipher=aes-xts-plain64,size=256`` -> {'luks': '', 'cipher': ..., 'size': ...}."""
    result: dict[str, str] = {}
    for option in (options or "").split(","):
        if option:
            key, _, value = option.partition("=")
            result[key] = value
    return result
