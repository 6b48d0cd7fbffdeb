"""Benchmark: checkout scan against `find`, and package capture of this host.

Usage: python benchmarks/checkouts.py [--dirs 100000] [--repos 200] [--work DIR]

1. Builds (once, reused) a tree of ``--dirs`` directories holding ``--repos``
   git repositories, then times, each in a fresh process so peak RSS is its
   own: `find ROOT -name .git`, the bare scan walk, and the full checkouts
   probe (walk + three git processes per repository).  Caches are warmed by
   one untimed `find` first; each figure is the median of three runs.
2. Times a package capture of this host (every package probe, live) and
   counts the processes it started.

Prints a Markdown table for benchmarks/checkouts.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

CHILD_SCAN = """
import json, resource, sys, time
from hostbook.capture.probes.checkouts.scan import ScanRules, scan
from hostbook.manifest.sections.config import ConfigDocument
settings = ConfigDocument.model_validate({"schema": "hostbook/config/v1"}).checkouts
start = time.perf_counter()
found = scan(sys.argv[1], ScanRules.build(settings.excludes, 64))
elapsed = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "found": len(found["checkouts"]),
                  "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

CHILD_PROBE = """
import json, resource, sys, time
from hostbook.capture.collect import collect_sections
from hostbook.process.runner import LiveRunner
from hostbook.manifest.sections.config import ConfigDocument
config = ConfigDocument.model_validate(
    {"schema": "hostbook/config/v1", "checkouts": {"max_depth": 64}})
runner = LiveRunner()
start = time.perf_counter()
out = collect_sections(runner, config, [sys.argv[1]], {"checkout_roots": sys.argv[2:]})
elapsed = time.perf_counter() - start
doc = out.documents[sys.argv[1]]
print(json.dumps({"seconds": elapsed, "commands": runner.stats.commands,
                  "per_tool": runner.stats.per_tool,
                  "found": len(doc.get("checkouts", [])),
                  "managers": [k for k in doc if k not in ("schema", "incomplete")],
                  "incomplete": doc.get("incomplete", []),
                  "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def build_tree(root: Path, dirs: int, repos: int) -> None:
    """``dirs`` directories (fan-out 10, spread over depth 1-5) with ``repos`` git repos."""
    marker = root / ".built"
    if marker.exists() and marker.read_text() == f"{dirs} {repos}":
        return
    subprocess.run(["rm", "-rf", str(root)], check=True)
    root.mkdir(parents=True)
    made: list[Path] = []
    queue = [root]
    while queue and len(made) < dirs:
        parent = queue.pop(0)
        for i in range(10):
            if len(made) >= dirs:
                break
            child = parent / f"d{i}"
            child.mkdir()
            (child / "file.txt").write_text("x\n")
            made.append(child)
            queue.append(child)
    step = max(1, len(made) // repos)
    env = dict(os.environ, GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@example.org",
               GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@example.org")
    for index in range(repos):
        repo = made[index * step]
        subprocess.run(["git", "init", "-q", str(repo)], check=True, env=env)
        subprocess.run(["git", "-C", str(repo), "add", "file.txt"], check=True, env=env)
        subprocess.run(["git", "-C", str(repo), "commit", "-q", "-m", "b"], check=True, env=env)
    marker.write_text(f"{dirs} {repos}")


def median_runs(argv: list[str], runs: int = 3) -> tuple[float, str]:
    """Median wall seconds of ``runs`` runs, and the last run's stdout."""
    times = []
    out = ""
    for _ in range(runs):
        start = time.perf_counter()
        out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


RSS_WRAPPER = (
    "import resource, subprocess, sys\n"
    "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def rss_of(argv: list[str]) -> int:
    """Peak RSS (KiB) of one run of ``argv`` alone, via a wrapper's RUSAGE_CHILDREN."""
    done = subprocess.run([sys.executable, "-c", RSS_WRAPPER, *argv], capture_output=True,
                          text=True, check=True)
    return int(done.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dirs", type=int, default=100_000)
    parser.add_argument("--repos", type=int, default=200)
    parser.add_argument("--work", type=Path, default=Path("/tmp/hostbook-bench-checkouts"))
    args = parser.parse_args()
    root = args.work / "tree"
    build_tree(root, args.dirs, args.repos)
    py = sys.executable
    find = ["find", str(root), "-name", ".git"]
    subprocess.run(find, capture_output=True, check=True)  # warm the dentry cache

    find_s, find_out = median_runs(find)
    scan_s, scan_out = median_runs([py, "-c", CHILD_SCAN, str(root)])
    probe_s, probe_out = median_runs([py, "-c", CHILD_PROBE, "checkouts", str(root)])
    scan_data = json.loads(scan_out)
    probe_data = json.loads(probe_out)
    rows = [
        ("`find ROOT -name .git`", find_s, rss_of(find), len(find_out.split()), "-"),
        ("scan walk (os.scandir, in-process)", scan_data["seconds"],
         rss_of([py, "-c", CHILD_SCAN, str(root)]), scan_data["found"], "-"),
        ("checkouts probe (walk + git per repo)", probe_data["seconds"],
         rss_of([py, "-c", CHILD_PROBE, "checkouts", str(root)]), probe_data["found"],
         str(probe_data["commands"])),
    ]
    print(f"Tree: {args.dirs} directories, {args.repos} git repositories; "
          f"{os.cpu_count()} cores; median of 3 warm-cache runs.\n")
    print("| what | wall s | peak RSS MiB | found | processes |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, seconds, rss, found, procs in rows:
        print(f"| {name} | {seconds:.2f} | {rss / 1024:.1f} | {found} | {procs} |")
    print(f"\nscan walk / find: {scan_data['seconds'] / find_s:.2f}x "
          f"(walk timed inside the process; find's time includes its start-up)")
    print(f"scan process wall incl. interpreter start: {scan_s:.2f} s; "
          f"probe process wall: {probe_s:.2f} s")

    pkg_s, pkg_out = median_runs([py, "-c", CHILD_PROBE, "packages"])
    pkg = json.loads(pkg_out)
    print("\n| package capture of this host | value |")
    print("| --- | ---: |")
    print(f"| wall s (collect, median of 3) | {pkg['seconds']:.2f} |")
    print(f"| process wall s incl. start-up | {pkg_s:.2f} |")
    print(f"| subprocesses | {pkg['commands']} |")
    print(f"| managers found | {', '.join(pkg['managers']) or '-'} |")
    print(f"\nper tool: {json.dumps(pkg['per_tool'], sort_keys=True)}")
    if pkg["incomplete"]:
        print(f"incomplete: {pkg['incomplete']}")


if __name__ == "__main__":
    main()
