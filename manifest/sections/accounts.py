"""The `accounts` section (captured): the people and groups a reinstall must bring back.

A fresh install makes its own system accounts (base-passwd, the packages'
maintainer scripts, systemd-sysusers); what it cannot know is who used the
host.  So the section keeps human users and groups (uid/gid at or above
login.defs' UID_MIN/GID_MIN, except nobody), and a system account only when
nothing that installs packages creates it (a service account made by hand).
A password hash is never read into the manifest or a recording: only whether
the account is locked, from ``passwd --status``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hostbook.manifest.model import Record, SectionDocument


class User(Record):
    """One account from /etc/passwd, with its group memberships."""

    name: str
    uid: int
    gid: int
    group: str | None = Field(None, description="name of the primary group")
    gecos: str = ""
    home: str
    shell: str
    groups: list[str] = Field(default_factory=list, description="supplementary groups, sorted")
    password: Literal["set", "locked", "none", "unknown"] = Field(
        "unknown", description="passwd --status: P set, L locked, NP none (never the hash)"
    )
    kind: Literal["human", "system"] = Field(
        "human", description="system: below UID_MIN and created by no package"
    )


class Group(Record):
    """One group from /etc/group (members as listed there, sorted)."""

    name: str
    gid: int
    members: list[str] = Field(default_factory=list)
    kind: Literal["human", "system"] = "human"


class AccountsDocument(SectionDocument):
    """hosts/<host>/accounts.yaml."""

    SECTION = "accounts"

    uid_min: int = Field(1000, description="login.defs UID_MIN the split was made at")
    gid_min: int = Field(1000, description="login.defs GID_MIN")
    users: list[User] = Field(default_factory=list, description="sorted by name")
    groups: list[Group] = Field(default_factory=list, description="sorted by name")
