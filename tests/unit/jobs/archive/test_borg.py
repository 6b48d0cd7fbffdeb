"""borg against a real repository: create, extract, sure check; exit code 1 is a warning."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from hostbook.jobs.archive import borg as archive_borg
from hostbook.jobs.integrity import sure
from hostbook.jobs.run.context import FAILED, OK, WARNING
from hostbook.manifest.sections.jobs import BorgArchive
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

pytestmark = needs("borg")


@pytest.fixture
def borg_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    password = tmp_path / "borg.pass"
    password.write_text("correct horse battery staple\n")
    password.chmod(0o600)
    monkeypatch.setenv("BORG_BASE_DIR", str(tmp_path / "borg-home"))
    monkeypatch.delenv("BORG_PASSPHRASE", raising=False)
    return password


def spec(repository: Path, password: Path, **extra: object) -> BorgArchive:
    return BorgArchive.model_validate(
        {"tool": "borg", "repository": str(repository), "password_file": str(password),
         "init": True, **extra}
    )


def borg(password: Path, *args: str, cwd: Path | None = None) -> str:
    return subprocess.run(
        ["borg", *args], capture_output=True, text=True, check=True, cwd=cwd,
        env={**__import__("os").environ, "BORG_PASSCOMMAND": f"cat {password}"},
    ).stdout


def test_create_extract_and_check(tmp_path: Path, borg_env: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    make_tree(source)
    database = tmp_path / "db.sure.gz"
    sure.update(source, database)
    repository = tmp_path / "repo"
    ctx, log = context()

    result = archive_borg.archive(request(ctx, source), spec(repository, borg_env))
    assert result.status == OK, result.message
    assert result.archive_id == "testhost-data-path-data-20240501T120000Z"
    assert result.bytes and result.added
    assert not any("correct horse" in line for line in log)

    listing = json.loads(borg(borg_env, "list", "--json", str(repository)))
    assert [a["name"] for a in listing["archives"]] == [result.archive_id]
    # The run's labels are the archive's comment, as plain JSON.
    info = json.loads(borg(borg_env, "info", "--json", f"{repository}::{result.archive_id}"))
    assert json.loads(info["archives"][0]["comment"]) == {
        "host": "testhost", "job": "data", "volume": str(source), "key": "path-data",
        "stamp": "20240501T120000Z"}
    # Paths in the archive are relative to the volume root: borg ran inside it.
    paths = [json.loads(line)["path"] for line in borg(
        borg_env, "list", "--json-lines", f"{repository}::{result.archive_id}").splitlines()]
    assert "etc/app/config.ini" in paths and not any(p.startswith("/") for p in paths)

    target = tmp_path / "restore"
    target.mkdir()
    borg(borg_env, "extract", f"{repository}::{result.archive_id}", cwd=target)
    assert sure.check(target, database) == []
    flip_one_byte(target / "data" / "blob.bin")
    assert [d.path for d in sure.check(target, database)] == ["data/blob.bin"]


def unreadable_spec() -> BorgArchive:
    """The target of the run recorded over an unreadable file (tests/loop/test_jobs_unreadable)."""
    return spec(UNREADABLE / "repo", UNREADABLE / "pass")


def test_unreadable_file_is_a_warning_and_the_archive_exists() -> None:
    """borg exits 1 (warning) when a file could not be read; the archive is written."""
    ctx, _log = context(runner=ReplayRunner(JOB_RECORDINGS / "borg-unreadable"))
    result = archive_borg.archive(request(ctx, UNREADABLE / "source"), unreadable_spec())
    assert result.status == WARNING, result.message
    assert result.archive_id is not None
    assert "secret" in result.message


def test_missing_repository_without_init_fails(tmp_path: Path, borg_env: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    ctx, _log = context()
    result = archive_borg.archive(
        request(ctx, source), spec(tmp_path / "nothing-here", borg_env, init=False)
    )
    assert result.status == FAILED
    assert "does not exist" in result.message
    assert result.archive_id is None


def test_wrong_password_with_init_is_said_as_such(tmp_path: Path, borg_env: Path) -> None:
    """init: true on an existing repository and a wrong passphrase: no init, borg's reason."""
    source = tmp_path / "source"
    source.mkdir()
    repository = tmp_path / "repo"
    ctx, log = context()
    assert archive_borg.archive(request(ctx, source), spec(repository, borg_env)).status == OK
    wrong = tmp_path / "wrong.pass"
    wrong.write_text("nope\n")
    log.clear()
    result = archive_borg.archive(request(ctx, source), spec(repository, wrong))
    assert result.status == FAILED
    assert "passphrase" in result.message and "incorrect" in result.message, result.message
    assert not any(" borg init " in line for line in log), log
