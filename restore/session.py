"""One restore session: read the manifest, ask the live system, plan, apply.

The planner is pure; this module is where the live system is asked what it
has (lsblk, /dev/disk/by-path, wipefs listings), where busy disks are
refused, and where the journal lives.  The CLI calls these functions and
only formats what they return.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hostbook.manifest.errors import BadInputError
from hostbook.manifest.paths import default_state_dir
from hostbook.manifest.sections.restore import RestoreDocument
from hostbook.manifest.sections.storage import DiskEntry, LoopEntry, LuksEntry, VgEntry
from hostbook.manifest.validate import located, validate_as
from hostbook.manifest.yamlio import read_document
from hostbook.process.runner import Runner
from hostbook.restore.apply.apply_journal import Journal
from hostbook.restore.apply.executor import ApplyOutcome, Progress, apply_steps
from hostbook.restore.apply.passphrases import PassphraseSource
from hostbook.restore.plan.layout import StorageView
from hostbook.restore.plan.planner import Plan, PlanInput, make_plan, needed_disks, policy_problems
from hostbook.restore.target.devices import luks_name
from hostbook.restore.target.diskmap import DiskIdentity, MapEntry, build_map, parse_map_args
from hostbook.restore.target.safety import Allowance, PresentDevice, check_targets, present_devices
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


def load_host(repository: Path, host: str) -> HostDocuments:
    """Read and validate hosts/HOST/storage.yaml and restore.yaml."""
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
    if storage.incomplete:
        parts = ", ".join(i.part for i in storage.incomplete)
        raise BadInputError(
            f"{path}: the capture was incomplete ({parts}); a restore from it would be "
            "incomplete too: capture again, or fix the file"
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


def recorded_identities(storage: Any) -> list[DiskIdentity]:
    identities = []
    for entry in StorageView(storage).disks():
        if isinstance(entry, DiskEntry):
            identities.append(DiskIdentity(
                entry.id, entry.name, entry.size, entry.logical_sector_size, entry.wwn,
                entry.serial, entry.by_path, entry.model))
        elif isinstance(entry, LoopEntry):
            identities.append(DiskIdentity(entry.id, entry.name, entry.size,
                                           entry.logical_sector_size))
    return identities


def resolve_device(system: Runner, value: str) -> str:
    """A kernel name from ``sdb``, ``/dev/sdb`` or a /dev/disk/... link."""
    if not value.startswith("/dev/disk/"):
        return value.removeprefix("/dev/")
    target = system.read_link(value)
    if target is None:
        raise BadInputError(f"{value}: no such device link on this system")
    return target.rstrip("/").rsplit("/", 1)[-1]


def present_identities(system: Runner, devices: dict[str, PresentDevice]
                       ) -> list[DiskIdentity]:
    by_path: dict[str, str] = {}
    for name in system.list_dir("/dev/disk/by-path") or []:
        target = system.read_link(f"/dev/disk/by-path/{name}")
        if target and "-part" not in name:
            by_path.setdefault(target.rsplit("/", 1)[-1], name)
    return [d.identity(by_path.get(d.name)) for d in devices.values()
            if d.type in ("disk", "loop") and d.size > 0]


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


def list_signatures(system: Runner, device: PresentDevice) -> dict[str, list[str]]:
    """``wipefs`` listing (read-only) of a target disk and everything on it."""
    found: list[str] = []
    for node in device.walk():
        result = system.query(["wipefs", "--json", f"/dev/{node.name}"])
        if result.returncode != 0:
            found.append(f"/dev/{node.name}: cannot list signatures ({result.failure()})")
            continue
        try:
            signatures = json.loads(result.stdout or "{}").get("signatures", [])
        except ValueError:
            signatures = []
        for sig in signatures:
            words = [sig.get("type") or "?"]
            if sig.get("label"):
                words.append(f"label {sig['label']!r}")
            if sig.get("uuid"):
                words.append(f"UUID {sig['uuid']}")
            found.append(f"/dev/{node.name}: {' '.join(words)} at offset {sig.get('offset')}")
    return {device.path: found}


def foreign_identities(system: Runner, devices: dict[str, PresentDevice],
                       targets: Sequence[str]) -> dict[str, str]:
    """UUIDs (and VG names) on every device that is not a target, by device path.

    A restore recreates identities; the same filesystem UUID, PV UUID or VG
    name on another attached disk (the old disk still plugged in) would make
    the kernel, LVM or mdadm take one for the other.
    """
    from hostbook.capture.probes.storage.inventory import split_lvm_dm_name

    found: dict[str, str] = {}
    paths: list[str] = []
    for name, device in sorted(devices.items()):
        if name in targets or device.size == 0:
            continue
        for node in device.walk():
            if node.type == "lvm":
                names = split_lvm_dm_name(node.display or node.name)
                if names is not None:
                    found.setdefault(f"vg:{names[0]}", node.path)
            if node.path not in paths:
                paths.append(node.path)
    for path, values in probe_many(system, paths).items():
        for key in ("UUID", "PTUUID", "PART_ENTRY_UUID"):
            if values.get(key):
                found.setdefault(values[key], path)
    return found


def probe_many(system: Runner, paths: list[str]) -> dict[str, dict[str, str]]:
    """``blkid -p`` of many devices in as few runs as possible.

    blkid stops at the first device it cannot open; the run resumes after it.
    """
    from hostbook.capture.parsers.blkid import failed_device, parse_export

    found: dict[str, dict[str, str]] = {}
    pending = list(paths)
    while pending:
        result = system.query(["blkid", "-p", "-o", "export", *pending])
        found.update(parse_export(result.stdout))
        failed = failed_device(result.stderr)
        if failed is None or failed[0] not in pending:
            break
        pending = pending[pending.index(failed[0]) + 1:]
    return found


def existing_partitions(device: PresentDevice) -> list[str]:
    return [f"/dev/{c.name}" for c in device.children if c.type == "part"]


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
            check_busy: bool = True, list_existing: bool = True) -> Prepared:
    """Plan a restore of ``host`` against this system (nothing is written)."""
    documents = load_host(repository, host)
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
        resuming=resuming, foreign=foreign,
    ))
    finished = journal.finished()
    done_before = sum(1 for s in plan.steps if s.id in finished)
    return Prepared(plan, documents, devices, journal, resuming, done_before)


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
