"""`hostbook plan retention|replication HOST`: show what the jobs would keep, delete and send.

Thin wiring only: options are passed to ``hostbook.jobs.replication.repository_plan``,
which loads the inventories through the runner, plans and renders.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from hostbook.commands.common import handle_errors, host_name, repo_option, resolve_repo


def _common(func):  # type: ignore[no-untyped-def]
    func = click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")(func)
    func = click.option(
        "--replay", type=click.Path(path_type=Path), default=None,
        help="Read zfs/btrfs output from a recording (a RecordingRunner's recording.json "
        "directory) instead of running the tools.",
    )(func)
    func = click.option(
        "--now", "now_text", default=None, metavar="ISO8601",
        help="Plan as of this time (default: the current time).",
    )(func)
    func = click.option(
        "--source", "source_root", default=None, metavar="DATASET",
        help="Only ZFS datasets (or btrfs snapshot directories) under this root "
        "(default: all).",
    )(func)
    func = repo_option(func)
    return click.argument("host")(func)


def _run(what: str, host: str, repo: Path | None, as_json: bool, replay: Path | None,
         now_text: str | None, source_root: str | None) -> None:
    from hostbook.jobs.replication.repository_plan import plan_from_repository

    now = datetime.fromisoformat(now_text) if now_text else datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    text, refused = plan_from_repository(
        resolve_repo(repo), host_name(host), what, now=now, as_json=as_json, replay=replay,
        source_root=source_root,
    )
    click.echo(text, nl=False)
    if refused:
        raise SystemExit(1)


@click.group(name="plan")
def plan_group() -> None:
    """Show retention and replication plans (ZFS and btrfs), each decision with its reason.

    Nothing is changed: the plans are computed from the live (or replayed) state.
    """


@plan_group.command("retention")
@_common
@handle_errors
def retention(host: str, repo: Path | None, as_json: bool, replay: Path | None,
              now_text: str | None, source_root: str | None) -> None:
    """Every snapshot of HOST and its targets with keep/delete and why."""
    _run("retention", host, repo, as_json, replay, now_text, source_root)


@plan_group.command("replication")
@_common
@handle_errors
def replication(host: str, repo: Path | None, as_json: bool, replay: Path | None,
                now_text: str | None, source_root: str | None) -> None:
    """The validated send/receive/destroy operations for HOST's targets, in order, with why."""
    _run("replication", host, repo, as_json, replay, now_text, source_root)
