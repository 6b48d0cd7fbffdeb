"""Manifest repositories made by capturing real recordings one after another.

The captures of ``tests/fixtures/review-pairs`` (one laptop layout in the VM
lab: built, an LV added, booted again with its disk renamed vda -> vdb) are
replayed as successive captures of one host, so its git history holds what
three real captures of one machine would commit.
"""

from __future__ import annotations

import json
from pathlib import Path

from hostbook.capture.workflow import CaptureRequest, capture
from hostbook.manifest.sections.config import ConfigDocument
from hostbook.manifest.store import ManifestRepository
from tests.paths import FIXTURES

PAIRS = FIXTURES / "review-pairs"
HOST = "laptop"


def capture_into(repository: Path, recording: Path, host: str = HOST,
                 section: str = "storage") -> ManifestRepository:
    """Capture one recording (with its capture.json configuration) as ``host``."""
    settings_file = recording / "capture.json"
    settings = json.loads(settings_file.read_text()) if settings_file.exists() else {}
    config = ConfigDocument.model_validate(
        settings.get("config") or {"schema": ConfigDocument.schema_string()})
    capture(CaptureRequest(repository=repository, sections=[section], config=config,
                           host=host, replay=recording))
    return ManifestRepository.open(repository)


def history(repository: Path, *names: str) -> tuple[ManifestRepository, list[str]]:
    """Capture the named review-pairs recordings in order; return the commits made."""
    repo = ManifestRepository.open(repository, create=True)
    for name in names:
        capture_into(repository, PAIRS / name)
    return repo, [c.sha for c in reversed(repo.log(HOST))]
