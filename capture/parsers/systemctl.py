"""Parser of ``systemctl list-unit-files --no-legend --no-pager`` (systemd 245 and later).

Each line is ``UNIT STATE [PRESET]``: the state of the unit file (enabled,
disabled, static, masked, alias, generated, indirect, ...) and the vendor
preset (enabled, disabled, or ``-`` when presets do not apply).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UnitFile:
    unit: str
    state: str
    preset: str | None


def parse_unit_files(text: str) -> list[UnitFile]:
    units = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        preset = fields[2] if len(fields) > 2 and fields[2] != "-" else None
        units.append(UnitFile(fields[0], fields[1], preset))
    return units


def cron_entries(text: str) -> int:
    """Lines of a crontab that schedule something (not comments, blanks or VAR=value)."""
    count = 0
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        head = line.split(None, 1)[0]
        if "=" in head and not head.startswith("@"):
            continue
        count += 1
    return count
