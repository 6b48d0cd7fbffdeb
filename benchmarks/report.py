"""Build the HTML report of a generated 1,000-host fleet; beside it, git reading the same files.

    .venv/bin/python benchmarks/report.py [--hosts 1000] [--runs 3]

The fleet (tests/fleet_fixture.py) is made of recorded manifests, every host's
files distinct.  Timed: ``hostbook report`` of every host (build_site), and
the bare git commands that read the same data (one git log --raw over
hosts/, one git cat-file --batch of every file).  Printed: the times, the
largest page and the site's total size.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hostbook.manifest.store import ManifestRepository
from hostbook.review.site import build_site
from tests.fleet_fixture import make_fleet


def bare_git(repo: Path) -> None:
    """What the report reads, by git alone: the log and every section file's bytes."""
    subprocess.run(["git", "log", "--format=%H%x1f%aI%x1f%an%x1f%s", "--raw", "--root",
                    "--no-abbrev", "--", "hosts"], cwd=repo, check=True, capture_output=True)
    listing = subprocess.run(["git", "ls-tree", "-r", "--format=%(objectname)", "HEAD",
                              "hosts"], cwd=repo, check=True, capture_output=True, text=True)
    subprocess.run(["git", "cat-file", "--batch"], cwd=repo, input=listing.stdout.encode(),
                   check=True, capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hostbook-report-bench-") as tmp:
        repo_path = Path(tmp) / "repo"
        started = time.perf_counter()
        make_fleet(repo_path, args.hosts)
        made = time.perf_counter() - started
        repo = ManifestRepository.open(repo_path)
        builds, bares = [], []
        for run in range(args.runs):
            out = Path(tmp) / f"site{run}"
            started = time.perf_counter()
            site = build_site(repo, out, state_dir=Path(tmp) / "state")
            builds.append(time.perf_counter() - started)
            started = time.perf_counter()
            bare_git(repo_path)
            bares.append(time.perf_counter() - started)
        sizes = sorted((p.stat().st_size, p.name) for p in site.pages)
        print(f"fleet of {args.hosts} hosts made in {made:.1f} s")
        print("| case | median s | min s | max s |")
        print("|------|---------:|------:|------:|")
        for name, values in (("hostbook report (every host)", builds),
                             ("git log + cat-file of the same files", bares)):
            print(f"| {name} | {statistics.median(values):.2f} | {min(values):.2f} | "
                  f"{max(values):.2f} |")
        total = sum(size for size, _ in sizes)
        index = (out / "index.html").stat().st_size
        print(f"{len(sizes)} pages, {total / 1e6:.1f} MB in all; largest {sizes[-1][1]} "
              f"{sizes[-1][0] / 1e3:.0f} kB, index {index / 1e3:.0f} kB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
