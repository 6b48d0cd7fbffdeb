"""Command-line entry point: parse arguments, call the library, map exit codes.

No logic lives here.  Exit codes: 0 ok, 1 partial (some part incomplete),
2 usage or bad input, 3 runtime failure.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from hostbook import __version__
from hostbook.commands.common import handle_errors, repo_option, resolve_repo
from hostbook.manifest.errors import EXIT_BAD_INPUT


class HostbookGroup(click.Group):
    """A group whose usage errors exit 2 and whose failures follow the exit-code table."""

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


# Subcommands live in hostbook/commands/, one module per command group.
from hostbook.commands import capture as _capture  # noqa: E402
from hostbook.commands import plan as _plan  # noqa: E402
from hostbook.commands import restore as _restore  # noqa: E402
from hostbook.commands import run as _run  # noqa: E402
from hostbook.commands import show as _show  # noqa: E402
from hostbook.commands import status as _status  # noqa: E402
from hostbook.commands import sure as _sure  # noqa: E402

cli.add_command(_capture.capture)
cli.add_command(_show.show)
cli.add_command(_show.log)
cli.add_command(_show.schema)
cli.add_command(_plan.plan_group)
cli.add_command(_run.run)
cli.add_command(_sure.sure)
cli.add_command(_status.status)
cli.add_command(_restore.restore)


def main() -> None:
    """Console-script entry point."""
    try:
        cli.main(prog_name="hostbook")
    except click.UsageError as exc:  # pragma: no cover - standalone mode exits first
        click.echo(str(exc), err=True)
        sys.exit(EXIT_BAD_INPUT)
