"""Retention planner: reasons, protections, and a year of hourly snapshots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from hostbook.jobs.replication.zfs.inventory import DatasetInventory, Snapshot
from hostbook.jobs.retention.policy import plan_retention, shared_bases
from hostbook.manifest.sections.retention import (
    RetentionPolicy,
    RetentionSettings,
    parse_duration,
)

HOUR = 3600


def snap(name: str, t: int, guid: int | None = None, refs: int = 0) -> Snapshot:
    return Snapshot("tank/data", name, guid if guid is not None else t, t, t, userrefs=refs)


def test_counts_keep_newest_by_creation_not_name() -> None:
    # Names sort the other way round from creation times: creation must win.
    snaps = [snap("daily-c", 100), snap("daily-b", 200), snap("daily-a", 300)]
    plan = plan_retention(snaps, RetentionPolicy(keep={"daily": 2}, keep_oldest=False), 1000)
    assert [d.snapshot.name for d in plan.decisions if d.keep] == ["daily-b", "daily-a"]
    deleted = plan.decisions[0]
    assert not deleted.keep
    assert deleted.reason == "daily number 3, beyond the newest 2"
    assert plan.decisions[2].reason == "daily 1 of the newest 2"


def test_oldest_is_kept_as_baseline_with_reason() -> None:
    snaps = [snap("daily-1", 100), snap("daily-2", 200), snap("daily-3", 300)]
    plan = plan_retention(snaps, RetentionPolicy(keep={"daily": 1}), 1000)
    assert [d.keep for d in plan.decisions] == [True, False, True]
    assert "oldest snapshot at local (baseline)" in plan.decisions[0].reasons


def test_unmatched_types_left_alone_unless_managed() -> None:
    snaps = [snap("manual-before-upgrade", 100), snap("daily-1", 200)]
    policy = RetentionPolicy(keep={"daily": 1}, keep_oldest=False)
    kept = plan_retention(snaps, policy, 1000)
    assert kept.decisions[0].keep
    assert "matches no policy: left alone" in kept.decisions[0].reason
    managed = plan_retention(snaps, policy.model_copy(update={"manage_unmatched": True}), 1000)
    assert not managed.decisions[0].keep
    assert "manage_unmatched is on" in managed.decisions[0].reason


def test_held_min_age_keep_within_and_caller_protections() -> None:
    now = 100 * HOUR
    snaps = [
        snap("hourly-1", 10 * HOUR, refs=2),
        snap("hourly-2", 20 * HOUR),
        snap("hourly-3", 60 * HOUR),
        snap("hourly-4", 99 * HOUR + 1800),
        snap("hourly-5", 99 * HOUR + 3000),
    ]
    policy = RetentionPolicy(
        keep={"hourly": 1}, keep_within={"hourly": "48h"}, min_age="1h", keep_oldest=False
    )
    plan = plan_retention(snaps, policy, now, protect={20 * HOUR: ["not yet replicated to nas"]})
    by = {d.snapshot.name: d for d in plan.decisions}
    assert by["hourly-1"].keep and "held by another tool (2 user hold(s))" in by["hourly-1"].reasons
    assert by["hourly-2"].keep and by["hourly-2"].reasons == ("not yet replicated to nas",)
    assert by["hourly-3"].keep and "hourly within 2d" in by["hourly-3"].reasons
    assert "younger than min_age 1h" in by["hourly-4"].reasons
    assert by["hourly-5"].reasons[-2:] == ("hourly 1 of the newest 1", "hourly within 2d")


def test_shared_bases_match_by_guid_not_name() -> None:
    local = DatasetInventory("tank/data", (snap("a", 1, 11), snap("b", 2, 12), snap("c", 3, 13)))
    remote = DatasetInventory(
        "backup/data",
        (Snapshot("backup/data", "renamed-a", 11, 7, 1), Snapshot("backup/data", "b", 12, 8, 2)),
    )
    prot = shared_bases(local, remote, "nas")
    assert prot == {
        12: ["latest snapshot shared with nas (incremental base)"],
        11: ["earliest snapshot shared with nas (common base)"],
    }


def test_policy_model_is_strict_and_validates_durations() -> None:
    with pytest.raises(ValidationError):
        RetentionPolicy.model_validate({"keep": {"daily": 7}, "dialy": 3})
    with pytest.raises(ValidationError):
        RetentionPolicy.model_validate({"keep_within": {"daily": "soon"}})
    with pytest.raises(ValidationError):
        RetentionPolicy.model_validate({"keep": {"zfs-auto": 1}})
    assert parse_duration("1d12h") == 36 * HOUR
    assert parse_duration("2w") == 14 * 24 * HOUR
    settings_ = RetentionSettings.model_validate(
        {"local": {"keep": {"daily": 7}}, "overrides": {"tank/scratch": {"keep": {"daily": 1}}}}
    )
    assert settings_.policy_for("tank/scratch/tmp").keep == {"daily": 1}
    assert settings_.policy_for("tank/scratchy").keep == {"daily": 7}


def _types_due(t: datetime) -> list[str]:
    types = ["hourly"]
    if t.hour == 0:
        types.append("daily")
        if t.weekday() == 0:
            types.append("weekly")
        if t.day == 1:
            types.append("monthly")
            if t.month == 1:
                types.append("yearly")
    return types


def test_year_of_hourly_snapshots_clock_driven() -> None:
    """Sanoid-style simulation: snapshot every hour for a year, prune every hour."""
    policy = RetentionPolicy(
        keep={"hourly": 24, "daily": 7, "weekly": 4, "monthly": 12, "yearly": 2},
        keep_oldest=False,
    )
    start = datetime(2025, 1, 1, tzinfo=UTC)
    live: list[Snapshot] = []
    guid = 0
    for hour in range(365 * 24):
        t = start + timedelta(hours=hour)
        ts = int(t.timestamp())
        for kind in _types_due(t):
            guid += 1
            live.append(Snapshot("tank/data", f"{kind}-{t:%Y-%m-%d-%H%M}", guid, guid, ts))
        plan = plan_retention(live, policy, ts)
        live = plan.kept()
    counts: dict[str, int] = {}
    for s in live:
        counts[s.kind] = counts.get(s.kind, 0) + 1
    assert counts == {"hourly": 24, "daily": 7, "weekly": 4, "monthly": 12, "yearly": 1}
    newest_daily = max(s.creation for s in live if s.kind == "daily")
    assert datetime.fromtimestamp(newest_daily, UTC) == datetime(2025, 12, 31, tzinfo=UTC)


snapshot_lists = st.lists(
    st.tuples(
        st.sampled_from(["hourly", "daily", "weekly", "manual"]),
        st.integers(min_value=0, max_value=3),
        st.integers(min_value=1, max_value=5 * HOUR),
    ),
    max_size=40,
)
policies = st.builds(
    RetentionPolicy,
    keep=st.dictionaries(st.sampled_from(["hourly", "daily", "weekly"]), st.integers(0, 5)),
    keep_within=st.dictionaries(
        st.sampled_from(["hourly", "daily"]), st.sampled_from(["1h", "6h"])
    ),
    min_age=st.sampled_from([None, "30m", "2h"]),
    keep_oldest=st.booleans(),
    manage_unmatched=st.booleans(),
)


@settings(max_examples=150, deadline=None)
@given(snapshot_lists, policies, st.integers(0, 10))
def test_property_retention_never_deletes_protected(
    raw: list[tuple[str, int, int]], policy: RetentionPolicy, protect_pick: int
) -> None:
    t = 0
    snaps = []
    for i, (kind, refs, gap) in enumerate(raw):
        t += gap
        snaps.append(Snapshot("tank/d", f"{kind}-{i}", i + 1, i + 1, t, userrefs=int(refs == 3)))
    now = t + HOUR
    protect = {s.guid: ["protected by caller"] for s in snaps[::protect_pick + 1]}
    plan = plan_retention(snaps, policy, now, protect=protect)
    assert len(plan.decisions) == len(snaps)
    for d in plan.decisions:
        assert d.reasons, "every decision says why"
        s = d.snapshot
        if s.userrefs or s.guid in protect:
            assert d.keep
        if policy.min_age and now - s.creation < parse_duration(policy.min_age):
            assert d.keep
        if s.kind not in policy.types() and not policy.manage_unmatched:
            assert d.keep
    for kind, count in policy.keep.items():
        of_kind = sorted((s for s in snaps if s.kind == kind), key=lambda s: s.creation)
        for s in of_kind[len(of_kind) - count :] if count else []:
            assert plan.decision_for(s.guid).keep  # type: ignore[union-attr]
    if policy.keep_oldest and snaps:
        assert plan.decisions[0].keep
