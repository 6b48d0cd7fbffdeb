"""The one seam through which every probe touches the host.

Probes never call subprocess or open() directly: they ask a runner to run a
command, read a file, list a directory or resolve a link.  That gives one
place for timeouts, ``LC_ALL=C`` and no-shell execution, and lets a capture be
recorded on a real host (``--record``) and replayed anywhere (``--replay``)
with byte-identical results: the recordings are the unit tests' fixtures.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from hostbook.capture.redact import mask_credentials
from hostbook.manifest.errors import BadInputError
from hostbook.manifest.tools import CommandResult, tool_environment
from hostbook.manifest.yamlio import atomic_write_text

DEFAULT_TIMEOUT = 60.0
RECORDING_FILE = "recording.json"
RECORDING_FORMAT = "hostbook-recording/v1"


class Runner(Protocol):
    """What probes may do to the host."""

    def run(self, argv: Sequence[str], timeout: float = DEFAULT_TIMEOUT) -> CommandResult: ...

    def read_file(self, path: str) -> str | None: ...

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
        self, argv: Sequence[str], timeout: float = DEFAULT_TIMEOUT, stdin: str | None = None
    ) -> CommandResult:
        """Run ``argv``; ``stdin`` is text fed to the program (restore uses it)."""
        args = tuple(argv)
        self.stats.commands += 1
        self.stats.per_tool[args[0]] = self.stats.per_tool.get(args[0], 0) + 1
        executable = shutil.which(args[0], path=self._env["PATH"])
        if executable is None:
            return CommandResult(args, 127, "", f"{args[0]}: command not found", missing=True)
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

    def read_file(self, path: str) -> str | None:
        self.stats.files += 1
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

    def run(self, argv: Sequence[str], timeout: float = DEFAULT_TIMEOUT) -> CommandResult:
        result = self.inner.run(argv, timeout)
        entry = asdict(result)
        entry["argv"] = list(result.argv)
        self.commands[_command_key(argv)] = entry
        return result

    def read_file(self, path: str) -> str | None:
        self.files[path] = self.inner.read_file(path)
        return self.files[path]

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

        Credentials inside URLs (``https://user:token@host``, ``?token=``) are
        masked first: recordings get shared as test fixtures, and the capture
        never needed the secret itself, only the fact that one was there.
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
        atomic_write_text(path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")
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

    def run(self, argv: Sequence[str], timeout: float = DEFAULT_TIMEOUT) -> CommandResult:
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

    def read_file(self, path: str) -> str | None:
        return self._files.get(path)

    def list_dir(self, path: str) -> list[str] | None:
        return self._dirs.get(path)

    def read_link(self, path: str) -> str | None:
        return self._links.get(path)

    def value(self, key: str, producer: Callable[[], Any]) -> Any:
        return self._values.get(key)
