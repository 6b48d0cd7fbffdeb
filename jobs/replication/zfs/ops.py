"""Replication operations and the simulator that validates a plan before anything runs.

Operations are plain data: what to send or destroy, where, and why.  The
simulator applies them to the inventories with the preconditions real
``zfs`` enforces (an incremental receive needs the target's newest snapshot
to be the stream's base; a full receive needs a target without snapshots;
``a%b`` destroys everything between a and b; a held snapshot cannot be
destroyed) plus hostbook's own: after every step the target still shares a
snapshot with the source once it has had one, so no step can force a full
resend.  A plan whose simulation fails or does not reach the planned
inventories is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from hostbook.jobs.replication.zfs.inventory import DatasetInventory, Snapshot

SOURCE = "source"


class PlanError(ValueError):
    """A plan that would fail, or would not reach its target inventory."""


@dataclass(frozen=True, slots=True)
class FullTransfer:
    """``zfs send [-w] src@snap | zfs receive [-F] target``: first snapshot to an empty target."""

    KIND: ClassVar[str] = "full"
    target: str
    source_dataset: str
    target_dataset: str
    snapshot: Snapshot
    raw: bool
    force: bool
    reason: str
    written: int | None = None
    """The ``written`` of the source's snapshots up to this one: at least the bytes it
    references (a rough size of the stream; None when not known)."""

    @property
    def landed(self) -> tuple[Snapshot, ...]:
        return (self.snapshot,)

    def describe(self) -> str:
        w = "-w " if self.raw else ""
        f = "-F " if self.force else ""
        return (
            f"[{self.target}] zfs send {w}{self.source_dataset}@{self.snapshot.name} | "
            f"zfs receive -s {f}{self.target_dataset}"
        )


@dataclass(frozen=True, slots=True)
class IncrementalTransfer:
    """``zfs send -i base end`` (one snapshot) or ``-I base end`` (a range of adjacent ones)."""

    KIND: ClassVar[str] = "incremental"
    target: str
    source_dataset: str
    target_dataset: str
    base: Snapshot
    snapshots: tuple[Snapshot, ...]
    raw: bool
    reason: str

    @property
    def end(self) -> Snapshot:
        return self.snapshots[-1]

    @property
    def flag(self) -> str:
        return "-I" if len(self.snapshots) > 1 else "-i"

    @property
    def landed(self) -> tuple[Snapshot, ...]:
        return self.snapshots

    def describe(self) -> str:
        w = "-w " if self.raw else ""
        return (
            f"[{self.target}] zfs send {w}{self.flag} @{self.base.name} "
            f"{self.source_dataset}@{self.end.name} | zfs receive -s {self.target_dataset}"
            f"  ({len(self.snapshots)} snapshot(s))"
        )


@dataclass(frozen=True, slots=True)
class ResumeTransfer:
    """``zfs send -t TOKEN | zfs receive -s target``: finish an interrupted receive."""

    KIND: ClassVar[str] = "resume"
    target: str
    source_dataset: str
    target_dataset: str
    token: str
    snapshot: Snapshot
    fromguid: int | None
    reason: str

    @property
    def landed(self) -> tuple[Snapshot, ...]:
        return (self.snapshot,)

    def describe(self) -> str:
        return (
            f"[{self.target}] zfs send -t <token> | zfs receive -s {self.target_dataset}"
            f"  (resumes {self.snapshot.name})"
        )


@dataclass(frozen=True, slots=True)
class AbortResume:
    """``zfs receive -A target``: drop a stale partial receive before starting over."""

    KIND: ClassVar[str] = "abort"
    target: str
    target_dataset: str
    reason: str

    def describe(self) -> str:
        return f"[{self.target}] zfs receive -A {self.target_dataset}"


@dataclass(frozen=True, slots=True)
class Destroy:
    """``zfs destroy ds@a`` or ``ds@a%b``: snapshots adjacent in the location's order."""

    KIND: ClassVar[str] = "destroy"
    location: str
    dataset: str
    snapshots: tuple[Snapshot, ...]
    reason: str

    @property
    def first(self) -> Snapshot:
        return self.snapshots[0]

    @property
    def last(self) -> Snapshot:
        return self.snapshots[-1]

    def spec(self) -> str:
        if len(self.snapshots) == 1:
            return f"{self.dataset}@{self.first.name}"
        return f"{self.dataset}@{self.first.name}%{self.last.name}"

    def describe(self) -> str:
        return f"[{self.location}] zfs destroy {self.spec()}  ({len(self.snapshots)} snapshot(s))"


Transfer = FullTransfer | IncrementalTransfer | ResumeTransfer
Operation = FullTransfer | IncrementalTransfer | ResumeTransfer | AbortResume | Destroy


def operation_json(op: Operation) -> dict[str, object]:
    """A JSON-ready description of an operation (guids as strings: they exceed 2**53)."""
    out: dict[str, object] = {"kind": op.KIND, "reason": op.reason, "command": op.describe()}
    if isinstance(op, Destroy):
        out.update(location=op.location, spec=op.spec(), count=len(op.snapshots))
    else:
        out["target"] = op.target
    if isinstance(op, IncrementalTransfer):
        out.update(base=op.base.name, end=op.end.name, flag=op.flag, count=len(op.snapshots))
    elif isinstance(op, FullTransfer | ResumeTransfer):
        out["snapshot"] = op.snapshot.name
    return out


@dataclass
class _Location:
    """A location's snapshots during simulation, in its own (createtxg) order."""

    name: str
    order: list[Snapshot]
    token: str | None = None
    pos: dict[int, int] = field(default_factory=dict)
    present: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.pos = {s.guid: i for i, s in enumerate(self.order)}
        self.present = set(self.pos)
        self._tail = len(self.order) - 1

    def newest(self) -> Snapshot | None:
        i = min(self._tail, len(self.order) - 1)
        while i >= 0 and self.order[i].guid not in self.present:
            i -= 1
        self._tail = i
        return self.order[i] if i >= 0 else None

    def receive(self, snap: Snapshot) -> None:
        if snap.guid in self.present:
            raise PlanError(f"{self.name} already has {snap.name}")
        self.pos[snap.guid] = len(self.order)
        self.order.append(snap)
        self.present.add(snap.guid)
        self._tail = len(self.order) - 1

    def between(self, first: Snapshot, last: Snapshot) -> list[Snapshot]:
        """Present snapshots from first to last inclusive, in order."""
        i, j = self.pos.get(first.guid), self.pos.get(last.guid)
        if i is None or j is None or not {first.guid, last.guid} <= self.present:
            raise PlanError(f"{self.name}: {first.name} or {last.name} does not exist")
        if i > j:
            raise PlanError(f"{self.name}: {first.name} is newer than {last.name}")
        return [s for s in self.order[i : j + 1] if s.guid in self.present]


@dataclass
class SimulationResult:
    """What the locations hold after the plan (guid sets)."""

    source: set[int]
    targets: dict[str, set[int]]
    steps: int


def simulate(
    source: DatasetInventory,
    targets: Mapping[str, DatasetInventory],
    operations: Sequence[Operation],
) -> SimulationResult:
    """Apply ``operations`` to copies of the inventories; :class:`PlanError` on the first
    step that real zfs would refuse or that leaves a target without a common base."""
    src = _Location(SOURCE, list(source.snapshots))
    locs: dict[str, _Location] = {
        name: _Location(name, list(inv.snapshots), inv.resume.token if inv.resume else None)
        for name, inv in targets.items()
    }
    shared = {name: len(loc.present & src.present) for name, loc in locs.items()}
    had_base = {name: count > 0 for name, count in shared.items()}

    def target(name: str) -> _Location:
        if name not in locs:
            raise PlanError(f"unknown target {name!r}")
        return locs[name]

    for step, op in enumerate(operations, 1):
        where = f"step {step} ({op.describe()})"
        try:
            if isinstance(op, Destroy):
                loc = src if op.location == SOURCE else target(op.location)
                doomed = loc.between(op.first, op.last)
                if [s.guid for s in doomed] != [s.guid for s in op.snapshots]:
                    extra = [s.name for s in doomed if s not in op.snapshots]
                    raise PlanError(f"range would also destroy {', '.join(extra) or 'others'}")
                for snap in doomed:
                    original = loc.order[loc.pos[snap.guid]]
                    if original.userrefs > 0:
                        raise PlanError(f"cannot destroy {original.name}: dataset is busy (held)")
                    loc.present.discard(snap.guid)
                    if loc is src:
                        for name, other in locs.items():
                            if snap.guid in other.present:
                                shared[name] -= 1
                    elif snap.guid in src.present:
                        shared[op.location] -= 1
            elif isinstance(op, AbortResume):
                loc = target(op.target)
                if loc.token is None:
                    raise PlanError("no resumable receive state to abort")
                loc.token = None
            elif isinstance(op, ResumeTransfer):
                loc = target(op.target)
                if loc.token != op.token:
                    raise PlanError("target has no such resume token")
                if op.snapshot.guid not in src.present:
                    raise PlanError(f"source no longer has {op.snapshot.name}")
                newest = loc.newest()
                if op.fromguid and (newest is None or newest.guid != op.fromguid):
                    raise PlanError("target's newest snapshot is not the resumed stream's base")
                loc.token = None
                loc.receive(op.snapshot)
                shared[op.target] += 1
            else:
                loc = target(op.target)
                if loc.token is not None:
                    raise PlanError("target holds a partial receive; resume or abort it first")
                landing = _landing(op, src, loc)
                for snap in landing:
                    loc.receive(snap)
                    shared[op.target] += 1
        except PlanError as exc:
            raise PlanError(f"{where}: {exc}") from None
        for name, count in shared.items():
            if count > 0:
                had_base[name] = True
            elif had_base[name]:
                raise PlanError(
                    f"{where}: would leave target {name} without a snapshot in common with "
                    "the source (everything would have to be sent again)"
                )
    return SimulationResult(
        source=set(src.present),
        targets={name: set(loc.present) for name, loc in locs.items()},
        steps=len(operations),
    )


def _landing(
    op: FullTransfer | IncrementalTransfer, src: _Location, loc: _Location
) -> list[Snapshot]:
    if isinstance(op, FullTransfer):
        if loc.newest() is not None:
            raise PlanError("full stream into a target that has snapshots (no common base)")
        if op.snapshot.guid not in src.present:
            raise PlanError(f"source has no {op.snapshot.name}")
        return [op.snapshot]
    newest = loc.newest()
    if newest is None or newest.guid != op.base.guid:
        have = newest.name if newest else "nothing"
        raise PlanError(
            f"most recent snapshot of target ({have}) does not match incremental source "
            f"{op.base.name}"
        )
    chain = src.between(op.base, op.end)[1:]
    expected = chain if op.flag == "-I" else chain[-1:]
    if [s.guid for s in expected] != [s.guid for s in op.snapshots]:
        raise PlanError(
            f"stream would carry {', '.join(s.name for s in expected)}, "
            f"not {', '.join(s.name for s in op.snapshots)}"
        )
    return expected


def validate(
    source: DatasetInventory,
    targets: Mapping[str, DatasetInventory],
    operations: Sequence[Operation],
    expect_source: Iterable[int],
    expect_targets: Mapping[str, Iterable[int]],
) -> SimulationResult:
    """Simulate and check the result is exactly the planned inventories."""
    result = simulate(source, targets, operations)
    want_src = set(expect_source)
    if result.source != want_src:
        raise PlanError(
            f"plan leaves the source with {len(result.source)} snapshots, expected {len(want_src)}"
        )
    for name, guids in expect_targets.items():
        want = set(guids)
        got = result.targets.get(name, set())
        if got != want:
            missing = len(want - got)
            extra = len(got - want)
            raise PlanError(
                f"plan does not reach target {name}'s inventory ({missing} missing, {extra} extra)"
            )
    return result
