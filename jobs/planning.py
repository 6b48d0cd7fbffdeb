"""Load inventories through the runner, plan a host, and render the report.

This is the glue behind ``hostbook plan retention|replication HOST``: it
asks each location's ``zfs list`` (locally, or through ssh for a remote
target), decodes any resume token with ``zfs send -nvP -t``, maps source
datasets to target datasets, calls the pure planners and renders the
result as text or JSON.  The CLI only wires options to these functions.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hostbook.jobs.replication import DatasetPlan, TargetSpec, plan_dataset
from hostbook.jobs.replication_ops import operation_json
from hostbook.jobs.resume_token import ResumeTokenError, resume_state
from hostbook.jobs.snapshot_inventory import (
    DatasetInventory,
    ResumeState,
    build_inventory,
    list_datasets_argv,
    list_snapshots_argv,
    parse_resume_description,
)
from hostbook.jobs.transfer import CommandRunner, Endpoint, SubprocessRunner
from hostbook.manifest.errors import RuntimeFailure
from hostbook.manifest.sections.retention import (
    ReplicationSettings,
    ReplicationTarget,
    RetentionSettings,
)


def _runner_for(runner: CommandRunner, endpoint: Endpoint) -> CommandRunner:
    """An endpoint with its own environment (a fake's state file) runs with it."""
    return SubprocessRunner(endpoint.env) if endpoint.env else runner


def _zfs(runner: CommandRunner, endpoint: Endpoint, argv: Sequence[str]) -> str:
    full = endpoint.argv(*argv[1:])
    runner = _runner_for(runner, endpoint)
    result = runner.run(full)
    if result.returncode != 0:
        tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeFailure(f"{' '.join(full)}: exit {result.returncode}: {tail}")
    return result.stdout


def load_inventory(
    runner: CommandRunner,
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
    result = _runner_for(runner, endpoint).run(endpoint.argv(*ds_argv[1:]))
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
            res = _runner_for(runner, decoder).run(
                decoder.argv("send", "-nvP", "-t", inv.resume.token)
            )
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

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "now": datetime.fromtimestamp(self.now, UTC).isoformat(),
            "datasets": [d.to_json() for d in self.datasets],
        }

    @property
    def refused(self) -> list[str]:
        return [f"{d.dataset}: {r}" for d in self.datasets for r in d.refused]


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


def render_retention(plan: HostPlan) -> str:
    """Every snapshot at every location with keep/delete and the reasons."""
    lines = [f"retention plan for {plan.host} at {_when(plan.now)} UTC"]
    for ds in plan.datasets:
        lines.append("")
        lines.append(f"{ds.dataset} (source)")
        for d in ds.source.decisions:
            lines.append(f"  {d.action:<8} {d.snapshot.name:<40} {_when(d.snapshot.creation)}  "
                         f"{d.reason}")
        for tp in ds.targets:
            lines.append(f"{tp.target_dataset} ({tp.name})")
            if tp.refused:
                lines.append(f"  REFUSED: {tp.refused}")
            for note in tp.notes:
                lines.append(f"  note: {note}")
            for d in tp.retention.decisions:
                lines.append(f"  {d.action:<8} {d.snapshot.name:<40} "
                             f"{_when(d.snapshot.creation)}  {d.reason}")
        for reason in ds.refused:
            lines.append(f"  REFUSED: {reason}")
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
    runner: CommandRunner | None = None,
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
            from hostbook.capture.runner import ReplayRunner

            runner = ReplayRunner(Path(replay))
        else:
            from hostbook.capture.runner import LiveRunner

            runner = LiveRunner()
    source = load_inventory(runner, source_root)
    targets: dict[str, dict[str, DatasetInventory]] = {}
    for target in replication.targets:
        if target.kind == "zfs":
            targets[target.name] = load_inventory(
                runner, target.dataset, endpoint_for(target), decode_from=Endpoint()
            )
    plan = plan_host(host, retention, replication, source, targets, now, source_root=source_root)
    if as_json:
        text = render_json(plan, what)
    else:
        text = render_retention(plan) if what == "retention" else render_replication(plan)
    return text, plan.refused
