"""The host lock: a second run stops with the holder's name, or waits for it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from hostbook.jobs.run.lock import RunLocked, host_lock

_HOLDER = """
import sys, time
from pathlib import Path
from hostbook.jobs.run.lock import host_lock
with host_lock(Path(sys.argv[1]), "h"):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _hold(state: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(state), str(seconds)],
        stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_second_run_stops_with_a_message_naming_the_holder(tmp_path: Path) -> None:
    holder = _hold(tmp_path, 30)
    try:
        with pytest.raises(RunLocked) as info, host_lock(tmp_path, "h"):
            pass
        assert f"pid {holder.pid}" in str(info.value)
        assert "another hostbook run for h is in progress" in str(info.value)
    finally:
        holder.kill()
        holder.wait()
    # The kernel released the dead holder's lock: no stale lock file to clean.
    with host_lock(tmp_path, "h"):
        pass


def test_second_run_waits_for_the_first(tmp_path: Path) -> None:
    holder = _hold(tmp_path, 0.8)
    started = time.monotonic()
    with host_lock(tmp_path, "h", wait=20):
        waited = time.monotonic() - started
    holder.wait()
    assert 0.3 < waited < 20
