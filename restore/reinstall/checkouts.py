"""Checkouts on a reinstall: clone the restorable ones, bring the others from the archive.

A checkout whose every commit is on a remote (capture's ``restorable``) is
cloned again: its first remote at the recorded branch, then the recorded
HEAD, the other remotes, the sparse patterns, the submodules, its owner and
mode.  One that holds work no remote has comes back from the archive when
one holds it, else it is reported with capture's reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hostbook.manifest.sections.checkouts import Checkout, CheckoutsDocument
from hostbook.restore.plan.steps import Command
from hostbook.restore.reinstall.report import Item

SECTION = "checkouts"


@dataclass
class CheckoutsPlan:
    clones: dict[str, list[Command]] = field(default_factory=dict)
    """checkout path -> the commands that clone it."""
    from_archive: list[str] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)


def _git(c: Checkout) -> list[Command]:
    origin = c.remotes[0]
    git = ("git", "-C", c.path)
    cmds = [Command(("git", "clone", "--no-checkout", "--origin", origin.name, origin.url,
                     c.path))]
    if c.sparse:
        cmds.append(Command((*git, "sparse-checkout", "set", "--no-cone", *c.sparse)))
    if c.branch and c.head:
        cmds.append(Command((*git, "checkout", "-B", c.branch, c.head)))
    elif c.head:
        cmds.append(Command((*git, "checkout", "--detach", c.head)))
    if c.upstream and c.branch:
        cmds.append(Command((*git, "branch", f"--set-upstream-to={c.upstream}", c.branch)))
    cmds += [Command((*git, "remote", "add", r.name, r.url)) for r in c.remotes[1:]]
    if c.submodules:
        cmds.append(Command((*git, "submodule", "update", "--init", "--recursive")))
    return cmds


def plan_checkouts(old: CheckoutsDocument, archived: set[str]) -> CheckoutsPlan:
    plan = CheckoutsPlan()
    for c in old.checkouts:
        if c.restorable and c.vcs == "git" and c.remotes and not c.bare and not c.worktree_of:
            cmds = _git(c)
            if c.owner:
                cmds.append(Command(("chown", "-R", f"{c.owner}:{c.group or c.owner}", c.path)))
            if c.mode:
                cmds.append(Command(("chmod", c.mode, c.path)))
            plan.clones[c.path] = cmds
            redacted = any(r.credentials_redacted for r in c.remotes)
            plan.items.append(Item(
                SECTION, c.path, "adapted" if redacted else "carried",
                f"cloned from {c.remotes[0].url} at {c.branch or 'detached'} {c.head or ''}"
                .rstrip() + ("; the URL's credentials were not captured: the clone asks"
                             if redacted else "")))
        elif c.path in archived:
            plan.from_archive.append(c.path)
            plan.items.append(Item(SECTION, c.path, "carried",
                                   f"from the archive ({c.reason})" if not c.restorable
                                   else "from the archive"))
        else:
            why = c.reason if not c.restorable else f"a {c.vcs} checkout hostbook does not clone"
            plan.items.append(Item(SECTION, c.path, "unmapped", why,
                                   "push its work to a remote, or archive its directory"))
    return plan
