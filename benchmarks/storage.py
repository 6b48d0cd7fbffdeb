"""Storage capture: wall time and subprocesses, on this machine and in the VM lab.

    .venv/bin/python benchmarks/storage.py host [--runs N]     # this machine (root)
    .venv/bin/python benchmarks/storage.py loop [--runs N]     # + the loop-test layout
    .venv/bin/python benchmarks/storage.py lab [--runs N]      # lab guest (root, qemu)
    ... --before REV     # also time the CLI of commit REV, in the same process or guest

``host`` captures this machine's storage section in-process (probes only, the
interpreter already warm) and through the CLI (a new process, as a timer or
hook would run it).  ``loop`` does the same with the loop tier's layout attached (GPT, MBR and
4Kn tables, ext2/3/4, xfs, btrfs, vfat, swap, LUKS1/2, an LVM VG: some 20
block devices on this udev-less machine).  ``lab`` boots one guest, builds the ``server`` layout and
measures the same there; then it builds the other layouts beside it and
measures a capture of everything (some 40 block devices), to show how the
subprocess count grows with the device count.  The guest runs under TCG
emulation, so its wall times are many times those of real hardware; the
subprocess counts are exact.  Prints tables; the figures go into
benchmarks/storage.md.

Bytecode is compiled first (as .ci/test does): the guest reads the checkout
over a read-only share, and a CLI that compiled its sources on every start
would measure the compiler.  ``--before REV`` checks REV out into a temporary
git worktree (removed afterwards) and times its CLI and its import beside
today's, run for run, so a start-up change is compared under the same load.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# Runs inside the guest (and on the host): JSON figures on stdout.
MEASURE = r"""
import json, os, statistics, subprocess, sys, tempfile, time
from pathlib import Path
from hostbook.capture.collect import collect_sections
from hostbook.manifest.config import load_config
try:
    from hostbook.process.recording import RecordingRunner
    from hostbook.process.runner import LiveRunner
except ImportError:  # before the process layer served capture
    from hostbook.capture.runner import LiveRunner, RecordingRunner

runs = int(sys.argv[1])
config = load_config()
times, stats = [], None
scratch = Path(tempfile.mkdtemp())
for _ in range(runs):
    runner = LiveRunner()
    recorder = RecordingRunner(runner, scratch)
    started = time.perf_counter()
    collected = collect_sections(recorder, config, ["storage"], {})
    times.append(time.perf_counter() - started)
    stats = runner.stats
doc = collected.documents["storage"]
commands = recorder.commands
argvs = [entry["argv"] for entry in (commands.values() if isinstance(commands, dict)
                                     else (e for _, e in commands))]
# The floor: the same tools with the same arguments, run bare one after the other.
raw = []
for _ in range(runs):
    started = time.perf_counter()
    for argv in argvs:
        subprocess.run(argv, capture_output=True, check=False, env=dict(os.environ, LC_ALL="C"))
    raw.append(time.perf_counter() - started)
def timed(argv):
    started = time.perf_counter()
    subprocess.run(argv, capture_output=True, check=False)
    return time.perf_counter() - started
bare_python = [timed([sys.executable, "-c", "pass"]) for _ in range(max(1, runs // 2))]
hostbook = os.path.join(os.path.dirname(sys.executable), "hostbook")
# BEFORE_PATH: a tree of links making an older commit the package hostbook; the
# console script and `-c` from /tmp find it first on PYTHONPATH.
before = os.environ.get("BEFORE_PATH")
trees = {"today": dict(os.environ)}
if before:
    trees["before"] = dict(os.environ, PYTHONPATH=before)
imports = {name: [] for name in trees}
cli = {name: [] for name in trees}
for _ in range(runs):  # alternate the trees, so both meet the same load
    for name, env in trees.items():
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import hostbook.cli"], capture_output=True,
                       check=False, env=env, cwd="/tmp")
        imports[name].append(time.perf_counter() - started)
        with tempfile.TemporaryDirectory() as repo:
            started = time.perf_counter()
            subprocess.run([hostbook, "capture", "--only", "storage", "--repo", repo,
                            "--host", "bench", "--no-commit"], capture_output=True,
                           check=False, env=env, cwd="/tmp")
            cli[name].append(time.perf_counter() - started)
devices = sorted(os.listdir("/sys/class/block"))
print(json.dumps({
    "block_devices": len([d for d in devices if int(open(f"/sys/class/block/{d}/size").read())]),
    "entries": len(doc["entries"]),
    "incomplete": doc.get("incomplete", []),
    "probe_seconds": times,
    "cli_seconds": cli["today"],
    "raw_seconds": raw,
    "python_seconds": bare_python,
    "import_seconds": imports["today"],
    "before_cli_seconds": cli.get("before"),
    "before_import_seconds": imports.get("before"),
    "subprocesses": stats.commands,
    "per_tool": dict(sorted(stats.per_tool.items())),
    "file_reads": stats.files,
}))
"""


def table(title: str, figures: dict[str, Any], before_label: str = "before") -> None:
    probe = figures["probe_seconds"]
    cli = figures["cli_seconds"]
    print(f"\n{title}")
    print(f"  block devices (size > 0): {figures['block_devices']}; "
          f"entries in storage.yaml: {figures['entries']}")
    print(f"  subprocesses per capture: {figures['subprocesses']} "
          f"({', '.join(f'{k} {v}' for k, v in figures['per_tool'].items())}); "
          f"file reads: {figures['file_reads']}")
    print(f"  probes in-process: median {statistics.median(probe):.3f} s "
          f"(min {min(probe):.3f}, max {max(probe):.3f}, {len(probe)} runs)")
    print(f"  hostbook capture --only storage (new process): median "
          f"{statistics.median(cli):.3f} s ({len(cli)} runs)")
    if "raw_seconds" in figures:
        raw = statistics.median(figures["raw_seconds"])
        print(f"  the same tools run bare (the floor): median {raw:.3f} s; "
              f"CLI / floor = {statistics.median(cli) / raw:.1f}x")
        print(f"  python3 -c pass: median {statistics.median(figures['python_seconds']):.3f} s; "
              f"import hostbook.cli: median {statistics.median(figures['import_seconds']):.3f} s")
        if figures.get("before_cli_seconds"):
            old = figures["before_cli_seconds"]
            print(f"  {before_label}: hostbook capture median {statistics.median(old):.3f} s "
                  f"({len(old)} runs), CLI / floor = {statistics.median(old) / raw:.1f}x; "
                  "import hostbook.cli: median "
                  f"{statistics.median(figures['before_import_seconds']):.3f} s")
    if figures["incomplete"]:
        print(f"  incomplete: {figures['incomplete']}")


PRODUCT = ("hostbook", "manifest", "process", "capture", "jobs", "restore", "templates")
"""The folders installed as the package hostbook (pyproject.toml's package-dir)."""


def compile_bytecode(tree: Path) -> None:
    """Write every product module's bytecode beside it (PYTHONDONTWRITEBYTECODE or not)."""
    folders = [name for name in PRODUCT if (tree / name).is_dir()]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPYCACHEPREFIX"}
    subprocess.run([sys.executable, "-m", "compileall", "-q", *folders], cwd=tree, env=env,
                   check=True, stdout=subprocess.DEVNULL)


@contextlib.contextmanager
def before_tree(rev: str | None) -> Iterator[Path | None]:
    """Commit `rev` as an importable hostbook: a worktree and a tree of links mapping
    its folders as pyproject.toml does; both removed afterwards."""
    if rev is None:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="hostbook-bench-") as tmp:
        tree, package = Path(tmp) / "tree", Path(tmp) / "path" / "hostbook"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), rev],
                       check=True, capture_output=True)
        try:
            compile_bytecode(tree)
            package.mkdir(parents=True)
            for entry in (tree / "hostbook").iterdir():
                (package / entry.name).symlink_to(entry)
            for name in PRODUCT[1:]:
                if (tree / name).is_dir():
                    (package / name).symlink_to(tree / name)
            yield package.parent
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                           check=False, capture_output=True)


def host(runs: int, before: str | None, title: str = "this machine") -> None:
    compile_bytecode(ROOT)
    with before_tree(before) as path, tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "measure.py"
        script.write_text(MEASURE)
        env = dict(os.environ, BEFORE_PATH=str(path)) if path else None
        out = subprocess.run([sys.executable, str(script), str(runs)], capture_output=True,
                             text=True, check=True, cwd=tmp, env=env)
    table(title, json.loads(out.stdout), f"commit {before}")


def loop(runs: int, before: str | None) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.loop.test_storage_capture import build
    from tests.loopdev import LoopDevices

    make = LoopDevices()
    layout = None
    try:
        layout = build(make)
        host(runs, before, "this machine with the loop-test layout")
    finally:
        for target in layout.mounts.values() if layout else []:
            subprocess.run(["umount", str(target)], capture_output=True, check=False)
        make.close()


def lab(runs: int, before: str | None) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.lab.layouts import LAYOUTS, build_step, disks_for
    from tests.lab.vm import Guest, Step

    compile_bytecode(ROOT)
    with before_tree(before) as path:
        prefix = f"BEFORE_PATH={shlex.quote(str(path))} " if path else ""
        others = [n for n in LAYOUTS if n != "server"]
        measure = (f"cat > /tmp/measure.py <<'PY'\n{MEASURE}\nPY\n"
                   f'{prefix}"$LAB_PYTHON" /tmp/measure.py {runs}')
        steps = [build_step("server", timeout=300), Step("server", measure, timeout=1800)]
        steps += [build_step(n, timeout=300) for n in others]
        steps.append(Step("everything", measure, timeout=1800))
        started = time.monotonic()
        with Guest(disks_for("server", *others)) as guest:
            result = guest.run_steps(steps, timeout=3600, stop_on_error=True)
    result.check()
    print(f"one boot, {time.monotonic() - started:.0f} s in all "
          f"(guest ready after {result.ready_seconds} s)")
    label = f"commit {before}"
    table("lab guest (TCG), server layout", json.loads(result["server"].stdout), label)
    table("lab guest (TCG), all five layouts", json.loads(result["everything"].stdout), label)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("where", choices=("host", "loop", "lab"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--before", metavar="REV",
                        help="also time the CLI of this commit, run for run with today's")
    args = parser.parse_args()
    if os.geteuid() != 0:
        parser.error("run as root: storage capture reads devices")
    {"host": host, "loop": loop, "lab": lab}[args.where](args.runs, args.before)


if __name__ == "__main__":
    main()
