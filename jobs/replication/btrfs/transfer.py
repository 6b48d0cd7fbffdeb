"""Carry out a btrfs plan: ``btrfs send [-p PARENT] SNAP | [ssh host] btrfs receive DIR``.

The planner (:mod:`hostbook.jobs.replication.btrfs.plan`) decides; this module runs its
steps in order and stops at the first failure, since later steps rely on
earlier ones (a send's parent, a deletion only safe once the newer copy
landed).  A receive that breaks off leaves a writable subvolume without a
received_uuid; nothing here cleans it up on the spot — the next plan finds
it (:func:`hostbook.jobs.replication.btrfs.lineage.half_received`) and deletes it
before sending again, so a crash of hostbook itself is handled the same way.

Progress is reported in bytes sent (btrfs has no dry-run size estimate).  A
transfer can be cancelled between chunks (``cancel``), e.g. when a backup
window closes: the receiver then sees a short stream, exactly as after a
lost connection.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from hostbook.jobs.replication.btrfs.inventory import remote
from hostbook.jobs.replication.btrfs.lineage import BtrfsStep
from hostbook.process.pipeline import Stage
from hostbook.process.runner import Runner

SOURCE = "source"
Progress = Callable[[str, int], None]


@dataclass(frozen=True)
class BtrfsEndpoint:
    """A target's receive directory, local or behind ``ssh`` (a full argv ending in the host)."""

    directory: str
    ssh: tuple[str, ...] = ()

    @classmethod
    def over_ssh(cls, directory: str, host: str, options: Sequence[str] = ()) -> BtrfsEndpoint:
        return cls(directory, ("ssh", "-o", "BatchMode=yes", *options, host))


def send_argv(step: BtrfsStep) -> list[str]:
    """``btrfs send [-p PARENT] SNAP`` for a send step (paths are absolute)."""
    argv = ["btrfs", "send"]
    if step.parent is not None:
        argv += ["-p", "/" + step.parent.path]
    return [*argv, "/" + step.subvolume.path]


def receive_argv(endpoint: BtrfsEndpoint) -> list[str]:
    return remote(["btrfs", "receive", endpoint.directory], endpoint.ssh)


def delete_argv(step: BtrfsStep, ssh: Sequence[str] = ()) -> list[str]:
    return remote(["btrfs", "subvolume", "delete", "/" + step.subvolume.path], ssh)


@dataclass
class BtrfsStepResult:
    step: BtrfsStep
    ok: bool
    bytes: int = 0
    error: str = ""


@dataclass
class BtrfsReport:
    steps: list[BtrfsStepResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)

    @property
    def sent(self) -> int:
        return sum(s.bytes for s in self.steps)


def _tail(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    return (errors or lines or ["no message"])[-1].strip()


class BtrfsExecutor:
    """Runs a btrfs plan's steps against the source host and named target endpoints."""

    def __init__(
        self,
        targets: Mapping[str, BtrfsEndpoint],
        *,
        source_ssh: Sequence[str] = (),
        runner: Runner,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.targets = dict(targets)
        self.source_ssh = tuple(source_ssh)
        self.runner = runner
        self.progress = progress
        self.cancel = cancel
        self._ready: set[str] = set()

    def execute(self, steps: Sequence[BtrfsStep]) -> BtrfsReport:
        """Run steps in order; stop at the first failure."""
        report = BtrfsReport()
        for step in steps:
            result = self.execute_one(step)
            report.steps.append(result)
            if not result.ok:
                break
        return report

    def execute_one(self, step: BtrfsStep) -> BtrfsStepResult:
        if step.action == "delete":
            ssh = self.source_ssh if step.location == SOURCE else self.targets[step.target].ssh
            res = self.runner.command(delete_argv(step, ssh), timeout=600.0)
            return BtrfsStepResult(step, res.returncode == 0,
                                   error="" if res.returncode == 0 else _tail(res.stderr))
        endpoint = self.targets[step.target]
        if step.target not in self._ready:
            made = self.runner.command(
                remote(["mkdir", "-p", "--", endpoint.directory], endpoint.ssh), timeout=120.0)
            if made.returncode != 0:
                return BtrfsStepResult(step, False, error=f"mkdir {endpoint.directory}: "
                                       f"{_tail(made.stderr)}")
            self._ready.add(step.target)
        progress = self.progress

        def on_bytes(count: int) -> None:
            if progress is not None:
                progress(step.target, count)

        piped = self.runner.pipeline(
            [Stage.of(remote(send_argv(step), self.source_ssh)), Stage.of(receive_argv(endpoint))],
            on_bytes=on_bytes, cancel=self.cancel,
        )
        if piped.ok:
            return BtrfsStepResult(step, True, piped.bytes)
        sender, receiver = piped.stages
        why = "; ".join(_tail(r.stderr) for r in piped.stages if r.stderr.strip())
        if piped.cancelled:
            why = "cancelled" + (f" ({why})" if why else "")
        return BtrfsStepResult(
            step, False, piped.bytes,
            f"btrfs send/receive: exit {sender.returncode}/{receiver.returncode}: "
            f"{why or 'no message'}",
        )
