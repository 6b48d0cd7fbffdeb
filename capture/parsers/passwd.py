"""Parsers of the account databases and of ``passwd --status`` (no hash ever kept).

/etc/passwd and /etc/group are colon-separated (passwd(5), group(5)); the
status line of passwd(1) is ``NAME STATUS DATE MIN MAX WARN INACTIVE``, whose
second field is P (usable password), L (locked) or NP (no password).  Only
that field is read; /etc/shadow itself is never opened.
"""

from __future__ import annotations

from dataclasses import dataclass

PASSWORD_STATES = {"P": "set", "PS": "set", "L": "locked", "LK": "locked", "NP": "none"}


@dataclass(frozen=True)
class PasswdEntry:
    name: str
    uid: int
    gid: int
    gecos: str
    home: str
    shell: str


@dataclass(frozen=True)
class GroupEntry:
    name: str
    gid: int
    members: tuple[str, ...]


def parse_passwd(text: str) -> list[PasswdEntry]:
    """Entries of /etc/passwd; malformed lines and NIS '+' lines are skipped."""
    entries = []
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) != 7 or line.startswith(("+", "-")):
            continue
        try:
            uid, gid = int(fields[2]), int(fields[3])
        except ValueError:
            continue
        entries.append(PasswdEntry(fields[0], uid, gid, fields[4], fields[5], fields[6]))
    return entries


def parse_group(text: str) -> list[GroupEntry]:
    """Entries of /etc/group."""
    entries = []
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) != 4 or line.startswith(("+", "-")):
            continue
        try:
            gid = int(fields[2])
        except ValueError:
            continue
        members = tuple(sorted(m for m in fields[3].split(",") if m))
        entries.append(GroupEntry(fields[0], gid, members))
    return entries


def parse_status(text: str) -> dict[str, str]:
    """User -> set / locked / none, from ``passwd --status --all``."""
    states: dict[str, str] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2:
            states[fields[0]] = PASSWORD_STATES.get(fields[1], "unknown")
    return states


def login_defs(text: str) -> dict[str, str]:
    """KEY value pairs of login.defs(5)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2 and not fields[0].startswith("#"):
            values[fields[0]] = fields[1]
    return values


def sysusers_names(text: str) -> set[str]:
    """User and group names a sysusers.d(5) file creates (``u`` and ``g`` lines)."""
    names = set()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] in ("u", "g", "u!", "m"):
            names.add(fields[1])
            if fields[0] == "m" and len(fields) >= 3:
                names.add(fields[2])
    return names
