"""Who may write where: the up-front writability check, and acting as a repository's owner.

Two failures this module exists for:

* An unprivileged user pointing hostbook at a root-owned repository or state
  directory got a PermissionError traceback half-way through.
  :func:`check_writable` says which path, whose it is and what to do, before
  anything is written (a runtime failure, exit 3).
* Root capturing into a person's own checkout left root-owned files in it,
  so its owner could no longer commit.  While root writes into a repository
  owned by someone else it now acts as that owner: :func:`as_owner` switches
  the process's effective user, group and groups to the owner's, so every
  file capture writes is the owner's and the kernel checks each write with
  the owner's rights (a symlink the owner planted cannot point root's write
  at /etc), and every git command runs fully as the owner (:func:`become`),
  so the owner's hooks and configuration never run as root.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from hostbook.manifest.errors import RuntimeFailure


@dataclass(frozen=True)
class Owner:
    """The identity root takes on while it writes into someone else's repository."""

    uid: int
    gid: int
    groups: tuple[int, ...]
    name: str
    home: str


def user_name(uid: int) -> str:
    """A user's login name, or ``uid N`` when the password database has none."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def repository_owner(path: Path) -> Owner | None:
    """The owner root must act as in ``path``; None when no switch is needed.

    Only root switches (nobody else can), and only when the repository
    directory belongs to another user.
    """
    if os.geteuid() != 0:
        return None
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    if info.st_uid == 0:
        return None
    try:
        entry = pwd.getpwuid(info.st_uid)
    except KeyError:
        return Owner(info.st_uid, info.st_gid, (info.st_gid,), f"uid {info.st_uid}", "/")
    groups = tuple(os.getgrouplist(entry.pw_name, entry.pw_gid))
    home = entry.pw_dir if os.path.isdir(entry.pw_dir) else "/"
    return Owner(entry.pw_uid, entry.pw_gid, groups, entry.pw_name, home)


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path("/")


def check_writable(paths: list[Path], what: str, hint: str) -> None:
    """Raise RuntimeFailure naming the first of ``paths`` this process cannot write.

    A path that does not exist yet is judged by the nearest directory above
    it that does (that is where it would be created).  ``what`` names the
    thing (e.g. "manifest repository"), ``hint`` what to do about it.
    """
    for path in paths:
        target = _nearest_existing(path)
        if os.access(target, os.W_OK | os.X_OK):
            continue
        try:
            owner = user_name(target.stat().st_uid)
        except OSError:
            owner = "another user"
        raise RuntimeFailure(
            f"{target}: {what} not writable by {user_name(os.geteuid())} (owned by {owner}); "
            f"{hint}"
        )


@contextlib.contextmanager
def as_owner(owner: Owner | None) -> Iterator[None]:
    """Act as ``owner`` (effective uid, gid and groups) for the block; no-op for None.

    The real user stays root, so the switch back always works; nesting is
    allowed (an inner switch to the same owner does nothing).
    """
    if owner is None or os.geteuid() == owner.uid:
        yield
        return
    saved_gid, saved_groups = os.getegid(), os.getgroups()
    os.setgroups(list(owner.groups))
    os.setegid(owner.gid)
    os.seteuid(owner.uid)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(saved_gid)
        os.setgroups(saved_groups)


def become(owner: Owner) -> None:  # pragma: no cover - runs in the child
    """In a git child: drop root for good (real, effective and saved ids)."""
    if os.geteuid() != 0:
        os.seteuid(0)  # the parent may be inside as_owner: regain the right to drop fully
    os.setgroups(list(owner.groups))
    os.setresgid(owner.gid, owner.gid, owner.gid)
    os.setresuid(owner.uid, owner.uid, owner.uid)


def _hand_over(name: str, owner: Owner, dir_fd: int | None = None) -> bool:
    """Give one root-owned directory or singly linked file to ``owner``.

    The entry is opened without following a symlink (O_PATH: no side effect
    even on a device node) and changed through that very descriptor, so a
    symlink or a hard link to a system file put in its place is never
    touched.
    """
    try:
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW, dir_fd=dir_fd)
    except OSError:
        return False
    try:
        info = os.fstat(fd)
        regular = stat.S_ISREG(info.st_mode) and info.st_nlink == 1
        if info.st_uid != 0 or not (regular or stat.S_ISDIR(info.st_mode)):
            return False
        os.chown(f"/proc/self/fd/{fd}", owner.uid, owner.gid)
        return True
    finally:
        os.close(fd)


def hand_over(path: Path, owner: Owner) -> bool:
    """Give ``path`` to ``owner`` if root owns it (see :func:`_hand_over`)."""
    return _hand_over(str(path), owner)


def repair(root: Path, owner: Owner, skip: Callable[[str, str], bool] | None = None) -> int:
    """Give ``owner`` back what earlier root runs left root-owned under ``root``.

    Returns how many entries changed hands.  The walk goes by directory
    descriptors (``os.fwalk``), so a directory swapped for a symlink half-way
    cannot lead it out of ``root``; a directory for which ``skip(parent
    relative to root, name)`` is true (root's own, e.g. integrity databases)
    is neither handed over nor entered.
    """
    if not os.path.isdir(root) or os.path.islink(root):
        return 0
    changed = 0
    for top, dirs, files, dir_fd in os.fwalk(root, follow_symlinks=False):
        rel = os.path.relpath(top, root)
        if skip is not None:
            dirs[:] = [d for d in dirs if not skip(rel, d)]
        for name in [*dirs, *files]:
            changed += _hand_over(name, owner, dir_fd)
    return changed + hand_over(root, owner)
