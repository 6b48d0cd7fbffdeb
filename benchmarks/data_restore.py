"""Benchmark: ``hostbook restore data`` beside the bare tool commands on the same archives.

Usage (root: the restore bind-mounts the target)::

    .venv/bin/python benchmarks/data_restore.py [--files 100000] [--mib 2048]
                                                [--rounds 2] [--dir DIR] [--json]

A tree of ``--files`` files holding ``--mib`` MiB of random bytes in all
(100 per directory) is archived once by ``hostbook run`` to restic, borg and
tar.  Then, per tool, into an emptied target (page cache warm for the
archives: each tool reads the same archive twice):

1. the bare command: ``restic restore ID --target T --include PATH``,
   ``borg extract --numeric-ids --sparse REPO::NAME`` in T, ``tar --extract``
   with the options ``restore data`` passes;
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


def jobs_yaml(work: Path) -> Path:
    password = work / "pass"
    password.write_text("benchmark password\n")
    password.chmod(0o600)
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
      - {{tool: restic, repository: {work / 'restic'}, password_file: {password}, init: true}}
      - {{tool: borg, repository: {work / 'borg'}, password_file: {password}, init: true,
         encryption: repokey-blake2, compression: none}}
      - {{tool: tar, destination: {work / 'tar'}, level: 1}}
""")
    return path


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


def empty(target: Path) -> None:
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()


def settle() -> None:
    """Write back what the last run (or the removal of its tree) left dirty, then wait."""
    subprocess.run(["sync"], check=True)
    time.sleep(2)


def bare_restore(tool: str, archive: str, work: Path, target: Path, stable: str,
                 password: dict[str, str]) -> float:
    """The tool alone, with the options restore data gives it, into ``target``."""
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
    args = parser.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="hostbook-bench-data-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("RESTIC_CACHE_DIR", str(work / "restic-cache"))
    os.environ.setdefault("BORG_BASE_DIR", str(work / "borg-home"))
    generate(work / "tree", args.files, args.mib << 20)
    jobs = jobs_yaml(work)
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
    target = work / "target"
    restored = target / (work / "tree").relative_to("/")
    stable = f"{loaded.document.settings.mount_root}/{loaded.document.jobs[0].volume.key}"
    figures: list[dict[str, Any]] = []
    for entry in listing:
        archive = entry.archives[0]
        bares: list[float] = []
        totals: list[float] = []
        verifies: list[float] = []
        extracts: list[float] = []
        refs: list[float] = []
        for round_ in range(args.rounds):
            order = ("bare", "hostbook") if round_ % 2 == 0 else ("hostbook", "bare")
            for which in order:
                empty(target)
                settle()
                if which == "bare":
                    bares.append(bare_restore(entry.tool, archive.id, work, target, stable,
                                              password))
                    continue
                began = time.monotonic()
                done = restore_data(DataRequest(repository=None, host=HOST, jobs_file=jobs,
                                                target=str(target), source=entry.target))
                totals.append(time.monotonic() - began)
                [volume] = done.volumes
                if volume.status != "verified":
                    raise SystemExit(f"{entry.tool}: {volume.status}: {volume.message}")
                verifies.append(volume.verify_seconds)
                extracts.append(volume.extract_seconds)
                refs.append(reference(restored))
                (work / "state" / "restore" / f"{HOST}@data.journal").unlink(missing_ok=True)
        bare, total = statistics.median(bares), statistics.median(totals)
        verify, ref = statistics.median(verifies), statistics.median(refs)
        figures.append({
            "tool": entry.tool, "rounds": args.rounds, "bare_s": round(bare, 2),
            "bare_all": [round(b, 2) for b in bares], "hostbook_s": round(total, 2),
            "hostbook_all": [round(t, 2) for t in totals],
            "extract_s": round(statistics.median(extracts), 2), "verify_s": round(verify, 2),
            "reference_s": round(ref, 2), "overhead": round((total - verify) / bare - 1, 4),
            "verify_ratio": round(verify / ref, 3),
        })
    empty(target)
    if args.json:
        print(json.dumps(figures, indent=1))
        return
    print("| tool | bare command | restore data | of it: extraction | verification | "
          "find + sha256sum | overhead (w/o verification) | verification / reference |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in figures:
        print(f"| {row['tool']} | {row['bare_s']:.2f} s | {row['hostbook_s']:.2f} s | "
              f"{row['extract_s']:.2f} s | {row['verify_s']:.2f} s | {row['reference_s']:.2f} s"
              f" | {row['overhead'] * 100:+.1f}% | {row['verify_ratio']:.2f}x |")
    if args.dir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
