"""`hostbook sure`: record a tree's integrity database, or check a tree against one."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from hostbook.commands.common import handle_errors


@click.group()
def sure() -> None:
    """Integrity databases: every file's type, mode, owner, size, mtime and SHA-256."""


@sure.command()
@click.argument("path", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option(
    "--against",
    "database",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Database to update: its hashes are reused where inode, size and ctime match; "
    "it is replaced atomically unless --output is given.",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the new database here instead of replacing --against.",
)
@click.option("--exclude", multiple=True, help="Relative path or pattern to leave out.")
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
@handle_errors
def update(
    path: Path, database: Path, output: Path | None, exclude: tuple[str, ...], as_json: bool
) -> None:
    """Record PATH into a database, reusing the hashes of unchanged files."""
    from hostbook.jobs.integrity import sure as sure_mod

    stats = sure_mod.update(
        path, output or database, database if database.exists() else None, exclude
    )
    data = {
        "database": str(output or database), "entries": stats.entries, "files": stats.files,
        "hashed": stats.hashed, "reused": stats.reused, "unreadable": stats.unreadable,
        "seconds": round(stats.seconds, 3),
    }
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(
            f"{data['database']}: {stats.entries} entries, {stats.hashed} hashed, "
            f"{stats.reused} reused ({stats.seconds:.2f}s)"
        )
        for rel in stats.unreadable:
            click.echo(f"warning: cannot read {rel}", err=True)
    sys.exit(1 if stats.unreadable else 0)


@sure.command()
@click.argument("path", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option(
    "--against",
    "database",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="The database recorded from the original tree.",
)
@click.option(
    "--ignore",
    multiple=True,
    metavar="FIELD",
    help="Do not compare FIELD: kind, mode, uid, gid, size, mtime, value, owner, times.",
)
@click.option("--exclude", multiple=True, help="Relative path or pattern to leave out.")
@click.option("--json", "as_json", is_flag=True, help="Print the differences as JSON.")
@handle_errors
def check(
    path: Path, database: Path, ignore: tuple[str, ...], exclude: tuple[str, ...], as_json: bool
) -> None:
    """Compare PATH (e.g. a restore) with a database; list every difference.

    ctime and inode numbers are not compared (a restore changes them), nor are
    directory sizes.  Exit 0 when nothing differs, 1 otherwise.
    """
    from hostbook.jobs.integrity import sure as sure_mod

    differences = sure_mod.check(path, database, ignore, exclude)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {"path": d.path, "status": d.status,
                     "changes": [{"field": f, "recorded": a, "found": b} for f, a, b in d.changes]}
                    for d in differences
                ],
                indent=2,
            )
        )
    else:
        for difference in differences:
            click.echo(difference.describe())
        click.echo(f"{len(differences)} difference(s)", err=True)
    sys.exit(1 if differences else 0)
