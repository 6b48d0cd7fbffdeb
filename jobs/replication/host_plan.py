"""Planning a host's replication and retention: inventories and settings in, a plan out.

Pure: what the locations hold was read before
(:mod:`hostbook.jobs.replication.host_inventory`).  ZFS source datasets are
mapped to target datasets and planned per dataset
(:func:`hostbook.jobs.replication.zfs.plan.plan_dataset`).  btrfs targets
(``kind: btrfs``) are planned per source snapshot directory: the target's
``source``, or else the snapshot directory of every btrfs job in jobs.yaml
that clones to it (:func:`btrfs_sources`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hostbook.jobs.replication.btrfs.plan import BtrfsPlan, plan_btrfs_directory
from hostbook.jobs.replication.host_inventory import BtrfsSource
from hostbook.jobs.replication.zfs.inventory import DatasetInventory
from hostbook.jobs.replication.zfs.plan import DatasetPlan, TargetSpec, plan_dataset
from hostbook.jobs.snapshot.btrfs import DEFAULT_DIR as DEFAULT_BTRFS_SNAPSHOT_DIR
from hostbook.manifest.sections.retention import ReplicationSettings, RetentionSettings


def target_dataset_name(source_root: str, dataset: str, target_root: str) -> str:
    """``tank/data/www`` under ``tank/data`` replicates to ``<target_root>/www``."""
    if dataset == source_root:
        return target_root
    if dataset.startswith(source_root + "/"):
        return f"{target_root}/{dataset[len(source_root) + 1 :]}"
    return f"{target_root}/{dataset}"


def _epoch(now: int | datetime) -> int:
    return int(now.timestamp()) if isinstance(now, datetime) else int(now)


@dataclass(frozen=True)
class HostPlan:
    host: str
    now: int
    datasets: tuple[DatasetPlan, ...]
    btrfs: tuple[BtrfsPlan, ...] = ()
    problems: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "now": datetime.fromtimestamp(self.now, UTC).isoformat(),
            "datasets": [d.to_json() for d in self.datasets],
            "btrfs": [b.to_json() for b in self.btrfs],
            "problems": list(self.problems),
        }

    @property
    def refused(self) -> list[str]:
        return [
            *(f"{d.dataset}: {r}" for d in self.datasets for r in d.refused),
            *(f"{b.directory}: {r}" for b in self.btrfs for r in b.refused),
            *self.problems,
        ]


def plan_host(
    host: str,
    retention: RetentionSettings,
    replication: ReplicationSettings,
    source: Mapping[str, DatasetInventory],
    targets: Mapping[str, Mapping[str, DatasetInventory]],
    now: int | datetime,
    *,
    source_root: str | None = None,
) -> HostPlan:
    """Plan every source dataset against every configured target (pure)."""
    t_now = _epoch(now)
    plans = []
    for name in sorted(source):
        inv = source[name]
        specs = []
        for target in replication.targets:
            if target.kind != "zfs":
                continue
            root = target.source or source_root
            if root and not (name == root or name.startswith(root + "/")):
                continue
            tname = target_dataset_name(root or name.split("/")[0], name, target.dataset)
            tinv = targets.get(target.name, {}).get(tname) or DatasetInventory(tname, exists=False)
            specs.append(TargetSpec(target.name, tinv, target.policy, target.raw, tname))
        plans.append(plan_dataset(inv, retention.policy_for(name), specs, t_now))
    return HostPlan(host, t_now, tuple(plans))


def plan_btrfs_host(
    retention: RetentionSettings, sources: Sequence[BtrfsSource], now: int | datetime,
) -> tuple[BtrfsPlan, ...]:
    """Plan every btrfs source directory against its targets (in the order given)."""
    t_now = _epoch(now)
    return tuple(
        plan_btrfs_directory(loaded.source, retention.policy_for(loaded.directory),
                             list(loaded.targets), t_now)
        for loaded in sources
    )


def _jobs(document: Any) -> list[tuple[Mapping[str, Any], Mapping[str, Any], Mapping[str, Any]]]:
    """(job, snapshot, volume) for each well-formed entry of ``jobs:`` (raw, not validated:
    the jobs section validates itself; planning only needs a few keys)."""
    jobs = document.get("jobs") if isinstance(document, Mapping) else None
    out = []
    for job in jobs if isinstance(jobs, list) else []:
        if not isinstance(job, Mapping):
            continue
        snap = job.get("snapshot") or {}
        volume = job.get("volume") or {}
        if isinstance(snap, Mapping) and isinstance(volume, Mapping):
            out.append((job, snap, volume))
    return out


def job_kinds(document: Any) -> set[str]:
    """Which snapshot kinds the host's jobs make: ``zfs`` and/or ``btrfs``."""
    kinds = set()
    for _job, snap, volume in _jobs(document):
        if snap.get("provider") == "btrfs":
            kinds.add("btrfs")
        elif snap.get("provider") == "zfs" or volume.get("dataset"):
            kinds.add("zfs")
    return kinds


def zfs_jobs(document: Any) -> list[tuple[str, list[str]]]:
    """(dataset, clone target names) of every ZFS job, in jobs.yaml's order."""
    out = []
    for job, snap, volume in _jobs(document):
        dataset = volume.get("dataset")
        if isinstance(dataset, str) and snap.get("provider") in (None, "zfs"):
            clone = job.get("clone")
            out.append((dataset, [str(c) for c in clone] if isinstance(clone, list) else []))
    return out


def btrfs_sources(
    replication: ReplicationSettings, document: Any
) -> tuple[dict[str, list[str]], list[str]]:
    """Source snapshot directory -> the btrfs targets it replicates to, and problems found.

    A target's ``source`` wins; otherwise every btrfs job in ``jobs:`` that
    clones to the target contributes its snapshot directory.  A btrfs job's
    directory with no target is planned too (its own retention only).  One
    target directory fed from two source directories is a problem, not a plan:
    each would take the other's copies for its own.
    """
    derived: dict[str, list[str]] = {}
    sources: dict[str, list[str]] = {}
    for job, snap, volume in _jobs(document):
        if snap.get("provider") != "btrfs" or not volume.get("path"):
            continue
        directory = str(snap.get("directory") or (
            f"{str(volume['path']).rstrip('/')}/{DEFAULT_BTRFS_SNAPSHOT_DIR}")).rstrip("/")
        sources.setdefault(directory, [])
        for name in job.get("clone") or []:
            derived.setdefault(str(name), []).append(directory)
    problems: list[str] = []
    for target in replication.targets:
        if target.kind != "btrfs":
            continue
        dirs = [target.source.rstrip("/")] if target.source else sorted(
            set(derived.get(target.name, [])))
        if not dirs:
            problems.append(f"btrfs target {target.name}: no source — set its 'source' to the "
                            "snapshot directory, or clone to it from a btrfs job")
            continue
        if len(dirs) > 1:
            problems.append(f"btrfs target {target.name}: {target.dataset} would receive from "
                            f"{', '.join(dirs)}; give each source its own target directory")
            continue
        sources.setdefault(dirs[0], []).append(target.name)
    return sources, problems
