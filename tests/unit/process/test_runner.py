"""Live, dry-run, recording and replaying runners over real programs."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

from hostbook.process.masking import describe
from hostbook.process.pipeline import Stage
from hostbook.process.recording import RecordingRunner, ReplayRunner
from hostbook.process.runner import DryRunRunner, LiveRunner


def test_live_runner_announces_commands_with_secrets_masked(tmp_path: Path) -> None:
    lines: list[str] = []
    runner = LiveRunner(echo=lines.append)
    result = runner.command(["echo", "--password", "hunter2"], env={"RESTIC_PASSWORD": "x"},
                            secrets=["hunter2"])
    assert result.stdout == "--password hunter2\n"
    assert lines == ["RESTIC_PASSWORD=... echo --password '***'"] or lines == [
        "RESTIC_PASSWORD=... echo --password ***"]
    assert runner.stats.commands == 1 and runner.stats.per_tool == {"echo": 1}


def test_a_dry_run_prints_commands_and_still_runs_queries(tmp_path: Path) -> None:
    lines: list[str] = []
    runner = DryRunRunner(echo=lines.append)
    made = tmp_path / "made"
    assert runner.command(["touch", str(made)]).ok
    assert not made.exists()
    assert runner.query(["echo", "hi"]).stdout == "hi\n"
    assert runner.pipeline([Stage.of(["yes"]), Stage.of(["head"])], output=made).ok
    assert not made.exists()
    assert lines[0] == f"touch {made}"
    assert lines[1].endswith("# query: read-only, runs in a dry run too")
    assert lines[2] == f"yes | head > {made}"


def test_a_recording_replays_every_answer_in_order(tmp_path: Path) -> None:
    counter = tmp_path / "n"
    counter.write_text("0")
    bump = ["sh", "-c", f"n=$(cat {counter}); echo $((n+1)) > {counter}; cat {counter}"]
    recorder = RecordingRunner(LiveRunner(), tmp_path)
    assert recorder.command(bump).stdout == "1\n"
    assert recorder.query(["cat", str(counter)]).stdout == "1\n"
    assert recorder.command(bump).stdout == "2\n"
    assert recorder.query(["echo", "token=s3cret"], secrets=["s3cret"]).ok
    piped = recorder.pipeline([Stage.of(["printf", "abcd"]), Stage.of(["cat"])],
                              output=tmp_path / "o")
    assert piped.ok and piped.bytes == 4
    assert recorder.read_file(str(counter)) == "2\n"
    path = recorder.save()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = path.read_text()
    assert "s3cret" not in saved
    assert json.loads(saved)["format"] == "hostbook-recording/v1"

    replay = ReplayRunner(tmp_path)
    assert replay.command(bump).stdout == "1\n"
    assert replay.command(bump).stdout == "2\n"
    assert replay.command(bump).stdout == "2\n"  # the last answer repeats
    assert replay.query(["echo", "token=s3cret"], secrets=["s3cret"]).stdout == "token=***\n"
    again = replay.pipeline([Stage.of(["printf", "abcd"]), Stage.of(["cat"])])
    assert again.ok and again.bytes == 4
    assert replay.read_file(str(counter)) == "2\n"
    missing = replay.query(["lsblk"])
    assert missing.missing and replay.unanswered == ["lsblk"]


def test_a_replayed_dry_run_prints_commands_and_answers_queries(tmp_path: Path) -> None:
    recorder = RecordingRunner(LiveRunner(), tmp_path)
    recorder.query(["echo", "listed"])
    recorder.save()
    replay = ReplayRunner(tmp_path, dry_run=True)
    assert replay.command(["lvremove", "vg/x"]).ok
    assert replay.printed == ["lvremove vg/x"]
    assert replay.query(["echo", "listed"]).stdout == "listed\n"


def test_live_runner_streams_lines_and_keep_env_values_out_of_the_log(tmp_path: Path) -> None:
    seen: list[str] = []
    lines: list[tuple[str, str]] = []
    runner = LiveRunner(echo=seen.append)
    result = runner.command(
        ["sh", "-c", 'echo "one $SECRET_VALUE"; echo two >&2; echo three'],
        env={"SECRET_VALUE": "hunter2"}, on_line=lambda s, line: lines.append((s, line)),
    )
    assert result.ok and result.stdout == "one hunter2\nthree\n" and result.stderr == "two\n"
    assert sorted(lines) == [("stderr", "two"), ("stdout", "one hunter2"), ("stdout", "three")]
    assert seen == ["SECRET_VALUE=... sh -c 'echo \"one $SECRET_VALUE\"; echo two >&2; echo three'"]
    assert "hunter2" not in seen[0]


def test_live_runner_missing_tool_and_timeout() -> None:
    runner = LiveRunner()
    missing = runner.query(["no-such-tool-hostbook"])
    assert missing.missing and missing.failure() == "no-such-tool-hostbook: not installed"
    started = time.monotonic()
    slow = runner.query(["sleep", "30"], timeout=0.5)
    assert slow.timed_out and time.monotonic() - started < 10
    assert "timed out" in slow.failure()


def test_dry_run_prints_changes_and_still_runs_queries(tmp_path: Path) -> None:
    printed: list[str] = []
    runner = DryRunRunner(echo=printed.append)
    target = tmp_path / "made"
    assert runner.command(["touch", str(target)]).ok
    assert not target.exists()
    query = runner.query(["ls", str(tmp_path)])
    assert query.ok and query.stdout == ""
    assert printed[0] == f"touch {target}"
    assert printed[1].startswith(f"ls {tmp_path}  # query")
    assert describe(["a b", "c"], cwd="/x y") == "(cd '/x y' && 'a b' c)"
