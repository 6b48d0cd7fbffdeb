"""Preflight of ``restore data`` on recorded listings: refusals before anything is written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hostbook.manifest.sections.storage import StorageDocument
from hostbook.manifest.yamlio import read_document
from hostbook.restore.data.preflight import apply_written, first_files, preflight
from hostbook.restore.data.session import kept_aside
from tests.paths import FIXTURES
from tests.unit.restore.data.recorded import FIRST, KEY, WORK, commits, loaded, replay

VOLUME = WORK / "data"


def test_the_first_reachable_target_in_jobs_order_is_used(tmp_path: Path) -> None:
    checked = preflight(replay(), loaded(), [], str(tmp_path))
    assert checked.refusals == []
    [plan] = checked.plans
    assert plan.target.target == "local" and plan.archive.revision == 0
    assert plan.directory == tmp_path / VOLUME.relative_to("/")
    assert plan.mountpoint == str(VOLUME)
    assert plan.where.stable_path == f"{WORK}/volumes/{KEY}"


def test_with_wrong_passwords_the_next_usable_target_is_taken_and_said(tmp_path: Path) -> None:
    checked = preflight(replay("wrong-password"), loaded(), [], str(tmp_path))
    assert checked.refusals == []
    [plan] = checked.plans
    assert plan.target.target == "tar"
    assert [s.split(":")[0] for s in plan.skipped_targets] == ["local", "borg"]
    assert any("skipped local:" in n and "wrong password" in n for n in checked.notes)


def test_a_named_target_with_a_wrong_password_is_refused_in_words(tmp_path: Path) -> None:
    checked = preflight(replay("wrong-password"), loaded(), [], str(tmp_path), source="borg")
    assert checked.refusals == [
        f"{KEY}: no archive target could be used: borg: {WORK}/borg: wrong password "
        "(the password source in jobs.yaml gives another one)"]


def test_an_unreachable_named_target_is_refused(tmp_path: Path) -> None:
    checked = preflight(replay(), loaded(), [], str(tmp_path), source="offsite")
    assert checked.refusals == [f"{KEY}: no archive target could be used: offsite: "
                                f"{WORK}/missing: no repository there"]
    unknown = preflight(replay(), loaded(), [], str(tmp_path), source="nosuch")
    assert unknown.refusals == [f"{KEY}: no archive target named 'nosuch' "
                                "(targets: local, borg, tar, offsite)"]


def test_the_revision_spec_picks_the_archive(tmp_path: Path) -> None:
    older = preflight(replay(), loaded(), [], str(tmp_path), at="1", source="borg")
    assert older.plans[0].archive.stamp == "20240501T120000Z"
    by_commit = preflight(replay(), loaded(), [], str(tmp_path), at="manifest:HEAD~1",
                          commits=commits)
    assert by_commit.plans[0].archive.manifest == FIRST
    too_far = preflight(replay(), loaded(), [], str(tmp_path), at="5")
    assert too_far.refusals[0].startswith(f"{KEY}: --at 5: {KEY} on local has 2 archive(s)")


def test_a_missing_tool_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    checked = preflight(replay(), loaded(), [], str(tmp_path), source="tar")
    assert checked.refusals == [f"{KEY}: tar, zstd not installed (needed to restore from tar)"]


def test_a_missing_target_root_is_refused(tmp_path: Path) -> None:
    checked = preflight(replay(), loaded(), [], str(tmp_path / "nothing"))
    assert checked.refusals == [f"target root {tmp_path / 'nothing'} does not exist "
                                "(restore apply mounts the rebuilt tree there)"]


def test_a_non_empty_target_is_refused_unless_overwrite_or_resuming(tmp_path: Path) -> None:
    directory = tmp_path / VOLUME.relative_to("/")
    (directory / "lost+found").mkdir(parents=True)
    (directory / "mnt" / "other").mkdir(parents=True)
    assert preflight(replay(), loaded(), [], str(tmp_path)).refusals == []  # empty dirs only
    (directory / "mnt" / "stray").write_text("x")
    refused = preflight(replay(), loaded(), [], str(tmp_path))
    assert refused.refusals == [
        f"{KEY}: {directory} is not empty (mnt/stray ...): --overwrite restores over it, "
        "writing only the files that differ"]
    assert preflight(replay(), loaded(), [], str(tmp_path), overwrite=True).refusals == []
    fingerprint = refused.plans[0].fingerprint
    resumed = preflight(replay(), loaded(), [], str(tmp_path), resumable={fingerprint})
    assert resumed.refusals == []


def test_paths_go_to_their_volume_relative_to_its_mount_point(tmp_path: Path) -> None:
    checked = preflight(replay(), loaded(), [], str(tmp_path),
                        paths=[f"{VOLUME}/etc/app.conf", f"{VOLUME}/notes.txt"])
    assert checked.plans[0].paths == ["etc/app.conf", "notes.txt"]
    outside = preflight(replay(), loaded(), [], str(tmp_path), paths=["/etc/passwd"])
    assert outside.refusals == [f"--path /etc/passwd: not on the volume mounted at {VOLUME}"]


def test_first_files_skips_empty_directories_and_lost_and_found(tmp_path: Path) -> None:
    (tmp_path / "lost+found").mkdir()
    (tmp_path / "lost+found" / "#123").write_text("fsck found this")
    (tmp_path / "home" / "empty").mkdir(parents=True)
    assert first_files(tmp_path) == []
    (tmp_path / "home" / "f").write_text("x")
    (tmp_path / "link").symlink_to("nowhere")
    assert first_files(tmp_path) == ["home/f", "link"]


def test_the_key_files_restore_apply_writes_are_kept_not_restored() -> None:
    """The laptop's crypttab names /etc/keys/laptop.key: apply makes a new one and enrolls it."""
    storage = StorageDocument.model_validate(read_document(
        FIXTURES / "golden-manifests" / "restore-lab" / "laptop" / "storage.yaml"))
    assert apply_written(storage) == ["/etc/keys/laptop.key"]
    assert apply_written(None) == []


def test_a_kept_file_does_not_make_the_target_busy(tmp_path: Path) -> None:
    (tmp_path / "etc" / "keys").mkdir(parents=True)
    (tmp_path / "etc" / "keys" / "laptop.key").write_bytes(b"new key")
    assert first_files(tmp_path, kept=["etc/keys/laptop.key"]) == []
    assert first_files(tmp_path) == ["etc/keys/laptop.key"]


def test_a_kept_file_survives_an_extraction_that_writes_the_archived_one(tmp_path: Path) -> None:
    key = tmp_path / "etc" / "keys" / "laptop.key"
    key.parent.mkdir(parents=True)
    key.write_bytes(b"enrolled in the new header")
    with kept_aside(tmp_path, ["etc/keys/laptop.key", "etc/absent"], dry_run=False):
        assert not key.exists()
        key.write_bytes(b"the archived key of the old header")
        os.utime(key.parent, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    assert key.read_bytes() == b"enrolled in the new header"
    assert key.parent.stat().st_mtime_ns == 1_700_000_000_000_000_000  # as extracted
    assert sorted(p.name for p in key.parent.iterdir()) == ["laptop.key"]
