"""What the lab's job tests share: the guest's hostbook calls and pools, the host's reading.

``GUEST_HOSTBOOK`` is the start of a guest-side Python step: ``results`` (the
folder named by ``RESULTS`` that the step defines first), ``CLI`` and ``RUN``
(``python -c`` programs that are ``hostbook`` and ``hostbook run``),
``hostbook(name, jobs, *extra)`` (a ``run --json`` whose events, exit code and
stderr land in ``results``), ``settings(work)`` (a jobs.yaml's start),
``running(comm)`` and ``record(name, argvs)`` (queries recorded for the unit
tests' replay).  ``zfs_pools`` is the start of
a guest-side shell step that makes the two pools a ZFS test needs.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.lab.vm import find_kernel
from tests.tiers import skip_or_fail

GUEST_HOSTBOOK = r"""
import json, os, signal, subprocess, sys, time
from pathlib import Path

results = Path(os.environ["LAB_RESULTS"]) / RESULTS
results.mkdir(parents=True, exist_ok=True)
CLI = "import sys; from hostbook.cli import main; sys.argv[0] = 'hostbook'; main()"
RUN = "import sys; from hostbook.commands.run import run; sys.argv[0] = 'hostbook'; run()"

def hostbook(name, jobs, *extra):
    done = subprocess.run([sys.executable, "-c", RUN, "--jobs-file", str(jobs), "--host",
                           "lab", "--json", "--no-notify", *extra],
                          capture_output=True, text=True)
    (results / f"{name}.events").write_text(done.stdout)
    (results / f"{name}.rc").write_text(str(done.returncode))
    (results / f"{name}.err").write_text(done.stderr)
    return done

def settings(work):
    # The start of a jobs.yaml whose state, mounts and databases stay in the guest.
    return (f"schema: hostbook/jobs/v1\nsettings:\n  state_dir: {work}/state\n"
            f"  mount_root: /run/hostbook/volumes\n  sure_store: {work}/sure\n")

def running(name):
    # a process can exit between listing /proc and reading its comm
    for p in Path("/proc").iterdir():
        try:
            if p.name.isdigit() and name in (p / "comm").read_text():
                return True
        except OSError:
            continue
    return False

def record(name, argvs=(), recorder=None):
    # Queries hostbook makes, recorded for the unit tests' replay.
    from hostbook.process.recording import RecordingRunner
    from hostbook.process.runner import LiveRunner
    folder = results / "recordings" / name
    folder.mkdir(parents=True, exist_ok=True)
    recorder = recorder or RecordingRunner(LiveRunner(), folder)
    for argv in argvs:
        recorder.query(argv)
    recorder.save()
    return folder
"""


def guest_step(folder: str, body: str) -> str:
    """A guest Python step writing into ``LAB_RESULTS/folder``, with the helpers above."""
    return f"RESULTS = {folder!r}\n" + GUEST_HOSTBOOK + body


def zfs_pools(first: str, second: str, second_pool: str = "backup") -> str:
    """Shell: load zfs and make pool ``tank`` on disk ``first`` and ``second_pool`` on
    ``second`` (virtio serials)."""
    return f"""
set -euo pipefail
grep -qw hostbook.lab=1 /proc/cmdline
modprobe zfs
zpool create -f -o ashift=12 -O mountpoint=none tank /dev/disk/by-id/virtio-{first}
zpool create -f -o ashift=12 -O mountpoint=none {second_pool} /dev/disk/by-id/virtio-{second}
"""


def require_zfs_module() -> None:
    """Skip (or fail, where the lab tier is required) without the lab kernel's zfs."""
    kernel = find_kernel()
    probe = subprocess.run(["modinfo", "-k", kernel.version, "zfs"], capture_output=True)
    if probe.returncode != 0:
        skip_or_fail(f"no zfs module for the lab kernel {kernel.version} (sh .ci/zfs-module)")


def events(path: Path) -> list[dict[str, Any]]:
    """A ``run --json`` output, one event a line."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def summary(out: Path, run: str) -> dict[str, Any]:
    """The summary event of a run that must have succeeded (exit 0)."""
    assert (out / f"{run}.rc").read_text() == "0", (out / f"{run}.err").read_text()
    last = events(out / f"{run}.events")[-1]
    assert last["event"] == "summary" and last["exit_code"] == 0, last
    return last
