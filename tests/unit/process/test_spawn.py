"""The process layer runs real programs: environment, timeouts, groups, death signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from hostbook.process.environment import tool_environment
from hostbook.process.spawn import execute


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie whose parent has not reaped it yet is gone for our purposes.
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def test_tools_see_the_c_locale_and_sbin_on_path() -> None:
    env = tool_environment({"LANG": "de_DE.UTF-8", "LANGUAGE": "de"})
    env.pop("LANGUAGE", None)
    result = execute(["env"], tool_environment(), timeout=10)
    assert result.ok
    lines = set(result.stdout.splitlines())
    assert "LC_ALL=C" in lines
    path = next(line for line in lines if line.startswith("PATH="))
    assert "/usr/sbin" in path.split(":") or "/usr/sbin" in path


def test_a_missing_program_is_missing_not_an_exception() -> None:
    result = execute(["no-such-tool-here"], tool_environment(), timeout=10)
    assert result.missing and result.returncode == 127
    assert result.failure() == "no-such-tool-here: not installed"


def test_stdin_is_fed_and_lines_are_streamed() -> None:
    seen: list[tuple[str, str]] = []
    result = execute(["sh", "-c", "cat; echo oops >&2"], tool_environment(), timeout=10,
                     stdin="one\ntwo\n", on_line=lambda name, line: seen.append((name, line)))
    assert result.stdout == "one\ntwo\n"
    assert result.stderr == "oops\n"
    assert ("stdout", "one") in seen and ("stdout", "two") in seen and ("stderr", "oops") in seen


def test_a_timeout_kills_the_tool_and_what_it_started(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    started = time.monotonic()
    # The background sleep keeps stdout open: without the group kill the read would hang.
    result = execute(["sh", "-c", f"sleep 60 & echo $! > {pidfile}; wait"],
                     tool_environment(), timeout=1.0)
    assert result.timed_out and result.returncode == -9
    assert time.monotonic() - started < 10
    grandchild = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)


PARENT = """
import sys, time
from hostbook.process.environment import tool_environment
from hostbook.process.spawn import execute
execute(["sh", "-c", "echo $$ > " + sys.argv[1] + "; exec sleep 60"], tool_environment(),
        timeout=None)
"""


def test_a_tool_dies_with_a_killed_hostbook(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(pidfile)])
    deadline = time.monotonic() + 20
    while not (pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(pidfile.read_text())
    assert _alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)
