"""Where things live by default, in one place."""

from __future__ import annotations

import os
from pathlib import Path

from hostbook.manifest.errors import BadInputError


def default_repository() -> Path:
    """$HOSTBOOK_REPO, else the system location for root, else the user's data dir."""
    env = os.environ.get("HOSTBOOK_REPO")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/hostbook/manifests")
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local/share")
    return Path(data_home) / "hostbook" / "manifests"


def default_state_dir() -> Path:
    """Run journals, locks and job history: $HOSTBOOK_STATE_DIR or a per-user default."""
    env = os.environ.get("HOSTBOOK_STATE_DIR")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/hostbook/state")
    data_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local/state")
    return Path(data_home) / "hostbook"


def check_repository_location(path: Path) -> Path:
    """Refuse a repository path that is a file or lies under one (exit 2, one line).

    Without this a file given as ``--repo`` surfaces later as "not writable"
    or "cannot read: Not a directory" (exit 3), as if the host were at fault.
    A missing path is fine here: ``init`` and ``capture`` create it, and the
    commands that read say it is not a repository.
    """
    for place in (path, *path.parents):
        try:
            if place.is_dir():
                return path
            if place.exists():
                what = "is a file" if place == path else f"lies under {place}, a file"
                raise BadInputError(f"{path}: {what}, not a manifest repository directory")
        except OSError as exc:
            raise BadInputError(f"{path}: cannot use as a manifest repository: "
                                f"{exc.strerror or exc}") from None
    return path
