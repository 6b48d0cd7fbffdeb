"""Benchmark: ``hostbook restore data`` beside the bare tool commands on the same archives.

Usage (root: the restore bind-mounts the target)::

    .venv/bin/python benchmarks/data_restore.py [--files 100000] [--mib 2048]
                                                [--rounds 2] [--dir DIR] [--json]
                                                [--tools restic,borg,tar,xfsdump]

A tree of ``--files`` files holding ``--mib`` MiB of random bytes in all
(100 per directory) is archived once by ``hostbook run`` to the ``--tools``
(restic, borg, tar, xfsdump).  With xfsdump among them, the tree lives on an
XFS of its own and every tool restores into a second one (both loop
filesystems over image files in ``--dir``, made on first use, mounted for
the run and unmounted after it), as xfsdump dumps a whole XFS.  Then, per
tool, each timed run into an empty target (a fresh filesystem on the XFS
target), after ``sync`` and dropping the page cache, so both start cold:

1. the bare command: ``restic restore ID --target T --include PATH``,
   ``borg extract --numeric-ids --sparse REPO::NAME`` in T, ``tar --extract``
   with the options ``restore data`` passes, ``xfsrestore -r -J -f DUMP T``
   per dump of the chain (level 0 first) and then the removal of
   ``T/xfsrestorehousekeepingdir``;
2. ``hostbook restore data HOST --from TOOL`` (library call, so no interpreter
   start-up), with its own extraction and verification times;
3. the verification's reference: a ``find`` walk of the restored tree plus
   ``sha256sum`` of every restored file (two at a time, as the machine has
   two cores).

hostbook's overhead is (restore data - its verification) / bare command - 1;
the verification is compared with the reference as a ratio.  The tree and
the archives are kept in ``--dir`` when given (reused next time).
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
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hostbook.jobs.run.events import PlainSink  # noqa: E402
from hostbook.jobs.run.jobs_file import load_jobs  # noqa: E402
from hostbook.jobs.run.orchestrator import run_jobs  # noqa: E402
from hostbook.jobs.run.request import RunRequest  # noqa: E402
from hostbook.process.runner import LiveRunner  # noqa: E402
from hostbook.restore.data.catalog import catalog  # noqa: E402
from hostbook.restore.data.session import DataRequest, restore_data  # noqa: E402

HOST = "benchhost"
PER_DIR = 100
TOOLS = ("restic", "borg", "tar", "xfsdump")
IMAGE_BYTES = 8 << 30
"""Size of each XFS image file (sparse: only what is written takes room)."""


def generate(root: Path, files: int, total: int) -> None:
    marker = root / ".benchmark-tree"
    wanted = f"{files} {total}"
    if marker.exists() and marker.read_text() == wanted:
        return
    shutil.rmtree(root, ignore_errors=True)
    rng = random.Random(11)
    mean = total // files
    for index in range(files):
        directory = root / f"d{index // PER_DIR:05d}"
        if index % PER_DIR == 0:
            directory.mkdir(parents=True)
        (directory / f"f{index:06d}.dat").write_bytes(rng.randbytes(rng.randint(0, 2 * mean)))
    marker.write_text(wanted)


def jobs_yaml(work: Path, tools: list[str]) -> Path:
    password = work / "pass"
    password.write_text("benchmark password\n")
    password.chmod(0o600)
    targets = {
        "restic": f"{{tool: restic, repository: {work / 'restic'}, password_file: {password},"
                  " init: true}",
        "borg": f"{{tool: borg, repository: {work / 'borg'}, password_file: {password},"
                " init: true, encryption: repokey-blake2, compression: none}",
        "tar": f"{{tool: tar, destination: {work / 'tar'}, level: 1}}",
        "xfsdump": f"{{tool: xfsdump, destination: {work / 'xfsdump'}}}",
    }
    lines = "".join(f"      - {targets[tool]}\n" for tool in tools)
    path = work / "jobs.yaml"
    path.write_text(f"""\
schema: hostbook/jobs/v1
settings:
  state_dir: {work / 'state'}
  mount_root: {work / 'volumes'}
  sure_store: {work / 'sure'}
jobs:
  - name: tree
    volume: {{path: {work / 'tree'}}}
    archive:
{lines}""")
    return path


def is_mount(path: Path) -> bool:
    return subprocess.run(["mountpoint", "-q", str(path)], check=False).returncode == 0


def xfs_mount(image: Path, where: Path, fresh: bool = False) -> None:
    """Mount the XFS in ``image`` (made when missing or ``fresh``) at ``where``, over a loop."""
    if is_mount(where):
        subprocess.run(["umount", str(where)], check=True)
    if fresh or not image.exists():
        with open(image, "wb") as handle:
            handle.truncate(IMAGE_BYTES)
        subprocess.run(["mkfs.xfs", "-q", "-f", str(image)], check=True)
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-o", "loop", str(image), str(where)], check=True)


def timed(argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> float:
    began = time.monotonic()
    subprocess.run(argv, cwd=cwd, env={**os.environ, **(env or {})}, check=True,
                   stdout=subprocess.DEVNULL)
    return time.monotonic() - began


def reference(tree: Path) -> float:
    """A find walk plus sha256sum of every restored byte, two files at a time."""
    began = time.monotonic()
    subprocess.run(f"find {tree} -type f -print0 | xargs -0 -P 2 -n 500 sha256sum >/dev/null",
                   shell=True, check=True)
    return time.monotonic() - began


def empty(target: Path, image: Path | None) -> None:
    """An empty target: a new filesystem on the XFS image, else a new directory."""
    if image is not None:
        xfs_mount(image, target, fresh=True)
        return
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()


def settle() -> None:
    """Write back what is dirty and drop the page cache: every timed run starts cold."""
    subprocess.run(["sync"], check=True)
    Path("/proc/sys/vm/drop_caches").write_text("3\n")
    time.sleep(2)


def bare_restore(tool: str, archive: str, work: Path, target: Path, stable: str,
                 password: dict[str, str], parts: list[str]) -> float:
    """The tool alone, with the options restore data gives it, into ``target``."""
    if tool == "xfsdump":
        began = time.monotonic()
        for part in parts or [archive]:
            subprocess.run(["xfsrestore", "-r", "-J", "-f", str(work / "xfsdump" / part),
                            str(target)], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["rm", "-rf", "--one-file-system", "--",
                        str(target / "xfsrestorehousekeepingdir")], check=True)
        return time.monotonic() - began
    if tool == "restic":
        return timed(["restic", "--repo", str(work / "restic"), "restore", archive,
                      "--target", str(target), "--include", stable], env=password)
    if tool == "borg":
        return timed(["borg", "extract", "--numeric-ids", "--sparse",
                      f"{work / 'borg'}::{archive}"], cwd=target, env=password)
    return timed(["tar", "--extract", "--file", str(work / "tar" / archive),
                  "--use-compress-program", "zstd", "--directory", str(target),
                  "--numeric-owner", "--same-owner", "--same-permissions", "--acls",
                  "--xattrs", "--xattrs-include=*", "--delay-directory-restore"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--mib", type=int, default=2048)
    parser.add_argument("--dir", type=Path)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--tools", default=",".join(TOOLS),
                        help="comma-separated, of " + ", ".join(TOOLS))
    args = parser.parse_args()
    tools = [t for t in TOOLS if t in args.tools.split(",")]
    work = args.dir or Path(tempfile.mkdtemp(prefix="hostbook-bench-data-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("RESTIC_CACHE_DIR", str(work / "restic-cache"))
    os.environ.setdefault("BORG_BASE_DIR", str(work / "borg-home"))
    target = work / "target"
    on_xfs = "xfsdump" in tools
    target_image = work / "target.xfs" if on_xfs else None
    try:
        if on_xfs:
            xfs_mount(work / "tree.xfs", work / "tree")
        generate(work / "tree", args.files, args.mib << 20)
        figures = measure(work, tools, args.rounds, target, target_image)
    finally:
        for mounted in (target, work / "tree"):
            if on_xfs and is_mount(mounted):
                subprocess.run(["umount", str(mounted)], check=False)
    if args.json:
        print(json.dumps(figures, indent=1))
    else:
        table(figures)
    if args.dir is None:
        shutil.rmtree(work, ignore_errors=True)


def measure(work: Path, tools: list[str], rounds: int, target: Path,
            target_image: Path | None) -> list[dict[str, Any]]:
    """Archive the tree once (when not yet archived), then the timed rounds per tool."""
    jobs = jobs_yaml(work, tools)
    loaded = load_jobs(file=jobs, host=HOST)
    listing = catalog(LiveRunner(), loaded)
    if any(not t.archives for t in listing):
        began = time.monotonic()
        outcome = run_jobs(RunRequest(loaded=loaded, now=datetime.now(UTC), notify=False,
                                      sink=PlainSink(StringIO())))
        if outcome.exit_code != 0:
            raise SystemExit(f"hostbook run failed: {outcome.to_json()}")
        print(f"archived in {time.monotonic() - began:.1f} s", file=sys.stderr)
        listing = catalog(LiveRunner(), loaded)
    password = {"RESTIC_PASSWORD_FILE": str(work / "pass"),
                "BORG_PASSCOMMAND": f"cat {work / 'pass'}"}
    restored = target / (work / "tree").relative_to("/")
    stable = f"{loaded.document.settings.mount_root}/{loaded.document.jobs[0].volume.key}"
    runs: dict[str, dict[str, list[float]]] = {
        entry.tool: {k: [] for k in ("bare", "total", "verify", "extract", "ref", "load")}
        for entry in listing}
    log = work / "runs.jsonl"
    # Rounds outside, tools inside: a change of the machine's load over the run
    # falls on every tool alike, and a run stopped early still has whole rounds.
    for round_ in range(rounds):
        order = ("bare", "hostbook") if round_ % 2 == 0 else ("hostbook", "bare")
        for entry in listing:
            archive = entry.archives[0]
            got = runs[entry.tool]
            for which in order:
                empty(target, target_image)
                settle()
                load = load_average()
                got["load"].append(load)
                record: dict[str, Any] = {"round": round_, "tool": entry.tool, "run": which,
                                          "load": load}
                if which == "bare":
                    got["bare"].append(bare_restore(entry.tool, archive.id, work, target,
                                                    stable, password, archive.parts))
                    record["seconds"] = round(got["bare"][-1], 3)
                else:
                    began = time.monotonic()
                    done = restore_data(DataRequest(repository=None, host=HOST,
                                                    jobs_file=jobs, target=str(target),
                                                    source=entry.target))
                    got["total"].append(time.monotonic() - began)
                    [volume] = done.volumes
                    if volume.status != "verified":
                        raise SystemExit(f"{entry.tool}: {volume.status}: {volume.message}")
                    got["verify"].append(volume.verify_seconds)
                    got["extract"].append(volume.extract_seconds)
                    got["ref"].append(reference(restored))
                    (work / "state" / "restore" / f"{HOST}@data.journal").unlink(
                        missing_ok=True)
                    record.update(seconds=round(got["total"][-1], 3),
                                  extract=round(volume.extract_seconds, 3),
                                  verify=round(volume.verify_seconds, 3),
                                  reference=round(got["ref"][-1], 3))
                with log.open("a") as handle:
                    handle.write(json.dumps(record) + "\n")
                print(json.dumps(record), file=sys.stderr)
    figures: list[dict[str, Any]] = []
    for tool, got in runs.items():
        bare, total = statistics.median(got["bare"]), statistics.median(got["total"])
        verify, ref = statistics.median(got["verify"]), statistics.median(got["ref"])
        figures.append({
            "tool": tool, "rounds": rounds, "bare_s": round(bare, 2),
            "bare_all": [round(b, 2) for b in got["bare"]], "hostbook_s": round(total, 2),
            "hostbook_all": [round(t, 2) for t in got["total"]],
            "extract_s": round(statistics.median(got["extract"]), 2),
            "verify_s": round(verify, 2), "reference_s": round(ref, 2),
            "overhead": round((total - verify) / bare - 1, 4),
            "verify_ratio": round(verify / ref, 3),
            "load_min": min(got["load"]), "load_max": max(got["load"]),
        })
    empty(target, target_image)
    return figures


def load_average() -> float:
    """The 1-minute load average: the machine is shared, so every figure carries it."""
    return float(Path("/proc/loadavg").read_text().split()[0])


def table(figures: list[dict[str, Any]]) -> None:
    print("| tool | bare command | restore data | of it: extraction | verification | "
          "find + sha256sum | overhead (w/o verification) | verification / reference |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in figures:
        print(f"| {row['tool']} | {row['bare_s']:.2f} s | {row['hostbook_s']:.2f} s | "
              f"{row['extract_s']:.2f} s | {row['verify_s']:.2f} s | {row['reference_s']:.2f} s"
              f" | {row['overhead'] * 100:+.1f}% | {row['verify_ratio']:.2f}x |")


if __name__ == "__main__":
    main()
