"""restic and borg report progress from their machine-readable output: bytes, files, rate.

Real tools over a tree large enough to take a few seconds to read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from hostbook.jobs.archive import borg as archive_borg
from hostbook.jobs.archive import restic as archive_restic
from hostbook.jobs.run.context import OK
from hostbook.manifest.sections.jobs import BorgArchive, ResticArchive
from tests.unit.jobs.archive.test_base import context, needs, request

Readings = list[tuple[float | None, str, Mapping[str, Any] | None]]


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    password = tmp_path / "pass"
    password.write_text("correct horse battery staple\n")
    password.chmod(0o600)
    monkeypatch.setenv("RESTIC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("BORG_BASE_DIR", str(tmp_path / "borg-home"))
    monkeypatch.delenv("BORG_PASSPHRASE", raising=False)
    source = tmp_path / "source"
    source.mkdir()
    for index in range(12):  # incompressible: every byte is read, hashed and written
        (source / f"blob{index}").write_bytes(os.urandom(12 << 20))
    return source, password


def collect(readings: Readings):  # type: ignore[no-untyped-def]
    def progress(fraction: float | None, text: str,
                 data: Mapping[str, Any] | None = None) -> None:
        readings.append((fraction, text, data))
    return progress


@needs("restic")
def test_restic_status_lines_become_bytes_files_and_time_left(
    tmp_path: Path, setup: tuple[Path, Path],
) -> None:
    source, password = setup
    spec = ResticArchive.model_validate({"tool": "restic", "repository": str(tmp_path / "r"),
                                         "password_file": str(password), "init": True})
    readings: Readings = []
    ctx, _ = context()
    result = archive_restic.archive(request(ctx, source, progress=collect(readings)), spec)
    assert result.status == OK, result.message
    with_bytes = [r for r in readings if r[2] and r[2]["bytes_done"]]
    assert with_bytes, readings[:3]
    _, text, data = with_bytes[-1]
    assert data is not None and data["bytes_total"] == 12 * (12 << 20)
    assert data["files_total"] == 12 and " of 144 MiB, " in text and " of 12 files" in text


@needs("borg")
def test_borg_progress_lines_become_bytes_files_and_a_rate(
    tmp_path: Path, setup: tuple[Path, Path],
) -> None:
    source, password = setup
    spec = BorgArchive.model_validate({"tool": "borg", "repository": str(tmp_path / "b"),
                                       "password_file": str(password), "init": True,
                                       "compression": "none"})
    readings: Readings = []
    ctx, _ = context()
    result = archive_borg.archive(request(ctx, source, progress=collect(readings)), spec)
    assert result.status == OK, result.message
    with_bytes = [r for r in readings if r[2] and r[2]["bytes_done"]]
    assert with_bytes, readings[:3]
    _, text, data = with_bytes[-1]
    assert data is not None and data["bytes_total"] is None  # borg cannot know it up front
    assert data["bytes_done"] <= 12 * (12 << 20) and "files" in text
    done = [d["bytes_done"] for _, _, d in with_bytes if d]
    assert done == sorted(done)  # the rate (tests/unit/jobs/run/test_events.py) is over these
