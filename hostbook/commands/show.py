"""`hostbook show`, `hostbook log` and `hostbook schema`: read-only views."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hostbook.commands.common import handle_errors, host_name, repo_option, resolve_repo


@click.command()
@click.argument("host")
@repo_option
@click.option("--json", "as_json", is_flag=True, help="Print validated data as JSON.")
@click.option("--section", "sections", multiple=True, metavar="S",
              help="Only this section's file (repeatable): storage, packages, ...")
@handle_errors
def show(host: str, repo: Path | None, as_json: bool, sections: tuple[str, ...]) -> None:
    """Print a host's manifest (validated; exit 2 with FILE:LINE:COL on errors)."""
    from hostbook.manifest.store import ManifestRepository
    from hostbook.manifest.views import host_documents, host_text

    host = host_name(host)
    store = ManifestRepository.open(resolve_repo(repo))
    if as_json:
        click.echo(json.dumps(host_documents(store, host, sections), indent=2))
    else:
        click.echo(host_text(store, host, sections), nl=False)


@click.command()
@click.argument("host")
@repo_option
@click.option("-n", "--limit", type=int, default=None, help="Show at most N commits.")
@click.option("--json", "as_json", is_flag=True,
              help="Print commits as JSON, each with its semantic summary.")
@handle_errors
def log(host: str, repo: Path | None, limit: int | None, as_json: bool) -> None:
    """List the commits that changed a host, newest first."""
    from hostbook.manifest.store import ManifestRepository
    from hostbook.manifest.views import host_log

    store = ManifestRepository.open(resolve_repo(repo))
    commits = host_log(store, host_name(host), limit)
    if as_json:
        from hostbook.review.history import log_entries

        click.echo(json.dumps(log_entries(store, host_name(host), limit), indent=2))
        return
    for commit in commits:
        click.echo(f"{commit.sha[:12]}  {commit.date}  {commit.subject}")


@click.command()
@click.argument("section", required=False)
@repo_option
@handle_errors
def schema(section: str | None, repo: Path | None) -> None:
    """Print the JSON Schema of SECTION (or of every section) for editors."""
    from hostbook.manifest.views import json_schema

    click.echo(json_schema(section))
