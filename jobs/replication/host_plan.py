"""Load inventories through the runner, plan a host, and render the report.

This is the glue behind ``hostbook plan retention|replication HOST``: it
asks each location's ``zfs list`` (locally, or through ssh for a remote
target), decodes any resume token with ``zfs send -nvP -t``, maps source
datasets to target datasets, calls the pure planners and renders the
result as text or JSON.  The CLI only wires options to these functions.

btrfs targets (``kind: btrfs``) are planned per source snapshot directory:
the target's ``source``, or else the snapshot directory of every btrfs job
in jobs.yaml that clones to it.  Both sides are read with
:func:`hostbook.jobs.replication.btrfs.inventory.load_directory`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hostbook.jobs.replication.btrfs.inventory import BtrfsDirectory, load_directory
from hostbook.jobs.replication.btrfs.plan import BtrfsPlan, BtrfsTarget, plan_btrfs_directory
from hostbook.jobs.replication.zfs.inventory import (
    DatasetInventory,
    ResumeState,
    build_inventory,
    list_datasets_argv,
    list_snapshots_argv,
    parse_resume_description,
)
from hostbook.jobs.replication.zfs.ops import operation_json
from hostbook.jobs.replication.zfs.plan import DatasetPlan, TargetSpec, plan_dataset
from hostbook.jobs.replication.zfs.resume_token import ResumeTokenError, resume_state
from hostbook.jobs.replication.zfs.transfer import Endpoint
from hostbook.manifest.errors import RuntimeFailure
from hostbook.manifest.sections.retention import (
    ReplicationSettings,
    ReplicationTarget,
    RetentionSettings,
)
from hostbook.process.result import CommandResult
from hostbook.process.runner import Runner


def _list(runner: Runner, endpoint: Endpoint, argv: Sequence[str]) -> CommandResult:
    """A read-only zfs command on an endpoint (with its environment, e.g. a fake's state)."""
    return runner.query(endpoint.argv(*argv[1:]), env=endpoint.env or None, timeout=600.0)


def _zfs(runner: Runner, endpoint: Endpoint, argv: Sequence[str]) -> str:
    full = endpoint.argv(*argv[1:])
    result = _list(runner, endpoint, argv)
    if result.returncode != 0:
        tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeFailure(f"{' '.join(full)}: exit {result.returncode}: {tail}")
    return result.stdout


def load_inventory(
    runner: Runner,
    root: str | None = None,
    endpoint: Endpoint | None = None,
    *,
    decode_from: Endpoint | None = None,
) -> dict[str, DatasetInventory]:
    """One location's inventory under ``root`` (all pools when None).

    A missing ``root`` gives an empty inventory (a target not yet created).
    Resume tokens are decoded on ``decode_from`` (the sending side).
    """
    endpoint = endpoint or Endpoint()
    ds_argv = list_datasets_argv(root)
    result = _list(runner, endpoint, ds_argv)
    if result.returncode != 0:
        if root and "dataset does not exist" in result.stderr:
            return {}
        tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeFailure(f"{' '.join(ds_argv)}: exit {result.returncode}: {tail}")
    snaps = _zfs(runner, endpoint, list_snapshots_argv(root))
    inventory = build_inventory(result.stdout, snaps)
    decoder = decode_from or endpoint
    decoded: dict[str, ResumeState] = {}
    for name, inv in inventory.items():
        if inv.resume is not None:
            res = _list(runner, decoder, ["zfs", "send", "-nvP", "-t", inv.resume.token])
            if res.returncode == 0:
                decoded[name] = parse_resume_description(res.stdout, inv.resume.token)
            else:
                # The sending side could not describe it (unreachable, older zfs):
                # the token itself still names the snapshot and its base.
                with contextlib.suppress(ResumeTokenError):
                    decoded[name] = resume_state(inv.resume.token)
    if decoded:
        inventory = {
            name: (
                DatasetInventory(
                    inv.dataset, inv.snapshots, inv.exists, inv.dataset_type, inv.encrypted,
                    decoded[name],
                )
                if name in decoded
                else inv
            )
            for name, inv in inventory.items()
        }
    return inventory


def target_dataset_name(source_root: str, dataset: str, target_root: str) -> str:
    """``tank/data/www`` under ``tank/data`` replicates to ``<target_root>/www``."""
    if dataset == source_root:
        return target_root
    if dataset.startswith(source_root + "/"):
        return f"{target_root}/{dataset[len(source_root) + 1 :]}"
    return f"{target_root}/{dataset}"


def endpoint_for(target: ReplicationTarget, zfs: Sequence[str] = ("zfs",)) -> Endpoint:
    if target.host:
        return Endpoint((*zfs,), ("ssh", "-o", "BatchMode=yes", *target.ssh_options, target.host))
    return Endpoint((*zfs,))


@dataclass(frozen=True)
class HostPlan:
    host: str
    now: int
    datasets: tuple[DatasetPlan, ...]
    btrfs: tuple[BtrfsPlan, ...] = ()
    problems: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "now": datetime.fromtimestamp(self.now, UTC).isoformat(),
            "datasets": [d.to_json() for d in self.datasets],
            "btrfs": [b.to_json() for b in self.btrfs],
            "problems": list(self.problems),
        }

    @property
    def refused(self) -> list[str]:
        return [
            *(f"{d.dataset}: {r}" for d in self.datasets for r in d.refused),
            *(f"{b.directory}: {r}" for b in self.btrfs for r in b.refused),
            *self.problems,
        ]


def plan_host(
    host: str,
    retention: RetentionSettings,
    replication: ReplicationSettings,
    source: Mapping[str, DatasetInventory],
    targets: Mapping[str, Mapping[str, DatasetInventory]],
    now: int | datetime,
    *,
    source_root: str | None = None,
) -> HostPlan:
    """Plan every source dataset against every configured target (pure)."""
    t_now = int(now.timestamp()) if isinstance(now, datetime) else int(now)
    plans = []
    for name in sorted(source):
        inv = source[name]
        specs = []
        for target in replication.targets:
            if target.kind != "zfs":
                continue
            root = target.source or source_root
            if root and not (name == root or name.startswith(root + "/")):
                continue
            tname = target_dataset_name(root or name.split("/")[0], name, target.dataset)
            tinv = targets.get(target.name, {}).get(tname) or DatasetInventory(tname, exists=False)
            specs.append(TargetSpec(target.name, tinv, target.policy, target.raw, tname))
        plans.append(plan_dataset(inv, retention.policy_for(name), specs, t_now))
    return HostPlan(host, t_now, tuple(plans))


def _when(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M")


def _decision_lines(decisions: Any) -> list[str]:
    """One line per snapshot: action, name, creation time, reason."""
    return [
        f"  {d.action:<8} {d.snapshot.name:<40} {_when(d.snapshot.creation)}  {d.reason}"
        for d in decisions
    ]


def _target_lines(header: str, target: Any) -> list[str]:
    """A target's heading, refusal, notes and retention decisions (ZFS and btrfs alike)."""
    lines = [header]
    if target.refused:
        lines.append(f"  REFUSED: {target.refused}")
    lines.extend(f"  note: {note}" for note in target.notes)
    lines.extend(_decision_lines(target.retention.decisions))
    return lines


def render_retention(plan: HostPlan) -> str:
    """Every snapshot at every location with keep/delete and the reasons."""
    lines = [f"retention plan for {plan.host} at {_when(plan.now)} UTC"]
    for ds in plan.datasets:
        lines.append("")
        lines.append(f"{ds.dataset} (source)")
        lines.extend(_decision_lines(ds.source.decisions))
        for tp in ds.targets:
            lines.extend(_target_lines(f"{tp.target_dataset} ({tp.name})", tp))
        for reason in ds.refused:
            lines.append(f"  REFUSED: {reason}")
    for bp in plan.btrfs:
        lines.append("")
        lines.append(f"{bp.directory} (btrfs source)")
        lines.extend(_decision_lines(bp.source.decisions))
        for btp in bp.targets:
            lines.extend(_target_lines(f"{btp.directory} ({btp.name}, btrfs)", btp))
        for reason in bp.refused:
            if not any(reason == btp.refused for btp in bp.targets):
                lines.append(f"  REFUSED: {reason}")
    lines.extend(f"PROBLEM: {p}" for p in plan.problems)
    return "\n".join(lines) + "\n"


def render_replication(plan: HostPlan) -> str:
    """The validated operations per dataset, in execution order, with reasons."""
    lines = [f"replication plan for {plan.host} at {_when(plan.now)} UTC"]
    for ds in plan.datasets:
        lines.append("")
        lines.append(f"{ds.dataset}: {len(ds.operations)} operation(s)")
        for reason in ds.refused:
            lines.append(f"  REFUSED: {reason}")
        for i, op in enumerate(ds.operations, 1):
            lines.append(f"  {i:>3}. {op.describe()}")
            lines.append(f"       why: {op.reason}")
    for bp in plan.btrfs:
        lines.append("")
        lines.append(f"{bp.directory} (btrfs): {len(bp.steps)} operation(s)")
        for reason in bp.refused:
            lines.append(f"  REFUSED: {reason}")
        for i, step in enumerate(bp.steps, 1):
            lines.append(f"  {i:>3}. {bp.describe(step)}")
            lines.append(f"       why: {step.reason}")
    lines.extend(f"PROBLEM: {p}" for p in plan.problems)
    return "\n".join(lines) + "\n"


def render_json(plan: HostPlan, what: str) -> str:
    data = plan.to_json()
    if what == "replication":
        data = {
            "host": data["host"],
            "now": data["now"],
            "datasets": [
                {
                    "dataset": d.dataset,
                    "refused": list(d.refused),
                    "operations": [operation_json(op) for op in d.operations],
                }
                for d in plan.datasets
            ],
            "btrfs": [
                {
                    "directory": b.directory,
                    "refused": list(b.refused),
                    "operations": [b.step_json(step) for step in b.steps],
                }
                for b in plan.btrfs
            ],
            "problems": list(plan.problems),
        }
    return json.dumps(data, indent=2) + "\n"


def load_settings(document: Any, path: str) -> tuple[RetentionSettings, ReplicationSettings]:
    """``retention:`` and ``replication:`` from a parsed jobs.yaml (strictly validated)."""
    from pydantic import ValidationError

    from hostbook.manifest.errors import ManifestError

    doc = document if isinstance(document, Mapping) else {}
    try:
        retention = RetentionSettings.model_validate(doc.get("retention") or {})
        replication = ReplicationSettings.model_validate(doc.get("replication") or {})
    except ValidationError as exc:
        raise ManifestError(
            [f"{path}: {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        ) from None
    return retention, replication


def plan_from_repository(
    repo: Any,
    host: str,
    what: str,
    *,
    now: datetime,
    as_json: bool = False,
    replay: Any = None,
    source_root: str | None = None,
    runner: Runner | None = None,
) -> tuple[str, list[str]]:
    """Read ``hosts/HOST/jobs.yaml``, load inventories, plan; (rendered text, refusals)."""
    from pathlib import Path

    from hostbook.manifest.errors import BadInputError
    from hostbook.manifest.yamlio import read_document

    path = Path(repo) / "hosts" / host / "jobs.yaml"
    document = read_document(path)
    if document is None:
        raise BadInputError(f"{path}: no jobs.yaml for host {host!r}")
    retention, replication = load_settings(document, str(path))
    if runner is None:
        if replay is not None:
            from hostbook.process.recording import ReplayRunner

            runner = ReplayRunner(Path(replay))
        else:
            from hostbook.process.runner import LiveRunner

            runner = LiveRunner()
    kinds = _job_kinds(document)
    has_btrfs = "btrfs" in kinds or any(t.kind == "btrfs" for t in replication.targets)
    zfs_wanted = (not has_btrfs or "zfs" in kinds
                  or any(t.kind == "zfs" for t in replication.targets))
    source = load_inventory(runner, source_root) if zfs_wanted else {}
    targets: dict[str, dict[str, DatasetInventory]] = {}
    for target in replication.targets:
        if target.kind == "zfs":
            targets[target.name] = load_inventory(
                runner, target.dataset, endpoint_for(target), decode_from=Endpoint()
            )
    plan = plan_host(host, retention, replication, source, targets, now, source_root=source_root)
    if has_btrfs:
        sources, problems = btrfs_sources(replication, document)
        if source_root:
            sources = {d: names for d, names in sources.items() if d.startswith(source_root)}
        plans = plan_btrfs_host(runner, retention, replication, sources, now)
        plan = HostPlan(plan.host, plan.now, plan.datasets, plans, tuple(problems))
    if as_json:
        text = render_json(plan, what)
    else:
        text = render_retention(plan) if what == "retention" else render_replication(plan)
    return text, plan.refused


DEFAULT_BTRFS_SNAPSHOT_DIR = ".hostbook-snapshots"
"""Where the btrfs snapshot provider puts snapshots unless a job names a directory."""


def _jobs(document: Any) -> list[tuple[Mapping[str, Any], Mapping[str, Any], Mapping[str, Any]]]:
    """(job, snapshot, volume) for each well-formed entry of ``jobs:`` (raw, not validated:
    the jobs section validates itself; planning only needs a few keys)."""
    jobs = document.get("jobs") if isinstance(document, Mapping) else None
    out = []
    for job in jobs if isinstance(jobs, list) else []:
        if not isinstance(job, Mapping):
            continue
        snap = job.get("snapshot") or {}
        volume = job.get("volume") or {}
        if isinstance(snap, Mapping) and isinstance(volume, Mapping):
            out.append((job, snap, volume))
    return out


def _job_kinds(document: Any) -> set[str]:
    """Which snapshot kinds the host's jobs make: ``zfs`` and/or ``btrfs``."""
    kinds = set()
    for _job, snap, volume in _jobs(document):
        if snap.get("provider") == "btrfs":
            kinds.add("btrfs")
        elif snap.get("provider") == "zfs" or volume.get("dataset"):
            kinds.add("zfs")
    return kinds


def btrfs_sources(
    replication: ReplicationSettings, document: Any
) -> tuple[dict[str, list[str]], list[str]]:
    """Source snapshot directory -> the btrfs targets it replicates to, and problems found.

    A target's ``source`` wins; otherwise every btrfs job in ``jobs:`` that
    clones to the target contributes its snapshot directory.  A btrfs job's
    directory with no target is planned too (its own retention only).  One
    target directory fed from two source directories is a problem, not a plan:
    each would take the other's copies for its own.
    """
    derived: dict[str, list[str]] = {}
    sources: dict[str, list[str]] = {}
    for job, snap, volume in _jobs(document):
        if snap.get("provider") != "btrfs" or not volume.get("path"):
            continue
        directory = str(snap.get("directory") or (
            f"{str(volume['path']).rstrip('/')}/{DEFAULT_BTRFS_SNAPSHOT_DIR}")).rstrip("/")
        sources.setdefault(directory, [])
        for name in job.get("clone") or []:
            derived.setdefault(str(name), []).append(directory)
    problems: list[str] = []
    for target in replication.targets:
        if target.kind != "btrfs":
            continue
        dirs = [target.source.rstrip("/")] if target.source else sorted(
            set(derived.get(target.name, [])))
        if not dirs:
            problems.append(f"btrfs target {target.name}: no source — set its 'source' to the "
                            "snapshot directory, or clone to it from a btrfs job")
            continue
        if len(dirs) > 1:
            problems.append(f"btrfs target {target.name}: {target.dataset} would receive from "
                            f"{', '.join(dirs)}; give each source its own target directory")
            continue
        sources.setdefault(dirs[0], []).append(target.name)
    return sources, problems


def plan_btrfs_host(
    runner: Runner,
    retention: RetentionSettings,
    replication: ReplicationSettings,
    sources: Mapping[str, Sequence[str]],
    now: int | datetime,
) -> tuple[BtrfsPlan, ...]:
    """Read every btrfs source directory and its targets, and plan each (sorted by directory)."""
    t_now = int(now.timestamp()) if isinstance(now, datetime) else int(now)
    by_name = {t.name: t for t in replication.targets}
    plans = []
    for directory in sorted(sources):
        source = load_directory(runner, directory)
        specs = []
        for name in sources[directory]:
            target = by_name[name]
            ssh = (("ssh", "-o", "BatchMode=yes", *target.ssh_options, target.host)
                   if target.host else ())
            location: BtrfsDirectory = load_directory(runner, target.dataset, ssh=ssh)
            specs.append(BtrfsTarget(name, location, target.policy, ssh))
        plans.append(plan_btrfs_directory(source, retention.policy_for(directory), specs, t_now))
    return tuple(plans)
