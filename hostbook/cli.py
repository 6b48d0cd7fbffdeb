"""Command-line entry point: parse arguments, call the library, map exit codes.

No logic lives here.  Exit codes: 0 ok, 1 partial (some part incomplete),
2 usage or bad input, 3 runtime failure.
"""

from __future__ import annotations

import sys
from importlib import import_module
from pathlib import Path

import click

from hostbook import __version__
from hostbook.commands.common import handle_errors, repo_option, resolve_repo
from hostbook.manifest.errors import EXIT_BAD_INPUT

COMMANDS: dict[str, tuple[str, str]] = {
    "capture": ("capture", "capture"),
    "commit": ("commit", "commit"),
    "show": ("show", "show"),
    "log": ("show", "log"),
    "diff": ("review", "diff"),
    "hosts": ("review", "hosts"),
    "metrics": ("review", "metrics"),
    "report": ("review", "report"),
    "install-units": ("units", "install_units"),
    "schema": ("show", "schema"),
    "plan": ("plan", "plan_group"),
    "run": ("run", "run"),
    "sure": ("sure", "sure"),
    "status": ("status", "status"),
    "restore": ("restore", "restore"),
    "archives": ("archives", "archives"),
    "snapshot": ("snapshot", "snapshot"),
    "serve": ("serve", "serve"),
    "doctor": ("doctor", "doctor"),
    "rebuild": ("rebuild", "rebuild"),
    "reinstall": ("reinstall", "reinstall"),
}
"""Subcommand -> (module in hostbook/commands/, its click object).  A command's
module is imported only when that command runs (or ``--help`` lists them all),
so ``hostbook capture`` never loads the code of ``restore`` or ``run``."""


class HostbookGroup(click.Group):
    """A group whose usage errors exit 2 and whose failures follow the exit-code table.

    The subcommands of :data:`COMMANDS` are loaded on first use.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module, name = COMMANDS[cmd_name]
            self.add_command(getattr(import_module(f"hostbook.commands.{module}"), name))
        return self.commands.get(cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands and args[0] not in COMMANDS:
            for name in COMMANDS:  # an unknown name: "did you mean" draws on every command
                self.get_command(ctx, name)
        return super().resolve_command(ctx, args)

    def main(self, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        kwargs.setdefault("standalone_mode", True)
        try:
            return super().main(*args, **kwargs)
        except click.exceptions.Exit as exc:  # pragma: no cover - click handles these
            sys.exit(exc.exit_code)


@click.group(
    cls=HostbookGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Exit codes: 0 ok, 1 partial, 2 usage or bad input, 3 runtime failure.",
)
@click.version_option(__version__, prog_name="hostbook")
def cli() -> None:
    """Capture every layer of a Linux host into a git-tracked manifest, and rebuild it."""


@cli.command()
@click.argument("repo_path", metavar="[REPO]", required=False, type=click.Path(path_type=Path))
@repo_option
@handle_errors
def init(repo_path: Path | None, repo: Path | None) -> None:
    """Create a manifest repository (default: $HOSTBOOK_REPO or the system location)."""
    from hostbook.manifest.store import ManifestRepository

    created = ManifestRepository.init(repo_path or resolve_repo(repo))
    click.echo(f"manifest repository ready at {created.path}")


def main() -> None:
    """Console-script entry point."""
    try:
        cli.main(prog_name="hostbook")
    except click.UsageError as exc:  # pragma: no cover - standalone mode exits first
        click.echo(str(exc), err=True)
        sys.exit(EXIT_BAD_INPUT)
