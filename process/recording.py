"""Record what a runner answered on a real host; replay it anywhere, byte for byte.

A recording is one JSON file (``recording.json``) holding every query,
command and pipeline (argv, exit code, stdout, stderr), every file read,
directory listed, link resolved and library-produced value.  Recordings made
on real hosts (the VM lab included) are the unit tests' fixtures, for every
layer: capture probes, job steps and restore alike.

The format is ``hostbook-recording/v1``.  Entries are sorted by argv; the same
argv asked more than once (``lvs`` before and after ``lvcreate``) keeps every
answer in call order, and a replay gives them out in that order, repeating
the last.  ``kind`` is ``command`` or ``pipeline`` where the call was not a
query (absent means query, as in the first recordings).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from hostbook.manifest.errors import BadInputError
from hostbook.manifest.yamlio import atomic_write_text
from hostbook.process.confine import Confinement
from hostbook.process.masking import Masker, mask
from hostbook.process.pipeline import PipelineResult, Stage
from hostbook.process.result import CommandResult
from hostbook.process.runner import COMMAND_TIMEOUT, QUERY_TIMEOUT, Runner, RunStats
from hostbook.process.spawn import Identity, LineSink

RECORDING_FILE = "recording.json"
RECORDING_FORMAT = "hostbook-recording/v1"
PIPE = " | "
"""How a pipeline's stages are joined into one replay key."""

Scrub = Callable[[str], str]


def command_key(argv: Sequence[str], secrets: Iterable[str] = ()) -> str:
    """The replay key of a command: its argv, with the secrets it was given masked."""
    hidden = list(secrets)
    return "\x00".join(mask(a, hidden) if hidden else a for a in argv)


def pipeline_key(stages: Sequence[Stage]) -> str:
    return PIPE.join(command_key(s.argv) for s in stages)


class RecordingRunner:
    """Wraps another runner and remembers everything it answered.

    ``scrub`` is applied to every output and file text before it is saved
    (capture masks URL credentials with it); secrets a caller named are
    masked always.  Recordings are written 0600: they hold root's tool output.
    """

    def __init__(self, inner: Runner, directory: Path, scrub: Scrub | None = None) -> None:
        self.inner = inner
        self.directory = directory
        self.scrub = scrub or (lambda value: value)
        self.dry_run = inner.dry_run
        self.commands: list[tuple[str, dict[str, Any]]] = []
        self.files: dict[str, str | None] = {}
        self.dirs: dict[str, list[str] | None] = {}
        self.links: dict[str, str | None] = {}
        self.values: dict[str, Any] = {}

    @property
    def stats(self) -> RunStats:
        return self.inner.stats

    def _remember(self, key: str, result: CommandResult, kind: str,
                  secrets: Iterable[str], masker: Masker | None = None) -> None:
        entry = asdict(result)
        entry["argv"] = list(result.argv)
        hidden = list(secrets)
        stdout = masker(entry["stdout"]) if masker is not None else entry["stdout"]
        entry["stdout"] = self.scrub(mask(stdout, hidden))
        entry["stderr"] = self.scrub(mask(entry["stderr"], hidden))
        entry["argv"] = [mask(a, hidden) for a in entry["argv"]]
        if kind != "query":
            entry["kind"] = kind
        self.commands.append((key, entry))

    def query(
        self, argv: Sequence[str], *, timeout: float | None = QUERY_TIMEOUT,
        stdin: str | None = None, env: Mapping[str, str] | None = None, cwd: str | None = None,
        on_line: LineSink | None = None, identity: Identity | None = None,
        secrets: Iterable[str] = (), confine: Confinement | None = None,
        mask: Masker | None = None,
    ) -> CommandResult:
        hidden = list(secrets)
        result = self.inner.query(argv, timeout=timeout, stdin=stdin, env=env, cwd=cwd,
                                  on_line=on_line, identity=identity, secrets=hidden,
                                  confine=confine, mask=mask)
        self._remember(command_key(argv, hidden), result, "query", hidden, mask)
        return result

    def command(
        self, argv: Sequence[str], *, timeout: float | None = COMMAND_TIMEOUT,
        stdin: str | None = None, env: Mapping[str, str] | None = None, cwd: str | None = None,
        on_line: LineSink | None = None, identity: Identity | None = None,
        secrets: Iterable[str] = (),
    ) -> CommandResult:
        hidden = list(secrets)
        result = self.inner.command(argv, timeout=timeout, stdin=stdin, env=env, cwd=cwd,
                                    on_line=on_line, identity=identity, secrets=hidden)
        self._remember(command_key(argv, hidden), result, "command", hidden)
        return result

    def pipeline(
        self, stages: Sequence[Stage], *, source: Path | None = None,
        output: Path | None = None, meter: int = 0,
        on_bytes: Callable[[int], None] | None = None, cancel: threading.Event | None = None,
    ) -> PipelineResult:
        result = self.inner.pipeline(stages, source=source, output=output, meter=meter,
                                     on_bytes=on_bytes, cancel=cancel)
        entry: dict[str, Any] = {
            "argv": [list(s.argv) for s in stages],
            "kind": "pipeline",
            "bytes": result.bytes,
            "cancelled": result.cancelled,
            "stages": [
                {"returncode": s.returncode, "stderr": self.scrub(s.stderr),
                 "missing": s.missing}
                for s in result.stages
            ],
        }
        self.commands.append((pipeline_key(stages), entry))
        return result

    def read_file(
        self, path: str, *, confine: Confinement | None = None, mask: Masker | None = None
    ) -> str | None:
        content = self.inner.read_file(path, confine=confine, mask=mask)
        self.files[path] = content if content is None or mask is None else mask(content)
        return content

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
        """Write the recording atomically (mode 0600) and return its path."""
        # A stable sort: the answers to one argv stay in the order they were given.
        commands = [entry for _, entry in sorted(self.commands, key=lambda item: item[0])]
        files = {
            path: None if content is None else self.scrub(content)
            for path, content in sorted(self.files.items())
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
                          mode=0o600)
        return path


def _entry_key(entry: Mapping[str, Any]) -> str:
    argv = entry["argv"]
    if entry.get("kind") == "pipeline":
        return PIPE.join(command_key(stage) for stage in argv)
    return command_key(argv)


class ReplayRunner:
    """Answers from a recording, never touching the live host.

    A question the recording cannot answer is treated like a missing tool or
    file, so a replay of an older recording degrades the same way a host
    without that tool would.  ``dry_run`` makes commands print-only as in a
    real dry run (queries are still answered from the recording).
    """

    def __init__(self, directory: Path, *, dry_run: bool = False) -> None:
        path = directory / RECORDING_FILE if directory.is_dir() else directory
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BadInputError(f"{path}: no recording here") from None
        except json.JSONDecodeError as exc:
            raise BadInputError(f"{path}:{exc.lineno}:{exc.colno}: {exc.msg}") from None
        if not isinstance(data, dict) or data.get("format") != RECORDING_FORMAT:
            raise BadInputError(f"{path}:1:1: not a {RECORDING_FORMAT} recording")
        self.dry_run = dry_run
        self.stats = RunStats()
        self._answers: dict[str, deque[dict[str, Any]]] = {}
        for entry in data.get("commands", []):
            self._answers.setdefault(_entry_key(entry), deque()).append(entry)
        self._files: dict[str, str | None] = data.get("files", {})
        self._dirs: dict[str, list[str] | None] = data.get("dirs", {})
        self._links: dict[str, str | None] = data.get("links", {})
        self._values: dict[str, Any] = data.get("values", {})
        self.unanswered: list[str] = []
        self.printed: list[str] = []

    def _next(self, key: str) -> dict[str, Any] | None:
        queue = self._answers.get(key)
        if not queue:
            return None
        return queue.popleft() if len(queue) > 1 else queue[0]

    def _answer(self, argv: Sequence[str], secrets: Iterable[str]) -> CommandResult:
        self.stats.count(argv)
        entry = self._next(command_key(argv, secrets))
        if entry is None:
            self.unanswered.append(" ".join(argv))
            return CommandResult(tuple(argv), 127, "", "not in recording", missing=True)
        return CommandResult(
            tuple(entry["argv"]), entry["returncode"], entry["stdout"], entry["stderr"],
            missing=entry.get("missing", False), timed_out=entry.get("timed_out", False),
        )

    def query(
        self, argv: Sequence[str], *, timeout: float | None = QUERY_TIMEOUT,
        stdin: str | None = None, env: Mapping[str, str] | None = None, cwd: str | None = None,
        on_line: LineSink | None = None, identity: Identity | None = None,
        secrets: Iterable[str] = (), confine: Confinement | None = None,
        mask: Masker | None = None,
    ) -> CommandResult:
        result = self._answer(argv, secrets)
        _replay_lines(result, on_line)
        return result

    def command(
        self, argv: Sequence[str], *, timeout: float | None = COMMAND_TIMEOUT,
        stdin: str | None = None, env: Mapping[str, str] | None = None, cwd: str | None = None,
        on_line: LineSink | None = None, identity: Identity | None = None,
        secrets: Iterable[str] = (),
    ) -> CommandResult:
        if self.dry_run:
            self.printed.append(" ".join(argv))
            return CommandResult(tuple(argv), 0, "", "")
        result = self._answer(argv, secrets)
        _replay_lines(result, on_line)
        return result

    def pipeline(
        self, stages: Sequence[Stage], *, source: Path | None = None,
        output: Path | None = None, meter: int = 0,
        on_bytes: Callable[[int], None] | None = None, cancel: threading.Event | None = None,
    ) -> PipelineResult:
        for stage in stages:
            self.stats.count(stage.argv)
        entry = None if self.dry_run else self._next(pipeline_key(stages))
        if entry is None:
            if not self.dry_run:
                self.unanswered.append(PIPE.join(" ".join(s.argv) for s in stages))
            code = 0 if self.dry_run else 127
            return PipelineResult(tuple(
                CommandResult(s.argv, code, "", "" if self.dry_run else "not in recording",
                              missing=not self.dry_run) for s in stages))
        results = tuple(
            CommandResult(stage.argv, answer["returncode"], "", answer.get("stderr", ""),
                          missing=answer.get("missing", False))
            for stage, answer in zip(stages, entry["stages"], strict=True)
        )
        if on_bytes is not None and entry.get("bytes"):
            on_bytes(int(entry["bytes"]))
        return PipelineResult(results, int(entry.get("bytes", 0)),
                              bool(entry.get("cancelled", False)), output)

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


def _replay_lines(result: CommandResult, on_line: LineSink | None) -> None:
    """Feed a recorded output to a line callback as the live tool would have."""
    if on_line is None:
        return
    for line in result.stdout.splitlines():
        on_line("stdout", line)
    for line in result.stderr.splitlines():
        on_line("stderr", line)
