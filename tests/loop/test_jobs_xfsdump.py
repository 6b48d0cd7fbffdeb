"""xfsdump on a real XFS file system over a loop device: levels, inventory swap, restore.

The job uses the ``none`` provider (no device-mapper on this kernel; LVM
snapshots are proved in the VM lab): the live XFS is bound read-only at the
stable path and dumped from there.  The system's own xfsdump inventory
(``/var/lib/xfsdump/inventory``) must look exactly the same after every run,
failed runs included, while the destination's inventory records the dumps.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from click.testing import CliRunner

from hostbook.commands.restore import restore
from hostbook.jobs.archive.sidecar import read_sidecar
from hostbook.jobs.archive.xfsdump import SYSTEM_INVENTORY
from hostbook.jobs.integrity import database as sure_db
from hostbook.jobs.integrity import sure
from hostbook.jobs.run.events import JsonSink
from hostbook.jobs.run.jobs_file import load_jobs
from hostbook.jobs.run.orchestrator import journal_path, run_jobs
from hostbook.jobs.run.outcome import RunOutcome
from hostbook.jobs.run.request import RunRequest
from hostbook.jobs.run.run_journal import Journal
from hostbook.jobs.snapshot.stable_mount import mounted_at
from tests.loopdev import LoopDevices

pytestmark = pytest.mark.loop


def sh(*argv: str) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{' '.join(argv)}: {result.stderr}"
    return result.stdout


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under ``root`` and its content hash (empty when root is absent)."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture
def system_inventory() -> Iterator[Path]:
    """The real inventory path, with a marker in it; put back exactly as it was found."""
    inventory = Path(SYSTEM_INVENTORY)
    created = [p for p in (inventory.parent, inventory) if not p.exists()]
    for path in created:
        path.mkdir()
    marker = inventory / "hostbook-test-marker"
    marker.write_text("the system's own inventory\n")
    try:
        yield inventory
    finally:
        marker.unlink(missing_ok=True)
        for path in reversed(created):
            shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def xfs(loop_devices: LoopDevices) -> Iterator[Path]:
    if shutil.which("xfsdump") is None or shutil.which("mkfs.xfs") is None:
        pytest.skip("needs xfsdump and xfsprogs")
    dev = loop_devices("320M")
    dev.assert_ours()
    sh("mkfs.xfs", "-q", dev.path)
    mnt = loop_devices.workdir / "xfs"
    mnt.mkdir()
    sh("mount", dev.path, str(mnt))
    (mnt / "etc").mkdir()
    (mnt / "etc" / "conf").write_text("a = 1\n")
    (mnt / "data.bin").write_bytes(os.urandom(1 << 20))
    (mnt / "link").symlink_to("etc/conf")
    try:
        yield mnt
    finally:
        for line in reversed(Path("/proc/self/mountinfo").read_text().splitlines()):
            target = line.split()[4]
            if target.startswith(str(loop_devices.workdir / "mnt")):
                subprocess.run(["umount", "-l", target], check=False)
        subprocess.run(["umount", str(mnt)], capture_output=True, check=False)


def run(jobs: Path, when: datetime) -> RunOutcome:
    out = StringIO()
    outcome = run_jobs(RunRequest(loaded=load_jobs(file=jobs, host="h"), sink=JsonSink(out),
                                  now=when, notify=False))
    for line in out.getvalue().splitlines():
        json.loads(line)
    return outcome


def write_jobs(work: Path, volume: Path, destination: Path) -> Path:
    path = work / "jobs.yaml"
    path.write_text(f"""\
schema: hostbook/jobs/v1
settings:
  state_dir: {work / 'state'}
  mount_root: {work / 'mnt'}
  sure_store: {work / 'sure'}
jobs:
  - name: xfs
    volume: {{path: {volume}}}
    archive:
      - tool: xfsdump
        destination: {destination}
        levels: [0, 1, 2]
""")
    return path


def test_levels_inventory_swap_and_restore(xfs: Path, system_inventory: Path,
                                           tmp_path: Path) -> None:
    work = xfs.parent
    destination = work / "dumps"
    jobs = write_jobs(work, xfs, destination)
    before = tree_digest(system_inventory)
    # xfsdump compares times in whole seconds: keep the files, the dumps and the change
    # in different seconds, so the level 1 shows what an incremental really holds.
    time.sleep(1.1)
    first = run(jobs, datetime(2024, 5, 1, tzinfo=UTC))
    assert first.exit_code == 0, first.to_json()
    dump0 = first.jobs[0].archives[0]
    assert dump0.extra["level"] == 0 and str(dump0.archive_id).endswith("-L0.xfsdump")
    labels = read_sidecar(destination / str(dump0.archive_id))
    assert labels["tool"] == "xfsdump" and labels["level"] == 0
    assert labels["run"] == first.run_id and labels["stamp"] == "20240501T000000Z"
    assert tree_digest(system_inventory) == before
    assert mounted_at(SYSTEM_INVENTORY) is None
    assert (destination / "inventory").is_dir() and any((destination / "inventory").iterdir())

    time.sleep(1.1)
    (xfs / "etc" / "conf").write_text("a = 2\n")
    second = run(jobs, datetime(2024, 5, 2, tzinfo=UTC))
    assert second.exit_code == 0, second.to_json()
    dump1 = second.jobs[0].archives[0]
    assert dump1.extra["level"] == 1
    assert tree_digest(system_inventory) == before
    # The incremental holds only what changed since level 0: far smaller than the full.
    assert dump1.bytes is not None and dump0.bytes is not None and dump1.bytes < dump0.bytes / 4

    # The destination's inventory knows both sessions (xfsdump -I reads the swapped one).
    subprocess.run(["mount", "--bind", str(destination / "inventory"), SYSTEM_INVENTORY],
                   check=True)
    try:
        listing = sh("xfsdump", "-I")
    finally:
        subprocess.run(["umount", SYSTEM_INVENTORY], check=True)
    assert str(dump0.archive_id) in listing and str(dump1.archive_id) in listing

    # A full restore of level 0 then level 1 gives the tree the second database recorded.
    target = tmp_path / "restored"
    target.mkdir()
    sh("xfsrestore", "-r", "-f", str(destination / str(dump0.archive_id)), str(target))
    sh("xfsrestore", "-r", "-f", str(destination / str(dump1.archive_id)), str(target))
    shutil.rmtree(target / "xfsrestorehousekeepingdir", ignore_errors=True)
    assert second.jobs[0].sure is not None
    database = Path(second.jobs[0].sure["database"])
    assert sure.check(target, database, ignore=["times"]) == []
    # xfsrestore sets times to the whole second and leaves symlinks' times alone: every
    # other difference is exactly one of those.
    recorded = sure_db.read(database).by_path()
    for difference in sure.check(target, database):
        assert [name for name, _old, _new in difference.changes] == ["mtime"]
        if recorded[difference.path].kind == "l":
            continue
        old, new = (int(v) for v in difference.changes[0][1:])
        assert new == old - old % 1_000_000_000, difference.describe()

    # restore data does the same: the chain level 0 then 1, checked against the database.
    root = tmp_path / "root"
    root.mkdir()
    result = CliRunner().invoke(restore, ["data", "--jobs-file", str(jobs), "h", "--target",
                                          str(root), "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    [volume] = json.loads(result.output)["volumes"]
    assert volume["status"] == "verified"
    assert volume["archive"]["parts"] == [dump0.archive_id, dump1.archive_id]
    restored = root / xfs.relative_to("/")
    assert (restored / "etc" / "conf").read_text() == "a = 2\n"
    assert not (restored / "xfsrestorehousekeepingdir").exists()
    older = tmp_path / "older"
    older.mkdir()
    result = CliRunner().invoke(restore, ["data", "--jobs-file", str(jobs), "h", "--target",
                                          str(older), "--at", "1"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (older / xfs.relative_to("/") / "etc" / "conf").read_text() == "a = 1\n"


def test_failed_dump_still_puts_the_inventory_back(system_inventory: Path,
                                                   tmp_path: Path) -> None:
    """xfsdump refuses a volume that is not XFS; the system inventory is unchanged."""
    if shutil.which("xfsdump") is None:
        pytest.skip("needs xfsdump")
    volume = tmp_path / "not-xfs"
    volume.mkdir()
    (volume / "f").write_text("x")
    jobs = write_jobs(tmp_path, volume, tmp_path / "dumps")
    before = tree_digest(system_inventory)
    outcome = run(jobs, datetime(2024, 5, 1, tzinfo=UTC))
    assert outcome.exit_code == 3
    result = outcome.jobs[0].archives[0]
    assert result.status == "failed" and result.archive_id is None
    assert mounted_at(SYSTEM_INVENTORY) is None
    assert tree_digest(system_inventory) == before
    assert list((tmp_path / "dumps").glob("*.xfsdump")) == []
    state = load_jobs(file=jobs, host="h").state_dir
    assert Journal(journal_path(state, "h")).open_resources() == []
