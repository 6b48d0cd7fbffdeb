"""Start-up of the single-file build beside a PyInstaller onefile and the virtualenv.

    .venv/bin/python benchmarks/single_file.py ZIPAPP [--pyinstaller FILE] [--runs 5]

Each command (``--version``, and ``doctor`` of a recorded host) is run
``--runs`` times through each form; the medians are printed.  The zipapp
runs on this machine's /usr/bin/python3 with ``-I`` (no virtualenv, no user
site), from a fresh cache whose first run is timed on its own.  Build a
PyInstaller onefile to compare with (in a scratch virtualenv with
``pip install pyinstaller .``):
``pyinstaller --onefile --collect-submodules hostbook --collect-data hostbook entry.py``
with ``entry.py`` holding ``from hostbook.cli import main; main()``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "golden-manifests" / "storage-uefi" / "storage.yaml"


def timed(argv: list[str], env: dict[str, str]) -> float:
    began = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True)
    return time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("zipapp", type=Path)
    parser.add_argument("--pyinstaller", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="hostbook-start-", dir="/var/tmp"))
    repo = scratch / "repo"
    (repo / "hosts" / "laptop").mkdir(parents=True)
    shutil.copy(FIXTURE, repo / "hosts" / "laptop")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(scratch), "LC_ALL": "C",
           "HOSTBOOK_SINGLE_CACHE": str(scratch / "cache")}
    forms = {"zipapp": ["/usr/bin/python3", "-I", str(args.zipapp)],
             "venv": [str(ROOT / ".venv" / "bin" / "hostbook")]}
    if args.pyinstaller:
        forms["pyinstaller"] = [str(args.pyinstaller)]
    first = timed([*forms["zipapp"], "--version"], env)
    print(f"zipapp first run (unpacks {args.zipapp.stat().st_size / 1e6:.1f} MB): {first:.3f} s")
    for name, command in (("--version", ["--version"]),
                          ("doctor laptop", ["doctor", "laptop", "--repo", str(repo)])):
        cells = []
        for form, argv in forms.items():
            runs = [timed([*argv, *command], env) for _ in range(args.runs)]
            cells.append(f"{form} {statistics.median(runs):.3f} s")
        print(f"{name}: " + ", ".join(cells) + f" (medians of {args.runs})")
    for form, argv in forms.items():
        size = Path(argv[-1]).stat().st_size if form != "venv" else 0
        if size:
            print(f"{form} file: {size / 1e6:.1f} MB")
    shutil.rmtree(scratch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
