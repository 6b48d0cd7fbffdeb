"""What restic and borg share: the password environment and env files."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostbook.jobs.archive.repository import json_line, password_env, read_env_file
from hostbook.jobs.run.context import StepFailed


def test_password_reaches_each_tool_through_its_own_variable(tmp_path: Path) -> None:
    assert password_env("restic", "pass show restic", None, None) == {
        "RESTIC_PASSWORD_COMMAND": "pass show restic"
    }
    assert password_env("restic", None, "/etc/r.pass", None) == {
        "RESTIC_PASSWORD_FILE": "/etc/r.pass"
    }
    assert password_env("borg", None, "/etc/it's.pass", None) == {
        "BORG_PASSCOMMAND": "cat -- '/etc/it'\"'\"'s.pass'"
    }


def test_env_file_is_read_at_run_time(tmp_path: Path) -> None:
    env_file = tmp_path / "restic.env"
    env_file.write_text(
        "# object storage\nexport AWS_ACCESS_KEY_ID=AKIA123\nAWS_SECRET_ACCESS_KEY='s e c'\n\n"
    )
    env = password_env("restic", None, "/p", str(env_file))
    assert env == {"AWS_ACCESS_KEY_ID": "AKIA123", "AWS_SECRET_ACCESS_KEY": "s e c",
                   "RESTIC_PASSWORD_FILE": "/p"}
    env_file.write_text("not a setting\n")
    with pytest.raises(StepFailed, match=r"restic.env:1: expected KEY=VALUE"):
        read_env_file(str(env_file))
    with pytest.raises(StepFailed, match="cannot read env_file"):
        read_env_file(str(tmp_path / "missing"))


def test_only_whole_json_objects_are_read_from_the_tools_output() -> None:
    assert json_line('{"message_type":"summary","snapshot_id":"ab12"}') == {
        "message_type": "summary", "snapshot_id": "ab12"}
    assert json_line('{"message_type":"status","percent_do') is None  # cut short by a kill
    assert json_line("Warning: at least one source file could not be read") is None
    assert json_line("[1, 2]") is None and json_line('{"a": 1} trailing') is None
