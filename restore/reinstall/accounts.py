"""Accounts on a reinstall: groups then users, uid/gid clashes resolved and said.

An account the new system already has under the same name and id is kept.
A missing one is made with its recorded id when that id is free; when
another account holds it, the new system picks one and the files restored
with the old id are handed over (``chown --from``), which the report says.
Password hashes are never captured: an account that had a password is
locked on the new system until someone sets one (reported, with the
command); a locked one stays locked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hostbook.manifest.sections.accounts import AccountsDocument
from hostbook.restore.plan.steps import Command
from hostbook.restore.reinstall.facts import NewSystem
from hostbook.restore.reinstall.report import Item

SECTION = "accounts"


@dataclass
class AccountsPlan:
    commands: list[Command] = field(default_factory=list)
    rehome: list[tuple[str, int, str]] = field(default_factory=list)
    """(home, old uid, user): files to hand over after the data restore."""
    items: list[Item] = field(default_factory=list)


def plan_accounts(old: AccountsDocument, new: NewSystem, data_homes: set[str]) -> AccountsPlan:
    """``data_homes``: homes a data volume brings back (not made with skeleton files)."""
    plan = AccountsPlan()
    for group in old.groups:
        if group.name in new.groups:
            same = new.groups[group.name] == group.gid
            plan.items.append(Item(SECTION, f"group {group.name}", "carried" if same else
                                   "adapted", "present" if same else
                                   f"present with gid {new.groups[group.name]} (was {group.gid})"))
        elif group.gid in new.group_of_gid:
            plan.commands.append(Command(("groupadd", group.name)))
            plan.items.append(Item(SECTION, f"group {group.name}", "adapted",
                                   f"gid {group.gid} is {new.group_of_gid[group.gid]}'s here: "
                                   "a new gid"))
        else:
            plan.commands.append(Command(("groupadd", "-g", str(group.gid), group.name)))
            plan.items.append(Item(SECTION, f"group {group.name}", "carried",
                                   f"made with gid {group.gid}"))
    for user in old.users:
        subject = f"user {user.name}"
        groups = ",".join(user.groups)
        if user.name in new.users:
            # only when a group lacks it: a usermod of a user in all its groups already
            # would be a new step after every accounts step (the plan is made again)
            if any(user.name not in new.members.get(g, set()) for g in user.groups):
                plan.commands.append(Command(("usermod", "-a", "-G", groups, user.name)))
            same = new.users[user.name] == user.uid
            plan.items.append(Item(SECTION, subject, "carried" if same else "adapted",
                                   "present" if same else
                                   f"present with uid {new.users[user.name]} (was {user.uid})"))
            if user.password == "set" and new.passwords.get(user.name) == "locked":
                # made locked (by this reinstall, or before it): a rerun still says so
                plan.items.append(_password_item(user.name))
            continue
        argv = ["useradd", "-c", user.gecos, "-d", user.home, "-s", user.shell]
        argv += ["-g", user.group or str(user.gid)]
        if groups:
            argv += ["-G", groups]
        argv += ["-M"] if user.home in data_homes or user.kind == "system" else ["-m"]
        if user.kind == "system":
            argv.append("-r")
        if user.uid in new.user_of_uid:
            plan.rehome.append((user.home, user.uid, user.name))
            plan.items.append(Item(SECTION, subject, "adapted",
                                   f"uid {user.uid} is {new.user_of_uid[user.uid]}'s here: a new "
                                   f"uid; files of uid {user.uid} in {user.home} handed over"))
        else:
            argv += ["-u", str(user.uid)]
            plan.items.append(Item(SECTION, subject, "carried", f"made with uid {user.uid}"))
        argv.append(user.name)
        plan.commands.append(Command(tuple(argv)))
        if user.password == "set":
            plan.items.append(_password_item(user.name))
    return plan


def _password_item(name: str) -> Item:
    return Item(SECTION, f"password of {name}", "unmapped",
                "password hashes are never captured: the account is locked", f"passwd {name}")
