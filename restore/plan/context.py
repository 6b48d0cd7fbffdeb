"""What every layer's planner reads and adds to while one plan is made.

The planner (:mod:`hostbook.restore.plan.planner`) decides what is restored
and how large it becomes, then hands each entry to its layer's module
(partitions, md, luks, lvm, filesystems, btrfs, mounts, keyfiles).  Those
modules share one :class:`Planning`: the storage view, the policy, the
target path of every entry, and the steps, notes and refusals gathered so
far, in the order the plan shows them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from hostbook.manifest.sections.restore import RestoreDocument
from hostbook.manifest.sections.storage import StorageDocument
from hostbook.restore.plan.layout import StorageView
from hostbook.restore.plan.sizing import Sizing
from hostbook.restore.plan.steps import Command, Step
from hostbook.restore.plan.table_fit import TableFit
from hostbook.restore.target.devices import DevicePaths
from hostbook.restore.target.diskmap import DiskIdentity, MapEntry


@dataclass
class PlanInput:
    """Everything the planner needs; gathered from the manifest and the live system."""

    host: str
    storage: StorageDocument
    policy: RestoreDocument
    mapping: Sequence[MapEntry]
    target_root: str
    signatures: dict[str, list[str]] = field(default_factory=dict)  # disk path -> found
    existing: dict[str, list[str]] = field(default_factory=dict)  # disk path -> partitions
    resuming: bool = False
    # Identities already on disks that are not targets: UUID or "vg:<name>" -> device.
    foreign: dict[str, str] = field(default_factory=dict)
    # Give filesystems whose UUID is in ``foreign`` a new one instead of refusing.
    new_identities: bool = False


@dataclass
class Built:
    """The commands that make one entry again, and what the plan must say about them.

    A problem refuses the plan; a note says what will differ from the record.
    """

    commands: list[Command] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def options(*pairs: tuple[str, object]) -> list[str]:
    """``flag value`` for each recorded value that is set (not None, zero or empty)."""
    return [word for flag, value in pairs if value for word in (flag, str(value))]


@dataclass
class Planning:
    """One plan in the making (see the module docstring)."""

    request: PlanInput
    view: StorageView
    targets: dict[str, DiskIdentity]  # recorded disk id -> the present disk receiving it
    restored: set[str]
    fits: dict[str, TableFit]
    sizing: Sizing
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    """What an incomplete capture left out and the plan therefore does not make."""
    paths: DevicePaths = field(init=False)

    def __post_init__(self) -> None:
        self.paths = DevicePaths(self.view, {k: t.path for k, t in self.targets.items()})

    @property
    def policy(self) -> RestoreDocument:
        return self.request.policy

    def add(self, step: Step) -> None:
        self.steps.append(step)

    def path(self, ident: str | None) -> str:
        """The target device path of a recorded entry (every restored one has one)."""
        path = self.paths.path(ident) if ident else None
        if path is None:
            raise ValueError(f"no target path for {ident}")
        return path

    def take(self, built: Built) -> tuple[Command, ...]:
        """The commands of ``built``; its problems and notes join the plan's."""
        self.problems += built.problems
        self.notes += built.notes
        return tuple(built.commands)
