"""One reinstall plan at a time uses the scratch apt folder (its lock, real flock)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostbook.manifest.errors import RuntimeFailure
from hostbook.process.recording import ReplayRunner
from hostbook.restore.reinstall import scratch
from hostbook.restore.reinstall.plan import plan
from tests.reinstall_fixtures import PLAN_BOOKWORM, old_host

HOLD = """
import sys
from hostbook.restore.reinstall.scratch import locked
with locked(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.readline()
"""


@contextlib.contextmanager
def held_elsewhere(folder: Path) -> Iterator[subprocess.Popen[str]]:
    """The lock held by another process until the block ends."""
    other = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert other.stdout is not None and other.stdout.readline() == "held\n"
        yield other
    finally:
        assert other.stdin is not None
        other.stdin.close()
        other.wait(timeout=30)


def test_a_second_plan_waits_then_names_the_holder(tmp_path: Path) -> None:
    folder = tmp_path / "reinstall-apt"
    with held_elsewhere(folder) as other:
        wanted = rf"another reinstall plan holds it \(pid {other.pid}, since .*after waiting"
        with pytest.raises(RuntimeFailure, match=wanted), scratch.locked(str(folder), wait=0.6):
            pass
    with scratch.locked(str(folder), wait=0.0):  # free once the holder is gone
        assert (tmp_path / "reinstall-apt.lock").stat().st_mode & 0o777 == 0o600


def test_the_plan_holds_the_lock_while_it_writes_the_folder_and_asks_apt(
        tmp_path: Path) -> None:
    """The replay asks for the recorded scratch folder; its lock is put in tmp_path."""
    lock_of = tmp_path / "reinstall-apt"
    probes: list[int] = []

    def prepare(_files: object, _root: str, _directory: str) -> None:
        probe = subprocess.run(["flock", "--nonblock", f"{lock_of}.lock", "true"], check=False)
        probes.append(probe.returncode)  # flock exits 1 when another holds the lock

    root = json.loads((PLAN_BOOKWORM / "scenario.json").read_text())["root"]
    made = plan(ReplayRunner(PLAN_BOOKWORM), old_host(), root=root, prepare=prepare,
                lock=lambda _directory: scratch.locked(str(lock_of)))
    assert made.simulation is not None and made.simulation.ok
    assert probes == [1]
    free = subprocess.run(["flock", "--nonblock", f"{lock_of}.lock", "true"], check=False)
    assert free.returncode == 0
