"""Benchmark: replicating 50 datasets x 200 snapshots between two real pools (VM lab).

Usage: python benchmarks/zfs_replication.py [--datasets 49] [--snapshots 200] [--groups 5]
(root; the lab kernel's zfs module from .ci/zfs-module; qemu under TCG)

One boot. Pool ``tank`` holds ``--datasets`` + 1 datasets in ``--groups`` subtrees
``tank/bench/gK`` (each ``gK`` and its children ``gK/dNN``, a small file each) under
the container ``tank/bench``, and ``--snapshots`` recursive snapshots of
``tank/bench`` (``hourly-NNNN``); pool ``backup`` is empty.

The machine is shared, so one hostbook phase followed by one bare phase would measure
whatever load each phase happened to meet.  The measurement is paired instead: per
group, both ways run back to back, and which goes first alternates from group to
group (hostbook first in even groups):

1. hostbook: read both inventories (``zfs list``) of the group, plan its replication
   to ``backup/h/gK`` with the target keeping every hourly (one full and one ``-I``
   range per dataset, validated by simulation), and execute it with the
   ``TransferExecutor`` (which asks ``zfs send -nvP`` for a stream's size only when
   the inventory puts it at 64 MiB or more);
2. bare: the same plan made for ``backup/b/gK`` (planned before either phase, not
   timed), its ``zfs send ... | zfs receive ...`` pipelines run by ``sh -c`` one
   after another, nothing else.

Each group's figures are printed as soon as the group is done (so a run cut short
still reports the groups it finished), with the machine's load average sampled every
minute.  At the end: wall time of each phase per group and in total, hostbook's share
split into inventory, planning and execution, and the overhead against the bare
commands.

Prints a Markdown table for benchmarks/zfs_replication.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.lab.vm import Boot, DiskSpec, Guest, Step, find_kernel  # noqa: E402

# 10,200 snapshots on the source and twice that received: metadata only (the files
# never change), but the room is cheap (sparse images, guest memory from the host).
DISK = "4G"
MEMORY_MB = 3072
BUILD_TIMEOUT = 7200
RUN_TIMEOUT = 3 * 3600  # 50 x 200 under TCG: about 85-90 minutes for both ways
BOOT_TIMEOUT = BUILD_TIMEOUT + RUN_TIMEOUT + 600
LOAD_EVERY = 60.0

BUILD = r"""
set -euo pipefail
modprobe zfs
zpool create -f -o ashift=12 -O mountpoint=none tank /dev/disk/by-id/virtio-btank0
zpool create -f -o ashift=12 -O mountpoint=none backup /dev/disk/by-id/virtio-bbackup0
zfs create backup/h
zfs create backup/b
zfs create -o mountpoint=/srv/bench tank/bench
children=$((DATASETS + 1 - NGROUPS))
for g in $(seq 0 $((NGROUPS - 1))); do
    zfs create tank/bench/g$g
    echo "group $g" > /srv/bench/g$g/file
done
for i in $(seq 0 $((children - 1))); do
    g=$((i % NGROUPS)); n=$(printf %02d $i)
    zfs create tank/bench/g$g/d$n
    echo "dataset $n" > /srv/bench/g$g/d$n/file
done
started=$(date +%s)
for n in $(seq -w 1 $SNAPSHOTS); do
    zfs snapshot -r tank/bench@hourly-$n
done
echo "snapshots: $(( $(date +%s) - started )) s"
"""

RUN = r"""
import json, os, shlex, subprocess, time
from datetime import datetime, timezone
from pathlib import Path
from hostbook.jobs.replication.host_inventory import load_inventory
from hostbook.jobs.replication.host_plan import plan_host
from hostbook.jobs.replication.zfs.ops import SOURCE, Destroy
from hostbook.jobs.replication.zfs.transfer import (
    Endpoint, TransferExecutor, receive_args, send_args)
from hostbook.manifest.sections.retention import (
    ReplicationSettings, ReplicationTarget, RetentionPolicy, RetentionSettings)
from hostbook.process.runner import LiveRunner

results = Path(os.environ["LAB_RESULTS"])
runner = LiveRunner()
keep = RetentionPolicy(keep={"hourly": 100000})


def plan_for(root, dest, source, targets):
    settings = ReplicationSettings(targets=[ReplicationTarget(
        name="backup", dataset=dest, source=root, policy=keep)])
    plan = plan_host("lab", RetentionSettings(), settings, source, targets,
                     datetime.now(timezone.utc), source_root=root)
    assert not plan.refused, plan.refused
    return [op for ds in plan.datasets for op in ds.operations
            if not (isinstance(op, Destroy) and op.location == SOURCE)]


def snapshots_under(dataset):
    return len(subprocess.run(["zfs", "list", "-H", "-t", "snapshot", "-o", "name", "-r",
                               dataset], capture_output=True, text=True).stdout.split())


def hostbook(root, dest):
    t0 = time.perf_counter()
    source = load_inventory(runner, root)
    targets = {"backup": load_inventory(runner, dest, decode_from=Endpoint())}
    t1 = time.perf_counter()
    ops = plan_for(root, dest, source, targets)
    t2 = time.perf_counter()
    report = TransferExecutor(Endpoint(), {"backup": Endpoint()}, runner=runner).execute(ops)
    t3 = time.perf_counter()
    assert report.ok, [s.error for s in report.steps if not s.ok]
    return {"inventory": t1 - t0, "plan": t2 - t1, "execute": t3 - t2, "hostbook": t3 - t0,
            "operations": len(ops), "kinds": sorted({op.KIND for op in ops}),
            "bytes": sum(s.bytes for s in report.steps)}


def bare(pipelines):
    t0 = time.perf_counter()
    for line in pipelines:
        subprocess.run(["sh", "-c", "set -e; " + line], check=True)
    return {"bare": time.perf_counter() - t0}


groups = sorted(int(name[len("tank/bench/g"):]) for name in subprocess.run(
    ["zfs", "list", "-H", "-o", "name", "-d", "1", "tank/bench"],
    capture_output=True, text=True, check=True).stdout.split() if "/g" in name)
for k in groups:
    root = f"tank/bench/g{k}"
    ops = plan_for(root, f"backup/b/g{k}", load_inventory(runner, root), {"backup": {}})
    pipelines = [f"zfs {shlex.join(send_args(op))} | zfs "
                 f"{shlex.join(receive_args(op, resumable=True, rollback=True))}"
                 for op in ops]
    first = "hostbook" if k % 2 == 0 else "bare"
    row = {"group": k, "first": first, "datasets": len(load_inventory(runner, root)),
           "snapshots": snapshots_under(root)}
    if first == "hostbook":
        row.update(hostbook(root, f"backup/h/g{k}"))
        row.update(bare(pipelines))
    else:
        row.update(bare(pipelines))
        row.update(hostbook(root, f"backup/h/g{k}"))
    row["received"] = snapshots_under(f"backup/h/g{k}")
    row["bare_received"] = snapshots_under(f"backup/b/g{k}")
    line = json.dumps(row)
    with open(results / "groups.jsonl", "a") as out:
        out.write(line + "\n")
    print("GROUP " + line, flush=True)
"""


def _follow(boot: Boot, log: list[tuple[float, float]], stop: threading.Event) -> None:
    """Echo the run step's group lines as they arrive and sample the load average."""
    out = boot.share / "out" / "01.stdout"
    seen = 0
    next_load = 0.0
    started = time.monotonic()
    while not stop.is_set():
        now = time.monotonic()
        if now >= next_load:
            load = float(Path("/proc/loadavg").read_text().split()[0])
            log.append((now - started, load))
            print(f"[{(now - started) / 60:6.1f} min] load {load:.2f}", flush=True)
            next_load = now + LOAD_EVERY
        if out.exists():
            lines = out.read_text().splitlines()
            for text in lines[seen:]:
                print(f"[{(now - started) / 60:6.1f} min] {text}", flush=True)
            seen = len(lines)
        stop.wait(2.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=49,
                        help="datasets replicated, less one (49: 50 datasets, as the parent "
                        "and 49 children were counted before)")
    parser.add_argument("--snapshots", type=int, default=200)
    parser.add_argument("--groups", type=int, default=5)
    args = parser.parse_args()
    if not 1 <= args.groups <= args.datasets + 1:
        parser.error("--groups must be between 1 and --datasets + 1")
    kernel = find_kernel()
    if subprocess.run(["modinfo", "-k", kernel.version, "zfs"],
                      capture_output=True).returncode != 0:
        print(f"no zfs module for {kernel.version}: run sh .ci/zfs-module", file=sys.stderr)
        return 2
    build = (f"DATASETS={args.datasets}\nSNAPSHOTS={args.snapshots}\nNGROUPS={args.groups}\n"
             f"{BUILD}")
    loads: list[tuple[float, float]] = []
    stop = threading.Event()
    with tempfile.TemporaryDirectory() as tmp, Guest(
        [DiskSpec(DISK, serial="btank0"), DiskSpec(DISK, serial="bbackup0")],
        memory_mb=MEMORY_MB,
    ) as guest:
        boot = guest.start([Step("build", build, timeout=BUILD_TIMEOUT),
                            Step("run", RUN, "python", timeout=RUN_TIMEOUT)],
                           stop_on_error=True)
        follower = threading.Thread(target=_follow, args=(boot, loads, stop), daemon=True)
        follower.start()
        try:
            result = boot.wait(BOOT_TIMEOUT, results_dir=Path(tmp) / "results")
        finally:
            stop.set()
            follower.join()
        groups = Path(tmp) / "results" / "groups.jsonl"
        if not result.ok or not groups.exists():
            print(result.describe(), file=sys.stderr)
            for step in ("build", "run"):
                print(f"--- {step}:\n{result[step].stdout}{result[step].stderr}",
                      file=sys.stderr)
            return 1
        rows = [json.loads(line) for line in
                groups.read_text().splitlines()]
        snap_line = result["build"].stdout.strip().splitlines()[-1]
    _report(rows, snap_line, [load for _, load in loads])
    return 0


def _report(rows: list[dict], snap_line: str, loads: list[float]) -> None:
    total = {key: sum(r[key] for r in rows)
             for key in ("datasets", "snapshots", "operations", "received", "bare_received",
                         "bytes", "inventory", "plan", "execute", "hostbook", "bare")}
    kinds = sorted({k for r in rows for k in r["kinds"]})
    print(f"\n{total['datasets']} datasets in {len(rows)} groups, {total['snapshots']} "
          f"snapshots ({snap_line}); {total['operations']} operations ({', '.join(kinds)}), "
          f"{total['received']} snapshots received by hostbook, {total['bare_received']} by "
          f"the bare commands, {total['bytes']} stream bytes")
    if loads:
        print(f"load average (1 min, host, every {LOAD_EVERY:.0f} s): min {min(loads):.2f}, "
              f"mean {sum(loads) / len(loads):.2f}, max {max(loads):.2f} "
              f"({len(loads)} samples)")
    print("\n| group | first | datasets | snapshots | inventories | plan | transfers "
          "| hostbook | bare | overhead |\n| --- | --- | ---: | ---: | ---: | ---: | ---: "
          "| ---: | ---: | ---: |")
    for r in [*rows, {**total, "group": "total", "first": ""}]:
        over = r["hostbook"] - r["bare"]
        print(f"| {r['group']} | {r['first']} | {r['datasets']} | {r['snapshots']} "
              f"| {r['inventory']:.2f} | {r['plan']:.2f} | {r['execute']:.2f} "
              f"| {r['hostbook']:.2f} | {r['bare']:.2f} "
              f"| {over:.2f} ({100 * over / r['bare']:.1f}%) |")


if __name__ == "__main__":
    raise SystemExit(main())
