"""``hostbook plan``: a host plans what its jobs.yaml has, and asks no tool it does not use."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hostbook.jobs.replication.repository_plan import plan_from_repository
from hostbook.manifest.errors import RuntimeFailure
from hostbook.process.recording import RECORDING_FILE, RECORDING_FORMAT, ReplayRunner

NOW = datetime(2027, 1, 1, tzinfo=UTC)


def nothing_recorded(tmp_path: Path) -> ReplayRunner:
    """A replay that answers no command: any question shows up in ``unanswered``."""
    folder = tmp_path / "recording"
    folder.mkdir(parents=True)
    (folder / RECORDING_FILE).write_text(json.dumps({"format": RECORDING_FORMAT,
                                                     "commands": []}))
    return ReplayRunner(folder)


def test_a_host_without_zfs_jobs_is_not_asked_about_zfs(tmp_path: Path) -> None:
    host = tmp_path / "repo" / "hosts" / "web1"
    host.mkdir(parents=True)
    (host / "jobs.yaml").write_text(
        "schema: hostbook/jobs/v1\n"
        "jobs:\n"
        "  - name: data\n"
        "    volume: {path: /srv}\n"
        "    archive: [{tool: tar, destination: /backup}]\n"
        "  - name: home\n"
        "    volume: {lv: vg0/home}\n"
        "    snapshot: {provider: lvm}\n"
    )
    for what in ("retention", "replication"):
        runner = nothing_recorded(tmp_path / what)
        text, refused = plan_from_repository(tmp_path / "repo", "web1", what, now=NOW,
                                             runner=runner)
        assert runner.unanswered == [], runner.unanswered  # `zfs list` was asked before
        assert refused == []
        assert "nothing to plan" in text
        runner = nothing_recorded(tmp_path / f"{what}-json")
        text, _ = plan_from_repository(tmp_path / "repo", "web1", what, now=NOW,
                                       runner=runner, as_json=True)
        assert runner.unanswered == [] and json.loads(text)["datasets"] == []


def test_a_file_of_retention_only_still_plans_zfs(tmp_path: Path) -> None:
    host = tmp_path / "repo" / "hosts" / "web1"
    host.mkdir(parents=True)
    (host / "jobs.yaml").write_text(
        "schema: hostbook/jobs/v1\nretention:\n  local:\n    keep: {daily: 2}\n")
    runner = nothing_recorded(tmp_path)
    # the replay has no zfs: it fails the way a host without zfs does
    with pytest.raises(RuntimeFailure, match="zfs list"):
        plan_from_repository(tmp_path / "repo", "web1", "retention", now=NOW, runner=runner)
    assert runner.unanswered and runner.unanswered[0].startswith("zfs list")
