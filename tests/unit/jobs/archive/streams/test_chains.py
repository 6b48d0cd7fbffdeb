"""Full/incremental chain planner, the SQLite catalogue, and streams through zstd."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from hostbook.jobs.archive.streams.chains import (
    ArchiveDecision,
    Catalogue,
    ChainPolicy,
    plan_archive,
)
from hostbook.jobs.archive.streams.writer import filter_argv, stream_to_file
from hostbook.jobs.replication.zfs.inventory import Snapshot
from hostbook.process.runner import LiveRunner

DAY = 86400


def snap(i: int) -> Snapshot:
    return Snapshot("tank/data", f"daily-{i:03d}", 1000 + i, i + 1, i * DAY)


def test_schedule_over_a_month_with_expiry(tmp_path: Path) -> None:
    policy = ChainPolicy(full_every=3, interval=DAY, expire_after=10 * DAY)
    actions: list[str] = []
    expired: list[int] = []
    with Catalogue(tmp_path / "catalogue.sqlite") as cat:
        for day in range(20):
            source = [snap(i) for i in range(max(0, day - 2), day + 1)]
            decision = plan_archive(cat.entries("tank/data"), source, policy, day * DAY)
            actions.append(decision.action[0])
            for chain, reason in decision.expire:
                assert "past 10d" in reason
                cat.expire(chain)
                expired.append(chain)
            if decision.snapshot is not None:
                cat.add("tank/data", decision.snapshot, decision.parent, 100 + day, f"s{day}")
        # A full, then 3 incrementals, then a new full: btrsend's schedule.
        assert "".join(actions) == "fiiifiiifiiifiiifiii"
        assert expired == [1, 2]
        entries = cat.entries("tank/data")
        chain_ids = sorted({e.chain for e in entries})
        assert chain_ids == [3, 4, 5]
        last = entries[-1]
        lineage = cat.lineage(last.id)
        assert lineage[0].is_full and [e.snapshot for e in lineage] == [
            "daily-016", "daily-017", "daily-018", "daily-019"]
        assert cat.chain_size(last.chain) == sum(e.size for e in lineage)


def test_nothing_when_archived_or_interval_not_passed(tmp_path: Path) -> None:
    with Catalogue(tmp_path / "c.sqlite") as cat:
        cat.add("tank/data", snap(1), None, 10, "f")
        same = plan_archive(cat.entries("tank/data"), [snap(1)], ChainPolicy(), 5 * DAY)
        assert same.action == "nothing" and "already archived" in same.reason
        half = Snapshot("tank/data", "hourly-x", 99, 99, DAY + 3600)
        soon = plan_archive(cat.entries("tank/data"), [snap(1), half], ChainPolicy(), 5 * DAY)
        assert soon.action == "nothing" and "interval is 1d" in soon.reason


def test_full_when_parent_is_gone_from_source(tmp_path: Path) -> None:
    with Catalogue(tmp_path / "c.sqlite") as cat:
        cat.add("tank/data", snap(1), None, 10, "f")
        decision: ArchiveDecision = plan_archive(
            cat.entries("tank/data"), [snap(5)], ChainPolicy(), 5 * DAY)
        assert decision.action == "full" and "gone from the source" in decision.reason


def test_filter_commands() -> None:
    assert filter_argv("zstd", "age", ["age1abc"]) == [
        ["zstd", "-q", "-c", "-T0"], ["age", "-r", "age1abc"]]
    gpg = filter_argv("none", "gpg", ["ABCD"])[0]
    assert gpg[0] == "gpg" and gpg[-2:] == ["--recipient", "ABCD"]


@pytest.mark.skipif(shutil.which("zstd") is None, reason="zstd not installed")
def test_stream_to_file_through_zstd(tmp_path: Path) -> None:
    import subprocess

    out = tmp_path / "tank-data@daily-1.zfs.zst"
    payload = "print('x' * 200000, end='')"
    raw, stored = stream_to_file(LiveRunner(), [sys.executable, "-c", payload], out,
                                 compress="zstd")
    assert raw == 200000 and 0 < stored < raw
    assert not out.with_name(out.name + ".partial").exists()
    back = subprocess.run(["zstd", "-d", "-c", str(out)], capture_output=True, check=True)
    assert back.stdout == b"x" * 200000
    with pytest.raises(RuntimeError):
        stream_to_file(LiveRunner(), [sys.executable, "-c", "import sys; sys.exit(3)"],
                       tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
