"""Running external tools for jobs: no shell, ``LC_ALL=C``, sbin on PATH, timeouts.

It follows the capture runner's conventions (same result shape, same
environment rules) but adds what jobs need and capture must never do: long
or unlimited timeouts, streaming output line by line (restic and borg
report progress as JSON lines), extra environment variables (password
commands), a working directory, and a dry-run mode that prints every command
instead of running it.

Every command is announced to an ``echo`` callback before it runs, so the
run log (and the tail sent to a monitoring URL) shows exactly what was done.
Children get SIGTERM if hostbook dies (``PR_SET_PDEATHSIG``): a killed run
must not leave a restic process holding the snapshot mount busy.
"""

from __future__ import annotations

import contextlib
import ctypes
import shlex
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Protocol

from hostbook.manifest.tools import CommandResult, tool_environment

DEFAULT_TIMEOUT = 120.0
_PR_SET_PDEATHSIG = 1

LineSink = Callable[[str, str], None]
"""Called with (stream name "stdout"/"stderr", line without newline)."""


class Commands(Protocol):
    """What job steps may do to the host."""

    dry_run: bool

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        on_line: LineSink | None = None,
        mutates: bool = True,
    ) -> CommandResult: ...


def describe(argv: Sequence[str], env: Mapping[str, str] | None = None,
             cwd: str | None = None) -> str:
    """A command as a person would type it; environment variables by name only.

    Values are never shown: a password command or an env-file setting may be
    sensitive, and the log is sent to monitoring.
    """
    text = shlex.join(argv)
    if env:
        text = " ".join(f"{k}=..." for k in sorted(env)) + " " + text
    if cwd:
        text = f"(cd {shlex.quote(cwd)} && {text})"
    return text


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class LiveCommands:
    """Runs commands on this host."""

    dry_run = False

    def __init__(
        self,
        echo: Callable[[str], None] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.echo = echo
        self.count = 0
        self._env = tool_environment(env)

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        on_line: LineSink | None = None,
        mutates: bool = True,
    ) -> CommandResult:
        args = tuple(argv)
        self.count += 1
        if self.echo is not None:
            self.echo(describe(args, env, cwd))
        full_env = dict(self._env)
        if env:
            full_env.update(env)
        executable = shutil.which(args[0], path=full_env["PATH"])
        if executable is None:
            return CommandResult(args, 127, "", f"{args[0]}: command not found", missing=True)
        try:
            proc = subprocess.Popen(
                [executable, *args[1:]],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=full_env,
                cwd=cwd,
                preexec_fn=_die_with_parent,
            )
        except OSError as exc:
            return CommandResult(args, 126, "", str(exc))
        return _collect(proc, args, timeout, on_line)


def _pump(stream: IO[bytes], name: str, sink: list[str], on_line: LineSink | None) -> None:
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", errors="surrogateescape")
        sink.append(line)
        if on_line is not None:
            on_line(name, line.rstrip("\n"))
    stream.close()


def _collect(
    proc: subprocess.Popen[bytes],
    args: tuple[str, ...],
    timeout: float | None,
    on_line: LineSink | None,
) -> CommandResult:
    """Read both streams line by line (threads, so neither pipe fills up) until exit."""
    out: list[str] = []
    err: list[str] = []
    assert proc.stdout is not None and proc.stderr is not None
    readers = [
        threading.Thread(target=_pump, args=(proc.stdout, "stdout", out, on_line), daemon=True),
        threading.Thread(target=_pump, args=(proc.stderr, "stderr", err, on_line), daemon=True),
    ]
    for reader in readers:
        reader.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        proc.kill()
        proc.wait()
    except BaseException:
        # Interrupted (SIGTERM, Ctrl-C): the tool must not outlive the step, or it would
        # keep the snapshot mount busy while unsnap runs.
        _stop(proc)
        raise
    for reader in readers:
        reader.join()
    return CommandResult(
        args, proc.returncode if not timed_out else -9, "".join(out), "".join(err),
        timed_out=timed_out,
    )


def _stop(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM, a short wait for a clean exit (restic removes its lock), then SIGKILL."""
    with contextlib.suppress(OSError):
        proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            proc.kill()
        proc.wait()


class DryRunCommands:
    """Prints every command instead of running the ones that change anything.

    Read-only queries (``mutates=False``: ``findmnt``, ``zfs list``, ``lvs``)
    still run, so the printed plan is the one a real run would follow; they
    are printed too, marked as queries.
    """

    dry_run = True

    def __init__(self, echo: Callable[[str], None], live: Commands | None = None) -> None:
        self.echo = echo
        self.live: Commands = live or LiveCommands()
        self.printed: list[str] = []

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        on_line: LineSink | None = None,
        mutates: bool = True,
    ) -> CommandResult:
        text = describe(argv, env, cwd)
        if not mutates:
            self.printed.append(f"{text}  # query")
            self.echo(f"{text}  # query: read-only, runs in a dry run too")
            return self.live.run(argv, timeout=timeout, env=env, cwd=cwd, mutates=False)
        self.printed.append(text)
        self.echo(text)
        return CommandResult(tuple(argv), 0, "", "")
