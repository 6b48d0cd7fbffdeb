"""Benchmark: how long a lab guest takes to boot and to build layouts.

Usage: python benchmarks/lab.py [--rounds 3] [--only firmware]   (root; qemu under TCG)

Per round, two boots:

1. one boot that builds the `laptop` layout (GPT, ESP, /boot, LUKS2, LVM with
   ext4/swap/xfs): the cost of the smallest useful storage test;
2. one boot that builds all five layouts side by side (laptop, server, legacy,
   btrfs, thin): the start of every storage lab test that covers them all;
3. one boot per firmware (SeaBIOS, OVMF) that runs one empty step: what the
   firmware itself costs before the kernel starts.

Reported per case: wall time from qemu start to its exit, when the guest was
ready to run its first step (guest uptime), and the build steps' own time.
TCG is CPU-bound, so another guest on the same cores roughly halves the speed:
each round says whether other qemu processes were running beside it.

Prints a Markdown table for benchmarks/lab.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.lab.layouts import build_step, disks_for  # noqa: E402
from tests.lab.vm import Guest, Step  # noqa: E402

ALL = ("laptop", "server", "legacy", "btrfs", "thin")


def other_guests(ours: Path) -> set[int]:
    """Pids of qemu processes that do not belong to the guest in `ours`."""
    pids = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"qemu-system" in cmdline.split(b"\0")[0] and str(ours).encode() not in cmdline:
            pids.add(int(proc.name))
    return pids


def one_boot(names: tuple[str, ...], firmware: str = "bios") -> dict[str, float | int]:
    """Boot once, build the named layouts (none: one empty step); wall, ready and
    build seconds."""
    steps = [build_step(n, timeout=600) for n in names] or [Step("empty", "true")]
    with Guest(disks_for(*names) or disks_for("laptop"), firmware=firmware) as guest:
        seen: set[int] = set(other_guests(guest.workdir))
        stop = threading.Event()

        def watch() -> None:
            while not stop.wait(0.5):
                seen.update(other_guests(guest.workdir))

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            result = guest.run_steps(steps, timeout=1200).check()
        finally:
            stop.set()
            watcher.join()
    return {"wall": result.seconds, "ready": result.ready_seconds or 0.0,
            "build": sum(result[f"build-{n}"].seconds or 0.0 for n in names),
            "others": len(seen)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", metavar="TEXT",
                        help="run only the cases whose name contains TEXT (e.g. firmware)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("benchmarks/lab.py: needs root (qemu virtfs, disk images)", file=sys.stderr)
        return 2
    cases: dict[str, tuple[tuple[str, ...], str]] = {
        "boot + laptop build": (("laptop",), "bios"),
        f"boot + all {len(ALL)} layouts built": (ALL, "bios"),
        "boot, one empty step, firmware SeaBIOS": ((), "bios"),
        "boot, one empty step, firmware OVMF (UEFI)": ((), "uefi"),
    }
    rows = []
    for label, (names, firmware) in cases.items():
        if args.only and args.only.lower() not in label.lower():
            continue
        runs = [one_boot(names, firmware) for _ in range(args.rounds)]
        for i, run in enumerate(runs, 1):
            print(f"{label}, round {i}: {run}", file=sys.stderr)
        rows.append((label, runs))
    print(f"| case ({args.rounds} rounds, median) | wall s | guest ready s | builds s "
          "| rounds with another guest |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, runs in rows:
        def med(key: str, runs: list[dict[str, float | int]] = runs) -> float:
            return statistics.median(float(r[key]) for r in runs)
        shared = sum(1 for r in runs if r["others"])
        print(f"| {label} | {med('wall'):.1f} | {med('ready'):.1f} | {med('build'):.1f} "
              f"| {shared} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
