"""`hostbook capture`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from hostbook.commands.common import handle_errors, host_name, repo_option, resolve_repo
from hostbook.manifest.errors import EXIT_OK, EXIT_PARTIAL


@click.command()
@repo_option
@click.option("--host", help="Host name to file the capture under (default: the hostname).")
@click.option(
    "--only",
    metavar="SECTIONS",
    help="Comma-separated sections to capture: system,storage,packages,checkouts.",
)
@click.option("--no-commit", is_flag=True, help="Write the files but do not commit.")
@click.option("--push", is_flag=True,
              help="Push after committing; when others pushed first, fetch, rebase and retry.")
@click.option("--push-if-remote", is_flag=True,
              help="Push as --push does, but only when the repository has a remote.")
@click.option(
    "--record",
    type=click.Path(path_type=Path, file_okay=False),
    help="Save every command, output and file read into DIR.",
)
@click.option(
    "--replay",
    type=click.Path(path_type=Path, exists=True),
    help="Capture from a recording in DIR instead of the live host.",
)
@click.option(
    "--checkout-root",
    "checkout_roots",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Scan DIR for checkouts (repeatable; replaces the configured roots).",
)
@click.option("--config", type=click.Path(path_type=Path), help="Capture configuration file.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@handle_errors
def capture(
    repo: Path | None,
    host: str | None,
    only: str | None,
    no_commit: bool,
    push: bool,
    push_if_remote: bool,
    record: Path | None,
    replay: Path | None,
    checkout_roots: tuple[Path, ...],
    config: Path | None,
    as_json: bool,
) -> None:
    """Capture this host (or a recording) into the manifest repository.

    Commits hosts/HOST/ only when a byte changed, with a message naming what
    changed.  Exit 1 when some part could not be captured (see the warnings).
    """
    from hostbook.capture.collect import parse_sections
    from hostbook.capture.workflow import CaptureRequest
    from hostbook.capture.workflow import capture as run_capture
    from hostbook.manifest.config import load_config
    from hostbook.manifest.store import require_writable

    repository = resolve_repo(repo)
    request = CaptureRequest(
        repository=repository,
        sections=parse_sections(only),
        config=load_config(config),
        host=host_name(host),
        commit=not no_commit,
        push=push,
        push_if_remote=push_if_remote,
        record=record,
        replay=replay,
        options={"checkout_roots": [str(p) for p in checkout_roots]},
    )
    require_writable(repository)  # before the capture, not after it
    outcome = run_capture(request)
    for warning in outcome.warnings:
        click.echo(f"warning: {warning}", err=True)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "host": outcome.host,
                    "repository": str(outcome.repository),
                    "written": outcome.written,
                    "commit": outcome.commit,
                    "pushed_to": outcome.pushed_to,
                    "changes": {
                        d.section: [c.describe() for c in d.changes] for d in outcome.diffs
                    },
                    "partial": outcome.partial,
                    "captured": outcome.sections,
                    "not_captured": outcome.not_captured,
                    "warnings": outcome.warnings,
                    "recording": str(outcome.recording) if outcome.recording else None,
                },
                indent=2,
            )
        )
    else:
        summary = "; ".join(d.summary() for d in outcome.diffs) or "no change"
        where = f"commit {outcome.commit[:12]}" if outcome.commit else "not committed"
        if not outcome.written and not outcome.commit:
            where = "nothing to commit"
        click.echo(f"{outcome.host}: {summary} ({where})")
        click.echo(f"captured: {', '.join(outcome.sections)}")
        for part in outcome.not_captured:
            click.echo(f"not captured: {part}")
        if outcome.partial:
            click.echo("exit 1: the capture is partial; everything else was captured")
        if outcome.recording:
            click.echo(f"recording saved to {outcome.recording}")
    sys.exit(EXIT_PARTIAL if outcome.partial else EXIT_OK)
