"""What ZFS and btrfs replication plans share: one target's decisions, and the protections.

Both planners decide per target what it keeps (its retention), which source
snapshots it still wants, from which shared snapshot the next incremental
send starts, how many older source snapshots are skipped, and whether the
target is refused; and both protect the same snapshots from retention on
either side: the newest one shared (the next send's base, a btrfs send's
parent), with ``keep_oldest`` the earliest one shared, and every snapshot a
target still wants.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar, Generic, Protocol, TypeVar

from hostbook.jobs.retention.policy import RetentionPlan


class Named(Protocol):
    @property
    def name(self) -> str: ...


Item = TypeVar("Item", bound=Named)
"""A ZFS snapshot or a btrfs subvolume."""


@dataclass(frozen=True)
class TargetDecisions(Generic[Item]):
    """What happens at one target, and why."""

    LOCATION_KEY: ClassVar[str] = "location"
    """What the JSON report calls ``location`` (a dataset, a directory)."""

    name: str
    location: str
    retention: RetentionPlan
    wanted: tuple[Item, ...] = ()
    """Source snapshots the target receives."""
    base: Item | None = None
    """The newest snapshot the target shares with the source."""
    skipped: int = 0
    """Source snapshots older than ``base`` that the target lacks (never sent)."""
    refused: str | None = None
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "target": self.name,
            self.LOCATION_KEY: self.location,
            "refused": self.refused,
            "notes": list(self.notes),
            "base": self.base.name if self.base else None,
            "skipped_older_than_base": self.skipped,
            "retention": self.retention.to_json(),
        }


Protections = dict[int, list[str]]
"""Snapshot identity (a guid, a uuid as integer) -> why retention must keep it."""


def protect_shared(protect: Protections, other: str, latest: int, earliest: int | None = None,
                   *, link: str = "base") -> None:
    """Keep the newest snapshot shared with ``other`` (the incremental ``link``) and, when
    given, the earliest one (the common base ``keep_oldest`` asks for)."""
    protect.setdefault(latest, []).append(
        f"latest snapshot shared with {other} (incremental {link})")
    if earliest is not None:
        protect.setdefault(earliest, []).append(
            f"earliest snapshot shared with {other} (common base)")


def protect_wanted(protect: Protections, target: str, wanted: Iterable[int]) -> None:
    """Keep at the source what ``target`` still has to receive."""
    for ident in wanted:
        protect.setdefault(ident, []).append(
            f"not yet replicated to {target}, whose policy wants it")
