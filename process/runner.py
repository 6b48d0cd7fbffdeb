"""The runner every layer is given: queries, commands, pipelines, and reads of files.

- :meth:`Runner.query` only reads (``lsblk``, ``zfs list``, ``git status``): it
  runs in a dry run too, and recordings answer it in tests;
- :meth:`Runner.command` may change something (``lvcreate``, ``restic backup``,
  ``sfdisk``): a dry run prints it and pretends it succeeded;
- :meth:`Runner.pipeline` runs ``a | b > file`` (see :mod:`hostbook.process.pipeline`);
- ``read_file``/``list_dir``/``read_link``/``value`` are the other questions
  probes ask of the host, recorded and replayed like commands.

Which kind a call is, is said by the caller; nothing guesses it from argv.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from hostbook.process.confine import Confinement, identity_for, minimal_environment, read_owned
from hostbook.process.environment import tool_environment
from hostbook.process.masking import Masker, describe
from hostbook.process.pipeline import PipelineResult, Stage, run_pipeline
from hostbook.process.pipeline import describe as describe_pipeline
from hostbook.process.result import CommandResult, text
from hostbook.process.spawn import Identity, LineSink, execute

QUERY_TIMEOUT = 60.0
COMMAND_TIMEOUT = 120.0

Echo = Callable[[str], None]


@dataclass
class RunStats:
    """Counts for benchmarks and logs: how many processes were started, of which tools."""

    commands: int = 0
    files: int = 0
    per_tool: dict[str, int] = field(default_factory=dict)

    def count(self, argv: Sequence[str]) -> None:
        self.commands += 1
        self.per_tool[argv[0]] = self.per_tool.get(argv[0], 0) + 1


class Runner(Protocol):
    """What any layer may do to the host."""

    dry_run: bool
    stats: RunStats

    def query(
        self, argv: Sequence[str], *, timeout: float | None = QUERY_TIMEOUT,
        stdin: str | None = None, env: Mapping[str, str] | None = None, cwd: str | None = None,
        on_line: LineSink | None = None, identity: Identity | None = None,
        secrets: Iterable[str] = (), confine: Confinement | None = None,
        mask: Masker | None = None,
    ) -> CommandResult: ...

    def command(
        self, argv: Sequence[str], *, timeout: float | None = COMMAND_TIMEOUT,
        stdin: str | None = None, env: Mapping[str, str] | None = None, cwd: str | None = None,
        on_line: LineSink | None = None, identity: Identity | None = None,
        secrets: Iterable[str] = (),
    ) -> CommandResult: ...

    def pipeline(
        self, stages: Sequence[Stage], *, source: Path | None = None,
        output: Path | None = None, meter: int = 0,
        on_bytes: Callable[[int], None] | None = None, cancel: threading.Event | None = None,
    ) -> PipelineResult: ...

    def read_file(
        self, path: str, *, confine: Confinement | None = None, mask: Masker | None = None
    ) -> str | None: ...

    def list_dir(self, path: str) -> list[str] | None: ...

    def read_link(self, path: str) -> str | None: ...

    def value(self, key: str, producer: Callable[[], Any]) -> Any: ...


class LiveRunner:
    """Runs everything on this host, announcing each command to ``echo`` first."""

    dry_run = False

    def __init__(self, echo: Echo | None = None, env: Mapping[str, str] | None = None) -> None:
        self.echo = echo
        self.stats = RunStats()
        self._env = tool_environment(env)

    def _run(self, argv: Sequence[str], timeout: float | None, stdin: str | None,
             env: Mapping[str, str] | None, cwd: str | None, on_line: LineSink | None,
             identity: Identity | None, secrets: Iterable[str]) -> CommandResult:
        self.stats.count(argv)
        if self.echo is not None:
            self.echo(describe(argv, env, cwd, secrets))
        full_env = {**self._env, **env} if env else self._env
        return execute(argv, full_env, timeout=timeout, stdin=stdin, cwd=cwd, on_line=on_line,
                       identity=identity)

    def query(
        self, argv: Sequence[str], *, timeout: float | None = QUERY_TIMEOUT,
        stdin: str | None = None, env: Mapping[str, str] | None = None, cwd: str | None = None,
        on_line: LineSink | None = None, identity: Identity | None = None,
        secrets: Iterable[str] = (), confine: Confinement | None = None,
        mask: Masker | None = None,
    ) -> CommandResult:
        """Run a read-only command; ``mask`` only matters to a recording.

        ``confine`` runs it over files another user controls: as that user, in
        a minimal environment, from ``/`` (see :mod:`hostbook.process.confine`).
        """
        if confine is not None:
            self.stats.count(argv)
            if self.echo is not None:
                self.echo(describe(argv, confine.env or None, None, secrets))
            return execute(argv, minimal_environment(confine.env), timeout=timeout,
                           stdin=stdin, cwd="/", on_line=on_line,
                           identity=identity_for(confine.owner_of))
        return self._run(argv, timeout, stdin, env, cwd, on_line, identity, secrets)

    def command(
        self, argv: Sequence[str], *, timeout: float | None = COMMAND_TIMEOUT,
        stdin: str | None = None, env: Mapping[str, str] | None = None, cwd: str | None = None,
        on_line: LineSink | None = None, identity: Identity | None = None,
        secrets: Iterable[str] = (),
    ) -> CommandResult:
        return self._run(argv, timeout, stdin, env, cwd, on_line, identity, secrets)

    def pipeline(
        self, stages: Sequence[Stage], *, source: Path | None = None,
        output: Path | None = None, meter: int = 0,
        on_bytes: Callable[[int], None] | None = None, cancel: threading.Event | None = None,
    ) -> PipelineResult:
        for stage in stages:
            self.stats.count(stage.argv)
        if self.echo is not None:
            self.echo(describe_pipeline(stages, source, output))
        return run_pipeline(stages, self._env, source=source, output=output, meter=meter,
                            on_bytes=on_bytes, cancel=cancel)

    def read_file(
        self, path: str, *, confine: Confinement | None = None, mask: Masker | None = None
    ) -> str | None:
        """Contents of ``path``; under ``confine``, only what its owner could read."""
        self.stats.files += 1
        if confine is not None:
            identity = identity_for(confine.owner_of)
            if identity is not None:
                data = read_owned(path, identity.uid)
                return None if data is None else text(data)
        try:
            with open(path, "rb") as handle:
                return text(handle.read())
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


class DryRunRunner:
    """Prints every command instead of running it; queries still run.

    Read-only queries run so that the printed plan is the one a real run
    would follow; they are printed too, marked as queries.
    """

    dry_run = True

    def __init__(self, echo: Echo, live: Runner | None = None) -> None:
        self.echo = echo
        self.live: Runner = live or LiveRunner()
        self.printed: list[str] = []

    @property
    def stats(self) -> RunStats:
        return self.live.stats

    def query(
        self, argv: Sequence[str], *, timeout: float | None = QUERY_TIMEOUT,
        stdin: str | None = None, env: Mapping[str, str] | None = None, cwd: str | None = None,
        on_line: LineSink | None = None, identity: Identity | None = None,
        secrets: Iterable[str] = (), confine: Confinement | None = None,
        mask: Masker | None = None,
    ) -> CommandResult:
        line = describe(argv, env, cwd, secrets)
        self.printed.append(f"{line}  # query")
        self.echo(f"{line}  # query: read-only, runs in a dry run too")
        return self.live.query(argv, timeout=timeout, stdin=stdin, env=env, cwd=cwd,
                               on_line=on_line, identity=identity, secrets=secrets,
                               confine=confine, mask=mask)

    def command(
        self, argv: Sequence[str], *, timeout: float | None = COMMAND_TIMEOUT,
        stdin: str | None = None, env: Mapping[str, str] | None = None, cwd: str | None = None,
        on_line: LineSink | None = None, identity: Identity | None = None,
        secrets: Iterable[str] = (),
    ) -> CommandResult:
        line = describe(argv, env, cwd, secrets)
        self.printed.append(line)
        self.echo(line)
        return CommandResult(tuple(argv), 0, "", "")

    def pipeline(
        self, stages: Sequence[Stage], *, source: Path | None = None,
        output: Path | None = None, meter: int = 0,
        on_bytes: Callable[[int], None] | None = None, cancel: threading.Event | None = None,
    ) -> PipelineResult:
        line = describe_pipeline(stages, source, output)
        self.printed.append(line)
        self.echo(line)
        return PipelineResult(tuple(CommandResult(s.argv, 0, "", "") for s in stages))

    def read_file(
        self, path: str, *, confine: Confinement | None = None, mask: Masker | None = None
    ) -> str | None:
        return self.live.read_file(path, confine=confine, mask=mask)

    def list_dir(self, path: str) -> list[str] | None:
        return self.live.list_dir(path)

    def read_link(self, path: str) -> str | None:
        return self.live.read_link(path)

    def value(self, key: str, producer: Callable[[], Any]) -> Any:
        return self.live.value(key, producer)
