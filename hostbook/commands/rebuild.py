"""`hostbook rebuild HOST`: layout, data, system files and bootloader, verified, resumable."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from hostbook.commands.common import handle_errors, host_name, repo_option, resolve_repo
from hostbook.commands.restore import map_option, no_nvram_option, target_option
from hostbook.manifest.errors import EXIT_BAD_INPUT, BadInputError


@click.command("rebuild")
@repo_option
@click.argument("host")
@map_option
@target_option
@click.option("--at", "at", metavar="SPEC", help="Which archives (restore data's --at): 0 "
              "(newest, the default), 1, ..., an archive id, @TIME, or manifest:REV.")
@click.option("--passphrase-file", type=click.Path(path_type=Path, exists=True),
              help="File with the passphrase for every LUKS container, or a directory with "
              "one file per container.")
@click.option("--passphrase-command", metavar="CMD",
              help="Command printing a container's passphrase.")
@no_nvram_option
@click.option("--new-identities", is_flag=True,
              help="Give a filesystem whose UUID another attached device carries a new one; "
              "fstab and the bootloader follow.")
@click.option("--yes", is_flag=True, help="Do not ask before erasing the target disks.")
@click.option("--script", "script_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the whole rebuild as one shell script to FILE and stop.")
@click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Where the rebuild's journals are kept (default /var/lib/hostbook/state).")
@click.option("--data-state-dir", type=click.Path(path_type=Path, file_okay=False),
              help="restore data's state directory (default: jobs.yaml's).")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON at the end.")
@handle_errors
def rebuild(repo: Path | None, host: str, maps: tuple[str, ...], target: str | None,
            at: str | None, passphrase_file: Path | None, passphrase_command: str | None,
            no_nvram: bool, new_identities: bool, yes: bool, script_path: Path | None,
            state_dir: Path | None, data_state_dir: Path | None, as_json: bool) -> None:
    """Rebuild HOST from its manifest and archives onto the mapped disks, ready to boot.

    Preflight (this system's tools and firmware, the layout plan, every
    archive reachable with its password) refuses before a disk is touched
    (exit 2).  Then: layout (restore apply), data (restore data, verified file
    by file), boot (system files, initramfs, bootloader, checks), verify
    (storage captured again), release (the tree unmounted).  Killed at any
    point, the same command continues.  Exit 1 when a difference remains, 3
    when a phase failed.
    """
    from hostbook.process.runner import LiveRunner
    from hostbook.restore.rebuild.session import RebuildRequest, preflight
    from hostbook.restore.rebuild.session import rebuild as run_rebuild
    from hostbook.restore.session import confirmation_text

    if passphrase_file is not None and passphrase_command is not None:
        raise BadInputError("give --passphrase-file or --passphrase-command, not both")
    say = (lambda text: click.echo(text, err=True)) if as_json else click.echo
    request = RebuildRequest(
        repository=resolve_repo(repo), host=host_name(host), maps=maps or ("auto",),
        target=target, at=at, passphrase_file=passphrase_file,
        passphrase_command=passphrase_command, no_nvram=no_nvram,
        new_identities=new_identities, state_dir=state_dir, data_state_dir=data_state_dir)
    system = LiveRunner()
    checked = preflight(system, request)
    for line in checked.layout.plan.map_lines():
        say(f"map: {line}")
    for note in checked.notes:
        say(f"note: {note}")
    if script_path is not None:
        from hostbook.manifest.yamlio import atomic_write_text
        from hostbook.restore.rebuild.script import render_rebuild

        atomic_write_text(script_path, render_rebuild(request, checked), mode=0o755)
        say(f"Script written to {script_path}")
    if checked.refusals:
        click.echo("REFUSED (nothing was written):", err=True)
        for line in checked.refusals:
            click.echo(f"  {line}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    if script_path is not None:
        return
    if not yes:
        click.echo(confirmation_text(checked.layout))
        answer = click.prompt("Type yes to continue", default="", show_default=False)
        if answer.strip().lower() != "yes":
            raise BadInputError("not confirmed; nothing was written")
    outcome = run_rebuild(system, request, checked, say)
    for difference in outcome.differences:
        say(f"differs: {difference}")
    if as_json:
        click.echo(json.dumps(outcome.to_json(), indent=2))
    else:
        timing = ", ".join(f"{k} {v:.1f} s" for k, v in outcome.seconds.items())
        click.echo(f"{request.host}: rebuilt ({timing})" if outcome.exit_code == 0 else
                   f"{request.host}: {len(outcome.differences)} difference(s) remain")
    sys.exit(outcome.exit_code)
