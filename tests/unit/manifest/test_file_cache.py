"""The long-running reader's cache: a parsed file is reused exactly while it is unchanged."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hostbook.manifest import file_cache
from hostbook.manifest.store import ManifestRepository
from tests.paths import FIXTURES
from tests.unit.review.captured import capture_into


def test_a_value_is_reused_until_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text("a: 1\n")
    cache = file_cache.FileCache()
    reads: list[str] = []

    def parse() -> str:
        reads.append(path.read_text())
        return reads[-1]

    assert cache.get(path, "k", parse) == "a: 1\n"
    assert cache.get(path, "k", parse) == "a: 1\n"
    assert len(reads) == 1 and cache.hits == 1
    # Rewritten through a temporary file and a rename (a new inode), same size.
    (tmp_path / "new").write_text("a: 2\n")
    os.replace(tmp_path / "new", path)
    assert cache.get(path, "k", parse) == "a: 2\n"
    # Edited in place, same size, same second: mtime and ctime move in nanoseconds.
    with path.open("r+") as handle:
        handle.write("a: 3\n")
    assert cache.get(path, "k", parse) == "a: 3\n"
    path.unlink()
    with pytest.raises(FileNotFoundError):
        cache.get(path, "k", parse)


def test_sections_and_logs_through_the_cache_are_what_a_fresh_read_gives(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = capture_into(tmp_path / "repo", FIXTURES / "storage-uefi", host="uefi")
    fresh = repo.load("uefi", "storage")
    log = repo.log("uefi", 1)
    monkeypatch.setattr(file_cache, "_active", None)
    cache = file_cache.enable()
    first = repo.load("uefi", "storage")
    assert first == fresh and repo.load("uefi", "storage") is first
    assert repo.log("uefi", 1) == log == repo.log("uefi", 1)
    # A new commit moves HEAD: the history is read again.
    (repo.host_dir("uefi") / "jobs.yaml").write_text(
        "schema: hostbook/jobs/v1\njobs: []\n")
    ManifestRepository.open(repo.path).commit_host("uefi", "jobs")
    assert repo.log("uefi", 1)[0].subject != log[0].subject
    assert cache.hits >= 2
    monkeypatch.setattr(file_cache, "_active", None)
