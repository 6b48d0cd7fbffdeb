"""Pipelines of real programs: wiring, the meter, partial files, cancel, failures."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

from hostbook.process.environment import tool_environment
from hostbook.process.pipeline import Stage, run_pipeline

ENV = tool_environment()


def test_stages_connect_and_the_output_file_appears_whole_and_private(tmp_path: Path) -> None:
    out = tmp_path / "stream"
    counted: list[int] = []
    result = run_pipeline(
        [Stage.of(["printf", "hello world"]), Stage.of(["tr", "a-z", "A-Z"]),
         Stage.of(["rev"])],
        ENV, output=out, on_bytes=counted.append,
    )
    assert result.ok, result.failure()
    assert out.read_text() == "DLROW OLLEH\n" or out.read_text() == "DLROW OLLEH"
    assert result.bytes == len("hello world") and counted[-1] == 11
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert not (tmp_path / "stream.partial").exists()


def test_a_source_file_is_metered_into_the_first_stage(tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.write_bytes(b"x" * 200_000)
    out = tmp_path / "out"
    result = run_pipeline([Stage.of(["gzip", "-c"]), Stage.of(["gzip", "-d", "-c"])], ENV,
                          source=source, output=out, meter=-1)
    assert result.ok, result.failure()
    assert result.bytes == 200_000
    assert out.read_bytes() == source.read_bytes()


def test_the_meter_can_sit_after_the_last_stage(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_pipeline([Stage.of(["printf", "abc"]), Stage.of(["cat"])], ENV,
                          output=out, meter=1)
    assert result.ok and result.bytes == 3 and out.read_text() == "abc"


def test_a_failing_stage_leaves_no_file_and_is_named(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_pipeline(
        [Stage.of(["printf", "abc"]),
         Stage.of(["sh", "-c", "cat >/dev/null; echo bad >&2; exit 4"])],
        ENV, output=out,
    )
    assert not result.ok
    assert "exit 4: bad" in result.failure()
    assert not out.exists() and not (tmp_path / "out.partial").exists()


def test_a_missing_program_starts_nothing(tmp_path: Path) -> None:
    result = run_pipeline([Stage.of(["printf", "x"]), Stage.of(["no-such-filter"])], ENV,
                          output=tmp_path / "out")
    assert not result.ok and "no-such-filter: not installed" in result.failure()
    assert not (tmp_path / "out").exists()


def test_cancel_stops_the_sender_and_reports_it(tmp_path: Path) -> None:
    cancel = threading.Event()

    def on_bytes(total: int) -> None:
        if total > 1_000_000:
            cancel.set()

    result = run_pipeline([Stage.of(["yes"]), Stage.of(["cat"])], ENV,
                          output=tmp_path / "out", on_bytes=on_bytes, cancel=cancel)
    assert result.cancelled and not result.ok
    assert result.failure().startswith("cancelled")
    assert not (tmp_path / "out").exists()


def test_a_receiver_that_dies_early_does_not_hang_the_sender(tmp_path: Path) -> None:
    result = run_pipeline([Stage.of(["yes"]), Stage.of(["head", "-c", "10"])], ENV,
                          output=tmp_path / "out")
    # yes loses its reader (SIGPIPE); that alone is not blamed on it, but the
    # pipeline did not complete cleanly either way.
    assert result.stages[1].ok
    assert (tmp_path / "out").exists() == result.ok


def test_the_meter_passes_bytes_on_as_they_come(tmp_path: Path) -> None:
    # The sender writes one byte and waits (5 s at most) until the receiver has
    # seen it: a meter that held bytes back for a whole chunk would starve the
    # receiver until the sender ended, and the sender would write "late".
    seen = tmp_path / "seen"
    sender = ('printf a; i=0; while [ ! -e "$1" ] && [ $i -lt 50 ]; do sleep 0.1; '
              'i=$((i + 1)); done; if [ -e "$1" ]; then printf b; else printf late; fi')
    receiver = 'dd bs=1 count=1 status=none; : > "$1"; cat'
    out = tmp_path / "out"
    result = run_pipeline([Stage.of(["sh", "-c", sender, "sh", str(seen)]),
                           Stage.of(["sh", "-c", receiver, "sh", str(seen)])],
                          ENV, output=out)
    assert result.ok, result.failure()
    assert out.read_text() == "ab" and result.bytes == 2
