"""ZFS replication planner: backupd's documented cases, resume/abort, and properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hostbook.jobs.replication.zfs.inventory import DatasetInventory, ResumeState, Snapshot
from hostbook.jobs.replication.zfs.ops import (
    AbortResume,
    Destroy,
    FullTransfer,
    IncrementalTransfer,
    PlanError,
    ResumeTransfer,
    simulate,
    validate,
)
from hostbook.jobs.replication.zfs.plan import TargetSpec, plan_dataset
from hostbook.manifest.sections.retention import RetentionPolicy

SRC, DST = "data/tank/foo", "backup/tank/foo"


def s(name: str, guid: int, t: int, refs: int = 0) -> Snapshot:
    return Snapshot(SRC, name, guid, t, t * 1000, userrefs=refs)


def on_target(snap: Snapshot, txg: int, refs: int = 0) -> Snapshot:
    return Snapshot(DST, snap.name, snap.guid, txg, snap.creation, userrefs=refs)


A = s("daily-2026-07-01-01:00:00", 1, 1)
B = s("daily-2026-07-02-01:00:00", 2, 2)
C = s("daily-2026-07-03-01:00:00", 3, 3)
DAILY1 = RetentionPolicy(keep={"daily": 1}, keep_oldest=False)


def plan(src: tuple[Snapshot, ...], dst: tuple[Snapshot, ...] | None, policy=DAILY1,
         target_policy=None, resume: ResumeState | None = None, encrypted: bool = False):
    source = DatasetInventory(SRC, src, encrypted=encrypted)
    target = DatasetInventory(DST, dst or (), exists=dst is not None, resume=resume)
    spec = TargetSpec("remote", target, target_policy or policy)
    return plan_dataset(source, policy, [spec], now=10**9)


def describe(p) -> list[str]:
    return [op.describe() for op in p.operations]


# --- golden: backupd's documented cases ---------------------------------------------

def test_golden_initial_transfer_to_empty_remote() -> None:
    p = plan((A, B, C), None, RetentionPolicy(keep={"daily": 5}))
    assert not p.refused
    full, rng = p.operations
    assert isinstance(full, FullTransfer) and full.snapshot == A and not full.force
    assert isinstance(rng, IncrementalTransfer) and rng.flag == "-I"
    assert (rng.base, rng.end, len(rng.snapshots)) == (A, C, 2)
    assert describe(p) == [
        "[remote] zfs send data/tank/foo@daily-2026-07-01-01:00:00 | zfs receive -s "
        "backup/tank/foo",
        "[remote] zfs send -I @daily-2026-07-01-01:00:00 data/tank/foo@daily-2026-07-03-01:00:00"
        " | zfs receive -s backup/tank/foo  (2 snapshot(s))",
    ]


def test_golden_range_deletion_and_remote_deletion() -> None:
    # backupd: local A,B,C, remote A,C, daily=1 both sides, no baseline ->
    # local "destroy @A%B", remote "destroy @A".
    p = plan((A, B, C), (on_target(A, 10), on_target(C, 11)))
    assert [op.describe().split("  ")[0] for op in p.operations] == [
        "[source] zfs destroy data/tank/foo@daily-2026-07-01-01:00:00%daily-2026-07-02-01:00:00",
        "[remote] zfs destroy backup/tank/foo@daily-2026-07-01-01:00:00",
    ]
    assert all(isinstance(op, Destroy) for op in p.operations)


def test_golden_range_transfer_after_deleting_unwanted() -> None:
    # backupd: local A,B,C, remote A -> [delete local B, transfer A->C].
    p = plan((A, B, C), (on_target(A, 10),))
    first, second = p.operations
    assert isinstance(first, Destroy) and first.spec() == f"{SRC}@{B.name}"
    assert isinstance(second, IncrementalTransfer) and (second.base, second.end) == (A, C)
    assert second.flag == "-i"


def test_divergent_remote_tip_is_destroyed_first() -> None:
    # backupd's /movies regression: the remote's tip is a snapshot the source no longer has.
    shared = s("daily-2026-08-22-01:00:00", 10, 100)
    orphan = Snapshot(DST, "manual-pre-vacuum-2026-08-22", 99, 200, 200_000)
    migration = s("manual-pre-migration-2026-08-22", 11, 300)
    newest = s("daily-2026-08-24-01:00:00", 12, 400)
    local = RetentionPolicy(keep={"daily": 90, "manual": 1000})
    remote = RetentionPolicy(keep={"daily": 1, "manual": 1000})
    p = plan((shared, migration, newest), (on_target(shared, 5), orphan), local, remote)
    assert not p.refused
    first = p.operations[0]
    assert isinstance(first, Destroy) and first.location == "remote" and first.first == orphan
    sent = [x for op in p.operations if isinstance(op, IncrementalTransfer) for x in op.snapshots]
    assert sent == [migration, newest]


def test_gap_uses_single_incremental_then_range() -> None:
    # The source keeps hourlies the target does not want: -I would carry them.
    h1, d2, h3, d4, d5 = (s("daily-1", 1, 1), s("daily-2", 2, 2), s("hourly-3", 3, 3),
                          s("daily-4", 4, 4), s("daily-5", 5, 5))
    local = RetentionPolicy(keep={"daily": 10, "hourly": 10})
    remote = RetentionPolicy(keep={"daily": 10})
    p = plan((h1, d2, h3, d4, d5), (on_target(h1, 1),), local, remote)
    flags = [(op.flag, op.base.name, op.end.name) for op in p.operations
             if isinstance(op, IncrementalTransfer)]
    # hourly-3 sits between daily-2 and daily-4 on the source: "-I" would carry it,
    # so that hop is a single "-i"; daily-4 and daily-5 are adjacent.
    assert flags == [("-i", "daily-1", "daily-2"), ("-i", "daily-2", "daily-4"),
                     ("-i", "daily-4", "daily-5")]
    assert not any(h3 in op.snapshots for op in p.operations if isinstance(op, IncrementalTransfer))


def test_skips_source_snapshots_older_than_target_newest() -> None:
    p = plan((A, B, C), (on_target(B, 1),), RetentionPolicy(keep={"daily": 5}))
    tp = p.targets[0]
    assert tp.skipped == 1 and "older than the target's newest" in tp.notes[0]
    assert [op.snapshots for op in p.operations if isinstance(op, IncrementalTransfer)] == [(C,)]


def test_no_common_base_is_refused() -> None:
    stranger = Snapshot(DST, "daily-x", 777, 1, 1)
    p = plan((A, B, C), (stranger,), RetentionPolicy(keep={"daily": 5}))
    assert p.refused and "none in common" in p.refused[0]
    assert not any(isinstance(op, FullTransfer | IncrementalTransfer) for op in p.operations)


def test_resume_token_is_resumed_then_the_rest_sent() -> None:
    token = ResumeState("1-abc-10-00", toguid=B.guid, fromguid=A.guid, toname=f"{SRC}@{B.name}")
    p = plan((A, B, C), (on_target(A, 1),), RetentionPolicy(keep={"daily": 5}), resume=token)
    assert isinstance(p.operations[0], ResumeTransfer) and p.operations[0].snapshot == B
    rest = p.operations[1]
    assert isinstance(rest, IncrementalTransfer) and (rest.base, rest.snapshots) == (B, (C,))


def test_stale_token_is_aborted_before_starting_over() -> None:
    gone = ResumeState("1-abc-10-00", toguid=4242, fromguid=A.guid, toname=f"{SRC}@gone")
    p = plan((A, B, C), (on_target(A, 1),), RetentionPolicy(keep={"daily": 5}), resume=gone)
    assert isinstance(p.operations[0], AbortResume)
    assert "no longer exists on source" in p.operations[0].reason
    assert isinstance(p.operations[1], IncrementalTransfer)


def test_raw_send_for_encrypted_dataset() -> None:
    p = plan((A,), None, RetentionPolicy(keep={"daily": 5}), encrypted=True)
    assert isinstance(p.operations[0], FullTransfer) and p.operations[0].raw
    assert "zfs send -w" in p.operations[0].describe()


def test_held_source_and_target_snapshots_are_never_destroyed() -> None:
    held = s("daily-0", 9, 0, refs=1)
    p = plan((held, A, B, C), (on_target(held, 1, refs=1), on_target(A, 2)))
    destroyed = {x.guid for op in p.operations if isinstance(op, Destroy) for x in op.snapshots}
    assert held.guid not in destroyed


def test_simulator_rejects_what_zfs_would_refuse() -> None:
    src = DatasetInventory(SRC, (A, B, C))
    dst = DatasetInventory(DST, (on_target(A, 1),))
    bad = IncrementalTransfer("t", SRC, DST, B, (C,), False, "wrong base")
    with pytest.raises(PlanError, match="does not match incremental source"):
        simulate(src, {"t": dst}, [bad])
    kill_base = Destroy("t", DST, (on_target(A, 1),), "oops")
    with pytest.raises(PlanError, match="without a snapshot in common"):
        simulate(src, {"t": dst}, [kill_base])
    with pytest.raises(PlanError, match="does not reach"):
        validate(src, {"t": dst}, [], {1, 2, 3}, {"t": {1, 3}})


# --- properties ----------------------------------------------------------------------

KINDS = ["hourly", "daily", "weekly", "manual"]


@st.composite
def scenarios(draw):
    n = draw(st.integers(0, 25))
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=n, max_size=n))
    held = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    source = tuple(
        Snapshot(SRC, f"{k}-{i}", 1000 + i, i + 1, (i + 1) * 600, userrefs=int(h and i % 3 == 0))
        for i, (k, h) in enumerate(zip(kinds, held, strict=True))
    )
    # Target: a subset of a prefix of the source (it was replicated from it), maybe plus
    # a divergent tip and an unrelated old snapshot.
    prefix = draw(st.integers(0, n))
    chosen = [x for x in source[:prefix] if draw(st.booleans())]
    target = [Snapshot(DST, x.name, x.guid, 10 + i, x.creation, userrefs=int(draw(st.booleans())
              and i == 0)) for i, x in enumerate(chosen)]
    if target and draw(st.booleans()):
        target.append(Snapshot(DST, "manual-divergent", 5, 999, target[-1].creation + 1))
    exists = bool(target) or draw(st.booleans())
    policy = st.builds(
        RetentionPolicy,
        keep=st.dictionaries(st.sampled_from(KINDS[:3]), st.integers(0, 6)),
        keep_oldest=st.booleans(),
        manage_unmatched=st.booleans(),
    )
    return source, tuple(target), exists, draw(policy), draw(policy)


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_property_plans_are_safe_and_reach_their_target(scenario) -> None:
    source_snaps, target_snaps, exists, local, remote = scenario
    source = DatasetInventory(SRC, source_snaps)
    target = DatasetInventory(DST, target_snaps, exists=exists)
    p = plan_dataset(source, local, [TargetSpec("remote", target, remote)], now=10**6)
    shared = [x for x in source_snaps if target.by_guid(x.guid)]
    refusable = bool(target_snaps) and not shared
    divergent_held = any(t.userrefs and not source.by_guid(t.guid) for t in target_snaps)
    if not refusable and not divergent_held:
        assert not p.refused, p.refused
    if p.refused:
        assert not any(isinstance(op, FullTransfer | IncrementalTransfer) for op in p.operations)
        return
    # 1. never deletes a protected snapshot
    wanted = {x.guid for x in p.targets[0].wanted}
    latest_shared = shared[-1].guid if shared else None
    for op in p.operations:
        if isinstance(op, Destroy):
            for x in op.snapshots:
                assert not x.userrefs, f"held {x.name} destroyed"
                assert x.guid != latest_shared, "incremental base destroyed"
                if op.location == "source":
                    assert x.guid not in wanted, "pending replication destroyed"
        if isinstance(op, FullTransfer):
            assert not target_snaps, "full send into a target with snapshots"
    # 2. a simulated apply reaches the planned inventories (and 3. the base survives
    #    every step: simulate raises otherwise)
    result = validate(
        source, {"remote": target}, p.operations, p.source.kept_guids(),
        {"remote": p.targets[0].expected_guids()},
    )
    if result.targets["remote"] and result.source:
        assert result.targets["remote"] & result.source
    # 4. planning the result again transfers nothing new
    after_src = DatasetInventory(SRC, tuple(x for x in source_snaps if x.guid in result.source))
    by_guid = {x.guid: x for x in (*source_snaps, *target_snaps)}
    after_dst = DatasetInventory(
        DST,
        tuple(
            Snapshot(DST, by_guid[g].name, g, i, by_guid[g].creation,
                     userrefs=by_guid[g].userrefs if target.by_guid(g) else 0)
            for i, g in enumerate(sorted(result.targets["remote"],
                                         key=lambda g: (by_guid[g].creation, g)))
        ),
        exists=True,
    )
    again = plan_dataset(after_src, local, [TargetSpec("remote", after_dst, remote)], now=10**6)
    assert not any(isinstance(op, FullTransfer | IncrementalTransfer) for op in again.operations)


def test_adjacent_wanted_snapshots_form_one_range() -> None:
    snaps = tuple(s(f"daily-{i}", i, i) for i in range(1, 6))
    p = plan(snaps, (on_target(snaps[0], 1),), RetentionPolicy(keep={"daily": 10}))
    (op,) = p.operations
    assert isinstance(op, IncrementalTransfer) and op.flag == "-I"
    assert (op.base.name, op.end.name, len(op.snapshots)) == ("daily-1", "daily-5", 4)


def test_command_lines_for_local_and_ssh_targets() -> None:
    from hostbook.jobs.replication.zfs.transfer import (
        Endpoint,
        parse_estimate,
        receive_args,
        send_args,
    )

    p = plan((A, B, C), (on_target(A, 1),), RetentionPolicy(keep={"daily": 5}), encrypted=True)
    (op,) = p.operations
    assert isinstance(op, IncrementalTransfer)
    assert send_args(op) == ["send", "-w", "-I", f"@{A.name}", f"{SRC}@{C.name}"]
    assert receive_args(op, resumable=True, rollback=True) == ["receive", "-u", "-s", "-F", DST]
    remote = Endpoint.remote("backup@nas", ["-p", "2222"])
    assert remote.argv(*receive_args(op, resumable=True, rollback=False)) == [
        "ssh", "-o", "BatchMode=yes", "-p", "2222", "backup@nas",
        "zfs receive -u -s backup/tank/foo"]
    resume_out = ("resume token contents:\nnvlist version: 0\n\ttoguid = 0x2\n"
                  "\ttoname = data/tank/foo@x\nfull\tdata/tank/foo@x\t123\nsize\t123\n")
    assert parse_estimate(resume_out) == 123
