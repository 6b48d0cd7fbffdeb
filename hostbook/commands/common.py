"""Options and error handling shared by every command."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, overload

import click

from hostbook.manifest.errors import EXIT_RUNTIME, BadInputError, HostbookError, ManifestError
from hostbook.manifest.hostname import check_host
from hostbook.manifest.paths import check_repository_location, default_repository

F = TypeVar("F", bound=Callable[..., Any])

repo_option = click.option(
    "--repo",
    "repo",
    type=click.Path(path_type=Path),
    default=None,
    help="Manifest repository (default: $HOSTBOOK_REPO, /var/lib/hostbook/manifests for "
    "root, ~/.local/share/hostbook/manifests otherwise).",
)


def resolve_repo(repo: Path | None) -> Path:
    """--repo or the default, refused (exit 2) when it is a file or lies under one."""
    return check_repository_location(repo if repo is not None else default_repository())


def repo_beside_jobs_file(repo: Path | None, jobs_file: Path | None) -> Path | None:
    """The repository a run uses; with --jobs-file and no --repo, only when usable.

    A run from a jobs file needs no repository, but uses the default one when it
    holds the host (the integrity store follows the host).  A default this user
    cannot even look at (nobody's HOME, a file in its place) is then no error.
    """
    if jobs_file is None or repo is not None:
        return resolve_repo(repo)
    try:
        return resolve_repo(None)
    except BadInputError:
        return None


@overload
def host_name(host: str) -> str: ...
@overload
def host_name(host: None) -> None: ...
def host_name(host: str | None) -> str | None:
    """A HOST argument or --host value, checked before anything runs (exit 2 when bad)."""
    return None if host is None else check_host(host)


def handle_errors(func: F) -> F:
    """Turn library errors into one-line messages and the documented exit codes.

    An OSError that reaches here (a permission or a full disk in the
    repository or state directory) is a runtime failure: one line naming
    the path, exit 3, never a traceback.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ManifestError as exc:
            for line in exc.errors:
                click.echo(line, err=True)
            sys.exit(exc.exit_code)
        except HostbookError as exc:
            click.echo(f"hostbook: {exc}", err=True)
            sys.exit(exc.exit_code)
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            click.echo(f"hostbook: {where}{exc.strerror or exc}", err=True)
            sys.exit(EXIT_RUNTIME)

    return wrapper  # type: ignore[return-value]
