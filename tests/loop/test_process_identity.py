"""As root, a command can run as another user with no way back up (root tier)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostbook.process.environment import tool_environment
from hostbook.process.spawn import Identity, execute
from tests.tiers import require_root

pytestmark = pytest.mark.loop

NOBODY = Identity(65534, 65534)


@pytest.fixture(autouse=True)
def _root() -> None:
    require_root("running a command as another user")


def test_the_command_has_the_identity_and_no_groups_or_privileges() -> None:
    result = execute(["sh", "-c", "id -u; id -g; id -G; grep -E '^(NoNewPrivs|CapEff|CapBnd)' "
                      "/proc/self/status; echo $HOME"], tool_environment(), timeout=10,
                     identity=NOBODY)
    assert result.ok, result.failure()
    uid, gid, groups, caps, bounding, nnp, home = result.stdout.splitlines()
    assert (uid, gid, groups) == ("65534", "65534", "65534")
    assert caps.split() == ["CapEff:", "0000000000000000"]
    assert bounding.split() == ["CapBnd:", "0000000000000000"]
    assert nnp.split() == ["NoNewPrivs:", "1"]
    assert home == "/nonexistent"


@pytest.fixture
def setuid_id() -> Iterator[Path]:
    """A setuid-root copy of id(1) that the unprivileged user can reach."""
    folder = Path(tempfile.mkdtemp(prefix="hostbook-suid-", dir="/var/tmp"))
    try:
        folder.chmod(0o755)
        binary = folder / "id"
        shutil.copy("/usr/bin/id", binary)
        binary.chmod(0o4755)
        yield binary
    finally:
        shutil.rmtree(folder)


def test_a_setuid_program_cannot_raise_it_back(setuid_id: Path) -> None:
    # Without no_new_privs the copy reports euid=0: the control shows the test can fail.
    control = subprocess.run([str(setuid_id)], user=65534, group=65534, extra_groups=[],
                             capture_output=True, text=True, check=True)
    assert "euid=0" in control.stdout
    result = execute([str(setuid_id)], tool_environment(), timeout=10, identity=NOBODY)
    assert result.ok, result.failure()
    assert "euid=" not in result.stdout and result.stdout.startswith("uid=65534")


PARENT = """
from hostbook.process.environment import tool_environment
from hostbook.process.spawn import Identity, execute
execute(["sh", "-c", "echo $$; exec sleep 60"], tool_environment(), timeout=None,
        identity=Identity(65534, 65534), on_line=lambda name, line: print(line, flush=True))
"""


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"


def test_the_death_signal_survives_the_identity_change() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert os.stat(f"/proc/{child}").st_uid == 65534
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 5
    while not _gone(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(child)
