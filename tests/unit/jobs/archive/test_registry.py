"""Archivers are found by the target's tool; an archiver's error is a failed result."""

from __future__ import annotations

import time
import typing
from pathlib import Path

from hostbook.jobs.archive.registry import ARCHIVERS, run_archiver
from hostbook.jobs.run.context import FAILED
from hostbook.manifest.sections.jobs import Archiver, ResticArchive
from hostbook.process.runner import LiveRunner
from tests.unit.jobs.archive.test_base import context, request


def test_every_tool_the_schema_admits_has_an_archiver() -> None:
    union = typing.get_args(typing.get_args(Archiver)[0])
    tools = {typing.get_args(model.model_fields["tool"].annotation)[0] for model in union}
    assert tools == set(ARCHIVERS) == {"restic", "borg", "tar", "xfsdump", "zfs-stream",
                                       "btrfs-stream"}
    assert all(archiver.tool == tool for tool, archiver in ARCHIVERS.items())


def test_an_archiver_that_raises_gives_a_failed_result_where_it_would_have_written(
    tmp_path: Path,
) -> None:
    ran: list[str] = []
    ctx, _log = context(runner=LiveRunner(echo=ran.append))
    spec = ResticArchive.model_validate({
        "tool": "restic", "name": "offsite", "repository": "/srv/restic",
        "password_file": "/etc/p", "env_file": str(tmp_path / "missing.env"),
    })
    before = time.time()
    result = run_archiver(request(ctx, tmp_path), spec)
    assert (result.archiver, result.tool, result.status, result.location) == (
        "offsite", "restic", FAILED, "/srv/restic")
    assert result.message == f"{tmp_path / 'missing.env'}: cannot read env_file (No such file " \
        "or directory)"
    assert before <= result.extra["started"] <= time.time()
    assert ran == []  # it failed before starting restic
