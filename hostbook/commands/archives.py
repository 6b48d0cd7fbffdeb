"""`hostbook archives HOST`: the restorable archives of each volume, per archive target."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from hostbook.commands.common import handle_errors, host_name, repo_option, resolve_repo


@click.command("archives")
@repo_option
@click.argument("host")
@click.option("--volume", "volumes", multiple=True, metavar="KEY",
              help="Only this volume (its key, e.g. lv-vg0-home, or as jobs.yaml names it); "
              "repeatable.")
@click.option("--jobs-file", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="Read the jobs from FILE instead of the manifest repository.")
@click.option("--json", "as_json", is_flag=True, help="Print the listing as JSON.")
@handle_errors
def archives(repo: Path | None, host: str, volumes: tuple[str, ...], jobs_file: Path | None,
             as_json: bool) -> None:
    """List HOST's archives per volume and target, newest first, with revision numbers.

    Revision 0 is the newest; ``restore data --at N`` restores revision N.
    Exit 1 when some target could not be listed (each says why).
    """
    from hostbook.restore.data.catalog import host_catalog
    from hostbook.restore.data.report import listing_lines

    listing = host_catalog(resolve_repo(repo), host_name(host), volumes, jobs_file)
    if as_json:
        click.echo(json.dumps([t.to_json() for t in listing], indent=2))
    else:
        for line in listing_lines(listing):
            click.echo(line)
    sys.exit(1 if any(t.error for t in listing) else 0)
