"""`hostbook diff`: what changed in a host between two captures, and whether it matters."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hostbook.commands.common import handle_errors, host_name, repo_option, resolve_repo


@click.command()
@click.argument("host")
@click.argument("revisions", nargs=-1, metavar="[OLD [NEW]]")
@repo_option
@click.option("--section", "sections", multiple=True, metavar="S",
              help="Compare only this section (repeatable): storage, packages, ...")
@click.option("--json", "as_json", is_flag=True, help="Print the differences as JSON.")
@handle_errors
def diff(host: str, revisions: tuple[str, ...], repo: Path | None,
         sections: tuple[str, ...], as_json: bool) -> None:
    """The semantic difference between two captures of HOST, keyed on identity.

    No revision: the host's last two captures; OLD: OLD against its latest
    capture; OLD NEW: those two.  Differences are sorted into rebuild-relevant
    and cosmetic (a device the kernel renamed, a reordered list), each with
    its reason.
    """
    from hostbook.manifest.store import ManifestRepository
    from hostbook.review.history import diff_host, render_diff

    if len(revisions) > 2:
        raise click.UsageError("at most two revisions: OLD [NEW]")
    store = ManifestRepository.open(resolve_repo(repo))
    result = diff_host(store, host_name(host), *revisions, sections=sections or None)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2, default=str))
    else:
        click.echo(render_diff(result), nl=False)
