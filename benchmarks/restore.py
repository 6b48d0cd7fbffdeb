"""Benchmark: restoring the `server` lab layout, hostbook against the commands alone.

Usage: python benchmarks/restore.py [--rounds 2] [--loop]   (root)

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

With ``--loop``, the same comparison runs natively on a loop device here (a
GPT disk with vfat, ext4, xfs, swap and btrfs; this machine's kernel has no
device-mapper, so no md or LVM): it shows the proportions without the 20-40x
slow-down TCG imposes on the Python interpreter, and not on the disk I/O.

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
subprocess.run([sys.executable, "-c", "import hostbook.restore.session, hostbook.process.runner"],
               check=True)
import_s = time.monotonic() - start
(results / "bench.json").write_text(json.dumps({"rounds": rounds, "import": import_s}))
"""


def build_repository(repo: Path) -> None:
    from hostbook.capture.collect import collect_sections
    from hostbook.capture.workflow import CaptureRequest, capture
    from hostbook.manifest.sections.config import ConfigDocument
    from hostbook.process.recording import ReplayRunner
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


def loop_rounds(rounds: int) -> dict[str, object]:
    """The plan/apply/script comparison on a loop device of this machine."""
    import os
    import subprocess
    import time

    from hostbook.capture.workflow import CaptureRequest, capture
    from hostbook.manifest.sections.config import ConfigDocument
    from tests.loopdev import loop_devices_ctx

    def sh(*argv: str, stdin: str | None = None) -> None:
        subprocess.run(argv, input=stdin, text=True, check=True, capture_output=True)

    with loop_devices_ctx() as make:
        dev = make("2G")
        sh("sfdisk", "--quiet", dev.path, stdin=(
            "label: gpt\nsize=256MiB, type=U\nsize=512MiB, type=L\nsize=512MiB, type=L\n"
            "size=256MiB, type=S\ntype=L\n"))
        parts = dev.rescan()
        sh("mkfs.fat", "-F", "32", parts[0])
        sh("mkfs.ext4", "-q", parts[1])
        sh("mkfs.xfs", "-q", "-f", parts[2])
        sh("mkswap", parts[3])
        sh("mkfs.btrfs", "-q", "-f", parts[4])
        repo = make.workdir / "repo"
        config = ConfigDocument.model_validate({"schema": "hostbook/config/v1"})
        capture(CaptureRequest(repository=repo, sections=["storage"], config=config,
                               host="loophost", options={"storage_devices": [dev.path]}))
        env = dict(os.environ, HOSTBOOK_STATE_DIR=str(make.workdir / "state"))
        cli = [sys.executable, "-m", "hostbook.commands.restore"]
        common = ["--repo", str(repo), "loophost", "--map", f"{dev.name}={dev.path}"]
        script = make.workdir / "restore.sh"

        def wipe() -> None:
            dev.assert_ours()
            for part in reversed(dev.partitions()):
                sh("wipefs", "-a", "-q", part)
            sh("wipefs", "-a", "-q", dev.path)
            dev.rescan()
            shutil.rmtree(make.workdir / "state", ignore_errors=True)

        def timed(argv: list[str]) -> tuple[float, str]:
            started = time.monotonic()
            done = subprocess.run(argv, capture_output=True, text=True, env=env, check=True)
            return time.monotonic() - started, done.stdout

        results = []
        for _ in range(rounds):
            wipe()
            plan_s, _ = timed([*cli, "plan", *common, "--script", str(script)])
            apply_s, out = timed([*cli, "apply", *common, "--yes", "--json"])
            applied = json.loads(out[out.index("{"):])
            wipe()
            dev.assert_ours()
            script_s, _ = timed(["bash", str(script)])
            results.append({"plan": plan_s, "apply": apply_s, "script": script_s,
                            "command_seconds": applied["command_seconds"],
                            "commands": applied["commands"], "steps": len(applied["ran"])})
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", "import hostbook.restore.session"], check=True)
        return {"rounds": results, "import": time.monotonic() - started}


def table(title: str, data: dict) -> None:  # type: ignore[type-arg]
    rounds = data["rounds"]

    def med(key: str) -> float:
        return float(statistics.median(r[key] for r in rounds))

    total = med("plan") + med("apply")
    floor = med("script")
    print(f"| {title}, {len(rounds)} rounds (median) | seconds |")
    print("| --- | ---: |")
    print(f"| `restore plan` (process) | {med('plan'):.2f} |")
    print(f"| `restore apply` (process) | {med('apply'):.2f} |")
    print(f"| plan + apply | {total:.2f} |")
    print(f"| step commands inside apply | {med('command_seconds'):.2f} |")
    print(f"| the rendered script alone (`bash restore.sh`) | {floor:.2f} |")
    print(f"| overhead: (plan + apply - script) / (plan + apply) | "
          f"{100 * (total - floor) / total:.0f}% |")
    print(f"| overhead of apply alone (it plans too): (apply - script) / apply | "
          f"{100 * (med('apply') - floor) / med('apply'):.0f}% |")
    print(f"| python start-up + imports (one process) | {data['import']:.2f} |")
    if "verify" in rounds[0]:
        print(f"| `restore verify` (process, not in the total) | {med('verify'):.2f} |")
    print(f"\nsteps {rounds[0]['steps']}, commands {rounds[0]['commands']}")
    print(json.dumps(data))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--loop", action="store_true", help="loop devices here, not the lab")
    args = parser.parse_args()
    if args.loop:
        table("GPT disk on a loop device (native)", loop_rounds(args.rounds))
        return 0
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
    table("server layout in the lab (TCG)", data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
