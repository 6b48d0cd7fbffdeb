"""Benchmark: the integrity database's fast update against a full re-hash and ``find -newer``.

A generated tree of N files (default 200,000, 0-4 KiB each, 100 per
directory, 20 top-level directories) is recorded once (a full hash), then 1%
of its files get new content (same size, so only ctime and content change)
and the database is updated from the previous one.  The reference is
``find TREE -newer DB``: the cheapest walk that also finds the changed files
(it lstat()s every entry, as the update must).  Caches are warm for every
measurement (a ``find`` walk runs right before each one: this kernel
reclaims cold directory and inode caches within seconds, which otherwise
turns a comparison of walks into one of disk reads).

Usage::

    .venv/bin/python benchmarks/sure.py [--files 200000] [--runs 5] [--dir DIR]
                                        [--workers N] [--json]

The tree is created in a temporary directory (or ``--dir``, reused when it
already holds a tree of the requested size) and deleted afterwards unless
``--dir`` was given.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hostbook.jobs.integrity import database as sure_db
from hostbook.jobs.integrity import sure

PER_DIR = 100
TOP_DIRS = 20
MARKER = ".benchmark-tree"


def generate(root: Path, files: int, seed: int = 7) -> list[Path]:
    """Create (or reuse) the tree; return its files in a fixed order."""
    marker = root / MARKER
    paths = [
        root / f"top{(i // PER_DIR) % TOP_DIRS:02d}" / f"d{i // PER_DIR:05d}" / f"f{i:06d}.dat"
        for i in range(files)
    ]
    if marker.exists() and marker.read_text() == str(files):
        return paths
    rng = random.Random(seed)
    for index, path in enumerate(paths):
        if index % PER_DIR == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(rng.randint(0, 4096)))
    marker.write_text(str(files))
    return paths


def change(paths: list[Path], fraction: float, round_: int) -> list[Path]:
    """Rewrite ``fraction`` of the files in place with new bytes of the same size."""
    step = max(1, round(1 / fraction))
    chosen = paths[round_ % step::step]
    for path in chosen:
        size = path.stat().st_size
        path.write_bytes(os.urandom(size))
    return chosen


def timed(func: object) -> tuple[float, object]:
    started = time.perf_counter()
    result = func()  # type: ignore[operator]
    return time.perf_counter() - started, result


def warm(root: Path, contents: bool = False) -> None:
    """Bring directories and inodes (and with ``contents`` the data) into the caches."""
    subprocess.run(["find", str(root), "-newer", str(root)], capture_output=True, check=True)
    if contents:  # through a pipe: GNU tar skips reading files when writing to /dev/null
        with subprocess.Popen(["tar", "-cf", "-", str(root)], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL) as proc:
            assert proc.stdout is not None
            while proc.stdout.read(1 << 20):
                pass


def find_newer(root: Path, reference: Path) -> tuple[float, int]:
    elapsed, proc = timed(lambda: subprocess.run(
        ["find", str(root), "-newer", str(reference)], capture_output=True, check=True))
    return elapsed, len(proc.stdout.splitlines())  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=2,
                        help="walker processes for the parallel variant (default 2)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    own = args.dir is None
    root = Path(tempfile.mkdtemp(prefix="hostbook-sure-bench-")) if own else args.dir
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="hostbook-sure-db-"))
    try:
        gen_time, paths = timed(lambda: generate(root, args.files))
        files: list[Path] = paths  # type: ignore[assignment]
        subprocess.run(["find", str(root)], capture_output=True, check=True)  # warm up
        workers = max(2, args.workers)

        full_db = work / "full.sure.gz"
        full_times = []
        for _ in range(max(1, args.runs // 2)):
            warm(root, contents=True)
            elapsed, stats = timed(lambda: sure.update(root, full_db, workers=1))
            full_times.append(elapsed)
        full_stats: sure.ScanStats = stats  # type: ignore[assignment]

        update_times, find_times, parallel_times = [], [], []
        previous = full_db
        hashed = reused = found = 0
        for round_ in range(args.runs):
            changed = change(files, 0.01, round_)
            time.sleep(0.01)
            out = work / f"run{round_}.sure.gz"
            warm(root)
            elapsed, stats = timed(
                lambda out=out, previous=previous: sure.update(root, out, previous, workers=1))
            update_times.append(elapsed)
            run_stats: sure.ScanStats = stats  # type: ignore[assignment]
            hashed, reused = run_stats.hashed, run_stats.reused
            assert hashed == len(changed), (hashed, len(changed))
            warm(root)
            f_elapsed, found = find_newer(root, previous)
            find_times.append(f_elapsed)
            par = work / f"parallel{round_}.sure.gz"
            warm(root)
            s_elapsed, _stats = timed(
                lambda par=par, previous=previous: sure.update(
                    root, par, previous, workers=workers))
            parallel_times.append(s_elapsed)
            assert sure_db.read_lines_by_path(par) == sure_db.read_lines_by_path(out)
            previous = out

        update = statistics.median(update_times)
        find = statistics.median(find_times)
        result = {
            "files": args.files,
            "entries": full_stats.entries,
            "changed_per_run": hashed,
            "reused_per_run": reused,
            "find_newer_found": found,
            "database_bytes": previous.stat().st_size,
            "parallel_workers": workers,
            "cpus": os.cpu_count(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "generate_seconds": round(gen_time, 2),
            "full_rehash_seconds": [round(t, 3) for t in full_times],
            "update_seconds": [round(t, 3) for t in update_times],
            "update_parallel_seconds": [round(t, 3) for t in parallel_times],
            "find_newer_seconds": [round(t, 3) for t in find_times],
            "median_update": round(update, 3),
            "median_update_parallel": round(statistics.median(parallel_times), 3),
            "median_find_newer": round(find, 3),
            "median_full_rehash": round(statistics.median(full_times), 3),
            "update_over_find": round(update / find, 2),
            "parallel_over_find": round(statistics.median(parallel_times) / find, 2),
        }
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            print(f"tree: {args.files} files, {full_stats.entries} entries; "
                  f"{hashed} changed per run (1%); {args.runs} runs, medians")
            print(f"load average {result['load_average']}, {result['cpus']} CPUs")
            print("| measure | median | all runs |")
            print("| --- | --- | --- |")
            rows = [
                ("full re-hash (no previous database)", "median_full_rehash",
                 "full_rehash_seconds"),
                ("sure update (one process, streamed)", "median_update", "update_seconds"),
                (f"sure update, {workers} walker processes", "median_update_parallel",
                 "update_parallel_seconds"),
                ("find -newer (walk + lstat)", "median_find_newer", "find_newer_seconds"),
            ]
            for label, key, runs in rows:
                print(f"| {label} | {result[key]:.3f} s | "
                      f"{', '.join(f'{t:.2f}' for t in result[runs])} |")  # type: ignore[union-attr]
            print(f"| update / find -newer | {result['update_over_find']}x | "
                  f"{workers} walkers: {result['parallel_over_find']}x |")
            print(f"database: {result['database_bytes']:,} bytes (gzip)")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if own:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
