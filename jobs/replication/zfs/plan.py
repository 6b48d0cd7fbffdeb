"""Pure ZFS replication planning: inventories + policies + now -> a validated plan.

For one source dataset and its targets this computes, with a reason for
every decision:

1. each target's inventory after the plan (snapshots matched by guid, never
   by name): what it keeps, what it receives, what it deletes;
2. the source's retention, protecting every target's incremental bases and
   the snapshots not yet replicated to a target whose policy wants them;
3. the operations, in a safe order — resume or abort an interrupted receive,
   destroy a target's divergent tip (it blocks incremental receives), destroy
   on the source, transfer (full only into an empty target, then ``-I``
   ranges over adjacent snapshots, ``-i`` hops over gaps), destroy on the
   targets — with deletions grouped into ``a%b`` ranges;
4. a simulation of those operations on the inventories (see
   :mod:`hostbook.jobs.replication.zfs.ops`); a plan that would fail or leave a
   target without a common base is refused, never run.

Source snapshots older than a target's newest common snapshot are skipped
(a receive cannot insert them), and a target that has snapshots but none in
common with the source gets no transfer at all: that would need a
destructive full receive, which is a decision for a person.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import ClassVar

from hostbook.jobs.replication.target_plan import (
    TargetDecisions,
    protect_shared,
    protect_wanted,
)
from hostbook.jobs.replication.zfs.inventory import DatasetInventory, Snapshot
from hostbook.jobs.replication.zfs.ops import (
    SOURCE,
    AbortResume,
    Destroy,
    FullTransfer,
    IncrementalTransfer,
    Operation,
    PlanError,
    ResumeTransfer,
    SimulationResult,
    operation_json,
    validate,
)
from hostbook.jobs.retention.policy import (
    Decision,
    RetentionPlan,
    merge_protections,
    plan_retention,
)
from hostbook.manifest.sections.retention import RetentionPolicy


@dataclass(frozen=True)
class TargetSpec:
    """One target of one dataset: its name, policy and current inventory."""

    name: str
    inventory: DatasetInventory
    policy: RetentionPolicy
    raw: bool | None = None
    dataset: str | None = None

    @property
    def target_dataset(self) -> str:
        return self.dataset or self.inventory.dataset


@dataclass(frozen=True)
class TargetPlan(TargetDecisions[Snapshot]):
    """What happens at one target dataset: its decisions and its operations."""

    LOCATION_KEY: ClassVar[str] = "dataset"

    prelude: tuple[Operation, ...] = ()
    transfers: tuple[Operation, ...] = ()
    deletions: tuple[Operation, ...] = ()

    @property
    def target_dataset(self) -> str:
        return self.location

    def expected_guids(self) -> set[int]:
        return self.retention.kept_guids()


@dataclass(frozen=True)
class DatasetPlan:
    """The whole plan for one source dataset."""

    dataset: str
    source: RetentionPlan
    targets: tuple[TargetPlan, ...]
    operations: tuple[Operation, ...] = ()
    refused: tuple[str, ...] = field(default_factory=tuple)
    simulation: SimulationResult | None = None
    """What the validating simulation left at each location (None: not validated)."""

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "dataset": self.dataset,
            "refused": list(self.refused),
            "source": self.source.to_json(),
            "targets": [t.to_json() for t in self.targets],
            "operations": [operation_json(op) for op in self.operations],
        }
        if self.simulation is not None:
            sim = self.simulation
            out["simulation"] = {
                "source": sorted(str(g) for g in sim.source),
                "targets": {name: sorted(str(g) for g in guids)
                            for name, guids in sim.targets.items()},
            }
        return out


def _target_state(
    source: DatasetInventory, spec: TargetSpec
) -> tuple[list[Snapshot], list[Operation], Snapshot | None, list[str]]:
    """Resolve a partial receive: (target snapshots after it, prelude ops, resumed, notes)."""
    inv = spec.inventory
    snaps = list(inv.snapshots)
    resume = inv.resume
    if resume is None:
        return snaps, [], None, []
    src_snap = source.by_guid(resume.toguid) if resume.toguid is not None else None
    newest = snaps[-1] if snaps else None
    base_ok = not resume.fromguid or (newest is not None and newest.guid == resume.fromguid)
    if src_snap is not None and base_ok:
        op = ResumeTransfer(
            spec.name,
            source.dataset,
            spec.target_dataset,
            resume.token,
            src_snap,
            resume.fromguid,
            f"an interrupted receive of {src_snap.name} can resume from its token",
        )
        return snaps, [op], src_snap, []
    if resume.toguid is None:
        why = "the resume token could not be decoded"
    elif src_snap is None:
        why = f"the token's snapshot ({resume.toname or resume.toguid}) no longer exists on source"
    else:
        why = "the token's base is no longer the target's newest snapshot"
    abort = AbortResume(spec.name, spec.target_dataset, f"stale resume token: {why}")
    return snaps, [abort], None, []


def plan_target(
    source: DatasetInventory, spec: TargetSpec, now: int | float | datetime
) -> TargetPlan:
    """Decide one target's inventory: what it keeps, receives and deletes, and why."""
    policy = spec.policy
    name = spec.name
    tsnaps, prelude, resumed, notes = _target_state(source, spec)
    if resumed is not None:
        tsnaps = [*tsnaps, resumed]
    tguids = {s.guid for s in tsnaps}
    src_order = source.snapshots
    shared = [s for s in src_order if s.guid in tguids]
    present = set(tguids)
    protect: dict[int, list[str]] = {}
    if resumed is not None:
        protect[resumed.guid] = ["being resumed from an interrupted receive"]

    if tsnaps and not shared:
        retention = RetentionPlan(
            name,
            spec.target_dataset,
            tuple(Decision(s, True, ("no common base with source: left alone",)) for s in tsnaps),
        )
        return TargetPlan(
            name,
            spec.target_dataset,
            retention,
            (),
            None,
            0,
            refused=(
                f"target {name} has {len(tsnaps)} snapshot(s) but none in common with the "
                "source (matched by guid): an incremental send has no base, and a full "
                "receive would destroy the target — refusing; resolve by hand"
            ),
            prelude=tuple(prelude),
        )

    base = shared[-1] if shared else None
    divergent: list[Snapshot] = []
    if base is not None:
        tpos = {s.guid: i for i, s in enumerate(tsnaps)}
        cut = tpos[base.guid]
        divergent = [s for s in tsnaps[cut + 1 :] if source.by_guid(s.guid) is None]
        spos = {s.guid: i for i, s in enumerate(src_order)}
        candidates = list(src_order[spos[base.guid] + 1 :])
        skipped = sum(1 for s in src_order[: spos[base.guid]] if s.guid not in tguids)
        protect_shared(protect, "source", base.guid, shared[0].guid
                       if policy.keep_oldest and shared[0].guid != base.guid else None)
    else:
        candidates = list(src_order)
        skipped = 0

    divergent_guids = {s.guid for s in divergent}
    universe = [s for s in tsnaps if s.guid not in divergent_guids] + candidates
    retention = plan_retention(
        universe, policy, now, location=name, dataset=spec.target_dataset, protect=protect,
        present=present,
    )
    kept = retention.kept_guids()
    wanted = tuple(s for s in candidates if s.guid in kept)
    if not wanted and divergent:
        # Nothing to receive: divergent snapshots block nothing, so they fall
        # under the target's own retention like any other.
        universe = list(tsnaps) + candidates
        retention = plan_retention(
            universe, policy, now, location=name, dataset=spec.target_dataset,
            protect=protect, present=present,
        )
        divergent = []
    elif divergent:
        held = [s for s in divergent if s.userrefs > 0]
        if held:
            return TargetPlan(
                name, spec.target_dataset, retention, (), base, skipped,
                refused=(
                    f"target {name}: {held[0].name} is newer than the last common snapshot, "
                    "not on the source, and held — it blocks incremental receives"
                ),
                prelude=tuple(prelude),
            )
        decisions = [
            Decision(s, False, ("diverged: newer than the last common snapshot and not on the "
                                "source; blocks incremental receive",))
            for s in divergent
        ]
        retention = RetentionPlan(
            name,
            spec.target_dataset,
            tuple(creation_order_decisions([*retention.decisions, *decisions])),
        )
    if skipped:
        notes.append(
            f"{skipped} source snapshot(s) older than the target's newest common snapshot "
            "are skipped: a receive cannot insert them"
        )
    if divergent:
        prelude.extend(_destroy_runs(name, spec.target_dataset, tsnaps, divergent_guids,
                                     "diverged from source after the last common snapshot"))
    return TargetPlan(
        name, spec.target_dataset, retention, wanted, base, skipped, None, tuple(notes),
        tuple(prelude),
    )


def creation_order_decisions(decisions: Iterable[Decision]) -> list[Decision]:
    return sorted(decisions, key=lambda d: (d.snapshot.creation, d.snapshot.createtxg))


def _destroy_runs(
    location: str, dataset: str, order: Sequence[Snapshot], doomed: set[int], reason: str
) -> list[Destroy]:
    """Group ``doomed`` into runs adjacent in ``order`` (one ``a%b`` each)."""
    ops: list[Destroy] = []
    run: list[Snapshot] = []
    for snap in order:
        if snap.guid in doomed:
            run.append(snap)
        elif run:
            ops.append(Destroy(location, dataset, tuple(run), reason))
            run = []
    if run:
        ops.append(Destroy(location, dataset, tuple(run), reason))
    return ops


def _transfers(
    source: DatasetInventory,
    kept_source: set[int],
    plan: TargetPlan,
    spec: TargetSpec,
    start: Snapshot | None,
) -> list[Operation]:
    """Full send (empty target) then ``-I`` runs over adjacent snapshots, ``-i`` over gaps."""
    if not plan.wanted:
        return []
    raw = spec.raw if spec.raw is not None else source.encrypted
    order = [s for s in source.snapshots if s.guid in kept_source]
    pos = {s.guid: i for i, s in enumerate(order)}
    ops: list[Operation] = []
    wanted = list(plan.wanted)
    run_base = start
    if run_base is None:
        first = wanted.pop(0)
        ops.append(
            FullTransfer(
                spec.name, source.dataset, spec.target_dataset, first, raw,
                spec.inventory.exists,
                f"target {spec.name} is empty: initial full send of its oldest wanted snapshot",
                _written_through(source, first),
            )
        )
        run_base = first
    run: list[Snapshot] = []
    for snap in wanted:
        last = run[-1] if run else run_base
        if pos[snap.guid] == pos[last.guid] + 1:
            run.append(snap)
            continue
        if run:
            ops.append(_incremental(source, spec, run_base, run, raw))
            run_base = run[-1]
            run = []
        ops.append(_incremental(source, spec, run_base, [snap], raw))
        run_base = snap
    if run:
        ops.append(_incremental(source, spec, run_base, run, raw))
    return ops


def _written_through(source: DatasetInventory, last: Snapshot) -> int:
    """Bytes written to the dataset up to ``last`` (the sum of ``written``): every block
    ``last`` references was born in one of those intervals, so this is at least its size."""
    total = 0
    for snap in source.snapshots:
        total += snap.written
        if snap.guid == last.guid:
            break
    return total


def _incremental(
    source: DatasetInventory, spec: TargetSpec, base: Snapshot, snaps: list[Snapshot], raw: bool
) -> IncrementalTransfer:
    if len(snaps) > 1:
        why = f"{len(snaps)} adjacent snapshots wanted by {spec.name}, sent as one range"
    else:
        why = f"{snaps[0].name} wanted by {spec.name}"
    return IncrementalTransfer(
        spec.name, source.dataset, spec.target_dataset, base, tuple(snaps), raw, why
    )


def plan_dataset(
    source: DatasetInventory,
    local_policy: RetentionPolicy,
    targets: Sequence[TargetSpec],
    now: int | float | datetime,
    *,
    validate_plan: bool = True,
) -> DatasetPlan:
    """Plan retention at the source and every target, and the operations, for one dataset."""
    target_plans = [plan_target(source, spec, now) for spec in targets]
    protections: list[Mapping[int, list[str]]] = []
    for spec, tp in zip(targets, target_plans, strict=True):
        prot: dict[int, list[str]] = {}
        tguids = spec.inventory.guids()
        shared = [s for s in source.snapshots if s.guid in tguids]
        if shared:
            protect_shared(prot, spec.name, shared[-1].guid, shared[0].guid
                           if local_policy.keep_oldest and shared[0].guid != shared[-1].guid
                           else None)
        for op in tp.prelude:
            if isinstance(op, ResumeTransfer):
                prot.setdefault(op.snapshot.guid, []).append(
                    f"{spec.name} is resuming an interrupted receive of it"
                )
        protect_wanted(prot, spec.name, (snap.guid for snap in tp.wanted))
        protections.append(prot)
    src_plan = plan_retention(
        source.snapshots, local_policy, now, location=SOURCE, dataset=source.dataset,
        protect=merge_protections(*protections),
    )
    kept_source = src_plan.kept_guids()
    refused = [tp.refused for tp in target_plans if tp.refused]

    prelude: list[Operation] = []
    transfers: list[Operation] = []
    deletions: list[Operation] = []
    finished: list[TargetPlan] = []
    for spec, tp in zip(targets, target_plans, strict=True):
        prelude.extend(tp.prelude)
        if tp.refused:
            finished.append(tp)
            continue
        resumed = next((op.snapshot for op in tp.prelude if isinstance(op, ResumeTransfer)), None)
        start = resumed or tp.base
        t_ops = _transfers(source, kept_source, tp, spec, start)
        order_after = [s for s in spec.inventory.snapshots] + ([resumed] if resumed else [])
        doomed = {d.snapshot.guid for d in tp.retention.decisions if not d.keep and d.present}
        divergent = {
            s.guid for op in tp.prelude if isinstance(op, Destroy) for s in op.snapshots
        }
        d_ops = _destroy_runs(
            spec.name, spec.target_dataset, [s for s in order_after if s.guid not in divergent],
            doomed - divergent, f"retention at {spec.name}",
        )
        transfers.extend(t_ops)
        deletions.extend(d_ops)
        finished.append(
            TargetPlan(
                tp.name, tp.target_dataset, tp.retention, tp.wanted, tp.base, tp.skipped,
                None, tp.notes, tp.prelude, tuple(t_ops), tuple(d_ops),
            )
        )
    src_deletions = _destroy_runs(
        SOURCE, source.dataset, source.snapshots,
        {s.guid for s in src_plan.deleted()}, "retention at source",
    )
    operations = [*prelude, *src_deletions, *transfers, *deletions]
    plan = DatasetPlan(source.dataset, src_plan, tuple(finished), tuple(operations), tuple(refused))
    if not validate_plan:
        return plan
    try:
        simulated = validate(
            source,
            {spec.name: spec.inventory for spec in targets},
            operations,
            kept_source,
            {tp.name: tp.expected_guids() for tp in finished if not tp.refused},
        )
    except PlanError as exc:
        return DatasetPlan(
            source.dataset, src_plan, tuple(finished), (),
            (*refused, f"plan failed validation and is refused: {exc}"),
        )
    return replace(plan, simulation=simulated)
