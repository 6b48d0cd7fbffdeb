"""Parse ``findmnt --json --list -b -v -o ...`` into plain mount records."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Mount:
    """One line of the mount table."""

    source: str
    target: str
    fstype: str
    options: str
    fsroot: str
    majmin: str | None
    used: int | None
    size: int | None


class FindmntError(ValueError):
    """The output is not findmnt's JSON."""


def _int(value: object) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def parse(text: str) -> list[Mount]:
    try:
        data = json.loads(text) if text.strip() else {"filesystems": []}
    except json.JSONDecodeError as exc:
        raise FindmntError(f"findmnt output is not JSON: {exc.msg}") from None
    mounts = []
    for item in data.get("filesystems", []):
        mounts.append(
            Mount(
                source=item.get("source") or "",
                target=item.get("target") or "",
                fstype=item.get("fstype") or "",
                options=item.get("options") or "",
                fsroot=item.get("fsroot") or "/",
                majmin=item.get("maj:min"),
                used=_int(item.get("used")),
                size=_int(item.get("size")),
            )
        )
    return mounts


def option_value(options: str, name: str) -> str | None:
    """The value of ``name=`` in a comma-separated option string."""
    for option in options.split(","):
        key, sep, value = option.partition("=")
        if sep and key == name:
            return value
    return None
