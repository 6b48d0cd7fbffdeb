"""Benchmark: where the time of ``restore data``'s extraction goes (borg, xfsrestore).

Usage (root; after ``data_restore.py --tools TOOL --dir DIR`` made the archive)::

    .venv/bin/python benchmarks/extract_variants.py --dir DIR [--tool borg|xfsdump]
                                                    [--rounds 3] [--variants a,b,...]
                                                    [--warm]

The same extraction (``borg extract --numeric-ids --sparse REPO::NAME`` in
the destination, or ``xfsrestore -r -J -f DUMP DEST`` and the removal of its
housekeeping folder), started in the ways ``restore data`` differs from a
shell:

- ``plain``: ``subprocess.run`` with this process's environment plus the
  password environment, output to /dev/null, into an empty directory;
- ``tool-env``: the same with hostbook's exact tool environment (``LC_ALL=C``,
  sbin on PATH, the password environment ``restore data`` builds);
- ``subdir``: ``plain`` into the folder ``restore data`` uses, the volume's
  mount point under the target (``T/var/tmp/...``) instead of ``T`` itself;
- ``bind``: ``plain`` into a bind mount of that folder (what ``restore data``
  extracts into);
- ``runner``: hostbook's ``LiveRunner.command`` (own session, preexec_fn with
  PDEATHSIG, both streams read by threads) into the plain directory;
- ``runner-bind``: ``runner`` into the bind mount;
- ``restore-data``: ``restore_data()`` itself, its extraction time (its CPU
  times include the bind mount and the checks' child processes).

With ``xfsdump`` the tree's image must exist (``data_restore.py`` made it);
each run gets a fresh XFS on the target image.  Every run starts after
``sync`` and dropping the page cache (``--warm``: only ``sync``); the variants
are interleaved (rotated each round) and the medians printed with each run's
wall, user and system seconds.
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
VARIANTS = ("plain", "tool-env", "subdir", "bind", "runner", "runner-bind", "restore-data")
IMAGE_BYTES = 8 << 30


def settle(cold: bool) -> None:
    subprocess.run(["sync"], check=True)
    if cold:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    time.sleep(2)


def is_mount(path: Path) -> bool:
    return subprocess.run(["mountpoint", "-q", str(path)], check=False).returncode == 0


def fresh_target(work: Path, xfs: bool) -> Path:
    """An empty target: a new XFS on the target image, else a new directory."""
    target = work / "target"
    if xfs:
        if is_mount(target):
            subprocess.run(["umount", str(target)], check=True)
        image = work / "target.xfs"
        with open(image, "wb") as handle:
            handle.truncate(IMAGE_BYTES)
        subprocess.run(["mkfs.xfs", "-q", "-f", str(image)], check=True)
        target.mkdir(exist_ok=True)
        subprocess.run(["mount", "-o", "loop", str(image), str(target)], check=True)
    else:
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir()
    return target


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--tool", choices=("borg", "xfsdump"), default="borg")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--warm", action="store_true",
                        help="only sync before each run (the page cache keeps the archive)")
    args = parser.parse_args()
    work: Path = args.dir
    xfs = args.tool == "xfsdump"
    os.environ.setdefault("BORG_BASE_DIR", str(work / "borg-home"))
    jobs = work / "jobs.yaml"
    tree = work / "tree"
    if xfs and not is_mount(tree):
        subprocess.run(["mount", "-o", "loop", str(work / "tree.xfs"), str(tree)], check=True)
    try:
        times = measure(args, work, jobs, xfs)
    finally:
        for mounted in (work / "target", tree):
            if xfs and is_mount(mounted):
                subprocess.run(["umount", str(mounted)], check=False)
    print("| variant | median | runs (wall s) |")
    print("| --- | ---: | --- |")
    for variant, got in times.items():
        print(f"| {variant} | {statistics.median(got):.2f} s | "
              f"{', '.join(f'{t:.2f}' for t in got)} |")


def measure(args: argparse.Namespace, work: Path, jobs: Path,
            xfs: bool) -> dict[str, list[float]]:
    loaded = load_jobs(file=jobs, host=HOST)
    [entry] = [t for t in catalog(LiveRunner(), loaded) if t.tool == args.tool]
    archive = entry.archives[0]
    spec = next(a for a in loaded.document.jobs[0].archive if a.tool == args.tool)
    password = env_for(args.tool, spec)
    view = work / "variant-view"
    variants = [v for v in VARIANTS if v in args.variants.split(",")]
    times: dict[str, list[float]] = {v: [] for v in variants}
    for round_ in range(args.rounds):
        shift = round_ % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            target = fresh_target(work, xfs)
            dest = target
            if variant in ("subdir", "bind", "runner-bind"):
                dest = target / (work / "tree").relative_to("/")
                dest.mkdir(parents=True)
            if variant.endswith("bind"):
                view.mkdir(exist_ok=True)
                subprocess.run(["mount", "--bind", str(dest), str(view)], check=True)
                dest = view
            settle(not args.warm)
            if xfs:
                argvs = [["xfsrestore", "-r", "-J", "-f", str(Path(spec.destination) / part),
                          str(dest)] for part in archive.parts or [archive.id]]
                argvs.append(["rm", "-rf", "--one-file-system", "--",
                              str(dest / "xfsrestorehousekeepingdir")])
            else:
                argvs = [["borg", "extract", "--numeric-ids", "--sparse",
                          f"{spec.repository}::{archive.id}"]]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            began = time.monotonic()
            if variant in ("plain", "subdir", "bind", "tool-env"):
                env = tool_environment(password) if variant == "tool-env" else {
                    **os.environ, **password}
                for argv in argvs:
                    subprocess.run(argv, cwd=dest, env=env, check=True,
                                   stdout=subprocess.DEVNULL)
            elif variant.startswith("runner"):
                for argv in argvs:
                    result = LiveRunner().command(argv, env=password, cwd=str(dest),
                                                  timeout=None)
                    if not result.ok:
                        raise SystemExit(result.failure())
            else:
                done = restore_data(DataRequest(repository=None, host=HOST, jobs_file=jobs,
                                                target=str(target), source=spec.label))
                [volume] = done.volumes
                if volume.status != "verified":
                    raise SystemExit(f"{volume.status}: {volume.message}")
                (work / "state" / "restore" / f"{HOST}@data.journal").unlink(missing_ok=True)
            seconds = time.monotonic() - began
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if variant == "restore-data":
                seconds = volume.extract_seconds
            if dest == view:
                subprocess.run(["umount", str(view)], check=True)
            times[variant].append(seconds)
            load = Path("/proc/loadavg").read_text().split()[0]
            print(json.dumps({
                "round": round_, "variant": variant, "seconds": round(seconds, 3),
                "load": float(load), "user": round(after.ru_utime - before.ru_utime, 2),
                "sys": round(after.ru_stime - before.ru_stime, 2)}), file=sys.stderr)
    if not xfs:
        shutil.rmtree(work / "target", ignore_errors=True)
    return times


if __name__ == "__main__":
    main()
