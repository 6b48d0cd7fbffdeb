"""Preflight of ``restore data``: everything is checked before anything is written.

For every chosen volume: a mount point is known; among its archive targets
(jobs.yaml order, or the one ``--from`` names) one is reachable with a
working password, and the revision spec names an archive on it; the
programs the tool needs are installed; ``--path`` names paths on that
volume; and the volume's directory under the target is empty, unless
``--overwrite`` (or the journal says an interrupted run of the same restore
started writing there).  Every failure is one line; any failure refuses the
whole restore (exit 2) with all of them, before a disk is touched.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hostbook.jobs.run.jobs_file import LoadedJobs
from hostbook.manifest.errors import BadInputError
from hostbook.manifest.sections.jobs import Job, Volume
from hostbook.process.runner import Runner
from hostbook.restore.data.archive import Archive, Where, iso
from hostbook.restore.data.catalog import (
    TargetArchives,
    list_target,
    selected_jobs,
    targets_of,
    where_of,
)
from hostbook.restore.data.mountpoints import (
    dataset_place,
    mount_point,
    under_target,
    volume_relative,
)
from hostbook.restore.data.registry import source_for
from hostbook.restore.data.revspec import CommitLookup, resolve
from hostbook.restore.data.source import Placement, Source
from hostbook.restore.data.verify import recorded_database

IGNORED_WHEN_EMPTY = frozenset({"lost+found"})


@dataclass
class VolumePlan:
    """One volume's restore, as preflight chose it."""

    job: Job
    where: Where
    mountpoint: str
    directory: Path
    """The volume's mount point under the target root."""
    target: TargetArchives
    archive: Archive
    paths: list[str] = field(default_factory=list)
    database: Path | None = None
    """The run's database in the state directory (None: look for the archive's copy)."""
    skipped_targets: list[str] = field(default_factory=list)
    """Targets before the chosen one that could not be used, with the reason."""
    kept: list[str] = field(default_factory=list)
    """Volume-relative files ``restore apply`` wrote that the archive must not replace."""
    placement: Placement | None = None
    """Where a whole-volume source receives the volume (None: files are extracted)."""

    @property
    def key(self) -> str:
        return self.where.volume_key

    @property
    def fingerprint(self) -> str:
        """What makes a journal record this restore's: the same archive into the same place."""
        return "|".join([self.target.tool, self.target.location, self.archive.id,
                         str(self.directory), *self.paths])

    def to_json(self) -> dict[str, Any]:
        return {
            "volume_key": self.key, "volume": self.job.volume.ident, "job": self.job.name,
            "mountpoint": self.mountpoint, "directory": str(self.directory),
            "target": self.target.target, "tool": self.target.tool,
            "location": self.target.location, "archive": self.archive.to_json(),
            "kept": self.kept,
            "paths": self.paths, "database": str(self.database) if self.database else None,
            "skipped_targets": self.skipped_targets,
        }


@dataclass
class Preflight:
    plans: list[VolumePlan] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def first_files(directory: Path, limit: int = 3, kept: Iterable[str] = ()) -> list[str]:
    """Up to ``limit`` entries that make ``directory`` non-empty, on its own filesystem.

    Empty directories (mount points of the other volumes, ``lost+found``),
    anything on another filesystem and the ``kept`` files (relative paths)
    do not count: ``restore apply`` leaves exactly those.
    """
    ignored = {directory / rel for rel in kept}
    found: list[str] = []
    try:
        device = directory.stat().st_dev
    except OSError:
        return []
    stack = [directory]
    while stack and len(found) < limit:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            if current == directory and entry.name in IGNORED_WHEN_EMPTY:
                continue
            if entry.is_dir(follow_symlinks=False):
                if entry.stat(follow_symlinks=False).st_dev == device:
                    stack.append(Path(entry.path))
                continue
            if Path(entry.path) in ignored:
                continue
            found.append(os.path.relpath(entry.path, directory))
            if len(found) >= limit:
                break
    return sorted(found)


def _choose(runner: Runner, loaded: LoadedJobs, jobs: list[Job], at: str | None,
            source: str | None, commits: CommitLookup | None,
            ) -> tuple[Job, TargetArchives, Archive, list[str]] | str:
    """The first reachable target of the volume (or the named one) and the archive."""
    tried: list[str] = []
    candidates = [(job, spec) for job in jobs for spec in targets_of(loaded, job)
                  if source is None or spec.label == source]
    if not candidates:
        names = ", ".join(spec.label for job in jobs for spec in targets_of(loaded, job))
        return f"no archive target named {source!r} (targets: {names})"
    for job, spec in candidates:
        listing = list_target(runner, loaded, job, spec)
        if listing.error:
            tried.append(f"{spec.label}: {listing.error}")
            continue
        try:
            archive = resolve(listing.archives, at, f"{job.volume.key} on {spec.label}",
                              commits)
        except BadInputError as exc:
            return str(exc)
        return job, listing, archive, tried
    return "no archive target could be used: " + "; ".join(tried)


def _place(runner: Runner, volume: Volume, storage: Any | None,
           target_root: str) -> tuple[str, str] | str:
    """(mount point on the host, directory under the target) of a volume, or why not."""
    if volume.dataset is not None:
        return dataset_place(runner, volume.dataset, target_root)
    mountpoint = mount_point(volume, storage)
    if mountpoint is None:
        return f"no mount point is recorded for {volume.ident} in storage.yaml"
    return mountpoint, under_target(target_root, mountpoint)


def preflight(runner: Runner, loaded: LoadedJobs, volumes: list[str], target_root: str,
              at: str | None = None, source: str | None = None, paths: list[str] | None = None,
              overwrite: bool = False, resumable: set[str] | None = None,
              storage: Any | None = None, commits: CommitLookup | None = None) -> Preflight:
    """Choose every volume's archive and check that the restore can run (see module doc)."""
    result = Preflight()
    by_volume: dict[str, list[Job]] = {}
    for job in selected_jobs(loaded, volumes):
        by_volume.setdefault(job.volume.key, []).append(job)
    if not by_volume:
        raise BadInputError(f"{loaded.path}: no enabled job archives anything")
    if not Path(target_root).is_dir():
        result.refusals.append(f"target root {target_root} does not exist "
                               "(restore apply mounts the rebuilt tree there)")
    for key, jobs in by_volume.items():
        place = _place(runner, jobs[0].volume, storage, target_root)
        if isinstance(place, str) and not _receives(loaded, jobs):
            result.refusals.append(f"{key}: {place}")
            continue
        chosen = _choose(runner, loaded, jobs, at, source, commits)
        if isinstance(chosen, str):
            result.refusals.append(f"{key}: {chosen}")
            continue
        job, listing, archive, tried = chosen
        spec_source = source_for(listing.tool)
        placement = _receive_place(runner, spec_source, listing, archive, job, target_root,
                                   bool(paths), overwrite)
        if isinstance(placement, str):
            result.refusals.append(f"{key}: {placement}")
            continue
        if placement is not None:
            mountpoint, directory = host_path(target_root, placement.directory), \
                str(placement.directory)
        elif isinstance(place, str):
            result.refusals.append(f"{key}: {place}")
            continue
        else:
            mountpoint, directory = place
        plan = VolumePlan(job, where_of(loaded, job), mountpoint, Path(directory), listing,
                          archive, skipped_targets=tried, placement=placement)
        result.plans.append(plan)
        missing = [p for p in (spec_source.programs if spec_source else ())
                   if shutil.which(p) is None]
        if missing:
            result.refusals.append(f"{key}: {', '.join(missing)} not installed "
                                   f"(needed to restore from {listing.target})")
        plan.database = recorded_database(loaded.sure_store, key, archive.stamp)
        if plan.database is None:
            result.notes.append(f"{key}: the run's integrity database is not in "
                                f"{loaded.sure_store}; the copy the archive carries is used")
        for line in tried:
            result.notes.append(f"{key}: skipped {line}")
        result.notes.append(f"{key}: {listing.tool} {listing.target} archive {archive.id} "
                            f"of {iso(archive.time)} -> {plan.directory}")
    if paths:
        _assign_paths(result, paths)
    _assign_kept(result, storage)
    for plan in (p for p in result.plans if p.placement is None):  # a receiver checked its own
        busy = first_files(plan.directory, kept=plan.kept) if plan.directory.is_dir() else []
        if busy and not overwrite and plan.fingerprint not in (resumable or set()):
            result.refusals.append(
                f"{plan.key}: {plan.directory} is not empty ({', '.join(busy)} ...): "
                "--overwrite restores over it, writing only the files that differ")
    return result


def apply_written(storage: Any | None) -> list[str]:
    """The files ``restore apply`` writes into the tree: crypttab's key files.

    apply regenerates each key file and enrolls it in the new LUKS header;
    the archived one opens only the old header, so a data restore that put
    it back would leave a system whose disks do not unlock at boot.
    """
    if storage is None:
        return []
    return sorted({line.key_file for line in storage.crypttab.entries
                   if line.key_file and line.key_file.startswith("/")
                   and not line.key_file.startswith("/dev/")})


def _owner(plans: list[VolumePlan], path: str) -> tuple[VolumePlan, str] | None:
    """The plan with the deepest mount point holding ``path``, and the path relative to it."""
    owners = []
    for plan in plans:
        try:
            owners.append((len(plan.mountpoint), plan, volume_relative(plan.mountpoint, path)))
        except ValueError:
            continue
    if not owners:
        return None
    _, plan, relative = max(owners, key=lambda item: item[0])
    return plan, relative


def _assign_kept(result: Preflight, storage: Any | None) -> None:
    """Each key file restore apply wrote is kept on the volume that holds it."""
    for path in apply_written(storage):
        owner = _owner(result.plans, path)
        if owner is None:
            continue
        plan, relative = owner
        plan.kept.append(relative)
        result.notes.append(f"{plan.key}: {path} is kept as restore apply wrote it (the key "
                            "enrolled in the new LUKS header), not taken from the archive")


def _receives(loaded: LoadedJobs, jobs: list[Job]) -> bool:
    """Whether a target of these jobs restores whole volumes (and so places them itself)."""
    return any((found := source_for(spec.tool)) is not None and found.receiver is not None
               for job in jobs for spec in targets_of(loaded, job))


def host_path(target_root: str, directory: Path) -> str:
    """The path on the restored host of a directory under the target root."""
    relative = os.path.relpath(directory, target_root)
    return str(directory) if relative.startswith("..") else os.path.normpath(f"/{relative}")


def _receive_place(runner: Runner, source: Source[Any] | None, listing: TargetArchives,
                   archive: Archive, job: Job, target_root: str, paths: bool,
                   overwrite: bool) -> Placement | str | None:
    """A whole-volume source's placement (its receiver checked what sits there), or None."""
    if source is None or source.receiver is None:
        return None
    if paths or overwrite:
        return (f"{listing.target} ({listing.tool}) restores the whole volume by receiving "
                "it: --path and --overwrite do not apply")
    return source.receiver.place(runner, listing.spec, archive, job.volume, target_root)


def _assign_paths(result: Preflight, paths: list[str]) -> None:
    """Each ``--path`` goes to the volume with the deepest mount point holding it; a
    restore of some paths covers only the volumes those paths are on."""
    for path in paths:
        owners = []
        problem = f"{path}: on no chosen volume"
        for plan in result.plans:
            try:
                owners.append((len(plan.mountpoint), plan, volume_relative(plan.mountpoint, path)))
            except ValueError as exc:
                problem = str(exc)
        if not owners:
            alone = len(result.plans) == 1
            result.refusals.append(
                f"--path {problem}" if alone else f"--path {path}: on none of the chosen volumes")
            continue
        _, plan, relative = max(owners, key=lambda item: item[0])
        plan.paths.append(relative)
    result.plans = [p for p in result.plans if p.paths]
