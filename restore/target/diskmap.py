"""Which present disk receives which recorded disk.

``--map OLD=NEW`` names pairs (OLD: the recorded disk's entry id, kernel name
or serial; NEW: a present disk); ``--map auto`` takes restore.yaml's hints
first, then matches by WWN, serial, by-path, and finally by size and order.
An ambiguous or impossible map is refused with an explanation, and the chosen
map (with the rule that chose each pair) is always shown in the plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hostbook.manifest.errors import BadInputError
from hostbook.manifest.sections.storage import DiskEntry, LoopEntry, StorageDocument
from hostbook.restore.units import human


@dataclass(frozen=True)
class DiskIdentity:
    """What identifies a disk, recorded or present.

    ``key`` is the entry id for a recorded disk (``disk:virtio-data0``) and the
    kernel name for a present one.
    """

    key: str
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
        parts = [self.path, human(self.size)]
        if self.model:
            parts.append(self.model)
        if self.serial:
            parts.append(f"serial {self.serial}")
        return ", ".join(parts)


@dataclass(frozen=True)
class MapEntry:
    recorded: DiskIdentity
    target: DiskIdentity
    rule: str  # "given", "restore.yaml", "wwn", "serial", "by-path", "size and order"

    def line(self) -> str:
        return (f"{self.recorded.key} (was {self.recorded.name}, {human(self.recorded.size)}) -> "
                f"{self.target.describe()} [{self.rule}]")


def recorded_identities(storage: StorageDocument) -> list[DiskIdentity]:
    """The identity of each disk and loop device storage.yaml records, in file order."""
    identities = []
    for entry in storage.entries:
        if isinstance(entry, DiskEntry):
            identities.append(DiskIdentity(
                entry.id, entry.name, entry.size, entry.logical_sector_size, entry.wwn,
                entry.serial, entry.by_path, entry.model))
        elif isinstance(entry, LoopEntry):
            identities.append(DiskIdentity(entry.id, entry.name, entry.size,
                                           entry.logical_sector_size))
    return identities


def _strip_dev(name: str) -> str:
    return name.removeprefix("/dev/")


def parse_map_args(values: Sequence[str]) -> dict[str, str] | None:
    """``["vda=/dev/sdb", ...]`` -> {"vda": "/dev/sdb"}; ``["auto"]`` or nothing -> None.

    The target is kept as given (a /dev/disk/by-id path needs resolving on
    the live system); the recorded side is matched later against the manifest.
    """
    if not values or list(values) == ["auto"]:
        return None
    pairs: dict[str, str] = {}
    for value in values:
        if value == "auto":
            raise BadInputError("--map auto cannot be combined with OLD=NEW pairs")
        old, sep, new = value.partition("=")
        if not sep or not old or not new:
            raise BadInputError(f"--map {value!r}: expected OLD=NEW (e.g. vda=/dev/sdb) or auto")
        if old in pairs:
            raise BadInputError(f"--map: recorded disk {old} mapped twice")
        if new in pairs.values():
            raise BadInputError(f"--map: target disk {new} named twice")
        pairs[old] = new
    return pairs


def recorded_matches(recorded: Sequence[DiskIdentity], old: str) -> list[DiskIdentity]:
    """The recorded disks ``old`` names: by entry id, else kernel name (with or
    without /dev/), else serial; the first rule that matches any disk decides."""
    for rule in ("key", "name", "serial"):
        wanted = _strip_dev(old) if rule == "name" else old
        found = [d for d in recorded if getattr(d, rule) == wanted]
        if found:
            return found
    return []


def known_disks(recorded: Sequence[DiskIdentity]) -> str:
    return ", ".join(f"{d.key} ({d.name})" for d in recorded) or "none"


def find_recorded(recorded: Sequence[DiskIdentity], old: str) -> DiskIdentity:
    """The recorded disk ``old`` names: entry id, kernel name (with or without /dev/) or serial."""
    found = recorded_matches(recorded, old)
    if len(found) > 1:
        raise BadInputError(f"--map {old}: names several recorded disks; use the entry id")
    if not found:
        raise BadInputError(
            f"--map {old}: the manifest has no such disk (recorded: {known_disks(recorded)})")
    return found[0]


def build_map(
    recorded: Sequence[DiskIdentity],
    present: Sequence[DiskIdentity],
    given: dict[str, str] | None,
    wanted: Sequence[str] | None = None,
    hints: dict[str, str] | None = None,
) -> list[MapEntry]:
    """Pair recorded disks with present ones, or explain why that is impossible.

    ``given`` maps OLD (id, name or serial) to a present kernel name; ``hints``
    maps recorded ids to present kernel names (restore.yaml, already resolved).
    ``wanted`` limits which recorded ids need a target (default: all).
    """
    by_name = {d.name: d for d in present}
    needed = [d for d in recorded if wanted is None or d.key in wanted]
    if given is not None:
        entries: dict[str, MapEntry] = {}
        for old, new in given.items():
            disk = find_recorded(recorded, old)
            target = by_name.get(_strip_dev(new))
            if target is None:
                raise BadInputError(f"--map {old}={new}: no disk {new} on this system")
            if disk.key in entries:
                raise BadInputError(f"--map: recorded disk {disk.key} mapped twice")
            entries[disk.key] = MapEntry(disk, target, "given")
        missing = [d.key for d in needed if d.key not in entries]
        if missing:
            raise BadInputError(
                f"--map: no target for recorded disk(s) {', '.join(missing)}; "
                "map every disk or use --map auto"
            )
        return [entries[d.key] for d in recorded if d.key in entries]
    return _auto(needed, list(present), hints or {})


def _auto(needed: list[DiskIdentity], present: list[DiskIdentity],
          hints: dict[str, str]) -> list[MapEntry]:
    chosen: dict[str, MapEntry] = {}
    free = list(present)
    for disk in needed:
        name = hints.get(disk.key)
        if name is None:
            continue
        match = next((p for p in free if p.name == name), None)
        if match is None:
            raise BadInputError(
                f"restore.yaml disks: {disk.key} -> /dev/{name}, which is not present or "
                "already taken"
            )
        chosen[disk.key] = MapEntry(disk, match, "restore.yaml")
        free.remove(match)
    for rule in ("wwn", "serial", "by_path"):
        for disk in needed:
            if disk.key in chosen:
                continue
            key = getattr(disk, rule)
            if not key:
                continue
            matches = [p for p in free if getattr(p, rule) == key]
            if len(matches) > 1:
                raise BadInputError(
                    f"--map auto: {rule.replace('_', '-')} {key} of recorded disk {disk.key} "
                    f"matches {', '.join(p.name for p in matches)}; map it by hand"
                )
            if matches:
                chosen[disk.key] = MapEntry(disk, matches[0], rule.replace("_", "-"))
                free.remove(matches[0])
    rest = [d for d in needed if d.key not in chosen]
    if rest:
        # Size and order: each remaining recorded disk, in recorded-name order,
        # takes the smallest remaining present disk that is large enough.
        candidates = sorted(free, key=lambda d: (d.size, d.name))
        for disk in sorted(rest, key=lambda d: d.name):
            fits = [p for p in candidates if p.size >= disk.size]
            if not fits:
                have = "; ".join(p.describe() for p in candidates) or "none left"
                raise BadInputError(
                    f"--map auto: no present disk is large enough for {disk.key} "
                    f"({human(disk.size)}); candidates: {have}; use --map {disk.name}=DISK "
                    "to restore onto a smaller disk"
                )
            same_size = [p for p in fits if p.size == fits[0].size]
            if len(same_size) > 1 and len(rest) < len(same_size):
                raise BadInputError(
                    f"--map auto: {disk.key} could go to any of "
                    f"{', '.join(p.name for p in same_size)} (same size, no serial or WWN "
                    "match); map it by hand"
                )
            chosen[disk.key] = MapEntry(disk, fits[0], "size and order")
            candidates.remove(fits[0])
    return [chosen[d.key] for d in needed]


def map_lines(entries: Sequence[MapEntry]) -> list[str]:
    """Human-readable lines for the plan and the script header."""
    return [e.line() for e in entries]
