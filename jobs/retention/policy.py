"""Pure retention planning: snapshots + policy + now -> keep/delete, each with its reasons.

Nothing here reads a clock or runs a command: ``now`` is a parameter, so the
same inputs always give the same answer and a report can say exactly why a
snapshot was kept or deleted.  Users' most common complaint about snapshot
tools is "why was this kept/deleted" — every :class:`Decision` answers it.

Rules, in the order their reasons are listed:

* protections (never deleted): held by another tool (``userrefs`` > 0),
  reasons the caller passes in (incremental bases shared with a peer,
  snapshots not yet replicated to a target that wants them, a resumable
  receive's snapshot), the oldest snapshot at the location (``keep_oldest``),
  and snapshots younger than ``min_age``;
* policy: the newest N of each type (ordered by creation time, never by
  name), and every snapshot of a type younger than its ``keep_within``;
* types that match no policy entry are left alone unless ``manage_unmatched``.

Snapshots the location does not hold yet (transfer candidates on a target)
are kept only by policy reasons — or by the caller's protections — and a
"delete" for them means "not transferred".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from hostbook.jobs.replication.zfs.inventory import DatasetInventory, Snapshot
from hostbook.manifest.sections.retention import RetentionPolicy

Protections = Mapping[int, Sequence[str]]


def epoch(now: int | float | datetime) -> int:
    """Seconds since the epoch for ``now`` given as a number or an aware datetime."""
    if isinstance(now, datetime):
        return int(now.timestamp())
    return int(now)


def human_duration(seconds: int) -> str:
    """``90061`` -> ``1d1h1m``: short, exact, for reasons."""
    if seconds <= 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class Decision:
    """Keep or delete one snapshot, and why (the first reason decided it)."""

    snapshot: Snapshot
    keep: bool
    reasons: tuple[str, ...]
    present: bool = True

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)

    @property
    def action(self) -> str:
        if self.present:
            return "keep" if self.keep else "delete"
        return "transfer" if self.keep else "skip"

    def to_json(self) -> dict[str, object]:
        snap = self.snapshot
        return {
            "snapshot": snap.full_name,
            "guid": str(snap.guid),
            "creation": snap.creation,
            "type": snap.kind,
            "action": self.action,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class RetentionPlan:
    """The decisions for one dataset at one location, oldest first (creation order)."""

    location: str
    dataset: str
    decisions: tuple[Decision, ...]

    def kept(self) -> list[Snapshot]:
        return [d.snapshot for d in self.decisions if d.keep]

    def deleted(self) -> list[Snapshot]:
        return [d.snapshot for d in self.decisions if not d.keep and d.present]

    def kept_guids(self) -> set[int]:
        return {d.snapshot.guid for d in self.decisions if d.keep}

    def decision_for(self, guid: int) -> Decision | None:
        for d in self.decisions:
            if d.snapshot.guid == guid:
                return d
        return None

    def to_json(self) -> dict[str, object]:
        return {
            "location": self.location,
            "dataset": self.dataset,
            "decisions": [d.to_json() for d in self.decisions],
        }


@dataclass(frozen=True, slots=True)
class _Rules:
    counts: Mapping[str, int]
    within: Mapping[str, int]
    min_age: int
    keep_oldest: bool
    manage_unmatched: bool
    types: frozenset[str]

    @classmethod
    def of(cls, policy: RetentionPolicy) -> _Rules:
        return cls(
            counts=dict(policy.keep),
            within=policy.keep_within_seconds(),
            min_age=policy.min_age_seconds(),
            keep_oldest=policy.keep_oldest,
            manage_unmatched=policy.manage_unmatched,
            types=policy.types(),
        )


def creation_order(snapshots: Iterable[Snapshot]) -> list[Snapshot]:
    """Oldest first by creation time (createtxg breaks ties within one location)."""
    return sorted(snapshots, key=lambda s: (s.creation, s.createtxg))


def plan_retention(
    snapshots: Sequence[Snapshot],
    policy: RetentionPolicy,
    now: int | float | datetime,
    *,
    location: str = "local",
    dataset: str = "",
    protect: Protections | None = None,
    present: set[int] | None = None,
) -> RetentionPlan:
    """Decide keep/delete for every snapshot of one dataset at one location.

    ``protect`` maps guids to reasons they must be kept (computed by the
    caller from peers: incremental bases, pending replication, resume state).
    ``present`` names the guids the location holds now; the others are
    candidates it could receive and are kept only by policy or ``protect``.
    ``None`` means all are present.
    """
    rules = _Rules.of(policy)
    t_now = epoch(now)
    protect = protect or {}
    ordered = creation_order(snapshots)
    if not ordered:
        return RetentionPlan(location, dataset or "", ())
    ds_name = dataset or ordered[0].dataset

    oldest_guid: int | None = None
    if rules.keep_oldest:
        for snap in ordered:
            if present is None or snap.guid in present:
                oldest_guid = snap.guid
                break

    # Newest first: rank within each type for the count rule.
    rank: dict[int, int] = {}
    seen: dict[str, int] = {}
    for snap in reversed(ordered):
        kind = snap.kind
        n = seen.get(kind, 0) + 1
        seen[kind] = n
        rank[snap.guid] = n

    decisions: list[Decision] = []
    min_age_text = human_duration(rules.min_age) if rules.min_age else ""
    for snap in ordered:
        guid = snap.guid
        is_present = present is None or guid in present
        kind = snap.kind
        reasons: list[str] = []
        extra = protect.get(guid)
        if is_present:
            if snap.userrefs > 0:
                reasons.append(f"held by another tool ({snap.userrefs} user hold(s))")
            if extra:
                reasons.extend(extra)
            if guid == oldest_guid:
                reasons.append(f"oldest snapshot at {location} (baseline)")
            if rules.min_age and t_now - snap.creation < rules.min_age:
                reasons.append(f"younger than min_age {min_age_text}")
        elif extra:
            reasons.extend(extra)
        count = rules.counts.get(kind, 0)
        matched = kind in rules.types
        if matched:
            r = rank[guid]
            if r <= count:
                reasons.append(f"{kind} {r} of the newest {count}")
            within = rules.within.get(kind)
            if within is not None and t_now - snap.creation <= within:
                reasons.append(f"{kind} within {human_duration(within)}")
        elif is_present and not rules.manage_unmatched:
            reasons.append(f"type {kind!r} matches no policy: left alone")
        if reasons:
            decisions.append(Decision(snap, True, tuple(reasons), is_present))
            continue
        why = _why_not(snap, rules, rank, is_present)
        decisions.append(Decision(snap, False, (why,), is_present))
    return RetentionPlan(location, ds_name, tuple(decisions))


def _why_not(snap: Snapshot, rules: _Rules, rank: Mapping[int, int], present: bool) -> str:
    kind = snap.kind
    if kind not in rules.types:
        if present:
            return f"type {kind!r} matches no policy and manage_unmatched is on"
        return f"type {kind!r} is not in this location's policy"
    count = rules.counts.get(kind, 0)
    if count == 0:
        text = f"policy keeps no {kind} snapshots by count"
    else:
        text = f"{kind} number {rank[snap.guid]}, beyond the newest {count}"
    within = rules.within.get(kind)
    if within is not None:
        text += f", and older than {human_duration(within)}"
    return text


def shared_bases(
    local: DatasetInventory,
    peer: DatasetInventory,
    peer_name: str,
    *,
    keep_earliest: bool = True,
) -> dict[int, list[str]]:
    """Protections for the snapshots ``local`` shares with ``peer`` (matched by guid).

    The latest shared snapshot is the base of the next incremental send and is
    always protected; the earliest is the historical common base, protected
    with the baseline (``keep_oldest``).  Losing both is what forces a full resend.
    """
    shared = [s for s in local.snapshots if peer.by_guid(s.guid) is not None]
    if not shared:
        return {}
    shared = creation_order(shared)
    out: dict[int, list[str]] = {}
    out.setdefault(shared[-1].guid, []).append(
        f"latest snapshot shared with {peer_name} (incremental base)"
    )
    if keep_earliest and shared[0].guid != shared[-1].guid:
        out.setdefault(shared[0].guid, []).append(
            f"earliest snapshot shared with {peer_name} (common base)"
        )
    return out


def merge_protections(*parts: Mapping[int, Sequence[str]]) -> dict[int, list[str]]:
    """Union of protection maps, reasons in the order given."""
    out: dict[int, list[str]] = {}
    for part in parts:
        for guid, reasons in part.items():
            out.setdefault(guid, []).extend(reasons)
    return out
