"""`hostbook run`: snapshot and archive jobs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from hostbook.commands.common import (
    handle_errors,
    host_name,
    repo_beside_jobs_file,
    repo_option,
)


@click.command()
@click.argument("jobs", nargs=-1)
@repo_option
@click.option("--host", help="Host whose jobs.yaml to run (default: this host's name).")
@click.option(
    "--jobs-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Read jobs from this file instead of the manifest repository.",
)
@click.option("--dry-run", is_flag=True, help="Print every command instead of running it.")
@click.option(
    "--step",
    "steps",
    multiple=True,
    metavar="STEP",
    help="Run only these steps (repeatable or comma-separated): snap, sure, clone, archive, "
    "retention, unsnap.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON event per line.")
@click.option(
    "--wait",
    metavar="DURATION",
    help="Wait this long (e.g. 30m) for another run of this host to finish.",
)
@click.option("--no-notify", is_flag=True, help="Do not ping the jobs' monitoring URLs.")
@click.option(
    "--run-id",
    metavar="ID",
    help="The run's id (YYYYMMDDTHHMMSSZ-xxxxxxxx; default: a new one), e.g. one a caller "
    "announced before the run started.",
)
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Journal, lock and history directory (default: settings.state_dir or "
    "/var/lib/hostbook/state).",
)
@handle_errors
def run(
    jobs: tuple[str, ...],
    repo: Path | None,
    host: str | None,
    jobs_file: Path | None,
    dry_run: bool,
    steps: tuple[str, ...],
    as_json: bool,
    wait: str | None,
    no_notify: bool,
    run_id: str | None,
    state_dir: Path | None,
) -> None:
    """Run JOBS (default: every enabled job): snap, sure, clone, archive, retention, unsnap.

    Leftovers of an interrupted run are cleaned up first.  Every real run keeps
    its events (what --json prints) in <state>/runs/<host>/<run id>.jsonl.  Exit 0 when every
    job succeeded, 1 when some finished with warnings, 3 when one failed.
    """
    from hostbook.jobs.run.event_log import check_run_id
    from hostbook.jobs.run.events import make_sink
    from hostbook.jobs.run.jobs_file import load_jobs
    from hostbook.jobs.run.orchestrator import run_jobs
    from hostbook.jobs.run.request import RunRequest, parse_steps
    from hostbook.jobs.run.sigterm import Interrupted
    from hostbook.manifest.errors import BadInputError
    from hostbook.manifest.sections.retention import parse_duration

    loaded = load_jobs(repo_beside_jobs_file(repo, jobs_file), host_name(host), jobs_file,
                       state_dir=state_dir)
    try:
        wait_seconds = float(parse_duration(wait)) if wait else None
    except ValueError as exc:
        raise BadInputError(f"--wait: {exc}") from None
    try:
        outcome = run_jobs(
            RunRequest(
                loaded=loaded,
                job_names=list(jobs),
                steps=parse_steps(steps),
                dry_run=dry_run,
                sink=make_sink(as_json, dry_run=dry_run),
                wait=wait_seconds,
                notify=not no_notify,
                run_id=check_run_id(run_id) if run_id else None,
            )
        )
    except Interrupted as exc:  # before any snapshot was taken: nothing to undo
        click.echo(f"hostbook: {exc}", err=True)
        sys.exit(exc.exit_code)
    if as_json:
        click.echo(json.dumps({"event": "summary", **outcome.to_json()}, sort_keys=True))
    sys.exit(outcome.exit_code)
