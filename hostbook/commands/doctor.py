"""`hostbook doctor HOST [--live]`: what a rebuild of HOST needs, and what this system lacks."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from hostbook.commands.common import handle_errors, host_name, repo_option, resolve_repo
from hostbook.manifest.errors import EXIT_OK, EXIT_PARTIAL


@click.command("doctor")
@repo_option
@click.argument("host")
@click.option("--live", is_flag=True,
              help="Check this system: each program found or missing, the firmware mode.")
@click.option("--target", metavar="DIR",
              help="With --live: also check the restored system's own tools under DIR.")
@click.option("--no-nvram", is_flag=True,
              help="The rebuild will write only the removable-media fallback (no NVRAM).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@handle_errors
def doctor(repo: Path | None, host: str, live: bool, target: str | None, no_nvram: bool,
           as_json: bool) -> None:
    """List the programs (with their packages) and the firmware a rebuild of HOST needs.

    With --live, each is looked for on this system: exit 0 when nothing is
    missing, 1 when something is (each printed with the package to install).
    """
    from hostbook.restore.doctor.host import doctor as run_doctor
    from hostbook.restore.doctor.host import host_needs

    repository, host = resolve_repo(repo), host_name(host)
    if not live:
        needs = host_needs(repository, host)
        if as_json:
            click.echo(json.dumps([{"programs": list(n.programs), "package": n.packages,
                                    "why": n.why, "where": n.where} for n in needs], indent=2))
            return
        for need in needs:
            place = "restored system" if need.where == "target" else "live system"
            click.echo(f"{place}: {need.describe()}")
        return
    from hostbook.process.runner import LiveRunner

    diagnosis = run_doctor(LiveRunner(), repository, host, target, no_nvram)
    if as_json:
        click.echo(json.dumps(diagnosis.to_json(), indent=2))
    else:
        for finding in diagnosis.findings:
            state = ("not checked yet" if finding.found == ""
                     else "MISSING" if finding.missing else finding.found)
            click.echo(f"{state}: {finding.need.describe()}")
        click.echo(f"firmware: this system booted {diagnosis.firmware_live}, the host "
                   f"needs {diagnosis.firmware_needed or 'unknown'}")
        for note in diagnosis.notes:
            click.echo(f"note: {note}")
        for problem in diagnosis.problems:
            click.echo(f"problem: {problem}", err=True)
        click.echo(f"{host}: " + ("this system has what the rebuild needs" if diagnosis.ok
                                  else f"{len(diagnosis.problems)} problem(s)"))
    sys.exit(EXIT_OK if diagnosis.ok else EXIT_PARTIAL)
