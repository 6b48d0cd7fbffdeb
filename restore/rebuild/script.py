"""The whole rebuild as one readable shell script (``hostbook rebuild --script``).

The layout's steps and the boot phase's are the ones ``rebuild`` applies; the
data phase is the ``hostbook restore data`` line that does it (it bind-mounts
each volume, runs the archiver and checks every file with the run's integrity
database), with the archivers' own commands its dry run printed beside it as
comments.  The boot phase is planned as for a tree whose fstab and crypttab
are the recorded ones: only what the rebuild itself changes is rewritten.
"""

from __future__ import annotations

import shlex

from hostbook.restore.plan.script import render_steps
from hostbook.restore.plan.steps import Command, Step
from hostbook.restore.rebuild.session import Preflight, RebuildRequest, split_key_steps


def data_argv(request: RebuildRequest, target: str) -> tuple[str, ...]:
    argv = ["hostbook", "restore", "data", request.host, "--repo",
            str(request.repository.resolve()), "--target", target]
    if request.at:
        argv += ["--at", request.at]
    if request.data_state_dir:
        argv += ["--state-dir", str(request.data_state_dir)]
    return tuple(argv)


def verify_argv(request: RebuildRequest, target: str) -> tuple[str, ...]:
    argv = ["hostbook", "restore", "verify", request.host, "--repo",
            str(request.repository.resolve()), "--target", target]
    for value in request.maps:
        argv += ["--map", value]
    return tuple(argv)


def rebuild_steps(request: RebuildRequest, checked: Preflight) -> list[Step]:
    target = checked.layout.plan.target_root
    data = Step(id="data", layer="data",
                summary="restore every volume from its archive into the tree and check "
                "each file against its run's integrity database",
                commands=(Command(data_argv(request, target)),),
                notes=tuple(f"runs: {line}" for line in checked.data_commands
                            if not line.startswith(("==", "  "))))
    check = Step(id="verify", layer="check", destructive=False,
                 summary="capture the rebuilt storage again and compare it with the manifest",
                 commands=(Command(verify_argv(request, target)),))
    release = Step(id="release", layer="mount", destructive=False,
                   summary=f"unmount {target} (everything written reaches the disks)",
                   commands=(Command(("umount", "-R", target)), Command(("sync",))))
    layout, keys = split_key_steps(checked.layout.plan.steps)
    return [*layout, data, *keys, *checked.boot.plan.steps, check, release]


def render_rebuild(request: RebuildRequest, checked: Preflight) -> str:
    plan = checked.layout.plan
    notes = [*plan.notes, *plan.keyfiles, *checked.notes, *checked.boot.plan.notes]
    return render_steps(
        plan.host, plan.target_root, rebuild_steps(request, checked),
        map_lines=plan.map_lines(), arithmetic=plan.sizing.lines, notes=notes,
        refusals=checked.refusals,
        verify=shlex.join(verify_argv(request, plan.target_root)))
