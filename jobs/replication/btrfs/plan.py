"""btrfs replication with retention: a snapshot directory + its targets + now -> a validated plan.

The btrfs counterpart of :mod:`hostbook.jobs.replication.zfs.plan`, built on the same
retention planner.  A snapshot's identity is its uuid — or, for a snapshot
that was itself received, its received_uuid, which a send passes on — and a
target's copy is identified by its received_uuid.  Those uuids become the
retention planner's "guid" (as 128-bit integers), so the rules and reasons
are the same as for ZFS: counts per type, keep_within, min_age, held
(nothing to hold on btrfs), the oldest, the earliest and latest snapshot
shared with a target, and snapshots not yet replicated.

Order comes from the source's generation at creation (``cgen``); a target
copy whose source snapshot is gone is ordered by its *send transid* — the
source's generation the stream was made from — and timed by its own
creation, i.e. when it was received: btrfs does not carry the source's
creation time, and the receive time errs on the side of keeping.

Per target, in this order: delete subvolumes an interrupted receive left
(:func:`hostbook.jobs.replication.btrfs.lineage.half_received`), send each wanted
snapshot with the newest older snapshot the target holds as ``-p`` parent
(a full send only into a directory without copies of this source), then —
after every target is served — delete on the source, then on the targets,
what their retention lets go.  The plan is simulated before it is returned:
every send must find its parent on both sides and a free name, and no step
may leave a target without a snapshot in common with the source.

A target directory is assumed to receive from this one snapshot directory:
finished copies in it that match no source snapshot are taken to be copies
of snapshots the source has since deleted, and fall under the target's
retention (its unmatched-types rule still protects other tools' names).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from hostbook.jobs.replication.btrfs.inventory import BtrfsDirectory
from hostbook.jobs.replication.btrfs.lineage import (
    BtrfsStep,
    Subvolume,
    half_received,
)
from hostbook.jobs.replication.target_plan import (
    TargetDecisions,
    protect_shared,
    protect_wanted,
)
from hostbook.jobs.replication.zfs.inventory import Snapshot
from hostbook.jobs.retention.policy import (
    Decision,
    RetentionPlan,
    creation_order,
    merge_protections,
    plan_retention,
)
from hostbook.manifest.sections.retention import RetentionPolicy

SOURCE = "source"


class BtrfsPlanError(ValueError):
    """A btrfs plan that would fail, or would not reach its planned state."""


def identity(sub: Subvolume) -> str | None:
    """What a copy of ``sub`` records as its received_uuid."""
    return sub.received_uuid or sub.uuid


def uuid_int(uuid: str) -> int:
    """A uuid as the integer the retention planner uses for identity."""
    return int(uuid.replace("-", ""), 16)


def _snapshot(sub: Subvolume, dataset: str, ident: str, order: int, creation: int | None
              ) -> Snapshot:
    return Snapshot(dataset, sub.name, uuid_int(ident), order, creation or 0)


@dataclass(frozen=True)
class BtrfsTarget:
    """One btrfs target: its name, what its directory holds, its policy, how to reach it."""

    name: str
    location: BtrfsDirectory
    policy: RetentionPolicy
    ssh: tuple[str, ...] = ()

    @property
    def directory(self) -> str:
        return self.location.directory


@dataclass(frozen=True)
class BtrfsTargetPlan(TargetDecisions[Subvolume]):
    """What happens at one target directory: its decisions and its steps."""

    LOCATION_KEY: ClassVar[str] = "directory"

    cleanup: tuple[BtrfsStep, ...] = ()
    sends: tuple[BtrfsStep, ...] = ()
    deletions: tuple[BtrfsStep, ...] = ()

    @property
    def directory(self) -> str:
        return self.location


@dataclass(frozen=True)
class BtrfsPlan:
    """The whole plan for one source snapshot directory."""

    directory: str
    source: RetentionPlan
    targets: tuple[BtrfsTargetPlan, ...]
    steps: tuple[BtrfsStep, ...] = ()
    refused: tuple[str, ...] = field(default_factory=tuple)

    def target_directory(self, name: str) -> str:
        return next(t.directory for t in self.targets if t.name == name)

    def describe(self, step: BtrfsStep) -> str:
        """The command line a person would type for ``step``."""
        path = "/" + step.subvolume.path
        if step.action == "delete":
            where = SOURCE if step.location == SOURCE else step.target
            return f"[{where}] btrfs subvolume delete {path}"
        parent = f"-p /{step.parent.path} " if step.parent is not None else ""
        return (f"[{step.target}] btrfs send {parent}{path} | "
                f"btrfs receive {self.target_directory(step.target)}")

    def step_json(self, step: BtrfsStep) -> dict[str, object]:
        return {
            "kind": "send" if step.action == "send" else "delete",
            "location": step.location if step.action == "delete" else step.target,
            "target": step.target or None,
            "subvolume": "/" + step.subvolume.path,
            "parent": "/" + step.parent.path if step.parent is not None else None,
            "reason": step.reason,
            "command": self.describe(step),
        }

    def to_json(self) -> dict[str, object]:
        return {
            "directory": self.directory,
            "refused": list(self.refused),
            "source": self.source.to_json(),
            "targets": [t.to_json() for t in self.targets],
            "operations": [self.step_json(s) for s in self.steps],
        }


def _copies(source: Sequence[Subvolume], finished: Sequence[Subvolume]) -> dict[str, Subvolume]:
    """Source identity -> its finished copy on the target."""
    by_received = {t.received_uuid: t for t in finished if t.received_uuid}
    out = {}
    for sub in source:
        for key in (sub.uuid, sub.received_uuid):
            if key and key in by_received:
                ident = identity(sub)
                assert ident is not None
                out[ident] = by_received[key]
                break
    return out


def plan_btrfs_target(
    source: BtrfsDirectory, spec: BtrfsTarget, now: int | float | datetime
) -> BtrfsTargetPlan:
    """Decide one target's directory: what it keeps, receives and deletes, and why."""
    src = [s for s in source.snapshots if identity(s)]
    src_by_ident = {identity(s): s for s in src}
    inside = list(spec.location.subvolumes)
    names = {s.name for s in src}
    broken = half_received(inside, "", expected_names=names)
    broken_ids = {b.subvolume.id for b in broken}
    notes: list[str] = []
    for sub in inside:
        if sub.received_uuid is None and sub.id not in broken_ids:
            kind = "read-only snapshot" if sub.readonly else "writable subvolume"
            notes.append(f"{sub.name}: a {kind} this plan did not receive: left alone")
    finished = [t for t in inside if t.received_uuid is not None]
    copies = _copies(src, finished)
    shared = [s for s in src if identity(s) in copies]
    cleanup = tuple(
        BtrfsStep("delete", b.subvolume, None, f"half-received: {b.reason}", "target", spec.name)
        for b in broken
    )
    if finished and not shared:
        decisions = tuple(Decision(_snapshot(t, spec.directory, t.received_uuid or "", t.order,
                                             t.creation), True,
                                   ("no common snapshot with the source: left alone",))
                          for t in finished)
        return BtrfsTargetPlan(
            spec.name, spec.directory, RetentionPlan(spec.name, spec.directory, decisions),
            refused=(
                f"target {spec.name} holds {len(finished)} received snapshot(s) but none of the "
                "source's (matched by received_uuid): an incremental send has no parent and a "
                "full send would start a second lineage beside them — resolve by hand"
            ),
            notes=tuple(notes), cleanup=cleanup,
        )
    base = shared[-1] if shared else None
    if base is not None:
        candidates = [s for s in src if s.order > base.order and identity(s) not in copies]
        skipped = sum(1 for s in src if s.order < base.order and identity(s) not in copies)
    else:
        candidates, skipped = list(src), 0
    if skipped:
        notes.append(f"{skipped} source snapshot(s) older than the newest one the target holds "
                     "are skipped")

    # The target's copies, in the source's identity and order.
    on_target: list[Snapshot] = []
    copy_by_guid: dict[int, Subvolume] = {}
    for t in finished:
        ident = t.received_uuid or ""
        match = src_by_ident.get(ident)
        if match is not None:
            snap = _snapshot(t, spec.directory, ident, match.order, match.creation)
        else:
            snap = _snapshot(t, spec.directory, ident, t.send_transid or t.order, t.creation)
        on_target.append(snap)
        copy_by_guid[snap.guid] = t
    wanted_snaps = [_snapshot(s, spec.directory, identity(s) or "", s.order, s.creation)
                    for s in candidates]
    protect: dict[int, list[str]] = {}
    if base is not None:
        shared_guids = {uuid_int(identity(b) or "") for b in shared}
        ordered_shared = creation_order([s for s in on_target if s.guid in shared_guids])
        latest = uuid_int(identity(base) or "")
        protect_shared(protect, "source", latest, ordered_shared[0].guid
                       if spec.policy.keep_oldest and ordered_shared
                       and ordered_shared[0].guid != latest else None, link="parent")
    retention = plan_retention(
        [*on_target, *wanted_snaps], spec.policy, now, location=spec.name,
        dataset=spec.directory, protect=protect, present={s.guid for s in on_target},
    )
    kept = retention.kept_guids()
    wanted = [s for s in candidates if uuid_int(identity(s) or "") in kept]
    taken = {t.name for t in inside if t.id not in broken_ids}
    clash = [s.name for s in wanted if s.name in taken]
    if clash:
        return BtrfsTargetPlan(
            spec.name, spec.directory, retention, tuple(wanted), base, skipped,
            refused=(f"target {spec.name}: {clash[0]} exists there but is not a copy of the "
                     "source's snapshot of that name — btrfs receive would fail"),
            notes=tuple(notes), cleanup=cleanup,
        )
    sends = _sends(src, copies, wanted, spec.name)
    deletions = tuple(
        BtrfsStep("delete", copy_by_guid[d.snapshot.guid], None,
                  f"retention at {spec.name}: {d.reason}", "target", spec.name)
        for d in retention.decisions if d.present and not d.keep
    )
    return BtrfsTargetPlan(
        spec.name, spec.directory, retention, tuple(wanted), base, skipped, None, tuple(notes),
        cleanup, tuple(sends), deletions,
    )


def _sends(
    src: Sequence[Subvolume], copies: Mapping[str, Subvolume], wanted: Sequence[Subvolume],
    target: str,
) -> list[BtrfsStep]:
    """Each wanted snapshot with its ``-p`` parent: the newest older source snapshot the
    target holds by then — a copy already there, or one this plan sends before it.

    The same rule as :func:`hostbook.jobs.replication.btrfs.lineage.choose_parent`, in one pass
    over the source in generation order (a directory's worth of sends stays linear).
    """
    todo = {identity(s) for s in wanted}
    latest: Subvolume | None = None
    sent_here = False
    steps = []
    for sub in src:
        ident = identity(sub)
        if ident in todo:
            if latest is None:
                why = "no older snapshot is complete on the target: full send"
            elif sent_here:
                why = f"{latest.name} is received earlier in this plan"
            else:
                copy = copies[identity(latest) or ""]
                why = (f"{latest.name} is on the target as {copy.path} "
                       f"(received_uuid {copy.received_uuid})")
            steps.append(BtrfsStep("send", sub, latest, why, "target", target))
            latest, sent_here = sub, True
        elif ident in copies:
            latest, sent_here = sub, False
    return steps


def plan_btrfs_directory(
    source: BtrfsDirectory,
    local_policy: RetentionPolicy,
    targets: Sequence[BtrfsTarget],
    now: int | float | datetime,
    *,
    validate_plan: bool = True,
) -> BtrfsPlan:
    """Plan retention at the source and every target, and the steps, for one directory."""
    plans = [plan_btrfs_target(source, spec, now) for spec in targets]
    src = [s for s in source.snapshots if identity(s)]
    protections: list[dict[int, list[str]]] = []
    for spec, tp in zip(targets, plans, strict=True):
        prot: dict[int, list[str]] = {}
        finished = [t for t in spec.location.subvolumes if t.received_uuid]
        copies = _copies(src, finished)
        shared = [s for s in src if identity(s) in copies]
        if shared:
            protect_shared(prot, spec.name, uuid_int(identity(shared[-1]) or ""),
                           uuid_int(identity(shared[0]) or "")
                           if local_policy.keep_oldest and shared[0] is not shared[-1] else None,
                           link="parent")
        if tp.refused is None:
            protect_wanted(prot, spec.name, (uuid_int(identity(snap) or "") for snap in tp.wanted))
        protections.append(prot)
    src_snaps = [_snapshot(s, source.directory, identity(s) or "", s.order, s.creation)
                 for s in src]
    by_guid = {snap.guid: sub for snap, sub in zip(src_snaps, src, strict=True)}
    src_plan = plan_retention(src_snaps, local_policy, now, location=SOURCE,
                              dataset=source.directory, protect=merge_protections(*protections))
    live = [tp for tp in plans if tp.refused is None]
    steps: list[BtrfsStep] = [s for tp in live for s in tp.cleanup]
    steps += [s for tp in live for s in tp.sends]
    steps += [BtrfsStep("delete", by_guid[d.snapshot.guid], None,
                        f"retention at source: {d.reason}", SOURCE)
              for d in src_plan.decisions if not d.keep]
    steps += [s for tp in live for s in tp.deletions]
    refused = tuple(tp.refused for tp in plans if tp.refused)
    plan = BtrfsPlan(source.directory, src_plan, tuple(plans), tuple(steps), refused)
    if not validate_plan:
        return plan
    try:
        validate_btrfs(source, {t.name: t.location for t in targets if t.name in
                                {p.name for p in live}}, steps,
                       src_plan.kept_guids(), {tp.name: tp.retention.kept_guids() for tp in live})
    except BtrfsPlanError as exc:
        return BtrfsPlan(source.directory, src_plan, tuple(plans), (),
                         (*refused, f"plan failed validation and is refused: {exc}"))
    return plan


@dataclass
class _Dir:
    """A target directory during simulation: name -> received identity (None: unfinished)."""

    entries: dict[str, str | None]
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for ident in self.entries.values():
            if ident:
                self.counts[ident] = self.counts.get(ident, 0) + 1

    def add(self, name: str, ident: str | None) -> None:
        self.entries[name] = ident
        if ident:
            self.counts[ident] = self.counts.get(ident, 0) + 1

    def remove(self, name: str) -> None:
        ident = self.entries.pop(name)
        if ident:
            self.counts[ident] -= 1
            if not self.counts[ident]:
                del self.counts[ident]

    def received(self) -> set[str]:
        return set(self.counts)


def validate_btrfs(
    source: BtrfsDirectory,
    targets: Mapping[str, BtrfsDirectory],
    steps: Sequence[BtrfsStep],
    expect_source: set[int],
    expect_targets: Mapping[str, set[int]],
) -> None:
    """Apply ``steps`` to copies of the directories with btrfs's rules; :class:`BtrfsPlanError`
    on the first step btrfs would refuse, one that leaves a target without a common snapshot,
    or an end state that is not the planned one."""
    src = {identity(s) for s in source.snapshots if identity(s)}
    dirs = {name: _Dir({s.name: s.received_uuid for s in loc.subvolumes})
            for name, loc in targets.items()}
    shared = {name: sum(1 for i in d.counts if i in src) for name, d in dirs.items()}
    had_base = {name: count > 0 for name, count in shared.items()}
    for number, step in enumerate(steps, 1):
        where = f"step {number} ({step.action} {step.subvolume.name})"
        ident = identity(step.subvolume)
        if step.action == "delete" and step.location == SOURCE:
            if ident not in src:
                raise BtrfsPlanError(f"{where}: the source has no such snapshot")
            src.discard(ident)
            for name, loc in dirs.items():
                if ident in loc.counts:
                    shared[name] -= 1
        elif step.action == "delete":
            d = dirs.get(step.target)
            if d is None or step.subvolume.name not in d.entries:
                raise BtrfsPlanError(f"{where}: not in target {step.target}")
            gone = d.entries[step.subvolume.name]
            d.remove(step.subvolume.name)
            if gone and gone in src and gone not in d.counts:
                shared[step.target] -= 1
        else:
            d = dirs.get(step.target)
            if d is None:
                raise BtrfsPlanError(f"{where}: unknown target {step.target}")
            if ident not in src:
                raise BtrfsPlanError(f"{where}: the source has no such snapshot")
            if step.subvolume.name in d.entries:
                raise BtrfsPlanError(f"{where}: the name is taken in {step.target}")
            if step.parent is not None:
                pid = identity(step.parent)
                if pid not in src or pid not in d.counts:
                    raise BtrfsPlanError(f"{where}: parent {step.parent.name} is not on both "
                                         "sides")
            if ident not in d.counts:
                shared[step.target] += 1
            d.add(step.subvolume.name, ident)
        for name, count in shared.items():
            if count > 0:
                had_base[name] = True
            elif had_base[name]:
                raise BtrfsPlanError(f"{where}: leaves {name} without a snapshot in common with "
                                     "the source")
    got_src = {uuid_int(i) for i in src if i}
    if got_src != expect_source:
        raise BtrfsPlanError(f"plan leaves the source with {len(got_src)} snapshots, expected "
                             f"{len(expect_source)}")
    for name, want in expect_targets.items():
        got = {uuid_int(i) for i in dirs[name].received()}
        if got != want:
            raise BtrfsPlanError(f"plan does not reach target {name}'s inventory "
                                 f"({len(want - got)} missing, {len(got - want)} extra)")
