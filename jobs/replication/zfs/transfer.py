"""Carry out replication operations: ``zfs send ... | [ssh host] zfs receive``.

The planners decide; this module only runs what a validated plan says, in
order, and stops at the first failure (later steps depend on earlier ones).
Transfers are raw (``-w``) when the plan says so — the default for
encrypted datasets, so keys never leave the host — and go through ssh for
remote targets.  Progress is reported as (bytes so far, estimated size),
the estimate coming from ``zfs send -nvP`` (its ``size`` line).  A receive
interrupted with ``-s`` leaves a resume token on the target; the next plan
resumes it (``zfs send -t``) or aborts it (``zfs receive -A``).

Archive streams (:func:`stream_to_file`) go through ``zstd`` and ``age`` or
``gpg`` on the way out, written to a temporary name and renamed when whole;
:mod:`hostbook.jobs.archive.streams.restore` takes them back through decryption and
decompression into ``zfs receive``.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from hostbook.jobs.private_files import create_private
from hostbook.jobs.replication.zfs.ops import (
    AbortResume,
    Destroy,
    FullTransfer,
    IncrementalTransfer,
    Operation,
    ResumeTransfer,
)

CHUNK = 1 << 16
Progress = Callable[[str, int, int | None], None]


class Result(Protocol):
    @property
    def returncode(self) -> int: ...

    @property
    def stdout(self) -> str: ...

    @property
    def stderr(self) -> str: ...


class CommandRunner(Protocol):
    """The slice of ``hostbook.capture.runner.Runner`` this module needs."""

    def run(self, argv: Sequence[str], timeout: float = ...) -> Result: ...


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


@dataclass(frozen=True)
class _Completed:
    returncode: int
    stdout: str
    stderr: str


class SubprocessRunner:
    """Runs argv without a shell, with extra environment (e.g. a fake zfs's state)."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.env = {**os.environ, **(env or {})}

    def run(self, argv: Sequence[str], timeout: float = 600.0) -> _Completed:
        proc = subprocess.run(
            list(argv), capture_output=True, text=True, env=self.env, timeout=timeout,
            stdin=subprocess.DEVNULL, check=False,
        )
        return _Completed(proc.returncode, proc.stdout, proc.stderr)


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
        runner: CommandRunner | None = None,
    ) -> None:
        self.source = source
        self.targets = dict(targets)
        self.resumable = dict(resumable or {})
        self.rollback = dict(rollback or {})
        self.progress = progress
        self.runner = runner

    def _run(self, endpoint: Endpoint, args: Sequence[str]) -> Result:
        argv = endpoint.argv(*args)
        if self.runner is not None and not endpoint.env:
            return self.runner.run(argv)
        return SubprocessRunner(endpoint.env).run(argv)

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
            res = self._run(self.endpoint(op.location), ["destroy", op.spec()])
            return StepResult(op, res.returncode == 0, error=res.stderr.strip())
        if isinstance(op, AbortResume):
            res = self._run(self.targets[op.target], ["receive", "-A", op.target_dataset])
            return StepResult(op, res.returncode == 0, error=res.stderr.strip())
        return self._transfer(op)

    def _transfer(self, op: FullTransfer | IncrementalTransfer | ResumeTransfer) -> StepResult:
        target = self.targets[op.target]
        sargs = send_args(op)
        estimate_res = self._run(self.source, [sargs[0], "-nvP", *sargs[1:]])
        estimate = parse_estimate(estimate_res.stdout) if estimate_res.returncode == 0 else None
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

        sent, code_s, err_s, code_r, err_r = pipe(
            (self.source.argv(*sargs), self.source.env),
            (target.argv(*rargs), target.env),
            on_bytes=on_bytes,
        )
        ok = code_s == 0 and code_r == 0
        error = "; ".join(e for e in (err_s.strip(), err_r.strip()) if e) if not ok else ""
        return StepResult(op, ok, sent, estimate, error)


def pipe(
    sender: tuple[Sequence[str], Mapping[str, str]],
    receiver: tuple[Sequence[str], Mapping[str, str]],
    *,
    on_bytes: Callable[[int], None] | None = None,
    cancel: threading.Event | None = None,
) -> tuple[int, int, str, int, str]:
    """Copy sender's stdout into receiver's stdin, counting bytes.

    Returns (bytes, sender exit, sender stderr, receiver exit, receiver stderr).
    Setting ``cancel`` (from another thread, or from ``on_bytes``) stops the
    transfer after the current chunk: the sender is killed and the receiver
    sees its stream end early — what a lost connection looks like to it.
    """
    s_argv, s_env = sender
    r_argv, r_env = receiver
    with (
        subprocess.Popen(
            list(s_argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            env={**os.environ, **s_env},
        ) as send,
        subprocess.Popen(
            list(r_argv), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env={**os.environ, **r_env},
        ) as recv,
    ):
        assert send.stdout is not None and recv.stdin is not None
        total = 0
        try:
            while chunk := send.stdout.read(CHUNK):
                recv.stdin.write(chunk)
                total += len(chunk)
                if on_bytes:
                    on_bytes(total)
                if cancel is not None and cancel.is_set():
                    send.kill()
                    break
        except BrokenPipeError:
            pass
        finally:
            with contextlib.suppress(BrokenPipeError):
                recv.stdin.close()
        r_err = recv.stderr.read() if recv.stderr else b""
        recv.wait()
        s_err = send.stderr.read() if send.stderr else b""
        send.wait()
    return total, send.returncode, s_err.decode(errors="replace"), recv.returncode, (
        r_err.decode(errors="replace")
    )


def filter_argv(compress: str, encrypt: str, recipients: Sequence[str]) -> list[list[str]]:
    """The commands an archive stream passes through on its way to a file."""
    stages: list[list[str]] = []
    if compress == "zstd":
        stages.append(["zstd", "-q", "-c", "-T0"])
    if encrypt == "age":
        stages.append(["age", *[a for r in recipients for a in ("-r", r)]])
    elif encrypt == "gpg":
        args = ["gpg", "--batch", "--yes", "--trust-model", "always", "--encrypt"]
        stages.append([*args, *[a for r in recipients for a in ("--recipient", r)]])
    return stages


def stream_to_file(
    send: Sequence[str],
    path: Path,
    *,
    compress: str = "zstd",
    encrypt: str = "none",
    recipients: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> tuple[int, int]:
    """Run ``send`` | filters > ``path``; returns (stream bytes, stored bytes).

    The file is written as ``path.partial`` and renamed only when every stage
    succeeded, so a catalogue never points at half a stream.
    """
    full_env = {**os.environ, **(env or {})}
    partial = path.with_name(path.name + ".partial")
    stages = filter_argv(compress, encrypt, recipients)
    procs: list[subprocess.Popen[bytes]] = []
    with os.fdopen(create_private(partial), "wb") as out:  # 0600: it holds the volume
        src = subprocess.Popen(
            list(send), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env,
            stdin=subprocess.DEVNULL,
        )
        procs.append(src)
        prev_out = None
        for i, argv in enumerate(stages):
            last = i == len(stages) - 1
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE if i == 0 else prev_out,
                stdout=out if last else subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=full_env,
            )
            if prev_out is not None:
                prev_out.close()  # the next stage owns it now
            prev_out = None if last else proc.stdout
            procs.append(proc)
        feeder = procs[1] if stages else None
        assert src.stdout is not None
        total = 0
        sink = feeder.stdin if feeder is not None else out
        assert sink is not None
        while chunk := src.stdout.read(CHUNK):
            sink.write(chunk)
            total += len(chunk)
            if on_bytes:
                on_bytes(total)
        if feeder is not None and feeder.stdin is not None:
            feeder.stdin.close()
        errors = []
        for proc in procs:
            proc.wait()
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            if proc.returncode != 0:
                name = proc.args[0] if isinstance(proc.args, list) else proc.args
                errors.append(f"{name!s}: exit {proc.returncode}: {err.strip()}")
    if errors:
        partial.unlink(missing_ok=True)
        raise RuntimeError("; ".join(errors))
    partial.replace(path)
    return total, path.stat().st_size
