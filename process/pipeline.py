"""Pipelines: ``[file >] a | b | c [> file]`` with the rules of every other command.

Replication (``zfs send | ssh host zfs receive``), archive streams (``zfs send
| zstd | age > file``) and their restore (``file > age -d | zstd -d | zfs
receive``) are pipelines.  The stages are connected by kernel pipes except at
one point, the *meter*, where hostbook copies the bytes itself: that is where
progress is counted and where a transfer can be cancelled (the upstream stage
is killed, which is what a lost connection looks like downstream).

An output file is written as ``NAME.partial`` (mode 0600) and renamed only when
every stage succeeded, so nothing ever points at half a stream.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from hostbook.process.result import CommandResult, error_line, text
from hostbook.process.spawn import Identity, locate, signal_group, start, stop

CHUNK = 1 << 16
PARTIAL_SUFFIX = ".partial"
_BROKEN = (-signal.SIGPIPE, -signal.SIGKILL)
"""Exit statuses of a stage whose reader went away or that a cancel stopped."""


@dataclass(frozen=True)
class Stage:
    """One command of a pipeline, with environment added to the tool environment."""

    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    identity: Identity | None = None

    @classmethod
    def of(cls, argv: Sequence[str], env: Mapping[str, str] | None = None) -> Stage:
        return cls(tuple(argv), dict(env or {}))


@dataclass(frozen=True)
class PipelineResult:
    """Each stage's outcome, the bytes that passed the meter, and whether it was cancelled."""

    stages: tuple[CommandResult, ...]
    bytes: int = 0
    cancelled: bool = False
    output: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.cancelled and all(s.ok for s in self.stages)

    def failure(self) -> str:
        """The failing stages in words; a stage that only lost its reader is not blamed."""
        failed = [s for s in self.stages if not s.ok]
        real = [s for s in failed if s.returncode not in _BROKEN] or failed
        words = "; ".join(
            s.failure() if s.missing else f"{s.argv[0]}: exit {s.returncode}: "
            f"{error_line(s.stderr)}" for s in real)
        if self.cancelled:
            return "cancelled" + (f" ({words})" if words else "")
        return words or "no stage failed"


def describe(stages: Sequence[Stage], source: Path | None = None,
             output: Path | None = None) -> str:
    """The pipeline as a shell line (environment by name only)."""
    from hostbook.process.masking import describe as one

    line = " | ".join(one(s.argv, s.env or None) for s in stages)
    if source is not None:
        line = f"< {source} {line}"
    if output is not None:
        line = f"{line} > {output}"
    return line


def _copy(
    reader: IO[bytes],
    writer: IO[bytes] | None,
    on_bytes: Callable[[int], None] | None,
    cancel: threading.Event | None,
    upstream: subprocess.Popen[bytes] | None,
) -> tuple[int, bool]:
    """Copy at the meter, counting; on cancel kill the stage that feeds it.

    Bytes are passed on as soon as they arrive: a buffered ``read(CHUNK)`` would
    wait for a whole chunk (or the end) and an unflushed write would hold the rest,
    so the next stage would idle while the one before it works.  A ``zfs send -I``
    of a few hundred small snapshots is smaller than one chunk: held back, the
    receive would only start once the send was nearly done, and the two would run
    one after the other instead of side by side.
    """
    total = 0
    cancelled = False
    fd = reader.fileno()
    try:
        while chunk := os.read(fd, CHUNK):
            if writer is not None:
                try:
                    writer.write(chunk)
                    writer.flush()
                except BrokenPipeError:
                    break
            total += len(chunk)
            if on_bytes is not None:
                on_bytes(total)
            if cancel is not None and cancel.is_set():
                cancelled = True
                if upstream is not None:
                    signal_group(upstream, signal.SIGKILL)
                break
    finally:
        if writer is not None:
            with contextlib.suppress(BrokenPipeError, OSError):
                writer.close()
    return total, cancelled


def _drain(stream: IO[bytes] | None, sink: list[bytes]) -> None:
    if stream is None:
        return
    with contextlib.suppress(ValueError, OSError):
        sink.append(stream.read())
        stream.close()


def run_pipeline(
    stages: Sequence[Stage],
    base_env: Mapping[str, str],
    *,
    source: Path | None = None,
    output: Path | None = None,
    meter: int = 0,
    on_bytes: Callable[[int], None] | None = None,
    cancel: threading.Event | None = None,
) -> PipelineResult:
    """Run the stages connected stdout -> stdin; hostbook copies after stage ``meter``.

    ``meter`` is the index of the stage whose output hostbook reads and passes
    on (-1: the ``source`` file itself).  Without ``output`` the last stage's
    stdout is discarded.  Never raises for a tool's sake; an interrupt of
    hostbook stops every stage before it is re-raised.
    """
    if not stages:
        raise ValueError("a pipeline needs at least one stage")
    if not -1 <= meter < len(stages) or (meter == -1 and source is None):
        raise ValueError(f"meter {meter} is not a stage of this pipeline")
    envs = [{**base_env, **s.env} for s in stages]
    resolved: list[list[str]] = []
    for stage, env in zip(stages, envs, strict=True):
        executable = locate(stage.argv[0], env)
        if executable is None:
            missing = CommandResult(stage.argv, 127, "", f"{stage.argv[0]}: command not found",
                                    missing=True)
            others = tuple(CommandResult(s.argv, -1, "", "not started") for s in stages
                           if s is not stage)
            return PipelineResult((missing, *others))
        resolved.append([executable, *stage.argv[1:]])

    partial = output.with_name(output.name + PARTIAL_SUFFIX) if output is not None else None
    opened: list[Any] = []
    procs: list[subprocess.Popen[bytes]] = []
    meter_reader: IO[bytes] | None = None
    meter_writer: IO[bytes] | None = None
    try:
        source_handle = open(source, "rb") if source is not None else None  # noqa: SIM115
        if source_handle is not None:
            opened.append(source_handle)
        out_handle = None
        if partial is not None:
            # Unlinked first, then created exclusively: a symlink planted under the
            # name is never written through.
            partial.unlink(missing_ok=True)
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                         | os.O_CLOEXEC, 0o600)
            out_handle = os.fdopen(fd, "wb")
            opened.append(out_handle)
        if meter == -1:
            meter_reader = source_handle
        upstream: Any = source_handle if meter != -1 else subprocess.PIPE
        for index, (argv, env, stage) in enumerate(zip(resolved, envs, stages, strict=True)):
            last = index == len(stages) - 1
            if last:
                stdout: Any = out_handle if (out_handle is not None and meter != index) else (
                    subprocess.PIPE if meter == index else subprocess.DEVNULL)
            else:
                stdout = subprocess.PIPE
            stdin: Any = upstream if upstream is not None else subprocess.DEVNULL
            proc = start(argv, env, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE,
                         identity=stage.identity)
            procs.append(proc)
            if index == meter + 1:
                meter_writer = proc.stdin
            elif procs[:-1] and procs[-2].stdout is not None and index - 1 != meter:
                procs[-2].stdout.close()  # the new stage owns that pipe now
            if index == meter:
                meter_reader = proc.stdout
                upstream = subprocess.PIPE
            elif not last:
                upstream = proc.stdout
        if meter == len(stages) - 1:
            meter_writer = out_handle
        errors: list[list[bytes]] = [[] for _ in procs]
        drains = [threading.Thread(target=_drain, args=(p.stderr, errors[i]), daemon=True)
                  for i, p in enumerate(procs)]
        for thread in drains:
            thread.start()
        assert meter_reader is not None
        feeder = procs[meter] if meter >= 0 else None
        total, cancelled = _copy(meter_reader, meter_writer, on_bytes, cancel, feeder)
        if meter_reader is not source_handle:
            with contextlib.suppress(OSError):
                meter_reader.close()
        for proc in procs:
            proc.wait()
        for thread in drains:
            thread.join(timeout=5.0)
    except BaseException:
        for proc in procs:
            stop(proc)
        if partial is not None:
            partial.unlink(missing_ok=True)
        raise
    finally:
        for handle in opened:
            with contextlib.suppress(OSError):
                handle.close()
    results = tuple(
        CommandResult(stage.argv, proc.returncode, "", text(b"".join(err)))
        for stage, proc, err in zip(stages, procs, errors, strict=True)
    )
    outcome = PipelineResult(results, total, cancelled, output)
    if partial is not None:
        if outcome.ok:
            partial.replace(output)  # type: ignore[arg-type]
        else:
            partial.unlink(missing_ok=True)
    return outcome
