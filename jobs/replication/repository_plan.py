"""``hostbook plan``: a host's plan from its manifest repository, rendered.

Reads ``hosts/HOST/jobs.yaml`` (its ``retention:`` and ``replication:``
strictly validated, its jobs only for the few keys planning needs), loads
the inventories through a runner (live, or a recording's replay), plans and
renders.  ZFS jobs' dataset trees are planned as the run plans them (each
with the targets its jobs clone to, :mod:`hostbook.jobs.retention.source`),
so the plan shown is the one ``hostbook run`` executes; without ZFS jobs, or
with ``--source``, every dataset under the root is planned against every
target.  The CLI only wires options to :func:`plan_from_repository`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hostbook.jobs.archive.retention_report import archive_retention
from hostbook.jobs.replication.host_inventory import (
    load_btrfs_sources,
    load_inventory,
    load_zfs_targets,
)
from hostbook.jobs.replication.host_plan import (
    HostPlan,
    btrfs_sources,
    job_kinds,
    plan_btrfs_host,
    plan_host,
    zfs_jobs,
)
from hostbook.jobs.replication.report import render_json, render_replication, render_retention
from hostbook.jobs.retention.source import plan_trees, zfs_trees
from hostbook.manifest.errors import BadInputError, ManifestError
from hostbook.manifest.sections.jobs import JobsDocument
from hostbook.manifest.sections.retention import ReplicationSettings, RetentionSettings
from hostbook.manifest.validate import validate_as
from hostbook.manifest.yamlio import read_document
from hostbook.process.recording import ReplayRunner
from hostbook.process.runner import LiveRunner, Runner


def load_settings(document: Any, path: str) -> tuple[RetentionSettings, ReplicationSettings]:
    """``retention:`` and ``replication:`` from a parsed jobs.yaml (strictly validated)."""
    doc = document if isinstance(document, Mapping) else {}
    try:
        retention = RetentionSettings.model_validate(doc.get("retention") or {})
        replication = ReplicationSettings.model_validate(doc.get("replication") or {})
    except ValidationError as exc:
        raise ManifestError(
            [f"{path}: {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        ) from None
    return retention, replication


def zfs_planned(document: Any, kinds: set[str], has_btrfs: bool,
                replication: ReplicationSettings) -> bool:
    """Whether the host has ZFS to plan: a ZFS job or target, or a file of retention only.

    A jobs.yaml whose jobs snapshot no ZFS dataset (tar of a path, LVM,
    btrfs) plans no ZFS: asking ``zfs`` there fails on every host without it.
    A jobs.yaml with no job at all and no btrfs target is the retention of
    snapshots made outside hostbook, which only ZFS datasets can be.
    """
    if "zfs" in kinds or any(t.kind == "zfs" for t in replication.targets):
        return True
    jobs = document.get("jobs") if isinstance(document, Mapping) else None
    return not has_btrfs and not jobs


def plan_from_repository(
    repo: Any,
    host: str,
    what: str,
    *,
    now: datetime,
    as_json: bool = False,
    replay: Any = None,
    source_root: str | None = None,
    runner: Runner | None = None,
) -> tuple[str, list[str]]:
    """Read ``hosts/HOST/jobs.yaml``, load inventories, plan; (rendered text, refusals)."""
    path = Path(repo) / "hosts" / host / "jobs.yaml"
    document = read_document(path)
    if document is None:
        raise BadInputError(f"{path}: no jobs.yaml for host {host!r}")
    retention, replication = load_settings(document, str(path))
    if runner is None:
        runner = ReplayRunner(Path(replay)) if replay is not None else LiveRunner()
    kinds = job_kinds(document)
    has_btrfs = "btrfs" in kinds or any(t.kind == "btrfs" for t in replication.targets)
    zfs_wanted = zfs_planned(document, kinds, has_btrfs, replication)
    trees = zfs_trees(zfs_jobs(document), replication) if not source_root else []
    if trees:
        plan = plan_trees(runner, host, retention, trees, now)
    else:
        source = load_inventory(runner, source_root) if zfs_wanted else {}
        targets = load_zfs_targets(runner, replication)
        plan = plan_host(host, retention, replication, source, targets, now,
                         source_root=source_root)
    if has_btrfs:
        sources, problems = btrfs_sources(replication, document)
        if source_root:
            sources = {d: names for d, names in sources.items() if d.startswith(source_root)}
        plans = plan_btrfs_host(retention, load_btrfs_sources(runner, replication, sources), now)
        plan = HostPlan(plan.host, plan.now, plan.datasets, plans, tuple(problems))
    archives = (archive_retention(runner, validate_as(JobsDocument, document, str(path)), host)
                if what == "retention" and _keeps_archives(document) else [])
    if not zfs_wanted and not has_btrfs and not archives and not as_json:
        text = (f"{what} plan for {host}: nothing to plan: its jobs snapshot no ZFS dataset "
                "and no btrfs subvolume, keep no archives, and it has no replication target\n")
    elif as_json:
        text = render_json(plan, what)
        if what == "retention":
            data = json.loads(text)
            data["archives"] = [a.to_json() for a in archives]
            text = json.dumps(data, indent=2) + "\n"
    elif what == "retention":
        text = render_retention(plan) + "".join(
            line + "\n" for a in archives for line in a.lines())
    else:
        text = render_replication(plan)
    return text, plan.refused


def _keeps_archives(document: Any) -> bool:
    """Whether any job's archive target has a ``keep`` (then jobs.yaml is validated whole)."""
    jobs = document.get("jobs") if isinstance(document, Mapping) else None
    for job in jobs if isinstance(jobs, list) else []:
        targets = job.get("archive") if isinstance(job, Mapping) else None
        for target in targets if isinstance(targets, list) else []:
            if isinstance(target, Mapping) and target.get("keep"):
                return True
    return False
