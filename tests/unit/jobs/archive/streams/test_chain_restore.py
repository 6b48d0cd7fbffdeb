"""Archive chains written through zstd+age from the fake zfs, and restored into it.

The fake's `zfs send` streams go through the real zstd and age into files,
the catalogue records them, and `restore_chain` brings the lineage back
through age/zstd into the fake's `zfs receive`: the target must end with the
same snapshots, by guid, as the source.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hostbook.jobs.archive.streams.chain_restore import (
    ChainRestoreError,
    Keys,
    check_lineage,
    restore_chain,
)
from hostbook.jobs.archive.streams.chains import (
    ArchiveEntry,
    Catalogue,
    ChainPolicy,
    plan_archive,
    send_args_for,
    stream_filename,
)
from hostbook.jobs.archive.streams.writer import stream_to_file
from hostbook.jobs.replication.host_inventory import load_inventory
from hostbook.jobs.replication.zfs.transfer import Endpoint
from hostbook.process.runner import LiveRunner
from tests.paths import FAKES
from tests.tiers import skip_or_fail

ZFS = (sys.executable, "-S", str(FAKES / "zfs"))
DAY = 86400
T0 = 1_800_000_000


class Host:
    """One fake zfs host."""

    def __init__(self, state: Path) -> None:
        self.env = {"HOSTBOOK_FAKE_ZFS_STATE": str(state), "HOSTBOOK_FAKE_ZFS_NOW": str(T0)}
        self.endpoint = Endpoint(ZFS, env=self.env)

    def zfs(self, *args: str) -> str:
        res = subprocess.run([*ZFS, *args], env={**os.environ, **self.env},
                             capture_output=True, text=True, check=False)
        assert res.returncode == 0, res.stderr
        return res.stdout

    def snapshots(self, dataset: str) -> list[tuple[str, int]]:
        inv = load_inventory(LiveRunner(env=self.env), dataset, self.endpoint)
        return [(s.name, s.guid) for s in inv[dataset].snapshots] if dataset in inv else []


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Keys, str]:
    if shutil.which("age-keygen") is None or shutil.which("zstd") is None:
        skip_or_fail("age and zstd are needed (apt-get install age zstd)")
    identity = tmp_path / "archive.key"
    subprocess.run(["age-keygen", "-o", str(identity)], capture_output=True, check=True)
    recipient = next(line.split(": ", 1)[1] for line in identity.read_text().splitlines()
                     if line.startswith("# public key: "))
    return Keys(age_identities=(str(identity),)), recipient


def _archive_days(src: Host, archive: Path, cat: Catalogue, recipient: str,
                  days: int, policy: ChainPolicy) -> None:
    """A daily snapshot and the archive step the planner decides, for each day."""
    for day in range(days):
        now = T0 + day * DAY
        src.env["HOSTBOOK_FAKE_ZFS_NOW"] = str(now)
        src.zfs("set", "hostbook:dirty=on", "tank/www")  # some data changed since yesterday
        src.zfs("snapshot", f"tank/www@daily-{day:02d}")
        inv = load_inventory(LiveRunner(env=src.env), "tank/www", src.endpoint)["tank/www"]
        decision = plan_archive(cat.entries("tank/www"), inv.snapshots, policy, now)
        if decision.snapshot is None:
            continue
        name = stream_filename("tank/www", decision, compression="zstd", encryption="age")
        _raw, stored = stream_to_file(
            LiveRunner(), src.endpoint.argv(*send_args_for(decision, "tank/www")), archive / name,
            compress="zstd", encrypt="age", recipients=[recipient], env=src.env,
        )
        cat.add("tank/www", decision.snapshot, decision.parent, stored, name,
                compression="zstd", encryption="age")


def test_chain_restores_by_guid_and_resumes_after_a_bad_member(
    tmp_path: Path, keys: tuple[Keys, str]
) -> None:
    keyset, recipient = keys
    src, dst = Host(tmp_path / "src.json"), Host(tmp_path / "dst.json")
    src.zfs("create", "-p", "tank/www")
    dst.zfs("create", "restore")
    archive = tmp_path / "archive"
    archive.mkdir()
    with Catalogue(archive / "catalogue.sqlite") as cat:
        _archive_days(src, archive, cat, recipient, 6, ChainPolicy(full_every=3, interval=DAY))
        entries = cat.entries("tank/www")
        assert [e.is_full for e in entries] == [True, False, False, False, True, False]
        newest = cat.lineage(entries[3].id)  # the first chain, whole: full + 3 incrementals
    assert [e.snapshot for e in newest] == ["daily-00", "daily-01", "daily-02", "daily-03"]
    assert (archive / "tank_www@daily-02.from-daily-01.zfs.zst.age").is_file()

    # A member whose file was damaged in storage: the restore stops there.
    bad = archive / newest[2].path
    good = bad.read_bytes()
    bad.write_bytes(good[: len(good) // 2])
    report = restore_chain(newest, "restore/www", receiver=dst.endpoint, archive_dir=archive,
                           keys=keyset, runner=LiveRunner())
    assert not report.ok
    assert [m.action for m in report.members] == ["received", "received", "failed"]
    assert bad.name in report.members[-1].error
    source_guids = dict(src.snapshots("tank/www"))
    assert dst.snapshots("restore/www") == [
        (n, source_guids[n]) for n in ("daily-00", "daily-01")]

    # The file is put back: the same call skips what is there and finishes.
    bad.write_bytes(good)
    progress: list[tuple[str, int]] = []
    report = restore_chain(newest, "restore/www", receiver=dst.endpoint, archive_dir=archive,
                           keys=keyset, progress=lambda e, n: progress.append((e.snapshot, n)),
                           runner=LiveRunner())
    assert report.ok, [m.error for m in report.members]
    assert [m.action for m in report.members] == ["skipped", "skipped", "received", "received"]
    assert report.received == ["daily-02", "daily-03"]
    assert {name for name, _ in progress} == {"daily-02", "daily-03"}
    assert dst.snapshots("restore/www") == [
        (e.snapshot, source_guids[e.snapshot]) for e in newest]
    # Nothing left to do.
    again = restore_chain(newest, "restore/www", receiver=dst.endpoint, archive_dir=archive,
                          keys=keyset, runner=LiveRunner())
    assert again.ok and again.received == []


def test_restore_refuses_a_target_that_does_not_continue_the_chain(
    tmp_path: Path, keys: tuple[Keys, str]
) -> None:
    keyset, recipient = keys
    src, dst = Host(tmp_path / "src.json"), Host(tmp_path / "dst.json")
    src.zfs("create", "-p", "tank/www")
    dst.zfs("create", "-p", "restore/www")
    dst.zfs("snapshot", "restore/www@unrelated")
    archive = tmp_path / "a"
    archive.mkdir()
    with Catalogue(archive / "c.sqlite") as cat:
        _archive_days(src, archive, cat, recipient, 2, ChainPolicy())
        lineage = cat.lineage(cat.entries("tank/www")[-1].id)
    with pytest.raises(ChainRestoreError, match="none is the chain's full daily-00"):
        restore_chain(lineage, "restore/www", receiver=dst.endpoint, archive_dir=archive,
                      keys=keyset, runner=LiveRunner())
    assert dst.snapshots("restore/www")[0][0] == "unrelated"
    with pytest.raises(ChainRestoreError, match="identity file is needed"):
        restore_chain(lineage, "restore/other", receiver=dst.endpoint, archive_dir=archive,
                      runner=LiveRunner())


def _entry(i: int, parent: int | None, dataset: str = "tank/www") -> ArchiveEntry:
    return ArchiveEntry(i, 1, dataset, f"daily-{i}", 1000 + i, parent, i, 10, f"s{i}")


def test_member_lists_must_be_one_lineage() -> None:
    check_lineage([_entry(1, None), _entry(2, 1), _entry(3, 2)])
    with pytest.raises(ChainRestoreError, match="starts from the chain's full"):
        check_lineage([_entry(2, 1)])
    with pytest.raises(ChainRestoreError, match="not one lineage"):
        check_lineage([_entry(1, None), _entry(3, 2)])
    with pytest.raises(ChainRestoreError, match="second full"):
        check_lineage([_entry(1, None), _entry(2, None)])
    with pytest.raises(ChainRestoreError, match="empty"):
        check_lineage([])
