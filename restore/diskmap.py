"""Which present disk receives which recorded disk.

``--map OLD=NEW`` names pairs; ``--map auto`` matches by WWN or serial first,
then by-path, then by size and order.  An ambiguous or impossible map is
refused with an explanation, and the chosen map (with the rule that chose each
pair) is always shown in the plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hostbook.manifest.errors import BadInputError


@dataclass(frozen=True)
class DiskIdentity:
    """What identifies a disk, recorded or present."""

    name: str  # kernel name, e.g. vda
    size: int
    logical_sector_size: int = 512
    wwn: str | None = None
    serial: str | None = None
    by_path: str | None = None
    model: str | None = None

    @property
    def path(self) -> str:
        return f"/dev/{self.name}"

    def describe(self) -> str:
        parts = [self.path, _human(self.size)]
        if self.model:
            parts.append(self.model)
        if self.serial:
            parts.append(f"serial {self.serial}")
        return ", ".join(parts)


@dataclass(frozen=True)
class MapEntry:
    recorded: DiskIdentity
    target: DiskIdentity
    rule: str  # how the pair was chosen: "given", "wwn", "serial", "by-path", "size and order"


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def _strip_dev(name: str) -> str:
    return name.removeprefix("/dev/")


def parse_map_args(values: Sequence[str]) -> dict[str, str] | None:
    """``["vda=/dev/sdb", ...]`` -> {"vda": "sdb"}; ``["auto"]`` -> None."""
    if list(values) == ["auto"]:
        return None
    pairs: dict[str, str] = {}
    for value in values:
        old, sep, new = value.partition("=")
        if not sep or not old or not new:
            raise BadInputError(f"--map {value!r}: expected OLD=NEW (e.g. vda=/dev/sdb) or auto")
        old, new = _strip_dev(old), _strip_dev(new)
        if old in pairs:
            raise BadInputError(f"--map: recorded disk {old} mapped twice")
        if new in pairs.values():
            raise BadInputError(f"--map: target disk {new} named twice")
        pairs[old] = new
    return pairs


def build_map(
    recorded: Sequence[DiskIdentity],
    present: Sequence[DiskIdentity],
    given: dict[str, str] | None,
    wanted: Sequence[str] | None = None,
) -> list[MapEntry]:
    """Pair recorded disks with present ones, or explain why that is impossible.

    ``wanted`` limits which recorded disks need a target (default: all).
    """
    by_name = {d.name: d for d in present}
    recorded_by_name = {d.name: d for d in recorded}
    needed = [recorded_by_name[n] for n in wanted] if wanted else list(recorded)
    if given is not None:
        entries = []
        for old, new in given.items():
            if old not in recorded_by_name:
                raise BadInputError(
                    f"--map {old}={new}: the manifest has no disk {old} "
                    f"(recorded: {', '.join(sorted(recorded_by_name)) or 'none'})"
                )
            if new not in by_name:
                raise BadInputError(f"--map {old}={new}: no disk /dev/{new} on this system")
            entries.append(MapEntry(recorded_by_name[old], by_name[new], "given"))
        missing = [d.name for d in needed if d.name not in given]
        if missing:
            raise BadInputError(
                f"--map: no target for recorded disk(s) {', '.join(missing)}; "
                "map every disk or use --map auto"
            )
        return entries
    return _auto(needed, list(present))


def _auto(needed: list[DiskIdentity], present: list[DiskIdentity]) -> list[MapEntry]:
    chosen: dict[str, MapEntry] = {}
    free = list(present)
    for rule in ("wwn", "serial", "by_path"):
        for disk in needed:
            if disk.name in chosen:
                continue
            key = getattr(disk, rule)
            if not key:
                continue
            matches = [p for p in free if getattr(p, rule) == key]
            if len(matches) > 1:
                raise BadInputError(
                    f"--map auto: {rule.replace('_', '-')} {key} of recorded disk {disk.name} "
                    f"matches {', '.join(p.name for p in matches)}; map it by hand"
                )
            if matches:
                chosen[disk.name] = MapEntry(disk, matches[0], rule.replace("_", "-"))
                free.remove(matches[0])
    rest = [d for d in needed if d.name not in chosen]
    if rest:
        # Size and order: each remaining recorded disk, in order, takes the
        # smallest remaining present disk that is large enough.  Equal sizes
        # keep kernel-name order, which is how installers enumerate them.
        candidates = sorted(free, key=lambda d: (d.size, d.name))
        for disk in sorted(rest, key=lambda d: d.name):
            fits = [p for p in candidates if p.size >= disk.size]
            if not fits:
                have = ", ".join(p.describe() for p in candidates) or "none left"
                raise BadInputError(
                    f"--map auto: no present disk is large enough for {disk.name} "
                    f"({_human(disk.size)}); candidates: {have}; use --map {disk.name}=DISK "
                    "to restore onto a smaller disk"
                )
            same_size = [p for p in fits if p.size == fits[0].size]
            if len(same_size) > 1 and len(rest) > 1 and len(candidates) > len(rest):
                raise BadInputError(
                    f"--map auto: {disk.name} could go to any of "
                    f"{', '.join(p.name for p in same_size)} (same size, no serial or WWN "
                    "match); map it by hand"
                )
            chosen[disk.name] = MapEntry(disk, fits[0], "size and order")
            candidates.remove(fits[0])
    return [chosen[d.name] for d in needed]


def map_lines(entries: Sequence[MapEntry]) -> list[str]:
    """Human-readable lines for the plan and the script header."""
    return [
        f"{e.recorded.name} ({_human(e.recorded.size)}) -> {e.target.describe()} [{e.rule}]"
        for e in entries
    ]
