"""Provider ``lvm``: a transient ``lvcreate --snapshot``, removed after the run.

The snapshot is mounted writable at a private path first, when the
integrity database is to be written into it, then bound read-only at the
stable path that archivers read.  Its name is fixed
(``<lv>-hostbook-snap``): a leftover that the journal somehow lost makes the
next ``lvcreate`` fail loudly instead of piling up copy-on-write volumes.
"""

from __future__ import annotations

import json

from hostbook.jobs.run.context import StepContext, StepFailed
from hostbook.jobs.run.resource_kind import ResourceKind
from hostbook.jobs.run.run_journal import Resource
from hostbook.jobs.snapshot import stable_mount as mounts
from hostbook.jobs.snapshot.provider import SnapshotProvider, Taken
from hostbook.manifest.sections.jobs import Job, LvmSnapshot
from hostbook.process.runner import Runner

SUFFIX = "-hostbook-snap"


def snapshot_name(lv: str) -> str:
    """``home`` -> ``home-hostbook-snap`` (LVM names are at most 127 characters)."""
    return (lv[: 127 - len(SUFFIX)]) + SUFFIX


def dm_path(vg: str, lv: str) -> str:
    """The device-mapper node, which exists with or without udev (dashes doubled)."""
    return f"/dev/mapper/{vg.replace('-', '--')}-{lv.replace('-', '--')}"


def lv_report(runner: Runner, vg: str, lv: str) -> dict[str, str] | None:
    """``lvs --reportformat json`` for one LV, or None when it does not exist."""
    result = runner.query(
        ["lvs", "--reportformat", "json", "--units", "b", "--nosuffix",
         "-o", "lv_name,vg_name,lv_attr,origin,pool_lv,lv_size", f"{vg}/{lv}"],
        timeout=60.0)
    if not result.ok:
        return None
    try:
        rows = json.loads(result.stdout)["report"][0]["lv"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    return rows[0] if rows else None


def filesystem_type(runner: Runner, device: str) -> str | None:
    """The filesystem on a device (``blkid -p``: reads the superblock, no cache)."""
    result = runner.query(
        ["blkid", "-p", "-o", "value", "-s", "TYPE", device], timeout=60.0)
    return result.stdout.strip() or None if result.ok else None


def take(ctx: StepContext, job: Job) -> Taken:
    """Create the snapshot, mount it, bind it read-only at the stable path."""
    settings = job.snapshot
    assert isinstance(settings, LvmSnapshot) and job.volume.lv is not None
    vg, lv = job.volume.lv.split("/", 1)
    key = job.volume.key
    origin = lv_report(ctx.runner, vg, lv)
    if origin is None:
        raise StepFailed(f"{vg}/{lv}: no such logical volume (lvs found nothing)")
    fstype = filesystem_type(ctx.runner, dm_path(vg, lv))
    if fstype is None:
        raise StepFailed(f"{vg}/{lv}: no filesystem found (blkid)")
    name = snapshot_name(lv)
    thin = origin.get("lv_attr", "").startswith("V") or bool(origin.get("pool_lv"))
    argv = ["lvcreate", "--snapshot", "--name", name]
    if thin:
        argv += ["--setactivationskip", "n"]  # thin snapshots are skipped by default
    else:
        argv += settings.lvcreate_size_args()
    argv.append(f"{vg}/{lv}")
    ctx.journal.intend(SNAPSHOT.name, key, vg=vg, name=name, origin=lv)
    ctx.must(argv, timeout=300.0)
    device = dm_path(vg, name)
    writable = job.sure.enabled and job.sure.in_snapshot
    options = ["rw" if writable else "ro", "nosuid", "nodev", *settings.mount_options]
    if fstype == "xfs":
        options.append("nouuid")  # the snapshot carries the origin's UUID
    stable = mounts.stable_path(ctx, key)
    work: str | None = None
    if writable:
        work_dir = mounts.work_path(ctx, key)
        mounts.mount_device(ctx, device, work_dir, key, fstype, options)
        mounts.bind_readonly(ctx, str(work_dir), stable, key)
        work = str(work_dir)
    else:
        mounts.mount_device(ctx, device, stable, key, fstype, options)
    return Taken(
        volume_key=key, volume=job.volume.ident, provider="lvm", path=str(stable),
        snapshot=f"{vg}/{name}", writable=work,
        details={"vg": vg, "lv": lv, "name": name, "fstype": fstype, "device": device},
    )


def check_valid(runner: Runner, vg: str, name: str) -> str | None:
    """None while the snapshot is valid; a reason once its copy-on-write space ran out.

    ``lv_attr``'s fifth character is ``I`` for an invalid snapshot (lvs(8)).
    """
    result = runner.query(
        ["lvs", "--noheadings", "-o", "lv_attr,snap_percent", f"{vg}/{name}"],
        timeout=60.0)
    if not result.ok:
        return f"{vg}/{name}: cannot read its state ({result.failure()})"
    fields = result.stdout.split()
    attr = fields[0] if fields else ""
    if len(attr) > 4 and attr[4] == "I":
        used = fields[1] if len(fields) > 1 else "100"
        return (f"snapshot {vg}/{name} overflowed ({used}% of its space used) and was "
                "invalidated while it was read: give it a larger size")
    return None


def verify(ctx: StepContext, taken: Taken) -> str | None:
    """Whether the snapshot stayed whole while it was read (None: it did).

    Only a copy-on-write LVM snapshot can fail behind the reader's back: when
    its space runs out, the kernel invalidates it and reads return errors or
    stale data.
    """
    if ctx.dry_run:
        return None
    return check_valid(ctx.runner, str(taken.details["vg"]), str(taken.details["name"]))


def remove(runner: Runner, resource: Resource) -> str | None:
    """``lvremove`` the snapshot if it exists (it may never have been created)."""
    vg, name = str(resource.details["vg"]), str(resource.details["name"])
    if not runner.dry_run and lv_report(runner, vg, name) is None:
        return None
    result = runner.command(["lvremove", "--yes", "--force", f"{vg}/{name}"], timeout=300.0)
    if result.ok:
        return None
    if not runner.dry_run and lv_report(runner, vg, name) is None:
        return None
    return result.failure()


SNAPSHOT = ResourceKind("lvm-snapshot", remove)
PROVIDER = SnapshotProvider("lvm", take, resources=(SNAPSHOT, mounts.MOUNT), verify=verify)
