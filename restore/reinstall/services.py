"""Services on a reinstall: the recorded unit states, timers and default target, and crontabs.

A unit the new system does not have (its package gone, its file not among
the carried configuration) cannot be enabled: reported.  Enabling is idempotent
(``systemctl enable`` of an enabled unit changes nothing), so the report's
carried items are what is true afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hostbook.manifest.sections.services import ServicesDocument
from hostbook.restore.plan.steps import Command
from hostbook.restore.reinstall.facts import NewSystem
from hostbook.restore.reinstall.report import PENDING, Item

SECTION = "services"
VERB = {"enabled": "enable", "disabled": "disable", "masked": "mask"}


@dataclass
class ServicesPlan:
    commands: list[Command] = field(default_factory=list)
    crontabs: list[str] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)


def plan_services(old: ServicesDocument, new: NewSystem, carried_files: set[str],
                  archived: set[str], installing: bool = False) -> ServicesPlan:
    """``installing``: packages are still to be installed (a missing unit may come with them)."""
    plan = ServicesPlan()
    for unit in old.units:
        local = f"/etc/systemd/system/{unit.unit}" in carried_files
        have = new.units.get(unit.unit)
        if have == unit.state:
            plan.items.append(Item(SECTION, unit.unit, "carried", f"{unit.state} already"))
        elif have is None and not local and unit.state != "masked" and installing:
            plan.items.append(Item(SECTION, unit.unit, "adapted",
                                   f"{unit.state}, decided {PENDING} (the unit is not here yet)"))
        elif have is None and not local and unit.state != "masked":
            plan.items.append(Item(SECTION, unit.unit, "unmapped",
                                   f"{unit.state} on the old host; no such unit here",
                                   "install the package that ships it, or drop it"))
        else:
            plan.commands.append(Command(("systemctl", VERB[unit.state], unit.unit)))
            plan.items.append(Item(SECTION, unit.unit, "carried", unit.state))
    if old.default_target and old.default_target != new.default_target:
        plan.commands.append(Command(("systemctl", "set-default", old.default_target)))
        plan.items.append(Item(SECTION, "default target", "carried", old.default_target))
    for tab in old.crontabs:
        if not tab.user:
            continue  # /etc/crontab and /etc/cron.d are configuration (the etc section)
        if tab.path in archived:
            plan.crontabs.append(tab.path)
            plan.items.append(Item(SECTION, tab.path, "carried",
                                   f"restored from the archive ({tab.entries} entries)"))
        else:
            plan.items.append(Item(SECTION, tab.path, "unmapped", "no archive holds it",
                                   f"crontab -u {tab.user} -e, from the old host's copy"))
    return plan
