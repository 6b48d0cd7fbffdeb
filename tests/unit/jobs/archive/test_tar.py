"""tar + zstd: archive, extract, sure check; partial files never keep the final name."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

from hostbook.jobs.archive import tar as archive_tar
from hostbook.jobs.archive.sidecar import read_sidecar
from hostbook.jobs.integrity import sure
from hostbook.jobs.run.context import FAILED, OK
from hostbook.manifest.sections.jobs import TarArchive
from tests.unit.jobs.archive.test_base import context, flip_one_byte, make_tree, needs, request

pytestmark = needs("tar", "zstd")


def test_archive_extract_and_check(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    make_tree(source)
    database = tmp_path / "db.sure.gz"
    sure.update(source, database)
    destination = tmp_path / "dest"
    ctx, _log = context()
    settings = TarArchive(tool="tar", destination=str(destination))
    result = archive_tar.archive(request(ctx, source), settings)
    assert result.status == OK, result.message
    archive = destination / str(result.archive_id)
    assert archive.name == "testhost-data-path-data-20240501T120000Z.tar.zst"
    assert result.bytes == archive.stat().st_size
    # Beside it, the run's labels (a tar file has no tags of its own).
    assert sorted(p.name for p in destination.iterdir()) == [archive.name, archive.name + ".json"]
    assert read_sidecar(archive) == {
        "host": "testhost", "job": "data", "volume": str(source), "key": "path-data",
        "stamp": "20240501T120000Z", "tool": "tar", "archive": archive.name,
        "bytes": archive.stat().st_size}
    assert (destination / (archive.name + ".json")).stat().st_mode & 0o777 == 0o600

    target = tmp_path / "restore"
    target.mkdir()
    subprocess.run(
        ["tar", "--extract", "--zstd", "--file", str(archive), "--directory", str(target),
         "--xattrs", "--acls", "--numeric-owner", "--same-permissions"],
        check=True,
    )
    # POSIX format keeps nanosecond mtimes: the check compares them exactly.
    assert sure.check(target, database) == []
    flip_one_byte(target / "data" / "blob.bin")
    assert [d.path for d in sure.check(target, database)] == ["data/blob.bin"]


def test_failure_leaves_no_archive(tmp_path: Path) -> None:
    source = tmp_path / "gone"  # tar cannot change into it: a fatal error, exit 2
    destination = tmp_path / "dest"
    ctx, _log = context()
    settings = TarArchive(tool="tar", destination=str(destination))
    result = archive_tar.archive(request(ctx, source), settings)
    assert result.status == FAILED
    assert "exit 2" in result.message
    assert result.archive_id is None
    assert list(destination.iterdir()) == []


def test_keep_prunes_only_this_jobs_archives(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "f").write_text("x")
    destination = tmp_path / "dest"
    destination.mkdir()
    other = destination / "otherhost-data-path-data-20200101T000000Z.tar.zst"
    other.write_bytes(b"someone else's")
    settings = TarArchive(tool="tar", destination=str(destination), keep=2)
    names = []
    for day in (1, 2, 3):
        ctx, _log = context(now=datetime(2024, 5, day, tzinfo=UTC))
        result = archive_tar.archive(request(ctx, source), settings)
        assert result.status == OK
        names.append(result.archive_id)
    kept = [str(name) for name in names[1:]]
    # The pruned archive's sidecar went with it.
    assert sorted(p.name for p in destination.iterdir()) == sorted(
        [other.name, *kept, *(f"{name}.json" for name in kept)])
