"""The clone step: send the fresh snapshot to the job's replication targets.

ZFS goes through the replication planner (:mod:`hostbook.jobs.planning`):
inventories of the source and each target, a validated plan of transfers
(full, incremental, resumed) and target-side retention, executed by
:class:`~hostbook.jobs.transfer.TransferExecutor`.  Source-side deletions in
that plan are left out: pruning the host's own snapshots is retention's
business, not a clone's, and the snapshot just taken is held anyway.

btrfs goes through :mod:`hostbook.jobs.btrfs_replication`: the parent of an
incremental ``btrfs send -p`` is the newest older snapshot whose uuid the
target holds as a finished copy's received_uuid, and the remains of an
interrupted receive are deleted first.  Subvolumes are described with their
absolute paths (from ``btrfs subvolume show`` of each entry of the snapshot
and target directories), so no mapping from the filesystem's top level to
mountpoints is needed, and the same works over ssh.

In a dry run nothing is sent: the planned operations are printed.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hostbook.jobs.btrfs_replication import (
    BtrfsParseError,
    Subvolume,
    parse_subvolume_show,
    plan_btrfs,
)
from hostbook.jobs.commands import CommandResult, Commands, describe
from hostbook.jobs.context import StepContext
from hostbook.jobs.planning import endpoint_for, load_inventory, plan_host
from hostbook.jobs.replication_ops import SOURCE, Destroy
from hostbook.jobs.snapshots import Taken
from hostbook.jobs.transfer import Endpoint, TransferExecutor, pipe
from hostbook.manifest.errors import HostbookError
from hostbook.manifest.sections.jobs import Job, JobsDocument
from hostbook.manifest.sections.retention import (
    ReplicationSettings,
    ReplicationTarget,
    RetentionSettings,
)

ProgressFn = Callable[[float | None, str], None]
_QUERY_WORDS = (" list ", " get ", "-nvP", " holds ", " show ")


@dataclass
class CloneResult:
    """What cloning to one target did."""

    target: str
    status: str  # ok, failed
    message: str = ""
    operations: int = 0
    bytes: int = 0


class _PlannerRunner:
    """Adapts the jobs command runner to the planner's ``run(argv, timeout)`` shape.

    Listing and estimating commands are queries (they run in a dry run too);
    everything else changes something.
    """

    def __init__(self, commands: Commands) -> None:
        self.commands = commands

    def run(self, argv: Sequence[str], timeout: float = 600.0) -> CommandResult:
        text = f" {' '.join(argv)} "
        query = any(word in text for word in _QUERY_WORDS)
        return self.commands.run(argv, timeout=timeout, mutates=not query)


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
    return [clone_btrfs(ctx, taken, t, progress) for t in targets]


# -- ZFS -----------------------------------------------------------------------------


def clone_zfs(ctx: StepContext, job: Job, document: JobsDocument, target: ReplicationTarget,
              progress: ProgressFn | None = None) -> CloneResult:
    """Plan and run the replication of the job's dataset tree to one target."""
    dataset = job.volume.dataset
    assert dataset is not None
    runner = _PlannerRunner(ctx.commands)
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
            ctx.command(op.describe())
        return CloneResult(target.name, "ok", "dry run", len(operations))

    def on_bytes(name: str, sent: int, estimate: int | None) -> None:
        if progress is not None:
            progress(sent / estimate if estimate else None, f"{sent >> 20} MiB to {name}")

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


def _ssh(target: ReplicationTarget) -> list[str]:
    if not target.host:
        return []
    return ["ssh", "-o", "BatchMode=yes", *target.ssh_options, target.host]


def _on_target(target: ReplicationTarget, argv: list[str]) -> list[str]:
    ssh = _ssh(target)
    return [*ssh, shlex.join(argv)] if ssh else argv


def _show(commands: Commands, argv_prefix: list[str], path: str) -> Subvolume | None:
    """A subvolume described by ``btrfs subvolume show``, its path made absolute."""
    argv = ["btrfs", "subvolume", "show", path]
    full = [*argv_prefix, shlex.join(argv)] if argv_prefix else argv
    result = commands.run(full, timeout=120.0, mutates=False)
    if not result.ok:
        return None
    try:
        sub = parse_subvolume_show(result.stdout)
    except BtrfsParseError:
        return None
    return dataclasses.replace(sub, path=path.lstrip("/"))


def _entries(commands: Commands, argv_prefix: list[str], directory: str) -> list[str] | None:
    """Absolute paths of a directory's entries, locally or over ssh (None: no directory)."""
    if not argv_prefix:
        try:
            return [os.path.join(directory, n) for n in sorted(os.listdir(directory))]
        except FileNotFoundError:
            return None
    result = commands.run(
        [*argv_prefix, shlex.join(["ls", "-1", "--", directory])], timeout=120.0, mutates=False
    )
    if not result.ok:
        return None
    return [os.path.join(directory, n) for n in result.stdout.splitlines() if n]


def clone_btrfs(ctx: StepContext, taken: Taken, target: ReplicationTarget,
                progress: ProgressFn | None = None) -> CloneResult:
    """Send the snapshot (incrementally when a parent is found by uuid) to one target."""
    commands = ctx.commands
    snapshot = taken.snapshot
    directory = str(taken.details.get("directory") or "")
    if not snapshot or not directory:
        return CloneResult(target.name, "failed", "no btrfs snapshot to send")
    ssh = _ssh(target)
    target_dir = target.dataset.rstrip("/")
    if ctx.dry_run and not os.path.exists(snapshot):
        ctx.command(f"btrfs send [-p <newest snapshot the target holds>] {snapshot} | "
                    f"{describe(_on_target(target, ['btrfs', 'receive', target_dir]))}")
        return CloneResult(target.name, "ok", "dry run")
    wanted = _show(commands, [], snapshot)
    if wanted is None:
        return CloneResult(target.name, "failed", f"{snapshot}: not a btrfs subvolume")
    source = [
        s for p in (_entries(commands, [], directory) or [])
        if (s := _show(commands, [], p)) is not None and s.readonly
    ]
    listed = _entries(commands, ssh, target_dir)
    if listed is None:
        made = commands.run(_on_target(target, ["mkdir", "-p", "--", target_dir]), timeout=120.0)
        if not made.ok:
            return CloneResult(target.name, "failed", made.failure())
        listed = []
    present = [s for p in listed if (s := _show(commands, ssh, p)) is not None]
    steps = plan_btrfs([wanted], source, present, target_dir.lstrip("/"))
    sent_total = 0
    for step in steps:
        argvs = step.argv("", "", target_dir.lstrip("/"))
        if step.action == "delete":
            ctx.log(f"{step.subvolume.path}: {step.reason}")
            result = commands.run(_on_target(target, argvs[0]), timeout=600.0)
            if not result.ok:
                return CloneResult(target.name, "failed", result.failure())
            continue
        send, receive = argvs[0], _on_target(target, argvs[1])
        ctx.log(f"{step.subvolume.name}: {step.reason}")
        ctx.command(f"{describe(send)} | {describe(receive)}")
        if ctx.dry_run:
            continue

        def on_bytes(count: int, name: str = target.name) -> None:
            if progress is not None:
                progress(None, f"{count >> 20} MiB to {name}")

        sent, code_s, err_s, code_r, err_r = pipe((send, {}), (receive, {}), on_bytes=on_bytes)
        sent_total += sent
        if code_s != 0 or code_r != 0:
            why = "; ".join(e.strip().splitlines()[-1] for e in (err_s, err_r) if e.strip())
            return CloneResult(
                target.name, "failed",
                f"btrfs send/receive: exit {code_s}/{code_r}" + (f": {why}" if why else ""),
                bytes=sent_total,
            )
    if not steps:
        return CloneResult(target.name, "ok", "already on the target")
    sends = sum(1 for s in steps if s.action == "send")
    kind = "incremental" if any(s.parent is not None for s in steps) else "full"
    return CloneResult(target.name, "ok", f"{sends} {kind} send(s)", len(steps), sent_total)
