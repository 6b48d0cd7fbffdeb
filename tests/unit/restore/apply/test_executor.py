"""The journaled executor, with real commands.

The steps here run harmless programs (sh, test, cat) through the live runner,
so skipping, resuming after SIGKILL, stdin and secrets are exercised for real
without touching a device.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hostbook.manifest.errors import RuntimeFailure
from hostbook.process.runner import LiveRunner
from hostbook.restore.apply import executor
from hostbook.restore.apply.apply_journal import Journal
from hostbook.restore.apply.executor import apply_steps
from hostbook.restore.apply.passphrases import PassphraseSource
from hostbook.restore.plan.steps import Command, DoneCheck, Step
from hostbook.restore.target.guard import DeviceGuard

NO_DISKS = DeviceGuard(frozenset())


def shell(ident: str, script: str, *, destructive: bool = True,
          done: DoneCheck | None = None, **extra: object) -> Step:
    return Step(ident, "filesystem", f"step {ident}", (Command(("sh", "-c", script)),),
                destructive=destructive, done=done, **extra)  # type: ignore[arg-type]


def source(tmp_path: Path) -> PassphraseSource:
    return PassphraseSource(interactive=False)


def test_resume_skips_finished_destructive_steps_and_redoes_activations(tmp_path: Path) -> None:
    log = tmp_path / "log"
    marker = tmp_path / "made"
    steps = [
        shell("a", f"echo a >> {log}"),
        shell("b", f"echo b >> {log}; echo x > {marker}",
              done=DoneCheck("file", "", {"path": str(marker)})),
        shell("c", f"echo c >> {log}", destructive=False, done=DoneCheck("never")),
        shell("d", f"echo d >> {log}; test -e {tmp_path / 'go'}"),
    ]
    journal = Journal(tmp_path / "journal")
    with pytest.raises(RuntimeFailure, match="step d"):
        apply_steps(steps, NO_DISKS, journal, LiveRunner(), source(tmp_path))
    assert log.read_text().split() == ["a", "b", "c", "d"]
    assert [e.status for e in journal.entries() if e.step == "d"] == ["started", "failed"]
    (tmp_path / "go").touch()
    outcome = apply_steps(steps, NO_DISKS, journal, LiveRunner(), source(tmp_path))
    assert outcome.skipped == {"a": "done in an earlier run", "b": "result already on the device"}
    assert outcome.ran == ["c", "d"]
    assert log.read_text().split() == ["a", "b", "c", "d", "c", "d"]
    # a destructive step whose result vanished runs again, journal or not
    marker.unlink()
    outcome = apply_steps(steps, NO_DISKS, journal, LiveRunner(), source(tmp_path))
    assert "b" in outcome.ran and "a" in outcome.skipped


def test_kill_9_mid_step_then_rerun_completes(tmp_path: Path) -> None:
    log = tmp_path / "log"
    go = tmp_path / "go"
    steps_code = textwrap.dedent(f"""
        from hostbook.restore.plan.steps import Command, Step
        steps = [
            Step("one", "partition", "one", (Command(("sh", "-c", "echo one >> {log}")),)),
            Step("two", "filesystem", "two",
                 (Command(("sh", "-c", "echo two >> {log}; test -e {go} || sleep 60")),)),
            Step("three", "filesystem", "three",
                 (Command(("sh", "-c", "echo three >> {log}")),)),
        ]
    """)
    (tmp_path / "plan.py").write_text(steps_code)
    runner = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from pathlib import Path
        from plan import steps
        from hostbook.process.runner import LiveRunner
        from hostbook.restore.apply.executor import apply_steps
        from hostbook.restore.target.guard import DeviceGuard
        from hostbook.restore.apply.apply_journal import Journal
        from hostbook.restore.apply.passphrases import PassphraseSource
        apply_steps(steps, DeviceGuard(frozenset()), Journal(Path({str(tmp_path)!r}) / "j"),
                    LiveRunner(), PassphraseSource(interactive=False))
    """)
    proc = subprocess.Popen([sys.executable, "-c", runner], start_new_session=True)
    journal = Journal(tmp_path / "j")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # step two's command is running
        if log.exists() and "two" in log.read_text().split():
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the executor and the command it runs
    proc.wait()
    assert journal.finished().keys() == {"one"}
    go.touch()
    sys.path.insert(0, str(tmp_path))
    try:
        from plan import steps  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(tmp_path))
    outcome = apply_steps(steps, NO_DISKS, journal, LiveRunner(), source(tmp_path))
    assert outcome.skipped == {"one": "done in an earlier run"}
    assert outcome.ran == ["two", "three"]
    assert log.read_text().split() == ["one", "two", "two", "three"]


def test_guard_refuses_the_whole_plan_before_anything_runs(tmp_path: Path) -> None:
    log = tmp_path / "log"
    steps = [shell("ok", f"echo ran >> {log}"),
             Step("bad", "wipe", "wipe", (Command(("wipefs", "--all", "/dev/sdz")),))]
    with pytest.raises(RuntimeFailure, match="would write /dev/sdz"):
        apply_steps(steps, DeviceGuard(frozenset({"/dev/sdb"})), Journal(tmp_path / "j"),
                    LiveRunner(), source(tmp_path))
    assert not log.exists()
    assert Journal(tmp_path / "j").entries() == []


def test_stdin_and_secrets_reach_the_command(tmp_path: Path) -> None:
    out = tmp_path / "out"
    secret_file = tmp_path / "pass"
    secret_file.write_text("s3cret\n")
    steps = [
        Step("table", "partition", "t", (Command(("sh", "-c", f"cat > {out}.table"),
                                                 stdin="label: gpt\n"),)),
        Step("luks", "luks", "l", (Command(("sh", "-c", f"cat > {out}"), secret="luks:u1",
                                           secret_name="crypt1"),)),
    ]
    apply_steps(steps, NO_DISKS, Journal(tmp_path / "j"), LiveRunner(),
                PassphraseSource(file=secret_file, interactive=False))
    assert out.read_text() == "s3cret"  # no trailing newline: cryptsetup --key-file=-
    assert Path(f"{out}.table").read_text() == "label: gpt\n"
    assert "s3cret" not in (tmp_path / "j").read_text()


def test_devices_that_never_appear_fail_the_step(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(executor, "WAIT_SECONDS", 0.3)
    step = shell("p", "true", wait_for=(str(tmp_path / "never"),))
    journal = Journal(tmp_path / "j")
    with pytest.raises(RuntimeFailure, match="did not appear"):
        apply_steps([step], NO_DISKS, journal, LiveRunner(), source(tmp_path))
    assert journal.entries()[-1].status == "failed"


def test_a_run_that_wiped_every_target_asks_no_done_checks(tmp_path: Path) -> None:
    log = tmp_path / "log"
    present = tmp_path / "present"
    present.write_text("x")  # would make the check say "done"
    check = DoneCheck("file", "", {"path": str(present)})
    steps = [Step("wipe:a", "wipe", "wipe", (Command(("sh", "-c", f"echo w >> {log}")),),
                  done=DoneCheck("file", "", {"path": str(tmp_path / "table")})),
             shell("mkfs", f"echo m >> {log}", done=check),
             # an activation an earlier step already did (mdadm --create runs the array)
             shell("run", f"echo r >> {log}", destructive=False, done=check)]
    outcome = apply_steps(steps, NO_DISKS, Journal(tmp_path / "j"), LiveRunner(),
                          source(tmp_path))
    assert outcome.ran == ["wipe:a", "mkfs"]
    assert outcome.skipped == {"run": "already in place"}
    (tmp_path / "table").write_text("t")  # the table is there now: a re-run skips both
    outcome = apply_steps(steps, NO_DISKS, Journal(tmp_path / "j"), LiveRunner(),
                          source(tmp_path))
    assert outcome.ran == [] and set(outcome.skipped) == {"wipe:a", "mkfs", "run"}
