"""Benchmark: replicating 50 datasets x 200 snapshots between two real pools (VM lab).

Usage: python benchmarks/zfs_replication.py [--datasets 50] [--snapshots 200]
(root; the lab kernel's zfs module from .ci/zfs-module; qemu under TCG)

One boot. Pool ``tank`` holds ``tank/bench/dNN`` with a small file each and
``--snapshots`` recursive snapshots of ``tank/bench`` (``hourly-NNNN``); pool
``backup`` is empty.  Then, twice over the same empty target:

1. hostbook: read both inventories (``zfs list``), plan the replication with
   the target keeping every hourly (one full and one ``-I`` range per dataset,
   validated by simulation), and execute it with the ``TransferExecutor``
   (which asks ``zfs send -nvP`` for a stream's size only when the inventory puts it at
   64 MiB or more);
2. bare: the same plan's ``zfs send ... | zfs receive ...`` pipelines run by
   ``sh -c`` one after another, nothing else.

Between the two the target is destroyed.  Reported: wall time of each phase,
hostbook's share split into inventory, planning and execution, and the
overhead against the bare commands.

Prints a Markdown table for benchmarks/zfs_replication.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.lab.vm import DiskSpec, Guest, Step, find_kernel  # noqa: E402

BUILD = r"""
set -euo pipefail
modprobe zfs
zpool create -f -o ashift=12 -O mountpoint=none tank /dev/disk/by-id/virtio-btank0
zpool create -f -o ashift=12 -O mountpoint=none backup /dev/disk/by-id/virtio-bbackup0
zfs create -o mountpoint=/srv/bench tank/bench
for i in $(seq -w 0 $((DATASETS - 1))); do
    zfs create tank/bench/d$i
    echo "dataset $i" > /srv/bench/d$i/file
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
target = ReplicationTarget(name="backup", dataset="backup/bench", source="tank/bench",
                           policy=RetentionPolicy(keep={"hourly": 100000}))
settings = ReplicationSettings(targets=[target])
now = datetime.now(timezone.utc)

t0 = time.perf_counter()
source = load_inventory(runner, "tank/bench")
targets = {"backup": load_inventory(runner, "backup/bench", decode_from=Endpoint())}
t1 = time.perf_counter()
plan = plan_host("lab", RetentionSettings(), settings, source, targets, now,
                 source_root="tank/bench")
assert not plan.refused, plan.refused
ops = [op for ds in plan.datasets for op in ds.operations
       if not (isinstance(op, Destroy) and op.location == SOURCE)]
t2 = time.perf_counter()
executor = TransferExecutor(Endpoint(), {"backup": Endpoint()}, runner=runner)
report = executor.execute(ops)
t3 = time.perf_counter()
assert report.ok, [s.error for s in report.steps if not s.ok]
received = subprocess.run(["zfs", "list", "-H", "-t", "snapshot", "-o", "name", "-r",
                           "backup/bench"], capture_output=True, text=True).stdout.split()

pipelines = [f"zfs {shlex.join(send_args(op))} | zfs "
             f"{shlex.join(receive_args(op, resumable=True, rollback=True))}" for op in ops]
subprocess.run(["zfs", "destroy", "-r", "backup/bench"], check=True)
t4 = time.perf_counter()
for line in pipelines:
    subprocess.run(["sh", "-c", "set -e; " + line], check=True)
t5 = time.perf_counter()
again = subprocess.run(["zfs", "list", "-H", "-t", "snapshot", "-o", "name", "-r",
                        "backup/bench"], capture_output=True, text=True).stdout.split()
snapshots = sum(len(inv.snapshots) for inv in source.values())
(results / "bench.json").write_text(json.dumps({
    "datasets": len(source), "snapshots": snapshots, "operations": len(ops),
    "kinds": sorted({op.KIND for op in ops}), "received": len(received),
    "bare_received": len(again), "inventory": t1 - t0, "plan": t2 - t1,
    "execute": t3 - t2, "hostbook": t3 - t0, "bare": t5 - t4,
    "bytes": sum(s.bytes for s in report.steps),
}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=50)
    parser.add_argument("--snapshots", type=int, default=200)
    args = parser.parse_args()
    kernel = find_kernel()
    if subprocess.run(["modinfo", "-k", kernel.version, "zfs"],
                      capture_output=True).returncode != 0:
        print(f"no zfs module for {kernel.version}: run sh .ci/zfs-module", file=sys.stderr)
        return 2
    build = f"DATASETS={args.datasets}\nSNAPSHOTS={args.snapshots}\n{BUILD}"
    with tempfile.TemporaryDirectory() as tmp, Guest(
        [DiskSpec("2G", serial="btank0"), DiskSpec("2G", serial="bbackup0")], memory_mb=2048
    ) as guest:
        result = guest.run_steps(
            [Step("build", build, timeout=3000), Step("run", RUN, "python", timeout=3000)],
            timeout=6000, stop_on_error=True, results_dir=Path(tmp) / "results",
        )
        if not result.ok:
            print(result.describe(), file=sys.stderr)
            return 1
        got = json.loads((Path(tmp) / "results" / "bench.json").read_text())
        snap_line = result["build"].stdout.strip().splitlines()[-1]
    overhead = got["hostbook"] - got["bare"]
    print(f"{got['datasets']} datasets, {got['snapshots']} snapshots ({snap_line}); "
          f"{got['operations']} operations ({', '.join(got['kinds'])}), "
          f"{got['received']} snapshots received by hostbook, {got['bare_received']} by the "
          f"bare commands, {got['bytes']} stream bytes\n")
    print("| phase | seconds |\n| --- | ---: |")
    for key, label in (("inventory", "hostbook: inventories (zfs list, both pools)"),
                       ("plan", "hostbook: plan + validation"),
                       ("execute", "hostbook: transfers"),
                       ("hostbook", "**hostbook total**"),
                       ("bare", "**bare zfs send | zfs receive, same plan**")):
        print(f"| {label} | {got[key]:.2f} |")
    print(f"| overhead | {overhead:.2f} ({100 * overhead / got['bare']:.1f}% of bare) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
