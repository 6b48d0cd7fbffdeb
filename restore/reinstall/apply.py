"""Running a reinstall's steps, journaled and resumable like ``restore apply``.

Each step is journaled started and done with its fingerprint
(:class:`hostbook.restore.apply.apply_journal.Journal`); a second run skips
the steps done with the same fingerprint.  After every step the plan is
made again against the system as it now is (the packages installed bring the
conffiles' new defaults and their units), and the next step not yet done is
taken from that plan, so the configuration's three-way view and the units'
states are decided on what is really there.  A step's result is what its
commands and the data restore say; the first failure stops the apply (exit
3) and a rerun continues from there.

``root`` is the new system's tree when it is not ``/`` (the tests' images):
commands then run under ``chroot`` and files are written below it, the
archive's paths are staged below it too (``<root>/var/lib/...``: the old
host's configuration never lands on the machine running the command; the
staging folder is removed once a step placed its files), and a
placed file's owner and group are names of the new system, so ``chown`` runs
in it (``install -o`` would look them up in this machine's passwd).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hostbook.capture.probes.host_root import on_host
from hostbook.process.runner import Runner
from hostbook.restore.apply.apply_journal import Journal
from hostbook.restore.plan.steps import Command
from hostbook.restore.reinstall.plan import ReinstallPlan, Step
from hostbook.restore.reinstall.report import Item

MAX_ROUNDS = 24
STAGING = "/var/lib/hostbook/reinstall/archive"
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}

Replan = Callable[[], ReinstallPlan]
RestorePaths = Callable[[list[str], str], str | None]
"""(paths, staging root) -> None, or why the archive could not give them."""
RestoreVolumes = Callable[[list[str]], str | None]


class StepFailed(Exception):
    """A step's command or restore failed; the message says which and why."""


@dataclass
class ApplyResult:
    items: list[Item]
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


AFTER_PACKAGES = ("etc", "services")
"""Sections decided on the system as the packages step left it (the new defaults, units)."""


def merge_items(first: list[Item], after_packages: list[Item]) -> list[Item]:
    """The report of the whole apply.

    Each thing is reported as the plan made before its step decided it: the
    first plan for packages, data, accounts and checkouts; for configuration
    and services the plan made once the packages were installed (a plan made
    later still would see the apply's own results: "already identical").
    """
    kept = [i for i in first if i.section not in AFTER_PACKAGES]
    return kept + [i for i in after_packages if i.section in AFTER_PACKAGES]


def _argv(root: str, command: Command) -> list[str]:
    return ["chroot", root, *command.argv] if root else list(command.argv)


def run_step(runner: Runner, step: Step, root: str, restore_paths: RestorePaths,
             restore_volumes: RestoreVolumes) -> None:
    for f in step.files:
        result = runner.command(["install", "-D", "-m", f.mode, "/dev/stdin",
                                 on_host(root, f.path)], stdin=f.content)
        if not result.ok:
            raise StepFailed(f"{step.key}: writing {f.path}: {result.failure()}")
    if step.volumes:
        problem = restore_volumes(step.volumes)
        if problem:
            raise StepFailed(f"{step.key}: {problem}")
    staging = on_host(root, STAGING)
    if step.archive_paths:
        problem = restore_paths(step.archive_paths, staging)
        if problem:
            raise StepFailed(f"{step.key}: {problem}")
    for place in step.place:
        staged = staging + place.path
        result = runner.command(["install", "-D", "-m", place.mode, staged,
                                 on_host(root, place.destination)])
        if result.ok:
            result = runner.command(_argv(root, Command((
                "chown", f"{place.owner}:{place.group}", "--", place.destination))))
        if not result.ok:
            raise StepFailed(f"{step.key}: placing {place.destination}: {result.failure()}")
    for tree in step.copy_trees:
        result = runner.command(["cp", "-a", "--", staging + tree, on_host(root, tree)])
        if not result.ok:
            raise StepFailed(f"{step.key}: copying {tree}: {result.failure()}")
    if step.archive_paths:
        # placed: no second copy of the old host's configuration stays behind (the data
        # restore runs with --overwrite, so a rerun of the step extracts it again)
        result = runner.command(["rm", "-rf", "--", staging])
        if not result.ok:
            raise StepFailed(f"{step.key}: removing {staging}: {result.failure()}")
    for command in step.commands:
        result = runner.command(_argv(root, command), stdin=command.stdin, env=APT_ENV,
                                timeout=3600)
        if result.returncode not in command.ok_codes:
            raise StepFailed(f"{step.key}: {' '.join(command.argv)}: {result.failure()}")


def apply_plan(runner: Runner, first: ReinstallPlan, replan: Replan, journal: Journal,
               root: str, restore_paths: RestorePaths, restore_volumes: RestoreVolumes,
               say: Callable[[str], None]) -> ApplyResult:
    """Run the steps (see the module docstring); raises StepFailed on the first failure."""
    result = ApplyResult(list(first.items))
    current = first
    for _ in range(MAX_ROUNDS):
        finished = journal.finished()
        pending = [s for s in current.steps if finished.get(s.key) != s.fingerprint()]
        for step in current.steps:
            if step not in pending and step.key not in result.skipped + result.done:
                result.skipped.append(step.key)
        if not pending:
            return result
        step = pending[0]
        fingerprint = step.fingerprint()
        say(f"{step.key}: started")
        journal.record(step.key, fingerprint, "started")
        try:
            run_step(runner, step, root, restore_paths, restore_volumes)
        except StepFailed as exc:
            journal.record(step.key, fingerprint, "failed", str(exc))
            raise
        journal.record(step.key, fingerprint, "done")
        result.done.append(step.key)
        say(f"{step.key}: done")
        current = replan()
        if step.key == "packages":
            result.items = merge_items(result.items, current.items)
    raise StepFailed(f"the plan did not settle after {MAX_ROUNDS} steps")
