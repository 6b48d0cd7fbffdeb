"""Benchmark: where the time of ``restore data``'s borg extraction goes.

Usage (root; after ``data_restore.py --tools borg --dir DIR`` made the archive)::

    .venv/bin/python benchmarks/borg_extract_variants.py --dir DIR [--rounds 3]
                                                         [--variants a,b,...]

The same ``borg extract --numeric-ids --sparse REPO::NAME`` into an empty
directory, started in the ways ``restore data`` differs from a shell:

- ``plain``: ``subprocess.run`` with this process's environment plus
  ``BORG_PASSCOMMAND``, output to /dev/null, cwd a plain directory;
- ``tool-env``: the same with hostbook's exact tool environment (``LC_ALL=C``,
  sbin on PATH, the password environment ``restore data`` builds);
- ``bind-cwd``: ``plain``, but its cwd a bind mount of the directory (what
  ``restore data`` extracts into);
- ``runner``: hostbook's ``LiveRunner.command`` (own session, preexec_fn with
  PDEATHSIG, both streams read by threads), cwd the plain directory;
- ``runner-bind``: ``runner`` with cwd on the bind mount;
- ``restore-data``: ``restore_data()`` itself, its extraction time (its CPU
  times include the bind mount and the checks' child processes).

Every run starts after ``sync`` and dropping the page cache (``--warm``: only
``sync``); the variants are interleaved (rotated each round) and the medians
printed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hostbook.jobs.run.jobs_file import load_jobs  # noqa: E402
from hostbook.process.environment import tool_environment  # noqa: E402
from hostbook.process.runner import LiveRunner  # noqa: E402
from hostbook.restore.data.catalog import catalog  # noqa: E402
from hostbook.restore.data.session import DataRequest, restore_data  # noqa: E402
from hostbook.restore.data.source import env_for  # noqa: E402

HOST = "benchhost"
VARIANTS = ("plain", "tool-env", "bind-cwd", "runner", "runner-bind", "restore-data")


def settle(cold: bool) -> None:
    subprocess.run(["sync"], check=True)
    if cold:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    time.sleep(2)


def fresh(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--warm", action="store_true",
                        help="only sync before each run (the page cache keeps the archive)")
    args = parser.parse_args()
    work: Path = args.dir
    os.environ.setdefault("BORG_BASE_DIR", str(work / "borg-home"))
    jobs = work / "jobs.yaml"
    loaded = load_jobs(file=jobs, host=HOST)
    [entry] = [t for t in catalog(LiveRunner(), loaded) if t.tool == "borg"]
    spec = next(a for a in loaded.document.jobs[0].archive if a.tool == "borg")
    argv = ["borg", "extract", "--numeric-ids", "--sparse",
            f"{spec.repository}::{entry.archives[0].id}"]
    password = env_for("borg", spec)
    plain_dir, view = work / "variant-target", work / "variant-view"
    variants = [v for v in VARIANTS if v in args.variants.split(",")]
    times: dict[str, list[float]] = {v: [] for v in variants}
    for round_ in range(args.rounds):
        shift = round_ % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            fresh(plain_dir)
            cwd = plain_dir
            if variant.endswith("bind") or variant == "bind-cwd":
                view.mkdir(exist_ok=True)
                subprocess.run(["mount", "--bind", str(plain_dir), str(view)], check=True)
                cwd = view
            if variant == "restore-data":
                shutil.rmtree(work / "target", ignore_errors=True)
                (work / "target").mkdir()
            settle(not args.warm)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            began = time.monotonic()
            if variant in ("plain", "bind-cwd"):
                subprocess.run(argv, cwd=cwd, env={**os.environ, **password}, check=True,
                               stdout=subprocess.DEVNULL)
            elif variant == "tool-env":
                subprocess.run(argv, cwd=cwd, env=tool_environment(password), check=True,
                               stdout=subprocess.DEVNULL)
            elif variant.startswith("runner"):
                result = LiveRunner().command(argv, env=password, cwd=str(cwd), timeout=None)
                if not result.ok:
                    raise SystemExit(result.failure())
            else:
                done = restore_data(DataRequest(repository=None, host=HOST, jobs_file=jobs,
                                                target=str(work / "target"), source=spec.label))
                [volume] = done.volumes
                if volume.status != "verified":
                    raise SystemExit(f"{volume.status}: {volume.message}")
                (work / "state" / "restore" / f"{HOST}@data.journal").unlink(missing_ok=True)
            seconds = time.monotonic() - began
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = {"user": round(after.ru_utime - before.ru_utime, 2),
                   "sys": round(after.ru_stime - before.ru_stime, 2),
                   "blocks_in": after.ru_inblock - before.ru_inblock,
                   "blocks_out": after.ru_oublock - before.ru_oublock}
            if variant == "restore-data":
                seconds = volume.extract_seconds
            if cwd == view:
                subprocess.run(["umount", str(view)], check=True)
            times[variant].append(seconds)
            load = Path("/proc/loadavg").read_text().split()[0]
            print(json.dumps({"round": round_, "variant": variant,
                              "seconds": round(seconds, 3), "load": float(load), **cpu}),
                  file=sys.stderr)
    shutil.rmtree(plain_dir, ignore_errors=True)
    print("| variant | median | runs |")
    print("| --- | ---: | --- |")
    for variant, got in times.items():
        print(f"| {variant} | {statistics.median(got):.2f} s | "
              f"{', '.join(f'{t:.2f}' for t in got)} |")


if __name__ == "__main__":
    main()
