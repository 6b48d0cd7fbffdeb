"""The one seam through which every probe touches the host.

Probes never call subprocess or open() directly: they ask a runner to run a
command, read a file, list a directory or resolve a link.  That gives one
place for timeouts, ``LC_ALL=C`` and no-shell execution, and lets a capture be
recorded on a real host (``--record``) and replayed anywhere (``--replay``)
with byte-identical results: the recordings are the unit tests' fixtures.

Two optional arguments concern what a command touches and what may be kept
of its answer.  ``confine`` (see confine.py) runs a tool over a user's
checkout as that user, in a minimal environment, in its own session and
process group; ``mask`` is the probe's knowledge of the output's structure,
used to replace secrets field by field before anything is recorded.  Neither
is part of the recording key, so the same argv replays the same answer.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from hostbook.capture.probes.checkouts.confine import (
    Confinement,
    identity_for,
    minimal_environment,
    read_owned,
    setpriv_prefix,
)
from hostbook.capture.redact import mask_credentials
from hostbook.manifest.errors import BadInputError
from hostbook.manifest.tools import CommandResult, tool_environment
from hostbook.manifest.yamlio import atomic_write_text

DEFAULT_TIMEOUT = 60.0
RECORDING_FILE = "recording.json"
RECORDING_FORMAT = "hostbook-recording/v1"
# Recordings hold the output of root's tools: readable by their owner only.
RECORDING_MODE = 0o600
# After a timeout killed a confined tool's process group: how long to wait for
# its pipes to close (a helper that left the group may still hold them).
_DRAIN_SECONDS = 2.0

Masker = Callable[[str], str]
"""Replaces the secrets of one kind of output, keeping its structure."""


class Runner(Protocol):
    """What probes may do to the host."""

    def run(
        self,
        argv: Sequence[str],
        timeout: float = DEFAULT_TIMEOUT,
        *,
        confine: Confinement | None = None,
        mask: Masker | None = None,
    ) -> CommandResult: ...

    def read_file(
        self, path: str, *, confine: Confinement | None = None, mask: Masker | None = None
    ) -> str | None: ...

    def list_dir(self, path: str) -> list[str] | None: ...

    def read_link(self, path: str) -> str | None: ...

    def value(self, key: str, producer: Callable[[], Any]) -> Any: ...


@dataclass
class RunStats:
    """Counts for benchmarks: how many processes a capture started."""

    commands: int = 0
    files: int = 0
    per_tool: dict[str, int] = field(default_factory=dict)


class LiveRunner:
    """Runs commands on this host: no shell, ``LC_ALL=C``, a timeout per command."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.stats = RunStats()
        self._env = tool_environment(env)

    def run(
        self,
        argv: Sequence[str],
        timeout: float = DEFAULT_TIMEOUT,
        stdin: str | None = None,
        *,
        confine: Confinement | None = None,
        mask: Masker | None = None,
    ) -> CommandResult:
        """Run ``argv``; ``stdin`` is text fed to the program (restore uses it).

        ``mask`` only matters to a recording; ``confine`` runs the program as
        described in confine.py.
        """
        args = tuple(argv)
        self.stats.commands += 1
        self.stats.per_tool[args[0]] = self.stats.per_tool.get(args[0], 0) + 1
        executable = shutil.which(args[0], path=self._env["PATH"])
        if executable is None:
            return CommandResult(args, 127, "", f"{args[0]}: command not found", missing=True)
        if confine is not None:
            return _run_confined(args, executable, timeout, confine)
        try:
            proc = subprocess.run(
                [executable, *args[1:]],
                capture_output=True,
                env=self._env,
                timeout=timeout,
                input=stdin.encode() if stdin is not None else None,
                stdin=None if stdin is not None else subprocess.DEVNULL,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            return CommandResult(
                args, -9, _text(exc.stdout), _text(exc.stderr), timed_out=True
            )
        except OSError as exc:
            return CommandResult(args, 126, "", str(exc))
        return CommandResult(args, proc.returncode, _text(proc.stdout), _text(proc.stderr))

    def read_file(
        self, path: str, *, confine: Confinement | None = None, mask: Masker | None = None
    ) -> str | None:
        """Contents of ``path``; under ``confine``, only what its owner could read."""
        self.stats.files += 1
        if confine is not None:
            identity = identity_for(confine.owner_of)
            if identity is not None:
                data = read_owned(path, identity.uid)
                return None if data is None else _text(data)
        try:
            with open(path, "rb") as handle:
                return _text(handle.read())
        except OSError:
            return None

    def list_dir(self, path: str) -> list[str] | None:
        try:
            return sorted(os.listdir(path))
        except OSError:
            return None

    def read_link(self, path: str) -> str | None:
        try:
            return os.readlink(path)
        except OSError:
            return None

    def value(self, key: str, producer: Callable[[], Any]) -> Any:
        return producer()


def _run_confined(
    args: tuple[str, ...], executable: str, timeout: float, confine: Confinement
) -> CommandResult:
    """Run a tool over a user's files: as that user, minimal environment, own session."""
    env = minimal_environment(confine.env)
    command = [executable, *args[1:]]
    identity = identity_for(confine.owner_of)
    if identity is not None:
        prefix = setpriv_prefix(identity, env["PATH"])
        if prefix is None:
            return CommandResult(
                args, 126, "",
                f"setpriv not found: {args[0]} is not run as root over files {identity.name} "
                "owns",
            )
        command = prefix + command
    try:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd="/",
            start_new_session=True,
        )
    except OSError as exc:
        return CommandResult(args, 126, "", str(exc))
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        out, err = _kill_group(proc)
        return CommandResult(args, -9, _text(out), _text(err), timed_out=True)
    return CommandResult(args, proc.returncode, _text(out), _text(err))


def _kill_group(proc: subprocess.Popen[bytes]) -> tuple[bytes, bytes]:
    """SIGKILL every process of ``proc``'s group, then collect what it wrote.

    A hook or helper that is still running holds the output pipes open, so
    killing only the tool itself would leave capture waiting on them.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    try:
        return proc.communicate(timeout=_DRAIN_SECONDS)
    except subprocess.TimeoutExpired:
        # Something left the group (setsid) and still holds a pipe: stop reading.
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        proc.wait()
        return b"", b""


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    if isinstance(data, str):
        return data
    return data.decode("utf-8", errors="surrogateescape")


class RecordingRunner:
    """Wraps another runner and remembers everything it answered.

    ``save`` writes one JSON file with every command (argv, exit code, stdout,
    stderr), file read, directory listing, link and library-produced value,
    keyed so that a replay can answer the same questions.
    """

    def __init__(self, inner: Runner, directory: Path) -> None:
        self.inner = inner
        self.directory = directory
        self.commands: dict[str, dict[str, Any]] = {}
        self.files: dict[str, str | None] = {}
        self.dirs: dict[str, list[str] | None] = {}
        self.links: dict[str, str | None] = {}
        self.values: dict[str, Any] = {}

    @property
    def stats(self) -> RunStats:
        return getattr(self.inner, "stats", RunStats())

    def run(
        self,
        argv: Sequence[str],
        timeout: float = DEFAULT_TIMEOUT,
        *,
        confine: Confinement | None = None,
        mask: Masker | None = None,
    ) -> CommandResult:
        result = self.inner.run(argv, timeout, confine=confine, mask=mask)
        entry = asdict(result)
        entry["argv"] = list(result.argv)
        if mask is not None:
            entry["stdout"] = mask(entry["stdout"])
        self.commands[_command_key(argv)] = entry
        return result

    def read_file(
        self, path: str, *, confine: Confinement | None = None, mask: Masker | None = None
    ) -> str | None:
        text = self.inner.read_file(path, confine=confine, mask=mask)
        self.files[path] = text if text is None or mask is None else mask(text)
        return text

    def list_dir(self, path: str) -> list[str] | None:
        self.dirs[path] = self.inner.list_dir(path)
        return self.dirs[path]

    def read_link(self, path: str) -> str | None:
        self.links[path] = self.inner.read_link(path)
        return self.links[path]

    def value(self, key: str, producer: Callable[[], Any]) -> Any:
        result = self.inner.value(key, producer)
        self.values[key] = json.loads(json.dumps(result))
        return self.values[key]

    def save(self) -> Path:
        """Write the recording atomically and return its path.

        Secrets are masked first: field by field where the probe said what
        the output is (``mask``), then every URL-shaped credential in the
        text (``https://user:token@host``, ``?token=``, ``user:pw@host:``).
        Recordings get shared as test fixtures, and the capture never needed
        the secret itself, only the fact that one was there.  The file is
        written with mode 0600 all the same: it holds root's tools' output.
        """
        commands = []
        for key in sorted(self.commands):
            entry = dict(self.commands[key])
            entry["stdout"] = mask_credentials(entry["stdout"])
            entry["stderr"] = mask_credentials(entry["stderr"])
            commands.append(entry)
        files = {
            path: None if text is None else mask_credentials(text)
            for path, text in sorted(self.files.items())
        }
        data = {
            "format": RECORDING_FORMAT,
            "commands": commands,
            "files": files,
            "dirs": dict(sorted(self.dirs.items())),
            "links": dict(sorted(self.links.items())),
            "values": dict(sorted(self.values.items())),
        }
        path = self.directory / RECORDING_FILE
        atomic_write_text(path, json.dumps(data, indent=1, ensure_ascii=False) + "\n",
                          mode=RECORDING_MODE)
        return path


def _command_key(argv: Sequence[str]) -> str:
    return "\x00".join(argv)


class ReplayRunner:
    """Answers from a recording, never touching the live host.

    A question the recording cannot answer is treated like a missing tool or
    file, so a replay of an older recording degrades the same way a host
    without that tool would.
    """

    def __init__(self, directory: Path) -> None:
        path = directory / RECORDING_FILE if directory.is_dir() else directory
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BadInputError(f"{path}: no recording here") from None
        except json.JSONDecodeError as exc:
            raise BadInputError(f"{path}:{exc.lineno}:{exc.colno}: {exc.msg}") from None
        if data.get("format") != RECORDING_FORMAT:
            raise BadInputError(f"{path}:1:1: not a {RECORDING_FORMAT} recording")
        self.stats = RunStats()
        self._commands = {_command_key(c["argv"]): c for c in data.get("commands", [])}
        self._files: dict[str, str | None] = data.get("files", {})
        self._dirs: dict[str, list[str] | None] = data.get("dirs", {})
        self._links: dict[str, str | None] = data.get("links", {})
        self._values: dict[str, Any] = data.get("values", {})
        self.unanswered: list[str] = []

    def run(
        self,
        argv: Sequence[str],
        timeout: float = DEFAULT_TIMEOUT,
        *,
        confine: Confinement | None = None,
        mask: Masker | None = None,
    ) -> CommandResult:
        self.stats.commands += 1
        entry = self._commands.get(_command_key(argv))
        if entry is None:
            self.unanswered.append(" ".join(argv))
            return CommandResult(tuple(argv), 127, "", "not in recording", missing=True)
        return CommandResult(
            tuple(entry["argv"]),
            entry["returncode"],
            entry["stdout"],
            entry["stderr"],
            missing=entry.get("missing", False),
            timed_out=entry.get("timed_out", False),
        )

    def read_file(
        self, path: str, *, confine: Confinement | None = None, mask: Masker | None = None
    ) -> str | None:
        return self._files.get(path)

    def list_dir(self, path: str) -> list[str] | None:
        return self._dirs.get(path)

    def read_link(self, path: str) -> str | None:
        return self._links.get(path)

    def value(self, key: str, producer: Callable[[], Any]) -> Any:
        return self._values.get(key)
