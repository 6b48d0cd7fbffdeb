"""btrfs replication end to end on two real btrfs file systems over loop devices.

A full send, an incremental whose parent is found by received_uuid, a receive
cut off mid-stream (the transfer is cancelled after its first megabytes, as a
lost connection would) leaving a half-received subvolume that the next run
detects, deletes and sends again, then retention on both sides, and the
`hostbook plan` CLI on the same file systems.  Every command is the real one;
only loop devices over image files this test created are touched.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from hostbook.commands.plan import plan_group
from hostbook.jobs.replication.btrfs.inventory import BtrfsDirectory, load_directory
from hostbook.jobs.replication.btrfs.plan import BtrfsPlan, BtrfsTarget, plan_btrfs_directory
from hostbook.jobs.replication.btrfs.transfer import BtrfsEndpoint, BtrfsExecutor
from hostbook.manifest.sections.retention import RetentionPolicy
from hostbook.process.runner import LiveRunner
from tests.loopdev import LoopDevices

pytestmark = pytest.mark.loop

MiB = 1 << 20


def run(*argv: str) -> str:
    res = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert res.returncode == 0, f"{' '.join(argv)}: {res.stderr}"
    return res.stdout


@pytest.fixture
def btrfs_pair(loop_devices: LoopDevices) -> Iterator[tuple[Path, Path]]:
    """Two fresh btrfs file systems on our own loop devices, mounted in our work dir."""
    mounts = []
    for name in ("src", "dst"):
        dev = loop_devices("320M")
        dev.assert_ours()
        run("mkfs.btrfs", "-q", "-L", f"hb{name}", dev.path)
        mnt = loop_devices.workdir / name
        mnt.mkdir()
        run("mount", dev.path, str(mnt))
        mounts.append(mnt)
    try:
        yield mounts[0], mounts[1]
    finally:
        for mnt in mounts:
            subprocess.run(["umount", str(mnt)], capture_output=True, check=False)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): sha(p) for p in sorted(root.rglob("*")) if p.is_file()}


class Scenario:
    """The source subvolume, its snapshot directory and one target directory."""

    def __init__(self, src: Path, dst: Path) -> None:
        self.data = src / "data"
        self.snapdir = self.data / ".hostbook-snapshots"
        self.backup = dst / "backup"
        self.runner = LiveRunner()
        run("btrfs", "subvolume", "create", str(self.data))
        self.snapdir.mkdir()
        self.count = 0

    def snapshot(self, name: str, megabytes: int) -> Path:
        self.count += 1
        (self.data / f"file{self.count}").write_bytes(os.urandom(megabytes * MiB))
        path = self.snapdir / name
        run("btrfs", "subvolume", "snapshot", "-r", str(self.data), str(path))
        return path

    def source(self) -> BtrfsDirectory:
        return load_directory(self.runner, str(self.snapdir))

    def target(self) -> BtrfsDirectory:
        return load_directory(self.runner, str(self.backup))

    def plan(self, local: RetentionPolicy, remote: RetentionPolicy) -> BtrfsPlan:
        target = BtrfsTarget("usb", self.target(), remote)
        return plan_btrfs_directory(self.source(), local, [target], time.time())

    def executor(self, **kwargs: object) -> BtrfsExecutor:
        return BtrfsExecutor({"usb": BtrfsEndpoint(str(self.backup))},  # type: ignore[arg-type]
                             runner=self.runner, **kwargs)


def summary(plan: BtrfsPlan) -> list[tuple[str, str, str | None, str]]:
    return [(s.action, s.subvolume.name, s.parent.name if s.parent else None, s.location)
            for s in plan.steps]


def test_full_incremental_broken_receive_and_retention(btrfs_pair: tuple[Path, Path]) -> None:
    src, dst = btrfs_pair
    sc = Scenario(src, dst)
    keep5 = RetentionPolicy(keep={"daily": 5})

    # 1. A target directory that does not exist yet: one full send.
    assert not sc.target().exists
    sc.snapshot("daily-hostbook-1", 4)
    plan = sc.plan(keep5, keep5)
    assert not plan.refused
    assert summary(plan) == [("send", "daily-hostbook-1", None, "target")]
    report = sc.executor().execute(plan.steps)
    assert report.ok, [s.error for s in report.steps]
    full_bytes = report.sent
    copy1 = sc.target().subvolumes[0]
    assert copy1.received_uuid == sc.source().subvolumes[0].uuid and copy1.readonly
    assert tree(sc.backup / "daily-hostbook-1") == tree(sc.snapdir / "daily-hostbook-1")

    # 2. An incremental: the parent is the snapshot the target holds (by received_uuid).
    sc.snapshot("daily-hostbook-2", 4)
    plan = sc.plan(keep5, keep5)
    assert summary(plan) == [("send", "daily-hostbook-2", "daily-hostbook-1", "target")]
    assert f"received_uuid {copy1.received_uuid}" in plan.steps[0].reason
    report = sc.executor().execute(plan.steps)
    assert report.ok, [s.error for s in report.steps]
    assert report.sent < full_bytes  # only the new 4 MiB travelled, not 8
    copy2 = next(s for s in sc.target().subvolumes if s.name == "daily-hostbook-2")
    assert copy2.parent_uuid == copy1.uuid  # received as a snapshot of the parent's copy
    assert tree(sc.backup / "daily-hostbook-2") == tree(sc.snapdir / "daily-hostbook-2")

    # 3. The next transfer breaks off after its first megabytes.
    sc.snapshot("daily-hostbook-3", 48)
    run("btrfs", "subvolume", "create", str(sc.backup / "scratch"))  # somebody's own
    plan = sc.plan(keep5, keep5)
    assert summary(plan) == [("send", "daily-hostbook-3", "daily-hostbook-2", "target")]
    cancel = threading.Event()

    def cut(_target: str, sent: int) -> None:
        if sent > 2 * MiB:
            cancel.set()

    report = sc.executor(progress=cut, cancel=cancel).execute(plan.steps)
    assert not report.ok and "cancelled" in report.steps[-1].error
    broken = next(s for s in sc.target().subvolumes if s.name == "daily-hostbook-3")
    assert broken.received_uuid is None and broken.readonly is False

    # 4. The next run finds the half-received subvolume, deletes it and sends again.
    plan = sc.plan(keep5, keep5)
    assert not plan.refused
    assert summary(plan) == [
        ("delete", "daily-hostbook-3", None, "target"),
        ("send", "daily-hostbook-3", "daily-hostbook-2", "target"),
    ]
    assert "half-received" in plan.steps[0].reason
    assert any("scratch: a writable subvolume" in n for n in plan.targets[0].notes)
    report = sc.executor().execute(plan.steps)
    assert report.ok, [s.error for s in report.steps]
    assert tree(sc.backup / "daily-hostbook-3") == tree(sc.snapdir / "daily-hostbook-3")
    names = {s.name: s for s in sc.target().subvolumes}
    assert names["daily-hostbook-3"].received_uuid == sc.source().subvolumes[-1].uuid
    assert "scratch" in names
    assert summary(sc.plan(keep5, keep5)) == []  # converged

    # 5. Retention: both sides keep two dailies; the incremental parent survives.
    keep2 = RetentionPolicy(keep={"daily": 2}, keep_oldest=False)
    plan = sc.plan(keep2, keep2)
    assert summary(plan) == [
        ("delete", "daily-hostbook-1", None, "source"),
        ("delete", "daily-hostbook-1", None, "target"),
    ]
    report = sc.executor().execute(plan.steps)
    assert report.ok, [s.error for s in report.steps]
    assert [s.name for s in sc.source().subvolumes] == ["daily-hostbook-2", "daily-hostbook-3"]
    assert sorted(s.name for s in sc.target().subvolumes if s.received_uuid) == [
        "daily-hostbook-2", "daily-hostbook-3"]

    # 6. The next snapshot goes incrementally from the newest shared one.
    sc.snapshot("daily-hostbook-4", 2)
    plan = sc.plan(keep2, keep2)
    steps = summary(plan)
    assert steps[0] == ("send", "daily-hostbook-4", "daily-hostbook-3", "target")
    assert set(steps[1:]) == {("delete", "daily-hostbook-2", None, "source"),
                              ("delete", "daily-hostbook-2", None, "target")}
    assert sc.executor().execute(plan.steps).ok
    assert tree(sc.backup / "daily-hostbook-4") == tree(sc.snapdir / "daily-hostbook-4")


def test_plan_cli_includes_btrfs_targets(btrfs_pair: tuple[Path, Path], tmp_path: Path) -> None:
    src, dst = btrfs_pair
    sc = Scenario(src, dst)
    sc.snapshot("daily-hostbook-1", 1)
    assert sc.executor().execute(sc.plan(RetentionPolicy(keep={"daily": 3}),
                                         RetentionPolicy(keep={"daily": 3})).steps).ok
    sc.snapshot("daily-hostbook-2", 1)
    repo = tmp_path / "repo"
    (repo / "hosts" / "web1").mkdir(parents=True)
    (repo / "hosts" / "web1" / "jobs.yaml").write_text(
        "schema: hostbook/jobs/v1\n"
        "jobs:\n"
        "  - name: data\n"
        f"    volume: {{path: {sc.data}}}\n"
        "    snapshot: {provider: btrfs}\n"
        "    clone: [usb]\n"
        "retention:\n  local: {keep: {daily: 3}}\n"
        "replication:\n  targets:\n"
        f"    - {{name: usb, kind: btrfs, dataset: {sc.backup}, policy: {{keep: {{daily: 3}}}}}}\n"
    )
    runner = CliRunner()
    res = runner.invoke(plan_group, ["replication", "web1", "--repo", str(repo), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["datasets"] == [] and data["problems"] == []
    (btrfs,) = data["btrfs"]
    assert btrfs["directory"] == str(sc.snapdir)
    (op,) = btrfs["operations"]
    assert op["kind"] == "send" and op["parent"] == str(sc.snapdir / "daily-hostbook-1")
    assert op["command"] == (
        f"[usb] btrfs send -p {sc.snapdir}/daily-hostbook-1 {sc.snapdir}/daily-hostbook-2 | "
        f"btrfs receive {sc.backup}")
    res = runner.invoke(plan_group, ["retention", "web1", "--repo", str(repo)])
    assert res.exit_code == 0, res.output
    assert f"{sc.snapdir} (btrfs source)" in res.output
    assert "latest snapshot shared with usb (incremental parent)" in res.output
    assert "transfer daily-hostbook-2" in res.output
