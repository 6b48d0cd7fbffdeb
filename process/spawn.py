"""Starting one tool and collecting what it says: the only place a process is born.

Every child gets its own process group (so a timeout or an interrupt can stop
the tool *and* whatever it started), ``PR_SET_PDEATHSIG`` (it dies with
hostbook), no inherited descriptors, and, when asked, a lower identity.  Both
output streams are read line by line on threads, so neither pipe fills up and
long-running tools (restic, borg) can report progress as they go.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from hostbook.process.result import CommandResult, text

LineSink = Callable[[str, str], None]
"""Called with (stream name "stdout"/"stderr", line without its newline)."""

_PR_SET_PDEATHSIG = 1
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAPBSET_DROP = 24
_READER_GRACE = 5.0
"""How long to wait for output still in flight after the tool exited."""
STOP_GRACE = 5.0
"""SIGTERM first, this long for a clean exit (restic removes its lock), then SIGKILL."""


@dataclass(frozen=True)
class Identity:
    """Who a command runs as when it must not run as us: a uid, its gid, no groups.

    Used for tools that read what another user controls (a checkout in
    /home): whatever that user configured there runs with that user's rights
    at most, never root's.  ``no_new_privs`` keeps setuid binaries from
    climbing back.
    """

    uid: int
    gid: int
    name: str = ""
    home: str = "/nonexistent"


_libc: Any = None


def _prctl() -> Any:
    """libc's prctl, loaded in the parent: the child between fork and exec only calls it."""
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL(None, use_errno=True)
        except OSError:
            _libc = False
    return getattr(_libc, "prctl", None) if _libc else None


def _last_capability() -> int:
    try:
        return int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    except (OSError, ValueError):
        return 40


def _child_setup(identity: Identity | None) -> Callable[[], None]:
    """The child's last steps before exec.

    With an identity, in setpriv's order: empty the capability bounding set
    while still privileged, drop the supplementary groups, then the gid and
    the uid (which clears the remaining capabilities), and set
    ``no_new_privs``.  The parent-death signal comes after the identity
    change: Linux clears it when the effective uid or gid changes.
    """
    prctl = _prctl()
    last_cap = _last_capability() if identity is not None else -1

    def setup() -> None:  # pragma: no cover - runs in the child between fork and exec
        if identity is not None:
            if prctl is not None:
                for cap in range(last_cap + 1):
                    prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)
            os.setgroups([])
            os.setresgid(identity.gid, identity.gid, identity.gid)
            os.setresuid(identity.uid, identity.uid, identity.uid)
        if prctl is None:
            return
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if identity is not None:
            prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)

    return setup


def locate(program: str, env: Mapping[str, str]) -> str | None:
    """The executable ``program`` names on the environment's PATH (or itself if a path)."""
    return shutil.which(program, path=env.get("PATH"))


def start(
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    stdin: Any = subprocess.DEVNULL,
    stdout: Any = subprocess.PIPE,
    stderr: Any = subprocess.PIPE,
    cwd: str | None = None,
    identity: Identity | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` (argv[0] already resolved) in a session of its own.

    Its own session makes it a process group leader (a timeout kills the group)
    and leaves it no controlling terminal to read from or inject keys into.

    Raises OSError when the program cannot be started.
    """
    child_env = dict(env)
    if identity is not None:
        child_env["HOME"] = identity.home
    return subprocess.Popen(
        list(argv),
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        env=child_env,
        cwd=cwd,
        close_fds=True,
        start_new_session=True,
        preexec_fn=_child_setup(identity),
    )


def signal_group(proc: subprocess.Popen[bytes], signum: int) -> None:
    """Send ``signum`` to the tool's process group (it and what it started)."""
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signum)


def stop(proc: subprocess.Popen[bytes], grace: float = STOP_GRACE) -> None:
    """SIGTERM the group, a short wait for a clean exit, then SIGKILL."""
    signal_group(proc, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        signal_group(proc, signal.SIGKILL)
        proc.wait()
    # Children of the tool that ignored SIGTERM go now.
    signal_group(proc, signal.SIGKILL)


def _pump(stream: IO[bytes], name: str, sink: list[str], on_line: LineSink | None) -> None:
    with contextlib.suppress(ValueError, OSError):
        for raw in iter(stream.readline, b""):
            line = text(raw)
            sink.append(line)
            if on_line is not None:
                on_line(name, line.rstrip("\n"))
    with contextlib.suppress(OSError):
        stream.close()


def _feed(stream: IO[bytes], data: bytes) -> None:
    with contextlib.suppress(BrokenPipeError, OSError):
        stream.write(data)
    with contextlib.suppress(BrokenPipeError, OSError):
        stream.close()


def execute(
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    timeout: float | None,
    stdin: str | bytes | None = None,
    cwd: str | None = None,
    on_line: LineSink | None = None,
    identity: Identity | None = None,
) -> CommandResult:
    """Run ``argv`` to its end and return what it did (never raises for the tool's sake).

    A program that is not installed is ``missing`` (exit 127), one that cannot
    be started exit 126.  On timeout the whole process group is killed and the
    result is ``timed_out`` with the output read so far.  An interrupt of
    hostbook itself (SIGTERM, Ctrl-C) stops the tool before it is re-raised: a
    tool must not outlive the step that started it.
    """
    args = tuple(argv)
    executable = locate(args[0], env)
    if executable is None:
        return CommandResult(args, 127, "", f"{args[0]}: command not found", missing=True)
    data = stdin.encode() if isinstance(stdin, str) else stdin
    try:
        proc = start(
            [executable, *args[1:]], env, cwd=cwd, identity=identity,
            stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
        )
    except OSError as exc:
        return CommandResult(args, 126, "", f"{args[0]}: {exc.strerror or exc}")
    out: list[str] = []
    err: list[str] = []
    assert proc.stdout is not None and proc.stderr is not None
    threads = [
        threading.Thread(target=_pump, args=(proc.stdout, "stdout", out, on_line), daemon=True),
        threading.Thread(target=_pump, args=(proc.stderr, "stderr", err, on_line), daemon=True),
    ]
    if data is not None:
        assert proc.stdin is not None
        threads.append(threading.Thread(target=_feed, args=(proc.stdin, data), daemon=True))
    for thread in threads:
        thread.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        signal_group(proc, signal.SIGKILL)
        proc.wait()
    except BaseException:
        stop(proc)
        raise
    for thread in threads:
        # A grandchild that escaped the group may still hold a pipe: do not wait forever.
        thread.join(timeout=_READER_GRACE)
    return CommandResult(
        args, -9 if timed_out else proc.returncode, "".join(out), "".join(err),
        timed_out=timed_out,
    )
