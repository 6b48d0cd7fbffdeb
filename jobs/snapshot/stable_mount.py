"""Read-only mounts at a stable path, and taking them down again.

restic and borg recognise unchanged files by path (restic picks its parent
snapshot by host and paths; borg's files cache is keyed by path), so every
run mounts a volume's snapshot at the same place:
``<mount_root>/<volume key>``.  Every mount is journaled before it is made
so an interrupted run's mounts are found and removed by the next run.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from hostbook.jobs.run.context import StepContext, StepFailed
from hostbook.jobs.run.resource_kind import ResourceKind
from hostbook.jobs.run.run_journal import Resource
from hostbook.process.result import CommandResult
from hostbook.process.runner import Runner

MOUNTINFO = Path("/proc/self/mountinfo")


@dataclass(frozen=True)
class MountEntry:
    """One line of /proc/self/mountinfo, the fields jobs care about."""

    target: str
    source: str
    fstype: str
    options: frozenset[str]
    root: str

    @property
    def readonly(self) -> bool:
        return "ro" in self.options


def _unescape(text: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (\\040)."""
    if "\\" not in text:
        return text
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 3 < len(text) and text[i + 1 : i + 4].isdigit():
            out.append(chr(int(text[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[MountEntry]:
    """Parse mountinfo text (format in proc(5)); later lines stack on earlier ones."""
    entries = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields = left.split()
        tail = right.split()
        if len(fields) < 6 or len(tail) < 2:
            continue
        options = set(fields[5].split(","))
        if len(tail) >= 3:
            options |= set(tail[2].split(","))
        entries.append(
            MountEntry(
                target=_unescape(fields[4]),
                source=_unescape(tail[1]),
                fstype=tail[0],
                options=frozenset(options),
                root=_unescape(fields[3]),
            )
        )
    return entries


def mounts() -> list[MountEntry]:
    try:
        return parse_mountinfo(MOUNTINFO.read_text(encoding="utf-8", errors="surrogateescape"))
    except OSError:
        return []


def mounted_at(target: str) -> MountEntry | None:
    """The topmost mount at ``target``, or None."""
    found = None
    clean = os.path.normpath(target)
    for entry in mounts():
        if entry.target == clean:
            found = entry
    return found


def stable_path(ctx: StepContext, volume_key: str) -> Path:
    """Where a volume's snapshot is mounted read-only, the same path every run."""
    return ctx.mount_root / volume_key


def work_path(ctx: StepContext, volume_key: str) -> Path:
    """A private mount for snapshots that are mounted writable first (LVM)."""
    return ctx.mount_root / ".work" / volume_key


def _prepare_target(ctx: StepContext, target: Path) -> None:
    if mounted_at(str(target)) is not None:
        raise StepFailed(f"{target} is already mounted (leftover? run cleanup first)")
    if not ctx.dry_run:
        target.mkdir(parents=True, exist_ok=True, mode=0o700)


def bind_readonly(ctx: StepContext, source: str, target: Path, volume: str) -> Resource:
    """Bind ``source`` at ``target`` read-only (journaled first)."""
    _prepare_target(ctx, target)
    resource = ctx.journal.intend(MOUNT.name, volume, target=str(target), source=source)
    ctx.must(["mount", "--bind", "-o", "ro,nosuid,nodev", source, str(target)])
    if not ctx.dry_run:
        entry = mounted_at(str(target))
        if entry is None:
            raise StepFailed(f"mount --bind {source} {target}: not mounted afterwards")
        if not entry.readonly:  # older mount(8) ignores ro on the first bind call
            ctx.must(["mount", "-o", "remount,bind,ro,nosuid,nodev", str(target)])
    return resource


def mount_device(
    ctx: StepContext,
    device: str,
    target: Path,
    volume: str,
    fstype: str | None,
    options: list[str],
) -> Resource:
    """Mount a block device (an LVM snapshot) at ``target`` (journaled first)."""
    _prepare_target(ctx, target)
    resource = ctx.journal.intend(MOUNT.name, volume, target=str(target), source=device)
    argv = ["mount"]
    if fstype:
        argv += ["-t", fstype]
    if options:
        argv += ["-o", ",".join(options)]
    ctx.must([*argv, device, str(target)])
    return resource


def unmount(runner: Runner, target: str, attempts: int = 5) -> CommandResult | None:
    """Unmount ``target`` if it is mounted; retries while it is busy.

    Returns None when there was nothing to do (never mounted, or already gone),
    else the last ``umount`` result.
    """
    if not runner.dry_run and mounted_at(target) is None:
        return None
    result: CommandResult | None = None
    for attempt in range(attempts):
        result = runner.command(["umount", target], timeout=60.0)
        if result.ok or runner.dry_run:
            return result
        if mounted_at(target) is None:
            return None
        time.sleep(0.2 * (attempt + 1))
    return result


def _undo_mount(runner: Runner, resource: Resource) -> str | None:
    result = unmount(runner, str(resource.details["target"]))
    if result is None or result.ok:
        return None
    return result.failure()


MOUNT = ResourceKind("mount", _undo_mount)
"""A mount a step made (a snapshot at its stable path, a bind over xfsdump's inventory)."""
