"""`hostbook reinstall HOST`: bring HOST's captured intent onto this freshly installed system."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from hostbook.commands.common import handle_errors, host_name, repo_option, resolve_repo


@click.command("reinstall")
@repo_option
@click.argument("host")
@click.option("--from-repo", "from_repo", type=click.Path(path_type=Path, file_okay=False),
              help="The manifest repository HOST is in (the same as --repo).")
@click.option("--at", metavar="REV", help="Use the manifest as this commit has it "
              "(default: the working tree).")
@click.option("--only", metavar="SECTIONS",
              help="Comma-separated: packages, accounts, etc, services, checkouts, data.")
@click.option("--dry-run", is_flag=True, help="Plan and print the report; change nothing.")
@click.option("--report", "report_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Also write the report to FILE as Markdown.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--root", metavar="DIR", hidden=True,
              help="The new system's tree, when it is not / (tests).")
@click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False), hidden=True)
@handle_errors
def reinstall(repo: Path | None, host: str, from_repo: Path | None, at: str | None,
              only: str | None, dry_run: bool, report_file: Path | None, as_json: bool,
              root: str | None, state_dir: Path | None) -> None:
    """Plan, apply and report the reinstall of HOST onto this system (run as root).

    The report has three lists: carried over, adapted (with how) and could
    not map (with why and what to do).  Exit 0 when everything mapped, 1 when
    something could not, 2 on bad input, 3 when a step failed (run the same
    command again: it continues where it stopped).
    """
    from hostbook.manifest.yamlio import atomic_write_text
    from hostbook.process.runner import LiveRunner
    from hostbook.restore.reinstall.report import terminal_lines, to_json, to_markdown
    from hostbook.restore.reinstall.session import ReinstallRequest, parse_only, reinstall

    request = ReinstallRequest(resolve_repo(from_repo or repo), host_name(host), at,
                               parse_only(only), dry_run, (root or "").rstrip("/"), state_dir)
    say = (lambda text: None) if as_json else (lambda text: click.echo(text, err=True))
    outcome = reinstall(request, LiveRunner(), say)
    if report_file is not None:
        atomic_write_text(report_file, to_markdown(outcome.items, request.host,
                                                   request.root or "this system"))
    if as_json:
        data = to_json(outcome.items) | {"notes": outcome.notes, "failure": outcome.failure,
                                         "dry_run": dry_run}
        click.echo(json.dumps(data, indent=2))
    else:
        for note in outcome.notes:
            click.echo(f"note: {note}")
        for line in terminal_lines(outcome.items):
            click.echo(line)
        if outcome.failure:
            click.echo(f"failed: {outcome.failure}", err=True)
    sys.exit(outcome.exit_code)
