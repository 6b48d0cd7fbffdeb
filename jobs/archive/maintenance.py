"""Pruning and checking restic and borg repositories after an archive.

A target's ``keep`` is applied by the tool itself, and only to what this host
and job made: restic ``forget --prune`` selects by ``--host`` and the
``host=,job=,volume=`` tags every backup carries; borg ``prune`` by the
archive names ``<host>-<job>-<volume key>-<UTC stamp>`` (a glob that matches
no other host's or job's names), then ``compact`` frees the space.  Another
host's archives in a shared repository are never candidates.

``check`` runs ``restic check [--read-data-subset S]`` or ``borg check`` when
the last successful check of this target (kept in the run history) is older
than ``every``.  Both go through the runner, so ``run --dry-run`` prints them.

:func:`retention_plan` asks the tools the same question with ``--dry-run``
(restic ``forget --json`` gives each kept snapshot's matching rules, borg
``prune --list`` each archive's rule), for ``hostbook plan retention``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from hostbook.jobs.archive.repository import password_env
from hostbook.jobs.run.context import FAILED, OK
from hostbook.manifest.sections.jobs import (
    ARCHIVE_KEEP_RULES,
    ArchiveKeep,
    BorgArchive,
    RepositoryArchive,
    ResticArchive,
)
from hostbook.manifest.sections.retention import parse_duration
from hostbook.process.runner import Runner

TIMEOUT = 6 * 3600.0
_BORG_LINE = re.compile(r"^(Keeping archive \(rule: (?P<rule>[^)]*)\)|Would prune|Pruning archive)"
                        r":?\s+(?P<name>\S+)")


@dataclass(frozen=True)
class Owner:
    """Whose archives these are: the names and tags a run gives them."""

    host: str
    job: str
    volume: str
    volume_key: str

    def borg_glob(self) -> str:
        return f"{self.host}-{self.job}-{self.volume_key}-????????T??????Z"

    def restic_tags(self) -> str:
        return f"host={self.host},job={self.job},volume={self.volume}"


@dataclass
class ArchiveDecision:
    """One archive of a target: kept (with the rules that keep it) or pruned."""

    archive: str
    keep: bool
    reasons: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"archive": self.archive, "action": "keep" if self.keep else "delete",
                "reasons": self.reasons}


def _hours(duration: str) -> int:
    return max(1, -(-parse_duration(duration) // 3600))


def keep_args(keep: ArchiveKeep, tool: str) -> list[str]:
    """``--keep-daily 7 ... --keep-within 720h`` (borg spells hours ``H``)."""
    argv: list[str] = []
    for rule in ARCHIVE_KEEP_RULES:
        count = getattr(keep, rule)
        if count is not None:
            argv += [f"--keep-{rule}", str(count)]
    if keep.within is not None:
        argv += ["--keep-within", f"{_hours(keep.within)}{'h' if tool == 'restic' else 'H'}"]
    return argv


def restic_forget_argv(spec: ResticArchive, owner: Owner, dry_run: bool = False) -> list[str]:
    assert spec.keep is not None
    argv = ["restic", "--repo", spec.repository]
    if dry_run:
        argv.append("--no-lock")
    argv += ["forget", "--host", owner.host, "--tag", owner.restic_tags(),
             *keep_args(spec.keep, "restic")]
    return [*argv, "--dry-run", "--json"] if dry_run else [*argv, "--prune"]


def borg_prune_argv(spec: BorgArchive, owner: Owner, dry_run: bool = False) -> list[str]:
    assert spec.keep is not None
    argv = ["borg", "prune", "--list", "--glob-archives", owner.borg_glob(),
            *keep_args(spec.keep, "borg")]
    return [*argv, *(["--dry-run"] if dry_run else []), spec.repository]


def check_argv(spec: RepositoryArchive) -> list[str]:
    if isinstance(spec, ResticArchive):
        argv = ["restic", "--repo", spec.repository, "check"]
        if spec.check is not None and spec.check.read_data_subset:
            argv += ["--read-data-subset", spec.check.read_data_subset]
        return argv
    return ["borg", "check", spec.repository]


def _env(spec: RepositoryArchive) -> dict[str, str]:
    return password_env(spec.tool, spec.password_command, spec.password_file, spec.env_file)


def prune(runner: Runner, spec: RepositoryArchive, owner: Owner) -> tuple[str, str]:
    """Apply the target's ``keep``: (status, what was said)."""
    env = _env(spec)
    if isinstance(spec, ResticArchive):
        done = runner.command(restic_forget_argv(spec, owner), env=env, timeout=TIMEOUT)
        if runner.dry_run:
            return OK, "prune: dry run"
        if not done.ok:
            return FAILED, f"prune: {done.failure()}"
        removed = len(re.findall(r"^remove \d+ snapshots?", done.stdout, re.M))
        gone = sum(int(n) for n in re.findall(r"^remove (\d+) snapshots?", done.stdout, re.M))
        return OK, (f"prune: restic forget removed {gone} snapshot(s) of {owner.restic_tags()}"
                    if removed else f"prune: nothing to remove for {owner.restic_tags()}")
    assert isinstance(spec, BorgArchive)
    done = runner.command(borg_prune_argv(spec, owner), env=env, timeout=TIMEOUT)
    if not done.ok:
        return FAILED, f"prune: {done.failure()}"
    if runner.dry_run:
        runner.command(["borg", "compact", spec.repository], env=env, timeout=TIMEOUT)
        return OK, "prune: dry run"
    pruned = sum(1 for line in done.stderr.splitlines() if line.startswith("Pruning archive"))
    compacted = runner.command(["borg", "compact", spec.repository], env=env, timeout=TIMEOUT)
    if not compacted.ok:
        return FAILED, f"prune: {compacted.failure()}"
    return OK, f"prune: borg pruned {pruned} archive(s) of {owner.borg_glob()}, then compacted"


def check_due(spec: RepositoryArchive, last_check: float | None, now: float) -> bool:
    """Whether the target's scheduled check is due (never checked counts as due)."""
    if spec.check is None:
        return False
    return last_check is None or now - last_check >= parse_duration(spec.check.every)


def check(runner: Runner, spec: RepositoryArchive) -> tuple[str, str]:
    """Run the repository check: (status, what was said)."""
    done = runner.command(check_argv(spec), env=_env(spec), timeout=TIMEOUT)
    if runner.dry_run:
        return OK, "check: dry run"
    if not done.ok:
        return FAILED, f"check: {done.failure()}"
    return OK, f"check: {' '.join(check_argv(spec)[3 if spec.tool == 'restic' else 1:])} ok"


def retention_plan(runner: Runner, spec: RepositoryArchive, owner: Owner
                   ) -> list[ArchiveDecision] | str:
    """What ``keep`` would keep and delete now, with the tool's reasons; or why unknown."""
    env = _env(spec)
    if isinstance(spec, ResticArchive):
        asked = runner.query(restic_forget_argv(spec, owner, dry_run=True), env=env,
                             timeout=600.0)
        if not asked.ok:
            return asked.failure()
        return _restic_decisions(asked.stdout)
    assert isinstance(spec, BorgArchive)
    asked = runner.query(borg_prune_argv(spec, owner, dry_run=True), env=env, timeout=600.0)
    if not asked.ok:
        return asked.failure()
    return _borg_decisions(asked.stderr + "\n" + asked.stdout)


def _restic_decisions(stdout: str) -> list[ArchiveDecision]:
    try:
        groups = json.loads(stdout) or []
    except ValueError:
        return []
    out: list[ArchiveDecision] = []
    for group in groups if isinstance(groups, list) else []:
        reasons = {str(r.get("snapshot", {}).get("time")): list(r.get("matches") or [])
                   for r in group.get("reasons") or []}
        for snap in group.get("keep") or []:
            out.append(ArchiveDecision(f"{snap.get('short_id')} {snap.get('time')}", True,
                                       reasons.get(str(snap.get("time")), [])))
        for snap in group.get("remove") or []:
            out.append(ArchiveDecision(f"{snap.get('short_id')} {snap.get('time')}", False,
                                       ["no keep rule matches"]))
    return sorted(out, key=lambda d: d.archive.split(" ", 1)[-1], reverse=True)


def _borg_decisions(text: str) -> list[ArchiveDecision]:
    out: list[ArchiveDecision] = []
    for line in text.splitlines():
        match = _BORG_LINE.match(line.strip())
        if match is None:
            continue
        rule = match.group("rule")
        out.append(ArchiveDecision(match.group("name"), rule is not None,
                                   [rule] if rule else ["no keep rule matches"]))
    return out


def maintain(runner: Runner, spec: RepositoryArchive, owner: Owner,
             last_check: float | None, now: float) -> tuple[list[tuple[str, str]], bool]:
    """After a successful archive: prune to ``keep``, then check when due.

    Returns what to mark on the archive step, and whether a check succeeded
    (the history keeps that moment for the next run's schedule).
    """
    said: list[tuple[str, str]] = []
    if spec.keep is not None:
        said.append(prune(runner, spec, owner))
    checked = False
    if check_due(spec, last_check, now):
        status, message = check(runner, spec)
        said.append((status, message))
        checked = status == OK and not runner.dry_run
    return said, checked
