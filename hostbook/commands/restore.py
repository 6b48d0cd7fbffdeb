"""`hostbook restore plan|apply|verify`: rebuild a host's storage from its manifest."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from hostbook.commands.common import handle_errors, host_name, repo_option, resolve_repo
from hostbook.manifest.errors import EXIT_BAD_INPUT, EXIT_OK, EXIT_PARTIAL, BadInputError

map_option = click.option(
    "--map", "maps", multiple=True, metavar="OLD=NEW|auto",
    help="Recorded disk (entry id, kernel name or serial) = present disk; repeat per disk. "
    "'auto' (the default for plan and verify) matches by restore.yaml, WWN, serial, "
    "by-path, then size and order.",
)
target_option = click.option(
    "--target", metavar="DIR", help="Target root to mount the tree under (default: "
    "restore.yaml's target, else /mnt/target).",
)


def _live() -> Any:
    from hostbook.process.runner import LiveRunner

    return LiveRunner()


def _print_plan(plan: Any, resuming: bool, done_before: int) -> None:
    click.echo(f"Restore plan for host {plan.host} (target root {plan.target_root})")
    click.echo("Disk map:")
    for line in plan.map_lines():
        click.echo(f"  {line}")
    found = [line for lines in plan.signatures.values() for line in lines]
    if found:
        click.echo("Existing signatures on the target disks (wiped by the plan):")
        for line in found:
            click.echo(f"  {line}")
    if plan.sizing.lines:
        click.echo("Sizes:")
        for line in plan.sizing.lines:
            click.echo(f"  {line}")
    click.echo("Steps:")
    width = len(str(len(plan.steps)))
    for index, step in enumerate(plan.steps, 1):
        click.echo(f"  {index:>{width}}. {step.summary}")
    if plan.notes:
        click.echo("Notes:")
        for note in plan.notes:
            click.echo(f"  {note}")
    if plan.unknown:
        click.echo("Not known (the capture was incomplete; not restored by this plan):")
        for line in plan.unknown:
            click.echo(f"  {line}")
    if plan.keyfiles:
        click.echo("Key files regenerated:")
        for line in plan.keyfiles:
            click.echo(f"  {line}")
    if resuming:
        click.echo(f"A journal of an earlier apply exists: {done_before} step(s) finished; "
                   "apply resumes, skipping every step whose result is on the device.")
    if plan.refusals:
        click.echo("REFUSED:", err=True)
        for line in plan.refusals:
            click.echo(f"  {line}", err=True)


new_identities_option = click.option(
    "--new-identities", is_flag=True,
    help="Give a filesystem or swap whose UUID another attached device carries a new UUID "
    "instead of refusing (the plan names each; update fstab and the bootloader).")


@click.group("restore")
def restore() -> None:
    """Rebuild a host from its manifest: plan, apply, verify the disks; data back."""


@restore.command("plan")
@repo_option
@click.argument("host")
@map_option
@target_option
@click.option("--script", "script_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the shell script that does the same steps to FILE.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option("--allow-incomplete", is_flag=True,
              help="Plan from a storage.yaml whose capture was incomplete: what is known is "
              "planned, what is not is listed.")
@new_identities_option
@handle_errors
def plan_command(repo: Path | None, host: str, maps: tuple[str, ...], target: str | None,
                 script_path: Path | None, as_json: bool, allow_incomplete: bool,
                 new_identities: bool) -> None:
    """Show the steps that would rebuild HOST's storage (a dry run: nothing is written).

    Exit 2 when the plan is refused (a disk too small, busy, or a layer that
    cannot be recreated); the reasons are printed.
    """
    from hostbook.restore.session import prepare

    prepared = prepare(_live(), resolve_repo(repo), host_name(host), maps, target,
                       allow_incomplete=allow_incomplete, new_identities=new_identities)
    plan = prepared.plan
    if script_path is not None:
        from hostbook.manifest.yamlio import atomic_write_text
        from hostbook.restore.plan.script import render_script  # jinja2: only when asked

        atomic_write_text(script_path, render_script(plan, prepared.verify_argv), mode=0o755)
    if as_json:
        click.echo(json.dumps(plan.as_dict(), indent=2))
    else:
        _print_plan(plan, prepared.resuming, prepared.finished_before)
        if script_path is not None:
            click.echo(f"Script written to {script_path}")
    sys.exit(EXIT_BAD_INPUT if plan.refused else EXIT_OK)


@restore.command("apply")
@repo_option
@click.argument("host")
@map_option
@target_option
@click.option("--yes", is_flag=True, help="Do not ask before erasing the target disks.")
@click.option("--passphrase-file", type=click.Path(path_type=Path, exists=True),
              help="File with the passphrase for every LUKS container, or a directory with "
              "one file per container (crypttab name, LUKS UUID or luks:<uuid>).")
@click.option("--passphrase-command", metavar="CMD",
              help="Command printing a container's passphrase; HOSTBOOK_CONTAINER and "
              "HOSTBOOK_CONTAINER_NAME name the container.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the plan and what ran as JSON at the end (no progress lines).")
@new_identities_option
@handle_errors
def apply_command(repo: Path | None, host: str, maps: tuple[str, ...], target: str | None,
                  yes: bool, passphrase_file: Path | None, passphrase_command: str | None,
                  as_json: bool, new_identities: bool) -> None:
    """Rebuild HOST's storage on the mapped disks and mount it under the target root.

    Every step is journaled: after an interruption, run the same command again
    and it continues, never repeating a step whose result is on the device.
    """
    from hostbook.restore.apply.passphrases import PassphraseSource
    from hostbook.restore.session import apply, confirmation_text, load_host, prepare

    repository = resolve_repo(repo)
    host = host_name(host)
    if not maps and not any(d.serial or d.wwn or d.path
                            for d in load_host(repository, host).policy.disks):
        raise BadInputError("apply needs a disk map: --map OLD=NEW (per disk) or --map auto")
    if passphrase_file is not None and passphrase_command is not None:
        raise BadInputError("give --passphrase-file or --passphrase-command, not both")
    system = _live()
    prepared = prepare(system, repository, host, maps, target, new_identities=new_identities)
    plan = prepared.plan
    if plan.refused:
        _print_plan(plan, prepared.resuming, prepared.finished_before)
        sys.exit(EXIT_BAD_INPUT)
    if not as_json:
        for line in plan.map_lines():
            click.echo(f"map: {line}")
    if not yes:
        click.echo(confirmation_text(prepared))
        answer = click.prompt("Type yes to continue", default="", show_default=False)
        if answer.strip().lower() != "yes":
            raise BadInputError("not confirmed; nothing was written")
    passphrases = PassphraseSource(passphrase_file, passphrase_command, interactive=True)

    def progress(kind: str, step: Any, index: int, total: int) -> None:
        if as_json:
            return
        if kind == "run":
            click.echo(f"[{index}/{total}] {step.summary}")
        else:
            click.echo(f"[{index}/{total}] skip: {step.summary}")

    outcome = apply(prepared, system, passphrases, progress)
    if as_json:
        click.echo(json.dumps({
            "plan": plan.as_dict(), "ran": outcome.ran, "skipped": outcome.skipped,
            "commands": outcome.commands, "command_seconds": round(outcome.command_seconds, 3),
        }, indent=2))
        return
    click.echo(f"done: {len(outcome.ran)} step(s) run, {len(outcome.skipped)} skipped "
               f"(their result was already there)")
    for line in plan.keyfiles:
        click.echo(f"key file: {line}")
    click.echo(f"next: {prepared.verify_command}")


@restore.command("verify")
@repo_option
@click.argument("host")
@map_option
@target_option
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@handle_errors
def verify_command(repo: Path | None, host: str, maps: tuple[str, ...], target: str | None,
                   as_json: bool) -> None:
    """Capture the rebuilt disks again and compare them with HOST's manifest.

    Exit 0 only when every identity, size and setting restore promises matches;
    exit 1 when something differs (each difference is printed).
    """
    from hostbook.restore.session import verify

    plan, report = verify(_live(), resolve_repo(repo), host_name(host), maps, target)
    if as_json:
        click.echo(json.dumps({
            "host": host,
            "ok": report.ok,
            "checked": report.checked,
            "mounts_checked": report.mounts_checked,
            "differences": [d.describe() for d in report.differences],
            "notes": report.notes,
        }, indent=2))
    else:
        for line in plan.map_lines():
            click.echo(f"map: {line}")
        for note in report.notes:
            click.echo(f"note: {note}")
        for diff in report.differences:
            click.echo(f"differs: {diff.describe()}")
        verdict = "matches the manifest" if report.ok else (
            f"{len(report.differences)} difference(s)")
        click.echo(f"{host}: {report.checked} entries and {report.mounts_checked} mounts "
                   f"checked; {verdict}")
    sys.exit(EXIT_OK if report.ok else EXIT_PARTIAL)


@restore.command("data")
@repo_option
@click.argument("host")
@click.option("--target", metavar="DIR", help="Target root the rebuilt tree is mounted under "
              "(default: restore.yaml's target, else /mnt/target).")
@click.option("--volume", "volumes", multiple=True, metavar="KEY",
              help="Only this volume (key or as jobs.yaml names it); repeatable.")
@click.option("--at", "at", metavar="SPEC", help="Which archive: 0 (newest, the default), 1, "
              "..., an archive id, @TIME, or manifest:REV.")
@click.option("--path", "paths", multiple=True, metavar="P",
              help="Only this path (as it was on the host); repeatable.")
@click.option("--from", "source", metavar="NAME",
              help="Archive target to restore from (default: the first reachable one).")
@click.option("--overwrite", is_flag=True,
              help="Restore over a non-empty target, writing only the entries that differ.")
@click.option("--jobs-file", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="Read the jobs from FILE instead of the manifest repository.")
@click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False),
              help="State directory: the journal, the run history (default: jobs.yaml's).")
@click.option("--dry-run", is_flag=True, help="Check everything, print the commands, write "
              "nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@handle_errors
def data_command(repo: Path | None, host: str, target: str | None, volumes: tuple[str, ...],
                 at: str | None, paths: tuple[str, ...], source: str | None, overwrite: bool,
                 jobs_file: Path | None, state_dir: Path | None, dry_run: bool,
                 as_json: bool) -> None:
    """Restore HOST's volumes from their archives into the tree under the target root.

    Everything is checked first (targets reachable, passwords, archives, tools,
    empty targets): otherwise exit 2 with every reason, nothing written.  Each
    volume is verified file by file against its run's integrity database: exit 0
    only with zero differences, 1 when some differ, 3 when a tool failed.  Run
    the same command again after an interruption: verified volumes are skipped.
    """
    from hostbook.restore.data.report import outcome_lines
    from hostbook.restore.data.session import DataRequest, restore_data

    request = DataRequest(
        repository=None if jobs_file else resolve_repo(repo), host=host_name(host),
        jobs_file=jobs_file, target=target, volumes=list(volumes), at=at, paths=list(paths),
        source=source, dry_run=dry_run, overwrite=overwrite, state_dir=state_dir)
    outcome = restore_data(request, say=None if as_json else click.echo)
    if as_json:
        click.echo(json.dumps(outcome.to_json(), indent=2))
    else:
        for line, to_stderr in outcome_lines(outcome):
            click.echo(line, err=to_stderr)
    sys.exit(outcome.exit_code)


no_nvram_option = click.option(
    "--no-nvram", is_flag=True,
    help="Write no NVRAM boot entry, only the removable-media fallback \\EFI\\BOOT\\BOOTX64.EFI "
    "(a UEFI host rebuilt from a live system booted in BIOS mode).")


def print_steps(steps: Any, title: str) -> None:
    click.echo(f"{title}:")
    width = len(str(len(steps)))
    for index, step in enumerate(steps, 1):
        click.echo(f"  {index:>{width}}. {step.summary}")
        for note in step.notes:
            click.echo(f"  {'':>{width}}  {note}")


@restore.command("boot")
@repo_option
@click.argument("host")
@map_option
@target_option
@no_nvram_option
@click.option("--script", "script_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the boot phase as a shell script to FILE and stop.")
@click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Where the journal is kept (default /var/lib/hostbook/state).")
@handle_errors
def boot_command(repo: Path | None, host: str, maps: tuple[str, ...], target: str | None,
                 no_nvram: bool, script_path: Path | None, state_dir: Path | None) -> None:
    """Make a restored tree boot: system files, initramfs, bootloader, NVRAM, checks.

    For a tree restored some other way (the layout and the data are in place
    and mounted under the target).  fstab and crypttab are checked against the
    manifest and written from it where they would not boot the rebuilt disks;
    the initramfs of every kernel is rebuilt and looked into; the bootloader is
    installed as recorded; every check after it must pass (exit 3 otherwise).
    Exit 2 when it is refused before anything runs.
    """
    from hostbook.restore.boot.session import apply_boot, check_tree, prepare_boot
    from hostbook.restore.session import prepare

    system = _live()
    layout = prepare(system, resolve_repo(repo), host_name(host), maps, target,
                     check_busy=False, list_existing=False)
    check_tree(layout.plan.target_root)
    prepared = prepare_boot(system, layout.plan, layout.documents.storage, no_nvram=no_nvram,
                            state_dir=state_dir)
    plan = prepared.plan
    for note in plan.notes:
        click.echo(f"note: {note}")
    if script_path is not None:
        from hostbook.manifest.yamlio import atomic_write_text
        from hostbook.restore.plan.script import render_steps

        atomic_write_text(script_path, render_steps(
            plan.host, plan.target, plan.steps, map_lines=layout.plan.map_lines(),
            notes=plan.notes, refusals=plan.refusals), mode=0o755)
        click.echo(f"Script written to {script_path}")
    if plan.refused:
        click.echo("REFUSED:", err=True)
        for line in plan.refusals:
            click.echo(f"  {line}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    if script_path is not None:
        print_steps(plan.steps, "Boot steps")
        return

    def progress(kind: str, step: Any, index: int, total: int) -> None:
        click.echo(f"[{index}/{total}] {'skip: ' if kind != 'run' else ''}{step.summary}")
        if kind == "run":
            for note in step.notes:
                click.echo(f"    {note}")

    outcome = apply_boot(prepared, system, progress)
    click.echo(f"boot phase done: {len(outcome.ran)} step(s) run, {len(outcome.skipped)} "
               "skipped; every check passed")


def main() -> None:
    """Run the group on its own (``python -m hostbook.commands.restore``)."""
    restore.main(prog_name="hostbook restore")


if __name__ == "__main__":
    main()
