"""Options and error handling shared by every command."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from hostbook.manifest.errors import HostbookError, ManifestError
from hostbook.manifest.paths import default_repository

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
    return repo if repo is not None else default_repository()


def handle_errors(func: F) -> F:
    """Turn library errors into one-line messages and the documented exit codes."""

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

    return wrapper  # type: ignore[return-value]
