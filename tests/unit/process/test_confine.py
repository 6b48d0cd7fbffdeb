"""Confined commands: environment from nothing, process-group timeouts, owned-only reads."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from hostbook.capture.probe import ProbeContext
from hostbook.manifest.sections.config import ConfigDocument
from hostbook.process.confine import Confinement, identity_for, read_owned
from hostbook.process.runner import LiveRunner

CONFIG = ConfigDocument.model_validate({"schema": "hostbook/config/v1"})


def test_environment_is_built_from_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSH_AUTH_SOCK", "/tmp/agent.sock")
    monkeypatch.setenv("GIT_DIR", "/elsewhere")
    result = LiveRunner().query(["env"], confine=Confinement(env={"HGPLAIN": "1"}))
    env = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert set(env) == {"PATH", "LC_ALL", "LANG", "HOME", "HGPLAIN"}
    assert env["HOME"] == "/nonexistent" and env["LC_ALL"] == "C"


def test_confined_command_runs_in_its_own_session_from_root_dir() -> None:
    result = LiveRunner().query(["sh", "-c", "pwd; ps -o sid= -p $$; ps -o pgid= -p $$; echo $$"],
                              confine=Confinement())
    cwd, sid, pgid, pid = (line.strip() for line in result.stdout.splitlines())
    assert cwd == "/" and sid == pgid == pid  # session and group leader: no terminal


def test_timeout_kills_what_the_tool_left_behind(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    # A "hook" leaving a grandchild that keeps the output pipe open.
    script = f"sleep 300 & echo $! > {pidfile}; sleep 300"
    started = time.monotonic()
    result = LiveRunner().query(["sh", "-c", script], timeout=0.5, confine=Confinement())
    assert result.timed_out and time.monotonic() - started < 10
    grandchild = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while Path(f"/proc/{grandchild}").exists() and time.monotonic() < deadline:
        state = Path(f"/proc/{grandchild}/stat").read_text().split(") ", 1)[1][0]
        if state == "Z":
            break  # killed, waiting for init to reap it
        time.sleep(0.05)
    else:
        assert not Path(f"/proc/{grandchild}").exists()


def test_read_owned_refuses_links_other_owners_and_fifos(tmp_path: Path) -> None:
    mine = tmp_path / "HEAD"
    mine.write_text("ref: refs/heads/main\n")
    uid = os.getuid()
    assert read_owned(str(mine), uid) == b"ref: refs/heads/main\n"
    assert read_owned(str(mine), uid + 1) is None
    link = tmp_path / "sparse-checkout"
    link.symlink_to(mine)
    assert read_owned(str(link), uid) is None
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert read_owned(str(fifo), uid) is None
    assert read_owned(str(tmp_path / "absent"), uid) is None


def test_identity_changes_only_for_root(tmp_path: Path) -> None:
    assert identity_for([str(tmp_path)], euid=1000) is None
    if os.lstat(tmp_path).st_uid == 0:
        assert identity_for([str(tmp_path)], euid=0) is None  # root's own: no switch


def test_incomplete_reasons_never_quote_credentials() -> None:
    ctx = ProbeContext(runner=LiveRunner(), config=CONFIG, section="checkouts")
    ctx.mark_incomplete("checkout /srv/a", "fatal: unable to access "
                        "'https://u:SEKRIT/x@git.example.org/a.git/': 403")
    assert "SEKRIT" not in repr(ctx.incomplete) + repr(ctx.warnings)
