"""`hostbook commit HOST`: commit the files people wrote for a host, on purpose."""

from __future__ import annotations

from pathlib import Path

import click

from hostbook.commands.common import handle_errors, host_name, repo_option, resolve_repo


@click.command()
@click.argument("host")
@repo_option
@click.option("-m", "--message", help="Commit subject (default: the files, e.g. +jobs.yaml).")
@handle_errors
def commit(host: str, repo: Path | None, message: str | None) -> None:
    """Commit HOST's hand-written files (jobs.yaml, restore.yaml) after checking them.

    Capture commits only what it captured; this commits the rest of the host's
    folder in a commit of its own.  Exit 2 when a file is not valid.
    """
    from hostbook.manifest.hand_commits import commit_by_hand
    from hostbook.manifest.store import ManifestRepository

    sha, said = commit_by_hand(ManifestRepository.open(resolve_repo(repo)), host_name(host),
                               message)
    if sha is None:
        click.echo(f"{host}: nothing to commit")
    else:
        click.echo(f"{host}: {', '.join(said)} (commit {sha[:12]})")
