"""`hostbook status`: when was each volume last archived, and is it stale."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from hostbook.commands.common import handle_errors, host_name, repo_option, resolve_repo


@click.command()
@repo_option
@click.option("--host", help="Host to report on (default: this host's name).")
@click.option(
    "--jobs-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Read jobs from this file instead of the manifest repository.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.option(
    "--stale-after",
    metavar="DURATION",
    help="Call a volume stale after this long (e.g. 36h) instead of the jobs' thresholds.",
)
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where run history is kept (default: settings.state_dir or /var/lib/hostbook/state).",
)
@handle_errors
def status(
    repo: Path | None,
    host: str | None,
    jobs_file: Path | None,
    as_json: bool,
    stale_after: str | None,
    state_dir: Path | None,
) -> None:
    """Per volume and archive target: the last archive, where it went, whether it is stale.

    With the host's captures in the repository, its rebuild readiness follows.
    The worst target decides its volume, the worst volume the exit code:
    0 all fresh, 1 a target stale, never archived or its last attempt failed,
    2 bad input (unknown host, missing repository), 4 nothing configured.
    """
    from hostbook.jobs.run.status import render_status
    from hostbook.review.readiness import render_readiness, status_document

    repository = None if jobs_file else resolve_repo(repo)
    document, report, readiness = status_document(repository, host_name(host), jobs_file,
                                                  state_dir, stale_after)
    if as_json:
        click.echo(json.dumps(document, indent=2, sort_keys=True))
    else:
        click.echo(render_status(report.volumes), nl=False)
        if readiness is not None:
            click.echo(render_readiness(readiness), nl=False)
    sys.exit(report.exit_code)
