"""`hostbook diff`, `hosts` and `metrics`: reviewing hosts from the repository."""

from __future__ import annotations

import json
import sys
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


state_dir_option = click.option(
    "--state-dir", type=click.Path(path_type=Path, file_okay=False),
    help="Where run history is kept (default: /var/lib/hostbook/state).")
capture_age_option = click.option(
    "--capture-max-age", default="2d", show_default=True, metavar="DURATION",
    help="A host whose last capture is older is not ready.")


@click.command()
@repo_option
@state_dir_option
@capture_age_option
@click.option("--json", "as_json", is_flag=True, help="Print the hosts as JSON.")
@handle_errors
def hosts(repo: Path | None, state_dir: Path | None, capture_max_age: str,
          as_json: bool) -> None:
    """Every host in the repository: last capture, rebuild readiness, last archive.

    Exit 1 when a host is not ready, 0 otherwise.
    """
    from hostbook.manifest.store import ManifestRepository
    from hostbook.review.readiness import fleet_readiness, render_hosts

    store = ManifestRepository.open(resolve_repo(repo))
    rows = fleet_readiness(store, state_dir=state_dir, capture_max_age=capture_max_age)
    if as_json:
        click.echo(json.dumps([r.to_json() for r in rows], indent=2))
    else:
        click.echo(render_hosts(rows), nl=False)
    sys.exit(1 if any(r.verdict != "ready" for r in rows) else 0)


@click.command()
@click.argument("names", nargs=-1, metavar="[HOST]...")
@repo_option
@state_dir_option
@capture_age_option
@click.option("--textfile", type=click.Path(path_type=Path, file_okay=False), metavar="DIR",
              help="Write DIR/hostbook.prom for node_exporter's textfile collector.")
@handle_errors
def metrics(names: tuple[str, ...], repo: Path | None, state_dir: Path | None,
            capture_max_age: str, textfile: Path | None) -> None:
    """Prometheus text format: capture age, readiness, each volume's last archive."""
    from hostbook.manifest.store import ManifestRepository
    from hostbook.review.metrics import render_metrics, write_textfile
    from hostbook.review.readiness import fleet_readiness

    store = ManifestRepository.open(resolve_repo(repo))
    chosen = [host_name(n) for n in names] or None
    rows = fleet_readiness(store, chosen, state_dir=state_dir, capture_max_age=capture_max_age)
    text = render_metrics(rows)
    if textfile is None:
        click.echo(text, nl=False)
    else:
        click.echo(f"wrote {write_textfile(textfile, text)}")


@click.command()
@click.argument("names", nargs=-1, metavar="[HOST]...")
@repo_option
@state_dir_option
@capture_age_option
@click.option("-o", "--output", "output", required=True,
              type=click.Path(path_type=Path, file_okay=False), metavar="DIR",
              help="Directory the site is written to (index.html, hosts/<host>.html).")
@handle_errors
def report(names: tuple[str, ...], repo: Path | None, state_dir: Path | None,
           capture_max_age: str, output: Path) -> None:
    """A static HTML site: an index of hosts and a page per host (no JavaScript needed)."""
    from hostbook.manifest.store import ManifestRepository
    from hostbook.review.site import build_site

    store = ManifestRepository.open(resolve_repo(repo))
    site = build_site(store, output, [host_name(n) for n in names] or None,
                      state_dir=state_dir, capture_max_age=capture_max_age)
    click.echo(f"wrote {len(site.pages)} pages for {site.hosts} hosts to {site.directory}")
