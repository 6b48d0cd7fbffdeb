"""The reinstall put together: the old host's sections + the new system's facts -> steps, report.

``plan`` asks the new system (facts) and the package manager (the
simulation, repeated without the names it refuses until it succeeds, at most
``SIMULATION_ROUNDS`` times); everything between is the pure per-section
planners.  The steps come in the order a reinstall needs them: sources and
architectures, packages, data volumes (before the accounts, so a home comes
back whole and useradd does not fill it with skeleton files), accounts,
configuration, crontabs, checkouts, services (after the configuration: a
unit of one's own is a file under /etc).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from hostbook.capture.parsers.apt_simulation import Simulation, parse_simulation
from hostbook.manifest.sections.accounts import AccountsDocument
from hostbook.manifest.sections.checkouts import CheckoutsDocument
from hostbook.manifest.sections.etc import EtcDocument
from hostbook.manifest.sections.packages import PackagesDocument
from hostbook.manifest.sections.services import ServicesDocument
from hostbook.process.runner import Runner
from hostbook.restore.plan.steps import Command
from hostbook.restore.reinstall import scratch
from hostbook.restore.reinstall.accounts import plan_accounts
from hostbook.restore.reinstall.checkouts import plan_checkouts
from hostbook.restore.reinstall.config import ConfigPlan, Placement, plan_config
from hostbook.restore.reinstall.facts import SCRATCH, NewSystem, apt_options, gather
from hostbook.restore.reinstall.packages import (
    FileToWrite,
    PackageMapping,
    map_packages,
    plan_sources,
    resolve,
    settle,
)
from hostbook.restore.reinstall.report import Item
from hostbook.restore.reinstall.services import plan_services

SECTIONS = ("packages", "accounts", "etc", "services", "checkouts", "data")
SIMULATION_ROUNDS = 5
SIMULATION_TIMEOUT = 900.0
"""Seconds one ``apt-get -s`` may take: 1,500 names took 30-60 s on a busy 2-core machine
(a query's usual 60 s cut it off, and the plan said apt refused them all)."""
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}


@dataclass
class OldHost:
    """The captured sections of the host being reinstalled (None: not captured)."""

    name: str
    codename: str | None = None
    packages: PackagesDocument | None = None
    accounts: AccountsDocument | None = None
    etc: EtcDocument | None = None
    services: ServicesDocument | None = None
    checkouts: CheckoutsDocument | None = None
    volumes: dict[str, str] = field(default_factory=dict)
    """archived volume key -> its directory on the old host."""
    data: list[str] = field(default_factory=list)
    """volume keys restore.yaml's ``reinstall: {data: [...]}`` chose."""


@dataclass
class Step:
    """One journaled unit of the apply."""

    key: str
    section: str
    commands: list[Command] = field(default_factory=list)
    files: list[FileToWrite] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    """data volumes restored in place (``restore data --volume``)."""
    archive_paths: list[str] = field(default_factory=list)
    """paths restored from the archive into the staging tree first."""
    place: list[Placement] = field(default_factory=list)
    copy_trees: list[str] = field(default_factory=list)
    """staged directories copied into place whole (checkouts from the archive)."""

    def fingerprint(self) -> str:
        data: dict[str, Any] = {
            "commands": [c.as_dict() for c in self.commands],
            "files": [(f.path, f.content, f.mode) for f in self.files],
            "volumes": self.volumes, "archive_paths": self.archive_paths,
            "place": [p.__dict__ for p in self.place], "copy_trees": self.copy_trees}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class ReinstallPlan:
    steps: list[Step]
    items: list[Item]
    pending_config: list[str]
    new: NewSystem
    simulation: Simulation | None = None


def archive_of(volumes: dict[str, str], path: str) -> str | None:
    """The archived volume whose directory holds ``path`` (the deepest one)."""
    best: tuple[int, str] | None = None
    for key, directory in volumes.items():
        d = directory.rstrip("/") or "/"
        inside = path == d or path.startswith(d.rstrip("/") + "/")
        if inside and (best is None or len(d) > best[0]):
            best = (len(d), key)
    return best[1] if best else None


def simulate(runner: Runner, mapping: PackageMapping, root: str, scratch_dir: str
             ) -> Simulation | None:
    """apt-get -s until it succeeds, each refused name taken out and reported."""
    sim = None
    for _ in range(SIMULATION_ROUNDS):
        if not mapping.install:
            return sim
        result = runner.query(["apt-get", *apt_options(root, scratch_dir), "-s", "-q", "install",
                               *sorted(mapping.install)], env=APT_ENV,
                              timeout=SIMULATION_TIMEOUT)
        if result.timed_out or result.missing:
            why = (f"apt-get -s did not answer in {SIMULATION_TIMEOUT:g} s" if result.timed_out
                   else "apt-get is not installed")
            mapping.items.append(Item("packages", ", ".join(sorted(mapping.install)),
                                      "unmapped", why,
                                      "run the reinstall again when the system is less busy"
                                      if result.timed_out else "install apt"))
            mapping.install.clear()
            return None
        sim = parse_simulation(result.stdout, result.stderr, result.returncode)
        if sim.ok:
            settle(mapping, sim)
            return sim
        if not resolve(mapping, sim):
            break
    names = ", ".join(sorted(mapping.install))
    why = "; ".join(sim.errors[:3]) if sim else "no simulation"
    mapping.items.append(Item("packages", names, "unmapped", f"apt refuses them together: {why}",
                              "install them by hand and read apt's reason"))
    mapping.install.clear()
    return sim


Prepare = Callable[[list[FileToWrite], str, str], None]
Lock = Callable[[str], AbstractContextManager[None]]


def plan(runner: Runner, old: OldHost, sections: tuple[str, ...] = SECTIONS, root: str = "",
         scratch_dir: str = SCRATCH, prepare: Prepare = scratch.prepare,
         lock: Lock = scratch.locked) -> ReinstallPlan:
    """The steps and the report of reinstalling ``old`` onto the system at ``root``.

    ``prepare`` writes the scratch apt configuration and ``lock`` holds the
    scratch folder's lock throughout (a replay in tests checks what it is
    given instead, and touches no folder of the system).
    """
    with lock(scratch_dir):
        return _plan(runner, old, sections, root, scratch_dir, prepare)


def _plan(runner: Runner, old: OldHost, sections: tuple[str, ...], root: str,
          scratch_dir: str, prepare: Prepare) -> ReinstallPlan:
    apt = old.packages.apt if old.packages and "packages" in sections else None
    sources = plan_sources(apt, old.codename, NewSystem()) if apt else None
    update_item: Item | None = None
    if apt is not None and sources is not None:
        prepare(sources.files, root, scratch_dir)
        updated = runner.query(["apt-get", *apt_options(root, scratch_dir), "-q", "update"],
                               env=APT_ENV, timeout=900)
        if not updated.ok or "\nW: " in "\n" + updated.stderr:
            problems = [line for line in updated.stderr.splitlines()
                        if line.startswith(("E: ", "W: "))]
            update_item = Item("packages", "apt-get update", "unmapped",
                               "; ".join(problems[:3]) or updated.failure(),
                               "fix the sources: names apt cannot fetch look gone")
    changed = [f.path for f in old.etc.files] if old.etc and "etc" in sections else []
    new = gather(runner, list(apt.manual) if apt else [], changed, root, scratch_dir)
    items: list[Item] = [update_item] if update_item else []
    steps: list[Step] = []
    sim = None
    installing: set[str] = set()
    if apt is not None:
        sources = plan_sources(apt, old.codename, new)  # the suites renamed for the new release
        items += sources.items
        mapping = map_packages(apt, new)
        sim = simulate(runner, mapping, root, scratch_dir)
        items += mapping.items
        installing = {n.split(":", 1)[0] for n in mapping.install} | set(
            sim.installs if sim else {})
        setup: list[Command] = [Command(("dpkg", "--add-architecture", a))
                                for a in mapping.foreign_architectures]
        if sources.files or setup:
            steps.append(Step("sources", "packages", commands=[
                *setup, Command(("apt-get", "-q", "update"))], files=sources.files))
        commands = []
        if mapping.install:
            commands.append(Command(("apt-get", "-q", "-y", "install", *sorted(mapping.install))))
        if mapping.mark_manual:
            commands.append(Command(("apt-mark", "manual", *mapping.mark_manual)))
        if mapping.holds:
            commands.append(Command(("apt-mark", "hold", *mapping.holds)))
        if commands:
            steps.append(Step("packages", "packages", commands=commands))
    archived = {p for p in changed if archive_of(old.volumes, p)}
    data = [v for v in old.data if v in old.volumes] if "data" in sections else []
    for key in data:
        items.append(Item("data", old.volumes[key], "carried", f"volume {key} from its archive"))
    for key in (v for v in old.data if v not in old.volumes):
        items.append(Item("data", key, "unmapped", "no archived volume of that name",
                          "name a volume of jobs.yaml in restore.yaml's reinstall: {data: ...}"))
    if data:
        steps.append(Step("data", "data", volumes=data))
    if old.accounts and "accounts" in sections:
        homes = {d for k, d in old.volumes.items() if k in data}
        data_homes = {u.home for u in old.accounts.users
                      if any(u.home == h or u.home.startswith(h.rstrip("/") + "/")
                             for h in homes)}
        accounts = plan_accounts(old.accounts, new, data_homes)
        items += accounts.items
        commands = list(accounts.commands)
        for home, uid, user in accounts.rehome:
            commands.append(Command(("chown", "-R", f"--from={uid}", user, home),
                                    ok_codes=(0, 1)))
        if commands:
            steps.append(Step("accounts", "accounts", commands=commands))
    config = ConfigPlan()
    if old.etc and "etc" in sections:
        config = plan_config(old.etc, new, archived, installing)
        items += config.items
        if config.place or config.remove:
            steps.append(Step("etc", "etc", archive_paths=sorted({p.path for p in config.place}),
                              place=config.place,
                              commands=[Command(("rm", "-f", "--", *config.remove))]
                              if config.remove else []))
    carried = {p.destination for p in config.place}
    if old.checkouts and "checkouts" in sections:
        held = {c.path for c in old.checkouts.checkouts if archive_of(old.volumes, c.path)}
        checkouts = plan_checkouts(old.checkouts, held)
        items += checkouts.items
        for path, commands in sorted(checkouts.clones.items()):
            steps.append(Step(f"checkout:{path}", "checkouts", commands=commands))
        if checkouts.from_archive:
            steps.append(Step("checkouts:archive", "checkouts",
                              archive_paths=checkouts.from_archive,
                              copy_trees=checkouts.from_archive))
    if old.services and "services" in sections:
        tabs = {t.path for t in old.services.crontabs if archive_of(old.volumes, t.path)}
        services = plan_services(old.services, new, carried, tabs, bool(installing - set(
            new.installed)))
        items += services.items
        if services.crontabs:
            tabs_by_path = {t.path: t for t in old.services.crontabs}
            steps.append(Step("crontabs", "services", archive_paths=services.crontabs, place=[
                Placement(p, p, "0600", tabs_by_path[p].user or "root", "crontab")
                for p in services.crontabs]))
        if services.commands:
            steps.append(Step("services", "services", commands=services.commands))
    return ReinstallPlan(steps, items, config.pending, new, sim)
