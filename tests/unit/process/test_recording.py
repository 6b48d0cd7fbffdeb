"""The command runner: live execution conventions, recording and replay."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hostbook.capture.collect import collect_sections, parse_sections
from hostbook.manifest.config import load_config
from hostbook.manifest.errors import BadInputError
from hostbook.process.recording import RecordingRunner, ReplayRunner
from hostbook.process.runner import LiveRunner
from tests.paths import FIXTURES


def test_live_runner_uses_c_locale_and_no_shell() -> None:
    runner = LiveRunner()
    result = runner.query(["sh", "-c", "echo $LC_ALL; echo '$HOME'"])
    assert result.ok and result.stdout.splitlines() == ["C", "$HOME"]
    assert runner.query(["echo", "a;", "b"]).stdout == "a; b\n"  # ';' is not a shell here
    assert runner.stats.commands == 2


def test_missing_tool_and_timeout_are_reported_not_raised() -> None:
    runner = LiveRunner()
    missing = runner.query(["hostbook-no-such-tool", "--version"])
    assert missing.missing and not missing.ok
    assert missing.failure() == "hostbook-no-such-tool: not installed"
    slow = runner.query(["sleep", "5"], timeout=0.2)
    assert slow.timed_out and slow.failure() == "sleep 5: timed out"
    failed = runner.query(["ls", "/hostbook-does-not-exist"])
    assert failed.returncode == 2 and "No such file" in failed.failure()


def test_record_and_replay_answer_the_same(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("content\n")
    recorder = RecordingRunner(LiveRunner(), tmp_path / "rec")
    live = [
        recorder.query(["printf", "a\\nb"]),
        recorder.read_file(str(tmp_path / "f")),
        recorder.read_file(str(tmp_path / "absent")),
        recorder.list_dir(str(tmp_path)),
        recorder.read_link("/proc/self/exe") is not None,
        recorder.value("numbers", lambda: {"n": [1, 2]}),
    ]
    (tmp_path / "rec").mkdir()
    saved = recorder.save()
    assert json.loads(saved.read_text())["format"] == "hostbook-recording/v1"
    replay = ReplayRunner(tmp_path / "rec")
    again = [
        replay.query(["printf", "a\\nb"]),
        replay.read_file(str(tmp_path / "f")),
        replay.read_file(str(tmp_path / "absent")),
        replay.list_dir(str(tmp_path)),
        replay.read_link("/proc/self/exe") is not None,
        replay.value("numbers", lambda: pytest.fail("replay must not call the producer")),
    ]
    assert again == live
    unknown = replay.query(["not", "recorded"])
    assert unknown.missing and replay.unanswered == ["not recorded"]


def test_bad_recordings_are_refused_with_position(tmp_path: Path) -> None:
    (tmp_path / "recording.json").write_text('{"format": \n')
    with pytest.raises(BadInputError, match=r"recording.json:2:1:"):
        ReplayRunner(tmp_path)
    (tmp_path / "recording.json").write_text('{"format": "other"}')
    with pytest.raises(BadInputError, match="not a hostbook-recording/v1"):
        ReplayRunner(tmp_path)


def test_system_section_from_a_real_recording(tmp_path: Path) -> None:
    runner = ReplayRunner(FIXTURES / "system-debian12")
    defaults = load_config(tmp_path / "no-config.yaml")
    collected = collect_sections(runner, defaults, ["system"])
    system = collected.documents["system"]
    assert system == {
        "schema": "hostbook/system/v1",
        "hostname": "vm",
        "os": {
            "id": "debian",
            "version_id": "12",
            "codename": "bookworm",
            "pretty_name": "Debian GNU/Linux 12 (bookworm)",
            "id_like": [],
        },
        "kernel": "6.18.44-fc-v669",
        "architecture": "x86_64",
        "boot_mode": "bios",
        "machine_id": "3d1219c7c4c5404aaa1f6d2a48adfda4",
    }
    assert not collected.partial


def test_a_failing_part_marks_the_section_incomplete(tmp_path: Path) -> None:
    data = json.loads((FIXTURES / "system-debian12" / "recording.json").read_text())
    data["commands"] = []  # as if uname were not installed
    del data["files"]["/etc/os-release"]
    (tmp_path / "recording.json").write_text(json.dumps(data))
    collected = collect_sections(ReplayRunner(tmp_path), load_config(Path("/x")), ["system"])
    system = collected.documents["system"]
    assert system["hostname"] == "vm" and system["kernel"] == "6.18.44-fc-v669"
    assert {e["part"] for e in system["incomplete"]} == {"architecture", "os"}
    assert collected.partial and len(collected.warnings) == 2


def test_only_parses_and_checks_section_names() -> None:
    assert parse_sections("packages, checkouts") == ["packages", "checkouts"]
    assert parse_sections(None) == ["system", "storage", "packages", "checkouts", "accounts",
                                    "etc", "services"]
    with pytest.raises(BadInputError, match="unknown section"):
        parse_sections("jobs")


def test_recordings_mask_url_credentials_but_keep_their_shape(tmp_path: Path) -> None:
    from hostbook.capture.redact import redact_url
    from hostbook.capture.workflow import CaptureRequest, make_runner
    from hostbook.manifest.sections.config import ConfigDocument

    urls = [
        "https://deploy:s3cret-token@git.example.org/team/app.git",
        "https://ghp_abcdef123456@github.example/x/y",
        "https://pkgs.example/repo/?private_token=abcd1234&arch=x86_64",
        "ssh://git@git.example.org/team/app.git",
    ]
    (tmp_path / "sources").write_text("\n".join(urls) + "\n")
    config = ConfigDocument.model_validate({"schema": ConfigDocument.schema_string()})
    recorder = make_runner(CaptureRequest(tmp_path / "repo", [], config, record=tmp_path))
    assert isinstance(recorder, RecordingRunner)
    recorder.query(["cat", str(tmp_path / "sources")])
    recorder.read_file(str(tmp_path / "sources"))
    text = recorder.save().read_text()
    for secret in ("s3cret-token", "ghp_abcdef123456", "abcd1234"):
        assert secret not in text
    replay = ReplayRunner(tmp_path)
    replayed = replay.query(["cat", str(tmp_path / "sources")]).stdout.split()
    assert replayed == (replay.read_file(str(tmp_path / "sources")) or "").split()
    # The capture makes the same redaction decision from the masked text.
    assert [redact_url(u) for u in replayed] == [redact_url(u) for u in urls]
