"""The boot phase against this system: read the restored tree, plan, apply with a journal.

``hostbook restore boot`` (a tree restored some other way) and ``hostbook
rebuild`` (after its layout and data phases) both come here.  The layout
plan gives the disk map and the rebuilt devices; the restored tree is read
through the Runner (its fstab, crypttab, mdadm.conf, LVM devices file, which
initramfs tool it has); the restored system's own bootloader tools are
checked before anything runs (:mod:`hostbook.restore.doctor`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from hostbook.manifest.errors import BadInputError
from hostbook.manifest.paths import default_state_dir
from hostbook.manifest.sections.storage import StorageDocument
from hostbook.process.runner import Runner
from hostbook.restore.apply.apply_journal import Journal
from hostbook.restore.apply.executor import ApplyOutcome, Progress, apply_steps
from hostbook.restore.apply.passphrases import PassphraseSource
from hostbook.restore.boot.initramfs import Tool
from hostbook.restore.boot.planner import BootInput, BootPlan, plan_boot
from hostbook.restore.boot.system_files import LVM_DEVICES, MDADM_CONF, RestoredFiles
from hostbook.restore.doctor.check import diagnose, in_target, live_firmware
from hostbook.restore.plan.planner import Plan
from hostbook.restore.target.guard import DeviceGuard


@dataclass
class PreparedBoot:
    plan: BootPlan
    layout: Plan
    journal: Journal
    guard: DeviceGuard
    warnings: list[str] = field(default_factory=list)


def restored_files(runner: Runner, target: str) -> RestoredFiles:
    """What the restored tree holds of the files the boot phase checks."""
    devices = runner.list_dir(f"{target}{os.path.dirname(LVM_DEVICES)}") or []
    return RestoredFiles(
        fstab=runner.read_file(f"{target}/etc/fstab"),
        crypttab=runner.read_file(f"{target}/etc/crypttab"),
        mdadm_conf=runner.read_file(f"{target}{MDADM_CONF}"),
        lvm_devices=os.path.basename(LVM_DEVICES) in devices)


def initramfs_tool(runner: Runner, target: str) -> Tool | None:
    if in_target(runner, target, "update-initramfs"):
        return "initramfs-tools"
    if in_target(runner, target, "dracut"):
        return "dracut"
    return None


def boot_journal(host: str, state_dir: Path | None = None) -> Journal:
    return Journal((state_dir or default_state_dir()) / "restore" / f"{host}@boot.journal")


def guard_of(layout: Plan) -> DeviceGuard:
    guard = DeviceGuard(frozenset(e.target.path for e in layout.mapping))
    guard.allow_derived(layout.paths.values())
    return guard


def prepare_boot(runner: Runner, layout: Plan, storage: StorageDocument, *,
                 no_nvram: bool = False, state_dir: Path | None = None,
                 restored: bool = True) -> PreparedBoot:
    """Plan the boot phase after ``layout``; ``restored=False``: for a script, nothing read."""
    target = layout.target_root
    files = restored_files(runner, target) if restored else RestoredFiles(known=False)
    tool = initramfs_tool(runner, target) if restored else "initramfs-tools"
    plan = plan_boot(BootInput(
        host=layout.host, storage=storage, planned=layout.storage or storage,
        paths=dict(layout.paths), target=target, restored=files, kept=set(layout.restored),
        initramfs=tool or "initramfs-tools", live_firmware=live_firmware(runner),
        no_nvram=no_nvram))
    if restored:
        if tool is None:
            plan.refusals.append(f"{target}: the restored system has neither update-initramfs "
                                 "nor dracut (package initramfs-tools or dracut)")
        diagnosis = diagnose(runner, storage, None, target, no_nvram)
        plan.refusals += [p for p in diagnosis.problems
                          if p.startswith("missing in the restored system")
                          and "initramfs" not in p and "lsinit" not in p]
    return PreparedBoot(plan, layout, boot_journal(layout.host, state_dir), guard_of(layout))


def check_tree(target: str) -> None:
    """Refuse a target that holds no restored system (no /etc, no /boot)."""
    for part in ("etc", "boot"):
        if not os.path.isdir(os.path.join(target, part)):
            raise BadInputError(f"{target}: no restored system there (no /{part}); restore "
                                "its data first (hostbook restore data)")


def apply_boot(prepared: PreparedBoot, runner: Runner,
               progress: Progress | None = None) -> ApplyOutcome:
    if prepared.plan.refused:
        raise BadInputError("the boot phase was refused: " + "; ".join(prepared.plan.refusals))
    return apply_steps(prepared.plan.steps, prepared.guard, prepared.journal, runner,
                       PassphraseSource(interactive=False), progress)
