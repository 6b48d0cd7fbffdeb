"""`hostbook install-units`: the systemd units for daily capture and for each job."""

from __future__ import annotations

from pathlib import Path

import click

from hostbook.commands.common import handle_errors, host_name, repo_option, resolve_repo


@click.command("install-units")
@repo_option
@click.option("--host", help="Host whose jobs get run timers (default: this host's name).")
@click.option("--now", is_flag=True, help="Start the timers now, not only at the next boot.")
@click.option("--hostbook", "program", default="/usr/local/bin/hostbook", show_default=True,
              help="The hostbook command the services run (an absolute path).")
@click.option("--unit-dir", type=click.Path(path_type=Path, file_okay=False),
              default=Path("/etc/systemd/system"), show_default=True,
              help="Where the unit files are written.")
@click.option("--randomized-delay", default="1h", show_default=True, metavar="DURATION",
              help="RandomizedDelaySec of the timers, so a fleet does not run at one instant.")
@click.option("--serve", is_flag=True,
              help="Also enable hostbook-serve.service (the dashboard; always written).")
@click.option("--serve-listen", default="127.0.0.1:8765", show_default=True,
              metavar="ADDR:PORT", help="What hostbook-serve.service listens on.")
@handle_errors
def install_units(repo: Path | None, host: str | None, now: bool, program: str,
                  unit_dir: Path, randomized_delay: str, serve: bool,
                  serve_listen: str) -> None:
    """Install and enable hostbook-capture.timer and hostbook-run@JOB.timer per job, and
    write hostbook-serve.service (enabled with --serve)."""
    from hostbook.fleet.units import UnitSettings, install_for_host
    from hostbook.jobs.run.jobs_file import default_host
    from hostbook.process.runner import LiveRunner

    settings = UnitSettings(program, resolve_repo(repo), randomized_delay=randomized_delay,
                            serve_listen=serve_listen)
    done = install_for_host(LiveRunner(), settings, host_name(host) or default_host(),
                            unit_dir=unit_dir, now=now, serve=serve)
    for path in done.written:
        click.echo(f"wrote {path}")
    click.echo(f"enabled{' and started' if done.started else ''}: {', '.join(done.enabled)}")
