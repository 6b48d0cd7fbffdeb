"""A host's replication plan for people and for programs: text reports and JSON.

``hostbook plan retention`` shows every snapshot at every location with
keep/delete and the reason; ``hostbook plan replication`` the validated
operations in the order they run, each with why.  ``--json`` gives either
as one document.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from hostbook.jobs.replication.host_plan import HostPlan
from hostbook.jobs.replication.zfs.ops import operation_json


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


def _operation_lines(header: str, refused: Sequence[str],
                     operations: Sequence[tuple[str, str]]) -> list[str]:
    """One source's numbered operations (what runs, and why), after its refusals."""
    lines = ["", f"{header}: {len(operations)} operation(s)"]
    lines.extend(f"  REFUSED: {reason}" for reason in refused)
    for i, (command, why) in enumerate(operations, 1):
        lines.append(f"  {i:>3}. {command}")
        lines.append(f"       why: {why}")
    return lines


def render_replication(plan: HostPlan) -> str:
    """The validated operations per dataset, in execution order, with reasons."""
    lines = [f"replication plan for {plan.host} at {_when(plan.now)} UTC"]
    for ds in plan.datasets:
        lines.extend(_operation_lines(ds.dataset, ds.refused,
                                      [(op.describe(), op.reason) for op in ds.operations]))
    for bp in plan.btrfs:
        lines.extend(_operation_lines(f"{bp.directory} (btrfs)", bp.refused,
                                      [(bp.describe(step), step.reason) for step in bp.steps]))
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
