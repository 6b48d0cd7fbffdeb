"""Accounts probe: human users and groups, and the system accounts no package makes.

Reads /etc/passwd, /etc/group and /etc/login.defs as files; asks ``passwd
--status --all`` whether each account is locked (the hash stays in
/etc/shadow, which is never read).  A system account (below UID_MIN) is
kept only when no package would make it again: it is not in base-passwd's
master files, no sysusers.d file names it, and no maintainer script of an
installed package mentions it (one ``grep -F -w -o`` over /var/lib/dpkg/info).
"""

from __future__ import annotations

from typing import Any

from hostbook.capture.parsers.passwd import (
    login_defs,
    parse_group,
    parse_passwd,
    parse_status,
    sysusers_names,
)
from hostbook.capture.probe import Probe, ProbeContext
from hostbook.capture.probes.host_root import host_root, on_host, root_args

NOBODY = "nobody"
MASTER_FILES = ("/usr/share/base-passwd/passwd.master", "/usr/share/base-passwd/group.master")
SYSUSERS_DIRS = ("/usr/lib/sysusers.d", "/etc/sysusers.d")
DPKG_INFO = "/var/lib/dpkg/info"


def _packaged_names(ctx: ProbeContext, root: str, candidates: set[str]) -> set[str]:
    """Which of ``candidates`` a package (or the base system) creates."""
    made: set[str] = set()
    for path in MASTER_FILES:
        made.update(e.split(":", 1)[0] for e in (ctx.runner.read_file(on_host(root, path)) or
                                                 "").splitlines() if e)
    for directory in SYSUSERS_DIRS:
        for name in sorted(ctx.runner.list_dir(on_host(root, directory)) or []):
            if name.endswith(".conf"):
                made |= sysusers_names(
                    ctx.runner.read_file(on_host(root, f"{directory}/{name}")) or "")
    rest = sorted(candidates - made)
    if rest:
        argv = ["grep", "-r", "-h", "-o", "-w", "-F", "--include=*.postinst",
                "--include=*.preinst"]
        for name in rest:
            argv += ["-e", name]
        found = ctx.run_ok([*argv, on_host(root, DPKG_INFO)], "accounts.system",
                           ok_codes=(0, 1))
        if found is None:
            return made | set(rest)  # unknown: leave them out rather than guess
        made.update(found.stdout.split())
    return made & candidates


def collect(ctx: ProbeContext, doc: dict[str, Any]) -> None:
    root = host_root(ctx)
    passwd_text = ctx.runner.read_file(on_host(root, "/etc/passwd"))
    group_text = ctx.runner.read_file(on_host(root, "/etc/group"))
    if passwd_text is None or group_text is None:
        ctx.mark_incomplete("accounts", "/etc/passwd or /etc/group unreadable")
        return
    defs = login_defs(ctx.runner.read_file(on_host(root, "/etc/login.defs")) or "")
    uid_min = int(defs.get("UID_MIN", "1000"))
    gid_min = int(defs.get("GID_MIN", "1000"))
    users = parse_passwd(passwd_text)
    groups = parse_group(group_text)
    status = ctx.run_ok(["passwd", *root_args(root, "--root"), "--status", "--all"],
                        "accounts.password")
    states = parse_status(status.stdout) if status else {}

    def human(ident: int, low: int, name: str) -> bool:
        return ident >= low and name != NOBODY and ident != 65534

    system_names = {u.name for u in users if not human(u.uid, uid_min, u.name)}
    system_names |= {g.name for g in groups if not human(g.gid, gid_min, g.name)}
    packaged = _packaged_names(ctx, root, system_names)
    group_names = {g.gid: g.name for g in groups}
    memberships: dict[str, list[str]] = {}
    for group in groups:
        for member in group.members:
            memberships.setdefault(member, []).append(group.name)

    kept_users = []
    for user in sorted(users, key=lambda u: u.name):
        if not human(user.uid, uid_min, user.name) and user.name in packaged:
            continue
        kept_users.append({
            "name": user.name, "uid": user.uid, "gid": user.gid,
            "group": group_names.get(user.gid), "gecos": user.gecos, "home": user.home,
            "shell": user.shell, "groups": sorted(memberships.get(user.name, [])),
            "password": states.get(user.name, "unknown"),
            "kind": "human" if human(user.uid, uid_min, user.name) else "system",
        })
    kept_groups = [
        {"name": g.name, "gid": g.gid, "members": list(g.members),
         "kind": "human" if human(g.gid, gid_min, g.name) else "system"}
        for g in sorted(groups, key=lambda g: g.name)
        if human(g.gid, gid_min, g.name) or g.name not in packaged
    ]
    doc.update(uid_min=uid_min, gid_min=gid_min, users=kept_users, groups=kept_groups)


PROBE = Probe(
    name="accounts.users",
    section="accounts",
    commands=("passwd", "grep"),
    collect=collect,
    description="human users and groups, system accounts no package creates, "
    "locked or not (never a hash)",
)
