"""Send-stream chains and clone-target replicas as restore sources, on recorded real runs.

``restore-streams/btrfs`` is what ``tests/loop/test_restore_btrfs_streams.py``
recorded: two ``hostbook run``s of a btrfs subvolume archived as an age-encrypted
stream chain and cloned to a btrfs replica (the catalogue, the run history, and
the replica listing's ``btrfs`` queries).  ``restore-streams/zfs`` is the
catalogue of the ZFS lab test's runs.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from hostbook.jobs.archive.streams.chains import Catalogue
from hostbook.jobs.run.jobs_file import LoadedJobs, load_jobs
from hostbook.manifest.errors import BadInputError
from hostbook.manifest.sections.jobs import JobsDocument
from hostbook.manifest.validate import validate_as
from hostbook.process.recording import ReplayRunner
from hostbook.process.runner import LiveRunner
from hostbook.restore.data.archive import Where
from hostbook.restore.data.catalog import catalog
from hostbook.restore.data.preflight import preflight
from hostbook.restore.data.streams import list_archives
from tests.paths import FIXTURES

RECORDED = FIXTURES / "restore-streams" / "btrfs"
SCENARIO = json.loads((RECORDED / "scenario.json").read_text())
WORK = SCENARIO["work"]
HOST = SCENARIO["host"]
ZFS_RECORDED = FIXTURES / "restore-streams" / "zfs"


def loaded_with_streams_in(tmp_path: Path) -> LoadedJobs:
    """The recorded jobs.yaml with the recorded catalogue as its stream destination."""
    streams = tmp_path / "streams"
    streams.mkdir()
    shutil.copyfile(RECORDED / "catalogue.sqlite", streams / "catalogue.sqlite")
    (tmp_path / "archive.key").write_text("# stands in for the age identity of the run\n")
    text = (RECORDED / "jobs.yaml").read_text().replace(f"{WORK}/streams", str(streams)) \
        .replace(f"{WORK}/archive.key", str(tmp_path / "archive.key"))
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(text)
    return load_jobs(file=jobs, host=HOST, state_dir=RECORDED / "state")


def test_stream_members_and_replica_snapshots_are_listed_with_the_runs_labels(
    tmp_path: Path,
) -> None:
    listing = catalog(ReplayRunner(RECORDED / "listing"), loaded_with_streams_in(tmp_path))
    assert [(t.target, t.tool, t.error) for t in listing] == [
        ("btrfs-stream", "btrfs-stream", None), ("replica", "btrfs-replica", None)]
    streams, replica = listing
    history = [json.loads(line) for line in
               (RECORDED / "state" / "history" / f"{HOST}.jsonl").read_text().splitlines()]
    runs = [h["run"] for h in history if h["tool"] == "btrfs-stream"]
    for target in listing:
        assert [a.revision for a in target.archives] == [0, 1]
        assert [a.stamp for a in target.archives] == ["20240502T000000Z", "20240501T000000Z"]
        assert [a.run for a in target.archives] == runs[::-1]
    newest, oldest = streams.archives
    assert newest.labels["kind"] == "incremental" and oldest.labels["kind"] == "full"
    assert newest.parts == [oldest.id, newest.id]  # the lineage, full first
    assert newest.labels["key"] == oldest.labels["key"] == replica.volume_key
    assert newest.labels["host"] == HOST and newest.short_id == "2"
    assert oldest.size is not None and oldest.size > 96 << 20  # random data: no compression
    # The replica holds copies of the same snapshots: its received_uuid is the stream's uuid.
    with Catalogue(RECORDED / "catalogue.sqlite", readonly=True) as cat:
        uuids = [str(e.guid) for e in cat.all_entries()]
    assert [a.labels["uuid"] for a in replica.archives] == uuids[::-1]
    assert replica.location == f"{WORK}/replica-fs/data"


def test_another_hosts_or_volumes_members_are_not_listed(tmp_path: Path) -> None:
    loaded = loaded_with_streams_in(tmp_path)
    spec = loaded.document.jobs[0].archive[0]
    job = loaded.document.jobs[0]
    mine = Where(HOST, job.name, job.volume.key, str(tmp_path))
    assert len(list_archives(LiveRunner(), mine, spec)) == 2
    assert list_archives(LiveRunner(), Where("other", job.name, job.volume.key, "/"), spec) == []
    assert list_archives(LiveRunner(), Where(HOST, job.name, "path-else", "/"), spec) == []


def test_a_catalogue_from_before_kinds_and_labels_is_read_and_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.sqlite"
    old = sqlite3.connect(path)
    old.executescript("""
CREATE TABLE entries (id INTEGER PRIMARY KEY, chain INTEGER NOT NULL, dataset TEXT NOT NULL,
    snapshot TEXT NOT NULL, guid TEXT NOT NULL, parent_id INTEGER REFERENCES entries(id),
    created INTEGER NOT NULL, size INTEGER NOT NULL, path TEXT NOT NULL,
    compression TEXT NOT NULL, encryption TEXT NOT NULL);
INSERT INTO entries VALUES (1, 1, 'tank/www', 'daily-00', '11812412651466443913', NULL,
    1714521600, 1200, 'tank_www@daily-00.zfs.zst.age', 'zstd', 'age');
""")
    old.commit()
    old.close()
    with Catalogue(path, readonly=True) as cat:
        [entry] = cat.all_entries()
    assert (entry.kind, entry.guid, dict(entry.labels)) == ("zfs", 11812412651466443913, {})
    with Catalogue(path) as cat:
        columns = {row[1] for row in cat.db.execute("PRAGMA table_info(entries)")}
        assert {"kind", "labels"} <= columns
        assert cat.lineage(1) == [entry]
    spec = validate_as(JobsDocument, {"schema": "hostbook/jobs/v1", "jobs": [{
        "name": "www", "volume": {"dataset": "tank/www"},
        "archive": [{"tool": "zfs-stream", "destination": str(tmp_path),
                     "recipients": ["age1x"]}]}]}, "jobs.yaml").jobs[0].archive[0]
    [archive] = list_archives(LiveRunner(), Where("h", "www", "dataset-tank-www", "/"), spec)
    assert archive.id == entry.path and archive.stamp is None and archive.labels["kind"] == "full"


@pytest.mark.skipif(not (ZFS_RECORDED / "catalogue.sqlite").exists(),
                    reason="recorded by the ZFS lab test")
def test_the_zfs_lab_catalogue_has_a_labelled_full_and_incremental() -> None:
    with Catalogue(ZFS_RECORDED / "catalogue.sqlite", readonly=True) as cat:
        full, incremental = cat.all_entries()
    assert (full.kind, full.is_full, incremental.parent_id) == ("zfs", True, full.id)
    assert isinstance(full.guid, int) and full.dataset == "tank/data"
    assert full.labels["mountpoint"] == "/srv/data" and full.labels["host"] == "lab"
    assert full.labels["run"] != incremental.labels["run"]
    listed = json.loads((ZFS_RECORDED / "archives.json").read_text())
    assert [t["tool"] for t in listed] == ["zfs-stream", "zfs-replica"]


def test_a_whole_volume_source_refuses_paths_overwrite_and_a_busy_place(
    tmp_path: Path,
) -> None:
    loaded = loaded_with_streams_in(tmp_path)
    target = tmp_path / "target"
    volume_dir = target / f"{WORK}/fs/data".lstrip("/")
    volume_dir.mkdir(parents=True)
    runner = LiveRunner()
    for extra in ({"paths": [f"{WORK}/fs/data/etc"]}, {"overwrite": True}):
        checked = preflight(runner, loaded, [], str(target), source="btrfs-stream",
                            **extra)  # type: ignore[arg-type]
        assert checked.refusals[0] == (
            f"{loaded.document.jobs[0].volume.key}: btrfs-stream (btrfs-stream) restores the "
            "whole volume by receiving it: --path and --overwrite do not apply")
    (volume_dir / "stray").write_text("not ours\n")
    busy = preflight(runner, loaded, [], str(target), source="btrfs-stream")
    assert len(busy.refusals) == 1 and "is not empty (stray ...)" in busy.refusals[0]
    (volume_dir / "stray").unlink()
    (tmp_path / "archive.key").unlink()
    keyless = preflight(runner, loaded, [], str(target), source="btrfs-stream")
    assert keyless.refusals == [f"{loaded.document.jobs[0].volume.key}: btrfs-stream: cannot "
                                f"read the identity file {tmp_path / 'archive.key'}"]
    ready = preflight(ReplayRunner(RECORDED / "listing"), loaded, [], str(target),
                      source="replica")
    assert ready.refusals == []
    [plan] = ready.plans
    assert plan.placement is not None and plan.directory == volume_dir
    with pytest.raises(BadInputError):
        preflight(runner, loaded, ["no-such-volume"], str(target))
