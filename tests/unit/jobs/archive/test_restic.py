"""restic against a real repository: backup, restore, sure check; exit code 3 is a warning."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from hostbook.jobs.archive import restic as archive_restic
from hostbook.jobs.integrity import sure
from hostbook.jobs.run.context import FAILED, OK, WARNING
from hostbook.manifest.sections.jobs import ResticArchive
from hostbook.process.recording import ReplayRunner
from tests.unit.jobs.archive.test_base import (
    JOB_RECORDINGS,
    UNREADABLE,
    context,
    flip_one_byte,
    make_tree,
    needs,
    request,
)

pytestmark = needs("restic")


@pytest.fixture
def restic_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    password = tmp_path / "restic.pass"
    password.write_text("correct horse battery staple\n")
    password.chmod(0o600)
    monkeypatch.setenv("RESTIC_CACHE_DIR", str(tmp_path / "cache"))
    return password


def spec(repository: Path, password: Path, **extra: object) -> ResticArchive:
    return ResticArchive.model_validate(
        {"tool": "restic", "repository": str(repository), "password_file": str(password),
         "init": True, **extra}
    )


def restic(repository: Path, password: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["restic", "--repo", str(repository), "--password-file", str(password), *args],
        capture_output=True, text=True, check=True,
    )


def test_backup_restore_and_check(tmp_path: Path, restic_env: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    make_tree(source)
    database = tmp_path / "db.sure.gz"
    sure.update(source, database)
    repository = tmp_path / "repo"
    ctx, log = context()

    result = archive_restic.archive(request(ctx, source), spec(repository, restic_env))
    assert result.status == OK, result.message
    assert result.archive_id and result.bytes == sum(
        p.stat().st_size for p in source.rglob("*") if p.is_file() and not p.is_symlink()
    )
    # The password travelled in the environment, never on a command line.
    assert not any("correct horse" in line for line in log)
    assert any(line.startswith("$ RESTIC_PASSWORD_FILE=... restic") for line in log)

    snapshots = json.loads(restic(repository, restic_env, "snapshots", "--json").stdout)
    assert len(snapshots) == 1
    assert set(snapshots[0]["tags"]) == {
        "host=testhost", "job=data", f"volume={source}", "key=path-data",
        "stamp=20240501T120000Z"}
    assert snapshots[0]["hostname"] == "testhost"
    assert snapshots[0]["id"].startswith(result.archive_id)

    target = tmp_path / "restore"
    restic(repository, restic_env, "restore", result.archive_id, "--target", str(target))
    restored = target / source.relative_to("/")
    assert sure.check(restored, database) == []
    flip_one_byte(restored / "data" / "blob.bin")
    differences = sure.check(restored, database)
    assert [(d.path, [c[0] for c in d.changes]) for d in differences] == [
        ("data/blob.bin", ["sha256"])
    ]

    # Second run from the same path: restic finds its parent, nothing is re-read.
    again = archive_restic.archive(request(ctx, source), spec(repository, restic_env))
    assert again.status == OK
    files = [p for p in source.rglob("*") if p.is_file() and not p.is_symlink()]
    assert again.extra["files_unmodified"] == len(files)
    assert again.extra["files_new"] == 0 and again.extra["files_changed"] == 0


def unreadable_spec() -> ResticArchive:
    """The target of the run recorded over an unreadable file (tests/loop/test_jobs_unreadable)."""
    return spec(UNREADABLE / "repo", UNREADABLE / "pass",
                extra_args=["--cache-dir", str(UNREADABLE / "cache")])


def test_unreadable_file_is_a_warning_and_the_snapshot_exists() -> None:
    """restic exits 3 when the snapshot was saved but some files could not be read."""
    ctx, _log = context(runner=ReplayRunner(JOB_RECORDINGS / "restic-unreadable"))
    result = archive_restic.archive(request(ctx, UNREADABLE / "source"), unreadable_spec())
    assert result.status == WARNING, result.message
    assert result.archive_id is not None
    assert "could not be read" in result.message and "secret" in result.message


def test_missing_repository_without_init_fails(tmp_path: Path, restic_env: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    ctx, _log = context()
    result = archive_restic.archive(
        request(ctx, source), spec(tmp_path / "nothing-here", restic_env, init=False)
    )
    assert result.status == FAILED
    assert result.archive_id is None
    assert "exit 1" in result.message
    assert not (tmp_path / "nothing-here").exists()


def test_wrong_password_fails_without_touching_the_repository(
    tmp_path: Path, restic_env: Path
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    repository = tmp_path / "repo"
    ctx, _log = context()
    assert archive_restic.archive(request(ctx, source), spec(repository, restic_env)).status == OK
    wrong = tmp_path / "wrong.pass"
    wrong.write_text("nope\n")
    before = sorted(os.listdir(repository / "snapshots"))
    result = archive_restic.archive(request(ctx, source), spec(repository, wrong))
    assert result.status == FAILED
    assert sorted(os.listdir(repository / "snapshots")) == before
    # init: true, yet the wrong password is said as such, not as init's "already exists"
    assert "wrong password or no key found" in result.message, result.message
    assert "init" not in result.message and "already exists" not in result.message
