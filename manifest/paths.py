"""Where things live by default, in one place."""

from __future__ import annotations

import os
from pathlib import Path


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
