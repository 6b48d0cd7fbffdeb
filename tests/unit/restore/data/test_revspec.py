"""Revision specs (``0``, ``1``, an id, ``@TIME``, ``manifest:REV``) on recorded listings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hostbook.manifest.errors import BadInputError
from hostbook.restore.data.archive import Archive
from hostbook.restore.data.catalog import catalog
from hostbook.restore.data.revspec import resolve
from tests.unit.restore.data.recorded import FIRST, SECOND, commits, loaded, replay

NEWER, OLDER = "20240502T120000Z", "20240501T120000Z"


@pytest.fixture(scope="module")
def targets() -> dict[str, list[Archive]]:
    return {t.target: t.archives for t in catalog(replay(), loaded())[:3]}


@pytest.mark.parametrize("target", ["local", "borg", "tar"])
def test_numbers_count_back_from_the_newest(targets: dict[str, list[Archive]],
                                            target: str) -> None:
    archives = targets[target]
    assert resolve(archives, None, target).stamp == NEWER
    assert resolve(archives, "0", target).stamp == NEWER
    assert resolve(archives, "1", target).stamp == OLDER
    with pytest.raises(BadInputError, match=r"--at 2: .* has 2 archive\(s\): 0 \(2024-05-02"):
        resolve(archives, "2", target)


def test_a_tools_own_id_names_an_archive(targets: dict[str, list[Archive]]) -> None:
    restic = targets["local"]
    older = restic[1]
    assert resolve(restic, older.id, "local") is older
    assert resolve(restic, str(older.short_id), "local") is older
    assert resolve(restic, older.id[:10], "local") is older
    borg = targets["borg"]
    assert resolve(borg, borg[1].id, "borg") is borg[1]
    tar = targets["tar"]
    assert resolve(tar, tar[0].id, "tar") is tar[0]
    with pytest.raises(BadInputError, match="no such archive id"):
        resolve(restic, "deadbeefdeadbeef", "local")


@pytest.mark.parametrize("target", ["local", "borg", "tar"])
def test_at_a_time_is_the_newest_at_or_before_it(targets: dict[str, list[Archive]],
                                                 target: str) -> None:
    archives = targets[target]
    assert resolve(archives, "@2024-05-02T12:00:00Z", target).stamp == NEWER
    assert resolve(archives, "@2024-05-02T11:59:59Z", target).stamp == OLDER
    assert resolve(archives, "@2024-05-02", target).stamp == OLDER  # midnight UTC
    assert resolve(archives, "@2024-05-02T14:30+02:00", target).stamp == NEWER
    with pytest.raises(BadInputError, match="nothing at or before 2024-04-30T00:00:00Z"):
        resolve(archives, "@2024-04-30", target)
    with pytest.raises(BadInputError, match="not an ISO 8601 time"):
        resolve(archives, "@yesterday", target)


@pytest.mark.parametrize("target", ["local", "borg", "tar"])
def test_manifest_rev_takes_the_archive_tagged_with_that_commit(
        targets: dict[str, list[Archive]], target: str) -> None:
    archives = targets[target]
    assert resolve(archives, "manifest:HEAD~1", target, commits).manifest == FIRST
    assert resolve(archives, f"manifest:{SECOND[:10]}", target, commits).manifest == SECOND
    with pytest.raises(BadInputError, match="names no commit"):
        resolve(archives, "manifest:nosuch", target, commits)


def test_manifest_rev_without_a_tagged_archive_takes_the_run_closest_before_it(
        targets: dict[str, list[Archive]]) -> None:
    """A commit no run was tagged with (made between the two runs): the run before it."""
    between = ("0" * 40, datetime(2024, 5, 1, 18, 0, tzinfo=UTC))
    chosen = resolve(targets["borg"], "manifest:" + "0" * 40, "borg", lambda rev: between)
    assert chosen.stamp == OLDER and chosen.manifest == FIRST
    before = ("1" * 40, datetime(2024, 4, 1, tzinfo=UTC))
    with pytest.raises(BadInputError, match="no archive made at or before commit 111111111111"):
        resolve(targets["borg"], "manifest:x", "borg", lambda rev: before)


def test_no_archives_at_all_is_refused() -> None:
    with pytest.raises(BadInputError, match="offsite: no archive to restore"):
        resolve([], "0", "offsite")
