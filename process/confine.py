"""Running a tool over files that an unprivileged user controls, without lending it root.

Capture runs as root and inspects everyone's checkouts.  A repository's own
configuration can name programs (git's ``core.fsmonitor``, hg hooks and
extensions, ...), so a tool started as root inside a user's repository would
run that user's programs as root.  Three defences, each enough on its own
for the common case, are layered so that one gap does not become root code
execution:

1. **Identity.**  When capture is root and any path of the checkout (its
   directory, ``.git``/``.hg``/``.svn``, the git directory, the config file)
   belongs to a non-root user, the tool runs as that user
   (:class:`~hostbook.process.spawn.Identity`: its uid and gid, no
   supplementary groups, no capabilities, ``no_new_privs`` so no setuid or
   file-capability program climbs back).  Whatever the repository
   makes the tool execute then runs with the rights its owner already has.
   Paths owned by two different users run as ``nobody`` (65534), so neither
   user's configuration runs with the other's rights.  Ownership is read
   again right before each command (``lstat``), never taken from the scan.
2. **Configuration.**  Each VCS module passes an environment that ignores
   the system and global configuration (``HOME`` points to a directory that
   does not exist) and overrides every configuration key that can start a
   program; see capture/probes/checkouts/ (git, hg, svn).
3. **Process hygiene.**  The environment is rebuilt from nothing (no
   ``SSH_AUTH_SOCK``, ``DISPLAY``, D-Bus or agent variables leak in), the
   tool starts in a new session (no controlling terminal to inject keys
   into) with ``/`` as its working directory, and a timeout kills its whole
   process group, so a helper left behind cannot hold capture's pipes open.

A file read on a user's behalf (a bare repository's ``HEAD``, sparse-checkout
patterns, ``.hg/hgrc``) is opened without following a final symlink and
returned only when that user owns it: root's privileges must not turn
``.git/info/sparse-checkout -> /etc/shadow`` into a manifest entry.

None of this changes a recording: the command key is the argv, and replaying
ignores the confinement entirely.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from hostbook.process.environment import search_path
from hostbook.process.spawn import Identity

# Where confined tools find their "home": a directory no host is expected to
# have (Debian's nobody uses it), so no per-user configuration is read.
NEUTRAL_HOME = "/nonexistent"
NOBODY = 65534


@dataclass(frozen=True)
class Confinement:
    """How to run one tool over one checkout.

    ``owner_of`` lists the paths whose owner the tool should run as (when
    capture is root); ``env`` holds the tool's hardening variables, added to
    a minimal environment built from nothing.
    """

    owner_of: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)


def minimal_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """The whole environment of a confined tool: C locale, PATH, a neutral HOME, ``extra``."""
    env = {
        "PATH": search_path(os.environ.get("PATH", "/usr/bin:/bin")),
        "LC_ALL": "C",
        "LANG": "C",
        "HOME": NEUTRAL_HOME,
    }
    env.update(extra)
    return env


def _owner_uids(paths: Iterable[str]) -> set[int]:
    uids = set()
    for path in paths:
        with contextlib.suppress(OSError):
            uids.add(os.lstat(path).st_uid)
    return uids


def _identity(uid: int) -> Identity:
    try:
        entry = pwd.getpwuid(uid)
    except KeyError:
        # A uid without an account: no primary group to trust, so nogroup.
        return Identity(uid, NOBODY, str(uid))
    return Identity(uid, entry.pw_gid, entry.pw_name)


def identity_for(paths: Iterable[str], euid: int | None = None) -> Identity | None:
    """Whom to run as for a checkout made of ``paths``; None means "as we are".

    Only root can change identity, and only needs to when a non-root user
    owns part of the checkout.  A non-root capture runs as itself: the
    kernel already limits it to its own rights, and the configuration
    overrides keep another user's programs from running.
    """
    if (os.geteuid() if euid is None else euid) != 0:
        return None
    others = _owner_uids(paths) - {0}
    if not others:
        return None
    if len(others) > 1:
        return Identity(NOBODY, NOBODY, "nobody")
    return _identity(others.pop())


def read_owned(path: str, uid: int) -> bytes | None:
    """Bytes of ``path`` if it is a regular file owned by ``uid``, read without
    following a final symlink; None otherwise.

    What a user owns is theirs to read anyway, so reading it as root discloses
    nothing; anything else (a root-owned file, a link planted to one) is left
    alone.  ``O_NONBLOCK`` keeps a planted FIFO from blocking capture.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != uid:
            return None
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read()
    except OSError:
        return None
    finally:
        os.close(fd)
