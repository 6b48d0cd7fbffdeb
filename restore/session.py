"""One restore session: read the manifest, ask the live system, plan, apply, verify.

The facade the CLI calls (:func:`prepare`, :func:`apply`, :func:`verify`)
and only formats what they return.  The planner is pure; this module hands
it what the live system said (:mod:`hostbook.restore.target.probing`: lsblk,
/dev/disk/by-path, wipefs listings, identities on other disks), refuses busy
targets (:mod:`hostbook.restore.target.safety`), and keeps the journal.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hostbook.manifest.errors import BadInputError
from hostbook.manifest.paths import default_state_dir
from hostbook.manifest.sections.restore import RestoreDocument
from hostbook.manifest.sections.storage import LuksEntry, VgEntry
from hostbook.manifest.validate import located, validate_as
from hostbook.manifest.yamlio import read_document
from hostbook.process.runner import Runner
from hostbook.restore.apply.apply_journal import Journal
from hostbook.restore.apply.executor import ApplyOutcome, Progress, apply_steps
from hostbook.restore.apply.passphrases import PassphraseSource
from hostbook.restore.plan.planner import Plan, PlanInput, make_plan
from hostbook.restore.plan.selection import needed_disks, policy_problems
from hostbook.restore.target.devices import luks_name
from hostbook.restore.target.diskmap import (
    DiskIdentity,
    MapEntry,
    build_map,
    parse_map_args,
    recorded_identities,
)
from hostbook.restore.target.probing import (
    PresentDevice,
    existing_partitions,
    foreign_identities,
    list_signatures,
    present_devices,
    present_identities,
    resolve_device,
)
from hostbook.restore.target.safety import Allowance, check_targets
from hostbook.restore.units import human

# The manifest repository's layout (hostbook.manifest.store), without importing
# git: a restore only reads two files, and a live system pays for every import.
HOSTS_DIR = "hosts"


@dataclass
class HostDocuments:
    """A host's storage.yaml and restore.yaml (the policy defaults when absent)."""

    host: str
    storage: Any
    policy: RestoreDocument
    storage_path: Path


def load_host(repository: Path, host: str, allow_incomplete: bool = False) -> HostDocuments:
    """Read and validate hosts/HOST/storage.yaml and restore.yaml.

    A storage.yaml whose capture was incomplete is refused unless
    ``allow_incomplete``: then the plan covers what is known and lists the rest.
    """
    from hostbook.manifest.sections.storage import StorageDocument

    if not host or "/" in host or host.startswith("."):
        raise BadInputError(f"invalid host name {host!r}")
    hosts = repository / HOSTS_DIR
    path = hosts / host / "storage.yaml"
    data = read_document(path)
    if data is None:
        known = ", ".join(sorted(p.name for p in hosts.iterdir() if p.is_dir())
                          if hosts.is_dir() else []) or "none"
        raise BadInputError(f"{path}: no storage.yaml for host {host!r} (hosts: {known})")
    storage = validate_as(StorageDocument, data, str(path))
    if storage.incomplete and not allow_incomplete:
        parts = ", ".join(i.part for i in storage.incomplete)
        raise BadInputError(
            f"{path}: the capture was incomplete ({parts}); a restore from it would be "
            "incomplete too: capture again, fix the file, or plan what is known with "
            "--allow-incomplete"
        )
    policy_path = hosts / host / "restore.yaml"
    policy_data = read_document(policy_path)
    policy = (validate_as(RestoreDocument, policy_data, str(policy_path))
              if policy_data is not None
              else RestoreDocument.model_validate({"schema": RestoreDocument.schema_string()}))
    problems = policy_problems(recorded_identities(storage), storage, policy)
    if problems:  # restore.yaml names what storage.yaml lacks: say where
        raise located(policy_data, str(policy_path), problems)
    return HostDocuments(host, storage, policy, path)


def policy_hints(system: Runner, policy: RestoreDocument, recorded: list[DiskIdentity],
                 present: list[DiskIdentity]) -> dict[str, str]:
    """restore.yaml disks -> {recorded id: present kernel name}."""
    from hostbook.restore.target.diskmap import find_recorded

    hints: dict[str, str] = {}
    for rule in policy.disks:
        if not (rule.serial or rule.wwn or rule.path):
            continue
        disk = find_recorded(recorded, rule.id)
        if rule.path:
            name = resolve_device(system, rule.path)
        else:
            field_name, value = ("serial", rule.serial) if rule.serial else ("wwn", rule.wwn)
            matches = [p.name for p in present if getattr(p, field_name) == value]
            if len(matches) != 1:
                raise BadInputError(
                    f"restore.yaml disks {rule.id}: {field_name} {value} matches "
                    f"{len(matches)} present disks"
                )
            name = matches[0]
        hints[disk.key] = name
    return hints


def journal_for(host: str, targets: Sequence[str], state_dir: Path | None = None) -> Journal:
    """The journal of restoring ``host`` onto these target disks (one per pairing)."""
    name = "+".join(sorted(t.replace("/", "_") for t in targets))
    return Journal((state_dir or default_state_dir()) / "restore" / f"{host}@{name}.journal")


@dataclass
class Prepared:
    """A plan made against the live system, with what apply needs next."""

    plan: Plan
    documents: HostDocuments
    present: dict[str, PresentDevice]
    journal: Journal
    resuming: bool
    finished_before: int = 0
    warnings: list[str] = field(default_factory=list)
    verify_argv: list[str] = field(default_factory=list)
    """The ``hostbook restore verify`` command that checks this restore, runnable as printed."""

    @property
    def verify_command(self) -> str:
        """:attr:`verify_argv` as a shell command line (quoted where needed)."""
        return shlex.join(self.verify_argv)


def verify_argv(repository: Path, host: str, map_args: Sequence[str],
                target: str | None) -> list[str]:
    """The verify command for a restore: the same repository, map and target as given.

    The repository is always named (absolute), so the command runs as printed
    from any directory and without the environment that chose it.
    """
    argv = ["hostbook", "restore", "verify", host, "--repo", str(repository.resolve())]
    for value in map_args:
        argv += ["--map", value]
    if target is not None:
        argv += ["--target", target]
    return argv


def allowance_for(documents: HostDocuments, target_root: str) -> Allowance:
    """What an interrupted apply of this host may have left active on its targets."""
    names: set[str] = set()
    vgs: set[str] = set()
    for entry in documents.storage.entries:
        if isinstance(entry, LuksEntry):
            names.add(luks_name(entry))
        elif isinstance(entry, VgEntry):
            vgs.add(entry.name)
    return Allowance(frozenset(names), md_allowed=True, mount_root=target_root,
                     vg_names=frozenset(vgs))


def choose_map(system: Runner, documents: HostDocuments, map_args: Sequence[str],
               devices: dict[str, PresentDevice]) -> list[MapEntry]:
    given = parse_map_args(map_args)
    if given is not None:
        given = {old: resolve_device(system, new) for old, new in given.items()}
    recorded = recorded_identities(documents.storage)
    present = present_identities(system, devices)
    hints = policy_hints(system, documents.policy, recorded, present) if given is None else {}
    wanted = needed_disks(documents.storage, documents.policy)
    return build_map(recorded, present, given, wanted, hints)


def prepare(system: Runner, repository: Path, host: str, map_args: Sequence[str],
            target: str | None = None, state_dir: Path | None = None,
            check_busy: bool = True, list_existing: bool = True,
            allow_incomplete: bool = False, new_identities: bool = False) -> Prepared:
    """Plan a restore of ``host`` against this system (nothing is written)."""
    documents = load_host(repository, host, allow_incomplete)
    target_root = (target or documents.policy.target).rstrip("/") or "/"
    if not target_root.startswith("/") or target_root == "/":
        raise BadInputError(f"--target {target_root}: must be an absolute path other than /")
    devices = present_devices(system)
    mapping = choose_map(system, documents, map_args, devices)
    names = [e.target.name for e in mapping]
    journal = journal_for(host, names, state_dir)
    resuming = bool(journal.entries())
    if check_busy:
        allow = allowance_for(documents, target_root) if resuming else None
        check_targets(names, devices, allow)
    signatures: dict[str, list[str]] = {}
    existing: dict[str, list[str]] = {}
    for name in names if list_existing else []:
        device = devices[name]
        signatures.update(list_signatures(system, device))
        existing[device.path] = existing_partitions(device)
    foreign = foreign_identities(system, devices, names) if list_existing else {}
    plan = make_plan(PlanInput(
        host=host, storage=documents.storage, policy=documents.policy, mapping=mapping,
        target_root=target_root, signatures=signatures, existing=existing,
        resuming=resuming, foreign=foreign, new_identities=new_identities,
    ))
    finished = journal.finished()
    done_before = sum(1 for s in plan.steps if s.id in finished)
    return Prepared(plan, documents, devices, journal, resuming, done_before,
                    verify_argv=verify_argv(repository, host, map_args, target))


def confirmation_text(prepared: Prepared) -> str:
    """The one question apply asks without --yes: which disks will be overwritten."""
    lines = [f"hostbook will ERASE and rebuild these disks for host {prepared.plan.host}:"]
    for entry in prepared.plan.mapping:
        t = entry.target
        lines.append(
            f"  {t.path}: {human(t.size)}, model {t.model or 'unknown'}, "
            f"serial {t.serial or 'unknown'} (receives {entry.recorded.key})"
        )
    if prepared.resuming:
        lines.append(f"(resuming: {prepared.finished_before} step(s) finished in an earlier run)")
    return "\n".join(lines)


def apply(prepared: Prepared, system: Runner, passphrases: PassphraseSource,
          progress: Progress | None = None) -> ApplyOutcome:
    """Run the plan's steps (refused plans never get here)."""
    if prepared.plan.refused:
        raise BadInputError("the plan was refused: " + "; ".join(prepared.plan.refusals))
    return apply_steps(prepared.plan.steps, prepared.plan.guard, prepared.journal, system,
                       passphrases, progress)


def verify(system: Runner, repository: Path, host: str, map_args: Sequence[str],
           target: str | None = None) -> tuple[Plan, Any]:
    """Re-capture the mapped disks and compare them with the plan's promises."""
    from hostbook.restore.verify import compare, recapture

    prepared = prepare(system, repository, host, map_args, target, check_busy=False,
                       list_existing=False)
    captured = recapture(system, prepared.plan)
    return prepared.plan, compare(prepared.plan, prepared.documents.storage, captured)
