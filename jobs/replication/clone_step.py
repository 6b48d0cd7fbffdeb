"""The clone step: send the fresh snapshot to the job's replication targets.

ZFS goes through the replication planner (:mod:`hostbook.jobs.replication.host_plan`):
inventories of the source and each target
(:mod:`hostbook.jobs.replication.host_inventory`), a validated plan of transfers
(full, incremental, resumed) and target-side retention, executed by
:class:`~hostbook.jobs.replication.zfs.transfer.TransferExecutor`.  Source-side deletions in
that plan are left out: pruning the host's own snapshots is retention's
business, not a clone's, and the snapshot just taken is held anyway.

btrfs goes through :mod:`hostbook.jobs.replication.btrfs.plan` the same way: the
snapshot directory and the target directory are read
(:mod:`hostbook.jobs.replication.btrfs.inventory`), the parent of each incremental
``btrfs send -p`` is the newest older snapshot whose uuid the target holds
as a finished copy's received_uuid, the remains of an interrupted receive
are deleted first, and the target's retention applies; source-side
deletions are again left out.

In a dry run nothing is sent: the planned operations are printed.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass

from hostbook.jobs.replication.btrfs.inventory import load_directory
from hostbook.jobs.replication.btrfs.plan import BtrfsTarget, plan_btrfs_directory
from hostbook.jobs.replication.btrfs.transfer import BtrfsEndpoint, BtrfsExecutor
from hostbook.jobs.replication.host_inventory import endpoint_for, load_inventory, ssh_command
from hostbook.jobs.replication.host_plan import plan_host
from hostbook.jobs.replication.zfs.ops import SOURCE, Destroy
from hostbook.jobs.replication.zfs.transfer import Endpoint, TransferExecutor
from hostbook.jobs.run.context import ProgressFn, StepContext
from hostbook.jobs.snapshot.provider import Taken
from hostbook.manifest.errors import HostbookError
from hostbook.manifest.sections.jobs import Job, JobsDocument
from hostbook.manifest.sections.retention import (
    ReplicationSettings,
    ReplicationTarget,
    RetentionSettings,
)
from hostbook.process.masking import describe


@dataclass
class CloneResult:
    """What cloning to one target did."""

    target: str
    status: str  # ok, failed
    message: str = ""
    operations: int = 0
    bytes: int = 0


def _targets(job: Job, document: JobsDocument) -> list[ReplicationTarget]:
    settings = document.replication or ReplicationSettings()
    wanted = set(job.clone)
    return [t for t in settings.targets if t.name in wanted]


def clone(ctx: StepContext, job: Job, taken: Taken, document: JobsDocument,
          progress: ProgressFn | None = None) -> list[CloneResult]:
    """Clone the snapshot to every target the job names."""
    targets = _targets(job, document)
    if job.provider == "zfs":
        return [clone_zfs(ctx, job, document, t, progress) for t in targets]
    return [clone_btrfs(ctx, job, document, taken, t, progress) for t in targets]


# -- ZFS -----------------------------------------------------------------------------


def clone_zfs(ctx: StepContext, job: Job, document: JobsDocument, target: ReplicationTarget,
              progress: ProgressFn | None = None) -> CloneResult:
    """Plan and run the replication of the job's dataset tree to one target."""
    dataset = job.volume.dataset
    assert dataset is not None
    runner = ctx.runner
    source_root = target.source or dataset
    scoped = target.model_copy(update={"source": source_root})
    endpoint = endpoint_for(target)
    try:
        source = load_inventory(runner, source_root)
        target_inventory = load_inventory(runner, target.dataset, endpoint,
                                          decode_from=Endpoint())
    except HostbookError as exc:
        return CloneResult(target.name, "failed", str(exc))
    plan = plan_host(
        ctx.host, document.retention or RetentionSettings(),
        ReplicationSettings(targets=[scoped]), source, {target.name: target_inventory},
        ctx.now, source_root=source_root,
    )
    if plan.refused:
        return CloneResult(target.name, "failed", "; ".join(plan.refused))
    operations = [
        op for ds in plan.datasets for op in ds.operations
        if not (isinstance(op, Destroy) and op.location == SOURCE)
    ]
    if ctx.dry_run:
        for op in operations:
            ctx.show(op.describe())
        return CloneResult(target.name, "ok", "dry run", len(operations))

    def on_bytes(name: str, sent: int, estimate: int | None) -> None:
        if progress is not None:
            fraction = min(sent / estimate, 1.0) if estimate else None  # an estimate is rough
            progress(fraction, f"{sent >> 20} MiB to {name}")

    executor = TransferExecutor(
        Endpoint(), {target.name: endpoint},
        resumable={target.name: target.resumable}, rollback={target.name: target.rollback},
        progress=on_bytes, runner=runner,
    )
    for op in operations:
        ctx.log(f"{op.describe()}: {op.reason}")
    report = executor.execute(operations)
    sent = sum(step.bytes for step in report.steps)
    if not report.ok:
        failed = next(s for s in report.steps if not s.ok)
        return CloneResult(
            target.name, "failed", f"{failed.operation.describe()}: {failed.error}",
            len(report.steps), sent,
        )
    note = "up to date" if not operations else f"{len(operations)} operation(s)"
    return CloneResult(target.name, "ok", note, len(operations), sent)


# -- btrfs ---------------------------------------------------------------------------


def clone_btrfs(ctx: StepContext, job: Job, document: JobsDocument, taken: Taken,
                target: ReplicationTarget, progress: ProgressFn | None = None) -> CloneResult:
    """Send the job's snapshots to one target, each with its parent chosen by uuid."""
    snapshot = taken.snapshot
    directory = str(taken.details.get("directory") or "")
    if not snapshot or not directory:
        return CloneResult(target.name, "failed", "no btrfs snapshot to send")
    ssh = ssh_command(target)
    target_dir = target.dataset.rstrip("/") or "/"
    if ctx.dry_run and not os.path.exists(snapshot):
        receive = [*ssh, shlex.join(["btrfs", "receive", target_dir])] if ssh else [
            "btrfs", "receive", target_dir]
        ctx.show(f"btrfs send [-p <newest snapshot {target.name} holds>] {snapshot} | "
                    f"{describe(receive)}")
        return CloneResult(target.name, "ok", "dry run")
    runner = ctx.runner
    try:
        source = load_directory(runner, directory)
        location = load_directory(runner, target_dir, ssh=ssh)
    except HostbookError as exc:
        return CloneResult(target.name, "failed", str(exc))
    policy = (document.retention or RetentionSettings()).policy_for(directory)
    plan = plan_btrfs_directory(
        source, policy, [BtrfsTarget(target.name, location, target.policy, ssh)], ctx.now
    )
    if plan.refused:
        return CloneResult(target.name, "failed", "; ".join(plan.refused))
    # The host's own snapshots are pruned by retention, not by a clone.
    steps = [s for s in plan.steps if not (s.action == "delete" and s.location == SOURCE)]
    for step in steps:
        ctx.log(f"{step.subvolume.name}: {step.reason}")
        ctx.show(plan.describe(step))
    if ctx.dry_run:
        return CloneResult(target.name, "ok", "dry run", len(steps))

    def on_bytes(name: str, count: int) -> None:
        if progress is not None:
            progress(None, f"{count >> 20} MiB to {name}")

    executor = BtrfsExecutor({target.name: BtrfsEndpoint(target_dir, ssh)}, runner=runner,
                             progress=on_bytes)
    report = executor.execute(steps)
    if not report.ok:
        failed = next(s for s in report.steps if not s.ok)
        return CloneResult(target.name, "failed", f"{plan.describe(failed.step)}: "
                           f"{failed.error}", len(report.steps), report.sent)
    sends = [s for s in steps if s.action == "send"]
    if not sends:
        return CloneResult(target.name, "ok", "already on the target", len(steps), 0)
    kinds = sorted({"incremental" if s.parent is not None else "full" for s in sends})
    return CloneResult(target.name, "ok", f"{len(sends)} send(s): {', '.join(kinds)}",
                       len(steps), report.sent)
