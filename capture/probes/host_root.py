"""The root directory of the system a probe describes: ``/``, or an image tree.

The reinstall sections (accounts, etc, services) can describe a system that is
not running: a mounted disk, a tree made by mmdebstrap.  The ``root`` option
names it; the value used is recorded, so a replay reads the same paths.  Tools
are pointed at it with their own options (``dpkg-query --root``, ``systemctl
--root``, ``passwd --root``), never by chroot.
"""

from __future__ import annotations

from hostbook.capture.probe import ProbeContext


def host_root(ctx: ProbeContext) -> str:
    """The root of the system being described, without a trailing slash ('' for /)."""
    chosen = ctx.runner.value("host.root", lambda: str(ctx.options.get("root") or "/"))
    return str(chosen or "/").rstrip("/")


def on_host(root: str, path: str) -> str:
    """``path`` (absolute, as the described system sees it) under ``root``."""
    return f"{root}{path}" if root else path


def root_args(root: str, option: str) -> list[str]:
    """``[option=root]`` for a tool, or nothing when the root is ``/``."""
    return [f"{option}={root}"] if root else []


def described(root: str, path: str) -> str:
    """``path`` as the described system sees it (``root`` taken off)."""
    return path[len(root):] if root and path.startswith(root + "/") else path
