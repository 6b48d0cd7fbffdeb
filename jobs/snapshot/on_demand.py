"""Snapshots of one retention type taken now, outside a run (``hostbook snapshot``).

What backupd's ``POST /snapshot?periodicity=hourly`` does, for hostbook's
jobs: every enabled job's volume gets a snapshot named like the ones its
runs make, ``<type>-<prefix>-<UTC time>``, with the type asked for, so the
retention policy counts it with that type (``snapshot_type``: the name up to
the first ``-``).  Nothing is mounted and nothing is archived; the snapshot
stays until retention removes it.  It is taken under the host's run lock, so
it never races a run's snap or unsnap of the same volume.

* btrfs: ``btrfs subvolume snapshot -r`` into the job's snapshot directory;
* zfs: ``zfs snapshot`` (``-r`` as the job says) of the dataset;
* lvm: ``lvcreate --snapshot`` with the job's copy-on-write size (thin
  snapshots take none), LV ``<type>-hostbook-<origin>-<time>`` in the origin's VG
  (LV names are unique per VG, so the origin is in the name);
* a job without a snapshot provider (``none``) is skipped, and says so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hostbook.jobs.run.jobs_file import LoadedJobs
from hostbook.jobs.run.lock import host_lock
from hostbook.jobs.snapshot import btrfs, lvm
from hostbook.manifest.errors import BadInputError
from hostbook.manifest.sections.jobs import (
    BtrfsSnapshot,
    Job,
    LvmSnapshot,
    ZfsSnapshot,
    snapshot_word,
)
from hostbook.process.runner import Runner

PREFIX = "hostbook"
"""The prefix of on-demand LVM snapshots (LVM jobs name none of their own)."""


@dataclass(frozen=True)
class Made:
    """One job's snapshot (or why there is none)."""

    job: str
    volume: str
    provider: str
    status: str  # ok, failed, skipped
    snapshot: str | None = None
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"job": self.job, "volume": self.volume, "provider": self.provider,
                "status": self.status, "snapshot": self.snapshot, "message": self.message}


def check_type(value: str) -> str:
    if not snapshot_word(value):
        raise BadInputError(f"snapshot type {value!r}: letters, digits and _ . : + only "
                            "(e.g. hourly, daily, weekly)")
    return value


def _btrfs(runner: Runner, job: Job, name: str) -> tuple[str, list[str], str | None]:
    assert job.volume.path is not None
    if btrfs.subvolume_uuid(runner, job.volume.path) is None:
        return "", [], f"{job.volume.path}: not a btrfs subvolume (btrfs subvolume show failed)"
    directory = btrfs.snapshot_dir(job)
    if not runner.dry_run and not os.path.isdir(directory):
        Path(directory).mkdir(parents=True, mode=0o700)
    dest = os.path.join(directory, name)
    return dest, ["btrfs", "subvolume", "snapshot", "-r", job.volume.path, dest], None


def _zfs(job: Job, settings: ZfsSnapshot, name: str) -> tuple[str, list[str], str | None]:
    assert job.volume.dataset is not None
    target = f"{job.volume.dataset}@{name}"
    return target, ["zfs", "snapshot", *(["-r"] if settings.recursive else []), target], None


def _lvm(runner: Runner, job: Job, settings: LvmSnapshot,
         name: str) -> tuple[str, list[str], str | None]:
    assert job.volume.lv is not None
    vg, lv = job.volume.lv.split("/", 1)
    origin = lvm.lv_report(runner, vg, lv)
    if origin is None:
        return "", [], f"{vg}/{lv}: no such logical volume (lvs found nothing)"
    thin = origin.get("lv_attr", "").startswith("V") or bool(origin.get("pool_lv"))
    size = [] if thin else settings.lvcreate_size_args()
    return f"{vg}/{name}", ["lvcreate", "--snapshot", "--name", name, *size, f"{vg}/{lv}"], None


def _one(runner: Runner, job: Job, kind: str, stamp: str) -> Made:
    settings = job.snapshot
    made = {"job": job.name, "volume": job.volume.ident, "provider": job.provider}
    if isinstance(settings, BtrfsSnapshot):
        target, argv, problem = _btrfs(runner, job, f"{kind}-{settings.prefix}-{stamp}")
    elif isinstance(settings, ZfsSnapshot):
        target, argv, problem = _zfs(job, settings, f"{kind}-{settings.prefix}-{stamp}")
    elif isinstance(settings, LvmSnapshot):
        assert job.volume.lv is not None
        origin = job.volume.lv.split("/", 1)[1]
        # LV names are per VG: the origin's name keeps two volumes' snapshots apart.
        name = f"{kind}-{PREFIX}-{origin}-{stamp}"
        target, argv, problem = _lvm(runner, job, settings, name[-127:] if len(name) > 127
                                     else name)
    else:
        return Made(**made, status="skipped", message="no snapshot provider")
    if problem is not None:
        return Made(**made, status="failed", message=problem)
    result = runner.command(argv, timeout=300.0)
    if not result.ok:
        return Made(**made, status="failed", snapshot=target, message=result.failure())
    return Made(**made, status="ok", snapshot=target, message=f"took {target}")


def take_typed(loaded: LoadedJobs, kind: str, runner: Runner, *, job_names: list[str] | None = None,
               now: datetime | None = None, wait: float = 0.0) -> list[Made]:
    """Take a ``kind`` snapshot of every selected job's volume now (once per volume).

    Raises :class:`hostbook.jobs.run.lock.RunLocked` when a run holds the host's
    lock for longer than ``wait``.
    """
    check_type(kind)
    jobs = loaded.select(job_names or [])
    if not jobs:
        raise BadInputError(f"{loaded.path}: no enabled jobs")
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    made: list[Made] = []
    with host_lock(loaded.state_dir, loaded.host, wait):
        done: dict[str, Made] = {}
        for job in jobs:
            first = done.get(job.volume.key)
            if first is not None:
                made.append(Made(job.name, job.volume.ident, job.provider, "skipped",
                                 first.snapshot, f"shares {first.job}'s snapshot"))
                continue
            done[job.volume.key] = result = _one(runner, job, kind, stamp)
            made.append(result)
    return made
