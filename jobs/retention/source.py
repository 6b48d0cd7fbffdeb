"""The host's own ZFS snapshots: each job's dataset tree planned, and pruned as planned.

The clone step prunes only its targets; the host's own snapshots are pruned
here, by ``hostbook run``'s retention step (after clone and archive) and
shown by ``hostbook plan retention``, both through :func:`plan_tree`, so the
plan a person reads is the plan the run executes.

A tree is a job's dataset with the replication targets the job clones to,
scoped the way the clone step scopes them (a target without ``source``
takes the job's dataset as its root): the source's retention then protects
what those targets need (the latest and, with ``keep_oldest``, the earliest
snapshot shared with each, and whatever a target still wants), besides the
oldest snapshot at the source and anything held.

Before anything is destroyed :func:`critical_in` checks the deletions again,
from the inventories alone and not from the planner's reasons: a deletion
that would take a critical snapshot stops the dataset's pruning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from hostbook.jobs.replication.host_inventory import endpoint_for, load_inventory
from hostbook.jobs.replication.host_plan import HostPlan, plan_host, target_dataset_name
from hostbook.jobs.replication.zfs.inventory import DatasetInventory
from hostbook.jobs.replication.zfs.ops import SOURCE, Destroy
from hostbook.jobs.replication.zfs.plan import DatasetPlan
from hostbook.jobs.replication.zfs.transfer import Endpoint, TransferExecutor
from hostbook.jobs.retention.policy import creation_order
from hostbook.manifest.sections.retention import (
    ReplicationSettings,
    ReplicationTarget,
    RetentionPolicy,
    RetentionSettings,
)
from hostbook.process.runner import Runner


@dataclass(frozen=True)
class Tree:
    """A job's dataset tree and the ZFS targets it clones to (scoped to the tree)."""

    root: str
    targets: tuple[ReplicationTarget, ...] = ()


def zfs_trees(jobs: Iterable[tuple[str, Sequence[str]]],
              replication: ReplicationSettings | None) -> list[Tree]:
    """(dataset, clone target names) of every ZFS job -> one tree per dataset, in order.

    Pass every job of jobs.yaml, not only those a run selected: a tree's
    targets are all the clone targets that receive any of its datasets (a
    job on ``tank`` cloning to one target and a job on ``tank/data`` to
    another both need bases kept in ``tank/data``).  A target named by no
    job is no tree's, as it is no clone's.
    """
    by_name = {t.name: t for t in (replication.targets if replication else [])}
    roots: list[str] = []
    scoped: dict[str, ReplicationTarget] = {}
    for dataset, clone in jobs:
        if dataset not in roots:
            roots.append(dataset)
        for name in clone:
            target = by_name.get(name)
            if target is not None and target.kind == "zfs" and name not in scoped:
                scoped[name] = target.model_copy(update={"source": target.source or dataset})
    return [Tree(root, tuple(t for t in scoped.values() if _overlaps(root, t.source or root)))
            for root in roots]


def _overlaps(a: str, b: str) -> bool:
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


@dataclass(frozen=True)
class TreePlan:
    """A tree's plan and the inventories it was made from."""

    tree: Tree
    plan: HostPlan
    source: Mapping[str, DatasetInventory]
    targets: Mapping[str, Mapping[str, DatasetInventory]]

    def target_inventories(self, dataset: str) -> dict[str, DatasetInventory]:
        """What each target holds of ``dataset`` (empty where it holds nothing yet)."""
        out = {}
        for target in self.tree.targets:
            root = target.source or self.tree.root
            if not (dataset == root or dataset.startswith(root + "/")):
                continue  # the planner does not send this dataset there either
            name = target_dataset_name(root, dataset, target.dataset)
            out[target.name] = (self.targets.get(target.name, {}).get(name)
                                or DatasetInventory(name, exists=False))
        return out


def plan_tree(runner: Runner, host: str, retention: RetentionSettings | None, tree: Tree,
              now: int | datetime) -> TreePlan:
    """Read the tree's inventory and its targets', and plan (validated by simulation)."""
    source = load_inventory(runner, tree.root)
    targets = {
        t.name: load_inventory(runner, t.dataset, endpoint_for(t), decode_from=Endpoint())
        for t in tree.targets
    }
    plan = plan_host(host, retention or RetentionSettings(),
                     ReplicationSettings(targets=list(tree.targets)), source, targets, now,
                     source_root=tree.root)
    return TreePlan(tree, plan, source, targets)


def plan_trees(runner: Runner, host: str, retention: RetentionSettings | None,
               trees: Sequence[Tree], now: int | datetime) -> HostPlan:
    """Every tree's plan as one host plan (a dataset in two nested trees: the first)."""
    datasets: dict[str, DatasetPlan] = {}
    t_now = int(now.timestamp()) if isinstance(now, datetime) else int(now)
    for tree in trees:
        for ds in plan_tree(runner, host, retention, tree, now).plan.datasets:
            datasets.setdefault(ds.dataset, ds)
    return HostPlan(host, t_now, tuple(datasets.values()))


def source_deletions(plan: DatasetPlan) -> list[Destroy]:
    """The plan's destroys on the host itself (``a%b`` ranges), in order."""
    return [op for op in plan.operations if isinstance(op, Destroy) and op.location == SOURCE]


def critical(source: DatasetInventory, targets: Mapping[str, DatasetInventory],
             policy: RetentionPolicy) -> dict[int, str]:
    """guid -> why it must stay: held, the oldest (``keep_oldest``), and per target the
    latest snapshot shared with it and (``keep_oldest``) the earliest."""
    out: dict[int, str] = {}
    ordered = creation_order(source.snapshots)
    for snap in ordered:
        if snap.held:
            out[snap.guid] = "held"
    if ordered and policy.keep_oldest:
        out.setdefault(ordered[0].guid, "the oldest at the source")
    for name, inv in targets.items():
        shared = [s for s in ordered if inv.by_guid(s.guid) is not None]
        if shared:
            out.setdefault(shared[-1].guid, f"the latest shared with {name}")
            if policy.keep_oldest:
                out.setdefault(shared[0].guid, f"the earliest shared with {name}")
    return out


def critical_in(deletions: Sequence[Destroy], source: DatasetInventory,
                targets: Mapping[str, DatasetInventory], policy: RetentionPolicy) -> list[str]:
    """Each critical snapshot a deletion would take, in words (none for a sound plan)."""
    guard = critical(source, targets, policy)
    return [f"{snap.full_name} is {guard[snap.guid]}"
            for op in deletions for snap in op.snapshots if snap.guid in guard]


@dataclass
class PruneResult:
    """What pruning one tree did: snapshots destroyed, kept, and what went wrong."""

    root: str
    destroyed: list[str] = field(default_factory=list)
    kept: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        text = f"{self.root}: {len(self.destroyed)} snapshot(s) destroyed, {self.kept} kept"
        return text + (f"; {'; '.join(self.problems)}" if self.problems else "")


def prune_tree(runner: Runner, host: str, retention: RetentionSettings | None, tree: Tree,
               now: int | datetime, log: Callable[[str], None] | None = None) -> PruneResult:
    """Plan the tree and destroy on the host what the plan deletes there, dataset by dataset.

    A refused plan, or one whose deletions would take a critical snapshot,
    destroys nothing of that dataset; a failed ``zfs destroy`` stops the
    dataset (its later ranges are not attempted).
    """
    planned = plan_tree(runner, host, retention, tree, now)
    result = PruneResult(tree.root)
    executor = TransferExecutor(Endpoint(), {}, runner=runner)
    for ds in planned.plan.datasets:
        result.kept += len(ds.source.kept())
        doomed = source_deletions(ds)
        if ds.refused:
            result.problems.extend(f"{ds.dataset}: {why}" for why in ds.refused)
            result.kept += len(ds.source.deleted())
            continue
        policy = (retention or RetentionSettings()).policy_for(ds.dataset)
        bad = critical_in(doomed, planned.source[ds.dataset],
                          planned.target_inventories(ds.dataset), policy)
        if bad:
            result.problems.append(f"{ds.dataset}: not pruned: {'; '.join(bad)}")
            result.kept += len(ds.source.deleted())
            continue
        for op in doomed:
            if log is not None:
                log(f"{op.describe()}: {op.reason}")
            step = executor.execute_one(op)
            if not step.ok:
                result.problems.append(f"{op.describe()}: {step.error or 'failed'}")
                break
            result.destroyed.extend(s.full_name for s in op.snapshots)
    return result
