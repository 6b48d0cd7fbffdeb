"""The send-stream archiver's schedule on a real btrfs snapshot directory, replayed.

The snapshot directory's ``btrfs subvolume list/show`` and the stream catalogue
were recorded by ``tests/loop/test_restore_btrfs_streams.py`` after its two runs
(``restore-streams/btrfs``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from hostbook.jobs.archive.base import ArchiveRequest
from hostbook.jobs.archive.stream import CATALOGUE, archive, policy_of, stream_source
from hostbook.jobs.archive.streams.chains import Catalogue, plan_archive
from hostbook.jobs.run.context import OK
from hostbook.manifest.sections.jobs import StreamArchive
from hostbook.process.recording import ReplayRunner
from hostbook.process.runner import DryRunRunner
from tests.unit.jobs.archive.test_base import context, request
from tests.unit.restore.data.test_streams import RECORDED, WORK, loaded_with_streams_in

SNAPSHOTS = f"{WORK}/fs/.snapshots"
FIRST, SECOND = "daily-hostbook-20240501T000000Z", "daily-hostbook-20240502T000000Z"


def _request(tmp_path: Path, snapshot: str,
             dry_run: bool = False) -> tuple[ArchiveRequest, StreamArchive, list[str]]:
    replay = ReplayRunner(RECORDED / "snapshots")
    ctx, log = context(runner=DryRunRunner(echo=lambda text: None, live=replay)
                       if dry_run else replay)
    spec = loaded_with_streams_in(tmp_path).document.jobs[0].archive[0]
    assert isinstance(spec, StreamArchive)
    return request(ctx, Path(f"{WORK}/fs/data"), snapshot=f"{SNAPSHOTS}/{snapshot}"), spec, log


def test_the_snapshots_uuids_order_and_the_incremental_send(tmp_path: Path) -> None:
    req, spec, _log = _request(tmp_path, SECOND)
    source = stream_source(req.ctx.runner, req, spec)
    assert source.kind == "btrfs" and source.origin == f"{WORK}/fs/data"
    assert [p.name for p in source.points] == [FIRST, SECOND]
    with Catalogue(Path(spec.destination) / CATALOGUE, readonly=True) as cat:
        first, second = cat.all_entries()
    assert [p.guid for p in source.points] == [first.guid, second.guid]
    decision = plan_archive([first], source.points, policy_of(spec), req.ctx.now)
    assert decision.action == "incremental" and decision.parent == first
    assert source.send(decision) == ["btrfs", "send", "-q", "-p", f"{SNAPSHOTS}/{FIRST}",
                                     f"{SNAPSHOTS}/{SECOND}"]
    (tmp_path / "older").mkdir()
    older, _spec, _log = _request(tmp_path / "older", FIRST)
    assert [p.name for p in stream_source(older.ctx.runner, older, spec).points] == [FIRST]


def test_a_run_decides_from_the_catalogue(tmp_path: Path) -> None:
    req, spec, _log = _request(tmp_path, SECOND, dry_run=True)
    done = archive(req, spec)
    assert (done.status, done.message) == (OK, f"{SECOND} is already archived")
    (Path(spec.destination) / CATALOGUE).unlink()
    fresh = archive(req, spec)
    assert (fresh.status, fresh.message) == (OK, "no chain yet: start with a full stream")
    shutil.rmtree(spec.destination)
    assert not Path(spec.destination).exists()  # a dry run makes nothing
    assert archive(req, spec).message == "no chain yet: start with a full stream"
    assert not Path(spec.destination).exists()
