"""Benchmark: retention + replication planning for 100,000 snapshots over 50 datasets.

Each dataset has 2,000 source snapshots (hourly, with a daily every 24th and
a weekly every 168th) and a target that already holds the dailies of the
first three quarters, so the plan has source pruning, target pruning,
incremental transfers and validation by simulation — the full path a real
run takes.  Prints wall time (best of N) and peak traced memory.

    .venv/bin/python benchmarks/retention.py [--datasets 50] [--per-dataset 2000]
"""

from __future__ import annotations

import argparse
import gc
import resource
import time
import tracemalloc

from hostbook.jobs.replication import TargetSpec, plan_dataset
from hostbook.jobs.snapshot_inventory import DatasetInventory, Snapshot
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


if __name__ == "__main__":
    main()
