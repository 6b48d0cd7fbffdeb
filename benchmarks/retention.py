"""Benchmark: retention + replication planning for 100,000 snapshots over 50 datasets.

Each dataset has 2,000 source snapshots (hourly, with a daily every 24th and
a weekly every 168th) and a target that already holds the dailies of the
first three quarters, so the plan has source pruning, target pruning,
incremental transfers and validation by simulation — the full path a real
run takes.  Prints wall time (best of N) and peak traced memory.

A second figure plans one btrfs snapshot directory of the same shape (btrfs
directories hold far fewer snapshots in practice) against a target directory
holding received copies of its first three quarters' dailies and weeklies,
with the first full send of an empty second target: uuid identity, parents
for every send, retention on all sides and the simulation.

    .venv/bin/python benchmarks/retention.py [--datasets 50] [--per-dataset 2000]
"""

from __future__ import annotations

import argparse
import gc
import resource
import time
import tracemalloc

from hostbook.jobs.replication.btrfs.inventory import BtrfsDirectory
from hostbook.jobs.replication.btrfs.lineage import Subvolume
from hostbook.jobs.replication.btrfs.plan import BtrfsTarget, plan_btrfs_directory
from hostbook.jobs.replication.zfs.inventory import DatasetInventory, Snapshot
from hostbook.jobs.replication.zfs.plan import TargetSpec, plan_dataset
from hostbook.manifest.sections.retention import RetentionPolicy

LOCAL = RetentionPolicy(keep={"hourly": 48, "daily": 30, "weekly": 8}, min_age="1h")
REMOTE = RetentionPolicy(keep={"daily": 60, "weekly": 26})


def inventories(datasets: int, per: int) -> list[tuple[DatasetInventory, DatasetInventory]]:
    out = []
    guid = 1
    for d in range(datasets):
        src_name, dst_name = f"tank/ds{d:02d}", f"backup/ds{d:02d}"
        src, dst = [], []
        for i in range(per):
            kind = "weekly" if i % 168 == 0 else "daily" if i % 24 == 0 else "hourly"
            t = 1_700_000_000 + i * 3600
            snap = Snapshot(src_name, f"{kind}-{i:05d}", guid, 1000 + i, t, written=4096)
            src.append(snap)
            if kind != "hourly" and i < per * 3 // 4:
                dst.append(Snapshot(dst_name, snap.name, guid, 10 + i, t))
            guid += 1
        out.append((DatasetInventory(src_name, tuple(src)), DatasetInventory(dst_name, tuple(dst))))
    return out


def run(invs: list[tuple[DatasetInventory, DatasetInventory]], now: int) -> tuple[int, int]:
    ops = decisions = 0
    for src, dst in invs:
        plan = plan_dataset(src, LOCAL, [TargetSpec("nas", dst, REMOTE)], now)
        assert not plan.refused, plan.refused
        ops += len(plan.operations)
        decisions += len(plan.source.decisions) + len(plan.targets[0].retention.decisions)
    return ops, decisions


def btrfs_directories(per: int) -> tuple[BtrfsDirectory, BtrfsDirectory, BtrfsDirectory]:
    src, dst = [], []
    for i in range(per):
        kind = "weekly" if i % 168 == 0 else "daily" if i % 24 == 0 else "hourly"
        uuid = f"{i:08x}-0000-4000-8000-{i:012x}"
        name = f"{kind}-hostbook-{i:05d}"
        t = 1_700_000_000 + i * 3600
        src.append(Subvolume(256 + i, 10 + i, 256, f"srv/data/.hostbook-snapshots/{name}", uuid,
                             "ffffffff-0000-4000-8000-000000000000", None, True, 10 + i, t))
        if kind != "hourly" and i < per * 3 // 4:
            dst.append(Subvolume(256 + i, 20 + i, 5, f"mnt/usb/data/{name}",
                                 f"{i:08x}-1111-4000-8000-{i:012x}", None, uuid, True, 20 + i,
                                 t + 60, 10 + i))
    return (BtrfsDirectory("/srv/data/.hostbook-snapshots", True, tuple(src)),
            BtrfsDirectory("/mnt/usb/data", True, tuple(dst)),
            BtrfsDirectory("/mnt/new/data", False, ()))


def run_btrfs(dirs: tuple[BtrfsDirectory, BtrfsDirectory, BtrfsDirectory], now: int) -> int:
    source, usb, new = dirs
    plan = plan_btrfs_directory(source, LOCAL, [BtrfsTarget("usb", usb, REMOTE),
                                                BtrfsTarget("new", new, REMOTE)], now)
    assert not plan.refused, plan.refused
    return len(plan.steps)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", type=int, default=50)
    parser.add_argument("--per-dataset", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    t0 = time.perf_counter()
    invs = inventories(args.datasets, args.per_dataset)
    build = time.perf_counter() - t0
    now = 1_700_000_000 + args.per_dataset * 3600
    best = float("inf")
    for _ in range(args.repeat):
        gc.collect()
        t0 = time.perf_counter()
        ops, decisions = run(invs, now)
        best = min(best, time.perf_counter() - t0)
    tracemalloc.start()
    run(invs, now)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    total = args.datasets * args.per_dataset
    print(f"snapshots: {total} over {args.datasets} datasets (+ target snapshots)")
    print(f"inventory build: {build:.3f} s")
    print(f"plan (retention both sides + replication + validation): best of {args.repeat} "
          f"{best:.3f} s  ({ops} operations, {decisions} decisions)")
    print(f"peak memory while planning (tracemalloc): {peak / 2**20:.1f} MiB")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process max RSS (inventories + interpreter): {rss:.0f} MiB")
    dirs = btrfs_directories(args.per_dataset)
    best = float("inf")
    for _ in range(args.repeat):
        gc.collect()
        t0 = time.perf_counter()
        steps = run_btrfs(dirs, now)
        best = min(best, time.perf_counter() - t0)
    print(f"btrfs: one directory of {args.per_dataset} snapshots, two targets: best of "
          f"{args.repeat} {best:.3f} s  ({steps} steps)")


if __name__ == "__main__":
    main()
