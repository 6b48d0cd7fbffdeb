"""Every command given a ``--repo`` that is a file, lies under one, or is missing.

Such a path used to end in a traceback (exit 1, which the exit-code table
calls "partial") or in "not writable" (exit 3, as if the host were at fault).
Every command that uses the repository now says what is wrong with the path in
one line and exits 2; ``init`` and ``capture`` create a missing one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from hostbook.cli import cli
from tests.paths import FIXTURES

CREATE_THE_REPOSITORY = {("init",), ("capture",)}
NEVER_READ_IT = {("schema",)}  # prints JSON Schema; --repo is accepted for uniformity
BEFORE_THE_REPOSITORY = {("install-units",)}
"""Units go in before the first capture makes the repository: a missing one is fine
(and the command would go on to systemctl), a file in its place is not."""


def commands_with_repo() -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every leaf command of the CLI that takes --repo, with its path of names."""
    def walk(command: click.Command, path: tuple[str, ...],
             ctx: click.Context) -> Iterator[tuple[tuple[str, ...], click.Command]]:
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None
                yield from walk(sub, (*path, name), click.Context(sub, parent=ctx))
        elif any(p.name == "repo" for p in command.params):
            yield path, command

    yield from walk(cli, (), click.Context(cli))


def argv(path: tuple[str, ...], command: click.Command, repo: Path,
         scratch: Path) -> list[str]:
    args = list(path)
    args += ["h" for p in command.params if isinstance(p, click.Argument) and p.required]
    if path == ("capture",):  # from a recording, never this machine
        args += ["--only", "system", "--replay", str(FIXTURES / "system-debian12")]
    if path in {("run",), ("status",), ("snapshot",)}:
        args += ["--host", "h"]
    if path == ("snapshot",):
        args += ["--type", "daily"]
    if path == ("serve",):  # refused before it listens or makes a token file
        args += ["--listen", "127.0.0.1:1", "--token-file", str(scratch / "serve.token")]
    if path == ("report",):
        args += ["--output", str(scratch / "report-out")]
    if path == ("install-units",):  # never this machine's /etc/systemd/system
        (scratch / "units").mkdir(exist_ok=True)
        args += ["--unit-dir", str(scratch / "units")]
    return [*args, "--repo", str(repo)]


def test_the_walk_finds_the_commands() -> None:
    found = {path for path, _ in commands_with_repo()}
    assert {("init",), ("capture",), ("show",), ("log",), ("restore", "plan"),
            ("restore", "apply"), ("plan", "retention"), ("run",), ("status",)} <= found


@pytest.mark.parametrize("kind", ["file", "under-a-file", "missing-parent"])
def test_every_command_says_what_is_wrong_with_the_repository_path(
    tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOSTBOOK_STATE_DIR", str(tmp_path / "state"))
    blocker = tmp_path / "file"
    blocker.write_text("not a directory\n")
    runner = CliRunner()
    for path, command in commands_with_repo():
        if path in NEVER_READ_IT:
            continue
        repo = {"file": blocker, "under-a-file": blocker / "m",
                "missing-parent": tmp_path / "-".join(path) / "no" / "such" / "m"}[kind]
        if kind == "missing-parent" and path in BEFORE_THE_REPOSITORY:
            continue
        result = runner.invoke(cli, argv(path, command, repo, tmp_path))
        where = (path, kind, result.output)
        assert not isinstance(result.exception, Exception) or isinstance(
            result.exception, SystemExit), (where, result.exception)
        if kind == "missing-parent" and path in CREATE_THE_REPOSITORY:
            assert result.exit_code == 0, where
            continue
        assert result.exit_code == 2, where
        assert len(result.stderr.splitlines()) == 1, where
        assert str(repo) in result.stderr, where
        if kind != "missing-parent":
            assert "not a manifest repository directory" in result.stderr, where
