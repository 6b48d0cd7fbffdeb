"""Carry out replication operations: ``zfs send ... | [ssh host] zfs receive``.

The planners decide; this module only runs what a validated plan says, in
order, and stops at the first failure (later steps depend on earlier ones).
Transfers are raw (``-w``) when the plan says so — the default for
encrypted datasets, so keys never leave the host — and go through ssh for
remote targets.  Progress is reported as (bytes so far, estimated size),
the estimate coming from ``zfs send -nvP`` (its ``size`` line) for resumed
and large streams, and from the inventory's ``written`` for small ones
(:func:`rough_size`), where asking zfs would cost as much as the transfer.  A receive
interrupted with ``-s`` leaves a resume token on the target; the next plan
resumes it (``zfs send -t``) or aborts it (``zfs receive -A``).

Every command goes through the process layer: listings and estimates are
queries, destroys and aborts commands, and each transfer one pipeline, so a
dry run prints them and a recording replays them.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from hostbook.jobs.replication.zfs.ops import (
    AbortResume,
    Destroy,
    FullTransfer,
    IncrementalTransfer,
    Operation,
    ResumeTransfer,
)
from hostbook.process.pipeline import Stage
from hostbook.process.result import CommandResult
from hostbook.process.runner import Runner

Progress = Callable[[str, int, int | None], None]
ZFS_TIMEOUT = 600.0
ASK_SIZE_FROM = 64 << 20
"""A stream the inventory puts below this many bytes is not measured with
``zfs send -nvP``: that costs one zfs process, about as long as sending a small stream
(0.3 s under TCG, measured in benchmarks/zfs_replication.md), and the progress of a
stream that short needs no exact total."""


@dataclass(frozen=True)
class Endpoint:
    """Where zfs runs: locally, or on ``ssh`` (a full ssh argv ending in the host)."""

    zfs: tuple[str, ...] = ("zfs",)
    ssh: tuple[str, ...] | None = None
    env: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def remote(cls, host: str, options: Sequence[str] = (), zfs: str = "zfs") -> Endpoint:
        return cls((zfs,), ("ssh", "-o", "BatchMode=yes", *options, host))

    def argv(self, *args: str) -> list[str]:
        command = [*self.zfs, *args]
        if self.ssh:
            return [*self.ssh, shlex.join(command)]
        return command


def send_args(op: FullTransfer | IncrementalTransfer | ResumeTransfer) -> list[str]:
    """``zfs send`` arguments for a transfer (without the ``zfs``)."""
    if isinstance(op, ResumeTransfer):
        return ["send", "-t", op.token]
    raw = ["-w"] if op.raw else []
    if isinstance(op, FullTransfer):
        return ["send", *raw, f"{op.source_dataset}@{op.snapshot.name}"]
    return ["send", *raw, op.flag, f"@{op.base.name}", f"{op.source_dataset}@{op.end.name}"]


def receive_args(
    op: FullTransfer | IncrementalTransfer | ResumeTransfer, *, resumable: bool, rollback: bool
) -> list[str]:
    """``zfs receive`` arguments: ``-s`` resumable, ``-F`` rollback, ``-u`` never mount."""
    args = ["receive", "-u"]
    if resumable or isinstance(op, ResumeTransfer):
        args.append("-s")
    if isinstance(op, FullTransfer):
        if op.force:
            args.append("-F")
    elif rollback and isinstance(op, IncrementalTransfer):
        args.append("-F")
    return [*args, op.target_dataset]


def rough_size(op: Operation) -> int | None:
    """The stream's size from the inventory, without asking zfs; None: ask zfs.

    For an incremental it is the ``written`` of the snapshots it carries
    (bytes written since each one's predecessor: near the stream's size, and
    under it for an ``-i`` hop over a gap); for a full stream the ``written``
    of every snapshot up to its own, which the planner put on it (at least what
    the snapshot references, more where data was overwritten since).  Both are
    physical bytes: a compressed dataset's stream is larger, which only makes
    its progress reach the end early.  A resumed stream is always measured.
    """
    if isinstance(op, IncrementalTransfer):
        return sum(snap.written for snap in op.snapshots)
    if isinstance(op, FullTransfer):
        return op.written
    return None


def parse_estimate(text: str) -> int | None:
    """The total from ``zfs send -nvP`` (``size<TAB>N``; resume output has an nvlist first)."""
    for line in reversed(text.splitlines()):
        if line.startswith("size\t"):
            try:
                return int(line.split("\t", 1)[1])
            except ValueError:
                return None
    return None


@dataclass
class StepResult:
    """What one operation did."""

    operation: Operation
    ok: bool
    bytes: int = 0
    estimate: int | None = None
    error: str = ""


@dataclass
class ExecutionReport:
    steps: list[StepResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)


class TransferExecutor:
    """Runs a plan's operations against a source and named target endpoints."""

    def __init__(
        self,
        source: Endpoint,
        targets: Mapping[str, Endpoint],
        *,
        resumable: Mapping[str, bool] | None = None,
        rollback: Mapping[str, bool] | None = None,
        progress: Progress | None = None,
        runner: Runner,
    ) -> None:
        self.source = source
        self.targets = dict(targets)
        self.resumable = dict(resumable or {})
        self.rollback = dict(rollback or {})
        self.progress = progress
        self.runner = runner

    def _query(self, endpoint: Endpoint, args: Sequence[str]) -> CommandResult:
        return self.runner.query(endpoint.argv(*args), env=endpoint.env or None,
                                 timeout=ZFS_TIMEOUT)

    def _command(self, endpoint: Endpoint, args: Sequence[str]) -> CommandResult:
        return self.runner.command(endpoint.argv(*args), env=endpoint.env or None,
                                   timeout=ZFS_TIMEOUT)

    def endpoint(self, location: str) -> Endpoint:
        return self.source if location == "source" else self.targets[location]

    def execute(self, operations: Sequence[Operation]) -> ExecutionReport:
        """Run operations in order; stop at the first failure."""
        report = ExecutionReport()
        for op in operations:
            step = self.execute_one(op)
            report.steps.append(step)
            if not step.ok:
                break
        return report

    def execute_one(self, op: Operation) -> StepResult:
        if isinstance(op, Destroy):
            res = self._command(self.endpoint(op.location), ["destroy", op.spec()])
            return StepResult(op, res.returncode == 0, error=res.stderr.strip())
        if isinstance(op, AbortResume):
            res = self._command(self.targets[op.target], ["receive", "-A", op.target_dataset])
            return StepResult(op, res.returncode == 0, error=res.stderr.strip())
        return self._transfer(op)

    def _transfer(self, op: FullTransfer | IncrementalTransfer | ResumeTransfer) -> StepResult:
        target = self.targets[op.target]
        sargs = send_args(op)
        estimate = rough_size(op)
        if estimate is None or estimate >= ASK_SIZE_FROM:
            asked = self._query(self.source, [sargs[0], "-nvP", *sargs[1:]])
            estimate = parse_estimate(asked.stdout) if asked.returncode == 0 else estimate
        rargs = receive_args(
            op,
            resumable=self.resumable.get(op.target, True),
            rollback=self.rollback.get(op.target, True),
        )
        progress = self.progress
        on_bytes = None
        if progress is not None:

            def on_bytes(n: int) -> None:
                progress(op.target, n, estimate)

        piped = self.runner.pipeline(
            [Stage.of(self.source.argv(*sargs), self.source.env),
             Stage.of(target.argv(*rargs), target.env)],
            on_bytes=on_bytes,
        )
        error = "" if piped.ok else "; ".join(
            r.stderr.strip() for r in piped.stages if r.stderr.strip()) or piped.failure()
        return StepResult(op, piped.ok, piped.bytes, estimate, error)


