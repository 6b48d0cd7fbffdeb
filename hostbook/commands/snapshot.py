"""`hostbook snapshot --type T`: take the jobs' snapshots of one retention type now."""

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
@click.option("--host", help="Host whose jobs.yaml to read (default: this host's name).")
@click.option(
    "--jobs-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Read jobs from this file instead of the manifest repository.",
)
@click.option("--type", "kind", required=True, metavar="TYPE",
              help="Retention type of the snapshots (hourly, daily, weekly...).")
@click.option("--json", "as_json", is_flag=True, help="Print what was taken as JSON.")
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where the run lock is (default: settings.state_dir or /var/lib/hostbook/state).",
)
@handle_errors
def snapshot(jobs: tuple[str, ...], repo: Path | None, host: str | None,
             jobs_file: Path | None, kind: str, as_json: bool, state_dir: Path | None) -> None:
    """Snapshot every enabled job's volume (or JOBS') now, named <TYPE>-<prefix>-<time>.

    The snapshots are kept for retention to count with TYPE; nothing is mounted or
    archived.  Taken under the host's run lock.  Exit 0 when every snapshot was
    taken, 3 when one failed or a run holds the lock, 2 for bad input.
    """
    from hostbook.jobs.run.jobs_file import load_jobs
    from hostbook.jobs.snapshot.on_demand import take_typed
    from hostbook.manifest.errors import EXIT_OK, EXIT_RUNTIME
    from hostbook.process.runner import LiveRunner

    loaded = load_jobs(repo_beside_jobs_file(repo, jobs_file), host_name(host), jobs_file,
                       state_dir=state_dir)
    made = take_typed(loaded, kind, LiveRunner(), job_names=list(jobs))
    if as_json:
        click.echo(json.dumps([m.to_json() for m in made], indent=2, sort_keys=True))
    else:
        for m in made:
            click.echo(f"{m.job}: {m.status}: {m.message}")
    sys.exit(EXIT_RUNTIME if any(m.status == "failed" for m in made) else EXIT_OK)
