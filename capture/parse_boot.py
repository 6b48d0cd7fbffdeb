"""Parse bootloader facts: ``efibootmgr -v`` and debconf's config.dat."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_ENTRY = re.compile(r"^Boot(?P<num>[0-9A-Fa-f]{4})(?P<active>\*?)\s+(?P<rest>.*)$")


@dataclass
class EfiBoot:
    order: list[str] = field(default_factory=list)
    entries: list[dict[str, object]] = field(default_factory=list)


def parse_efibootmgr(text: str) -> EfiBoot:
    """BootOrder and the Boot#### lines (label, tab, device path)."""
    result = EfiBoot()
    for line in text.splitlines():
        if line.startswith("BootOrder:"):
            result.order = [x.strip() for x in line.split(":", 1)[1].split(",") if x.strip()]
            continue
        match = _ENTRY.match(line.rstrip())
        if not match:
            continue
        label, sep, path = match["rest"].partition("\t")
        result.entries.append(
            {
                "number": match["num"].upper(),
                "label": label.strip(),
                "active": match["active"] == "*",
                "path": path.strip() or None if sep else None,
            }
        )
    return result


def debconf_value(text: str, question: str) -> str | None:
    """The ``Value:`` of ``question`` in /var/cache/debconf/config.dat."""
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            key, sep, value = line.partition(":")
            if sep and not line.startswith((" ", "\t")):
                fields[key.strip()] = value.strip()
        if fields.get("Name") == question:
            return fields.get("Value")
    return None
