"""Ask this system whether it has what the host's rebuild needs (:mod:`.needs`).

Every question goes through the Runner (``value`` for a program's path,
``list_dir`` for /sys/firmware/efi), so a recording answers it in tests and
the answers a rebuild acted on can be kept.  Nothing is written.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hostbook.manifest.sections.storage import StorageDocument
from hostbook.process.environment import search_path
from hostbook.process.runner import Runner
from hostbook.restore.boot.facts import recorded_loader
from hostbook.restore.doctor.needs import Need, all_needs

TARGET_BIN = ("usr/sbin", "usr/bin", "sbin", "bin")


@dataclass
class Finding:
    need: Need
    found: str | None
    """The path found (None: missing; "" not checked, the target is not there yet)."""

    @property
    def missing(self) -> bool:
        return self.found is None


@dataclass
class Diagnosis:
    """The doctor's answer: each need with what was found, and the firmware verdict."""

    findings: list[Finding] = field(default_factory=list)
    firmware_live: str | None = None
    firmware_needed: str | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "firmware_live": self.firmware_live,
            "firmware_needed": self.firmware_needed, "problems": self.problems,
            "notes": self.notes,
            "needs": [{"programs": list(f.need.programs), "why": f.need.why,
                       "where": f.need.where, "package": f.need.packages,
                       "found": f.found} for f in self.findings],
        }


def live_firmware(runner: Runner) -> str:
    """``uefi`` when this system booted through UEFI (the kernel exposes its firmware)."""
    return "uefi" if runner.list_dir("/sys/firmware/efi") is not None else "bios"


def _which(runner: Runner, program: str) -> str | None:
    found: str | None = runner.value(
        f"which:{program}", lambda: shutil.which(program, path=search_path()))
    return found


def in_target(runner: Runner, target: str, program: str) -> str | None:
    """Where the restored tree under ``target`` has ``program`` (as its own path), or None."""
    def look() -> str | None:
        for folder in TARGET_BIN:
            path = os.path.join(target, folder, program)
            if os.path.isfile(path) and os.access(path, os.X_OK):
                return "/" + os.path.relpath(path, target)
        return None

    found: str | None = runner.value(f"target-which:{target}:{program}", look)
    return found


def firmware_problem(storage: StorageDocument, live: str, no_nvram: bool) -> str | None:
    """Why this live system cannot write the host's boot entries, or None.

    A UEFI host's NVRAM entries can only be written from a system the
    firmware booted in UEFI mode (efivarfs exists only then); ``--no-nvram``
    writes the removable-media fallback instead, which every UEFI firmware
    tries.  A BIOS host's GRUB goes into sectors of the disk, which any live
    system can write.
    """
    loader = recorded_loader(storage.boot)
    if loader.uefi and live != "uefi" and not no_nvram:
        return ("the host boots with UEFI, but this live system was booted in BIOS mode: "
                "its NVRAM entries cannot be written from here; boot the live system in "
                "UEFI mode, or give --no-nvram to write only the removable-media fallback "
                "\\EFI\\BOOT\\BOOTX64.EFI")
    return None


def diagnose(runner: Runner, storage: StorageDocument, jobs: Any | None,
             target: str | None = None, no_nvram: bool = False,
             skip: Sequence[str] = ()) -> Diagnosis:
    """Check every need on this system (and, once restored, in ``target``)."""
    diagnosis = Diagnosis(firmware_needed=storage.boot.firmware)
    diagnosis.firmware_live = live_firmware(runner)
    target_there = bool(target) and runner.list_dir(os.path.join(target or "", "usr")) \
        is not None
    for need in all_needs(storage, jobs):
        if need.program in skip:
            continue
        if need.where == "target" and not target_there:
            diagnosis.findings.append(Finding(need, ""))
            continue
        found = None
        for program in need.programs:
            found = (in_target(runner, target or "", program) if need.where == "target"
                     else _which(runner, program))
            if found:
                break
        diagnosis.findings.append(Finding(need, found))
        if found is None:
            place = "the restored system" if need.where == "target" else "this system"
            diagnosis.problems.append(f"missing in {place}: {need.describe()}")
    if any(f.need.where == "target" and f.found == "" for f in diagnosis.findings):
        diagnosis.notes.append(
            "the bootloader and initramfs tools are the restored system's own (run in its "
            "chroot): they are checked once its files are back, before the boot phase")
    problem = firmware_problem(storage, diagnosis.firmware_live, no_nvram)
    if problem:
        diagnosis.problems.append(problem)
    if jobs is None:
        diagnosis.notes.append("no jobs.yaml: the archivers' tools are not checked")
    return diagnosis
