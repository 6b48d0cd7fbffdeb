"""Benchmark: restoring the `server` lab layout, hostbook against the commands alone.

Usage: python benchmarks/restore.py [--rounds 2]   (root; boots one VM-lab guest)

The manifest is the server layout as the lab captured it (two disks, GPT, md
raid1 /boot, md raid1 -> LVM root/var/data, ext4 and xfs), replayed into a
manifest repository.  One guest boot, with the layout's two blank disks, then
for each round:

1. ``hostbook restore plan server --map auto --script restore.sh`` (timed:
   the whole process, interpreter start-up included);
2. ``hostbook restore apply server --map auto --yes --json`` (timed likewise;
   its JSON also says how long the step commands themselves ran);
3. verify, then tear down and wipe both disks (not timed);
4. ``bash restore.sh``: the same commands with nothing of hostbook around
   them, the floor (timed); then tear down and wipe again.

Prints a Markdown table for benchmarks/restore.md.  hostbook's overhead is
(plan + apply) - script, as a share of plan + apply.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

GUEST = r"""
import json, os, subprocess, sys, time
from pathlib import Path
results = Path(os.environ["LAB_RESULTS"])
repo = %(repo)r
builders = os.environ["LAB_BUILDERS"]
disks = ["/dev/disk/by-id/virtio-server0", "/dev/disk/by-id/virtio-server1"]
Path("/root/pass").mkdir(exist_ok=True)
Path("/root/pass/server").write_text("unused")  # the server layout has no LUKS
hostbook = [sys.executable, "-m", "hostbook.commands.restore"]
env = dict(os.environ, PASSPHRASE_DIR="/root/pass")

def timed(argv, **kw):
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, **kw)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"{argv}: {done.returncode}\n{done.stdout}\n{done.stderr}")
    return seconds, done.stdout

def reset():
    subprocess.run(["umount", "-R", "/mnt/target"], capture_output=True)
    subprocess.run(["bash", f"{builders}/wipe.sh", *disks], check=True, capture_output=True)
    subprocess.run(["rm", "-rf", "/var/lib/hostbook/state/restore"], check=True)

rounds = []
for index in range(%(rounds)d):
    plan_s, _ = timed([*hostbook, "plan", "--repo", repo, "server", "--map", "auto",
                       "--script", "/root/restore.sh"])
    apply_s, out = timed([*hostbook, "apply", "--repo", repo, "server", "--map", "auto",
                          "--yes", "--json"])
    applied = json.loads(out[out.index("{"):])
    verify_s, _ = timed([*hostbook, "verify", "--repo", repo, "server", "--map", "auto"])
    reset()
    script_s, _ = timed(["bash", "/root/restore.sh"])
    reset()
    rounds.append({"plan": plan_s, "apply": apply_s, "verify": verify_s, "script": script_s,
                   "command_seconds": applied["command_seconds"],
                   "commands": applied["commands"], "steps": len(applied["ran"])})
    print(json.dumps(rounds[-1]), flush=True)
start = time.monotonic()
subprocess.run([sys.executable, "-c", "import hostbook.restore.session, hostbook.capture.runner"],
               check=True)
import_s = time.monotonic() - start
(results / "bench.json").write_text(json.dumps({"rounds": rounds, "import": import_s}))
"""


def build_repository(repo: Path) -> None:
    from hostbook.capture.collect import collect_sections
    from hostbook.capture.runner import ReplayRunner
    from hostbook.capture.workflow import CaptureRequest, capture
    from hostbook.manifest.sections.config import ConfigDocument
    from tests.lab.layouts import LAYOUTS

    recording = REPO / "tests" / "fixtures" / "storage-server"
    plain = ConfigDocument.model_validate({"schema": "hostbook/config/v1"})
    listed = collect_sections(ReplayRunner(recording), plain, ["storage"], {})
    others = [e["name"] for e in listed.documents["storage"]["entries"]
              if e["type"] == "disk" and e.get("serial") not in LAYOUTS["server"].serials]
    config = ConfigDocument.model_validate(
        {"schema": "hostbook/config/v1", "storage": {"exclude_devices": others}})
    capture(CaptureRequest(repository=repo, sections=["storage"], config=config, host="server",
                           replay=recording))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    from tests.lab.layouts import disks_for
    from tests.lab.vm import Guest, Step

    base = Path(tempfile.mkdtemp(prefix="hostbook-restore-bench-", dir="/var/tmp"))
    try:
        build_repository(base / "repo")
        step = Step("bench", GUEST % {"repo": str(base / "repo"), "rounds": args.rounds},
                    "python", timeout=3000)
        with Guest(disks_for("server")) as guest:
            result = guest.run_steps([step], timeout=3600, results_dir=base / "results")
        if not result.ok:
            print(result.describe(), file=sys.stderr)
            return 1
        data = json.loads((base / "results" / "bench.json").read_text())
    finally:
        shutil.rmtree(base, ignore_errors=True)
    rounds = data["rounds"]

    def med(key: str) -> float:
        return statistics.median(r[key] for r in rounds)

    total = med("plan") + med("apply")
    floor = med("script")
    print(f"| server layout, {len(rounds)} rounds (median) | seconds |")
    print("| --- | ---: |")
    print(f"| `restore plan` (process) | {med('plan'):.1f} |")
    print(f"| `restore apply` (process) | {med('apply'):.1f} |")
    print(f"| plan + apply | {total:.1f} |")
    print(f"| step commands inside apply | {med('command_seconds'):.1f} |")
    print(f"| the rendered script alone (`bash restore.sh`) | {floor:.1f} |")
    print(f"| overhead: (plan + apply - script) / (plan + apply) | "
          f"{100 * (total - floor) / total:.0f}% |")
    print(f"| python start-up + imports (one process) | {data['import']:.1f} |")
    print(f"| `restore verify` (process, not in the total) | {med('verify'):.1f} |")
    print(f"\nsteps {rounds[0]['steps']}, commands {rounds[0]['commands']}")
    print(json.dumps(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
