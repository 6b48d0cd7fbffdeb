"""btrfs send-stream chains and btrfs replicas, archived by ``hostbook run``, received back.

A btrfs filesystem on a loop device holds a subvolume with every file kind
the data restore must keep (the tree of :mod:`tests.loop.test_restore_data`
without its 2 GiB sparse file, plus 96 MiB of random data so a receive
takes long enough to be killed).  ``hostbook run`` twice (a file changes
between) writes a full and an incremental stream through zstd and age into
a ``btrfs-stream`` destination and clones to a btrfs replica on a second
filesystem.  ``hostbook archives`` lists both targets' revisions with the
run's labels.  A run killed (SIGKILL, the whole tree) while it writes a
stream leaves ``FILE.partial``, which the next run removes.  Then the
filesystem is made again (as ``restore apply`` would, with an empty
subvolume at the volume's place) and ``restore data`` brings revision 0
and ``--at 1`` back from each target: zero differences in ``sure check``,
``getfattr``/``getfacl``/``getcap`` the same for every entry.  A stream
restore killed with SIGKILL mid-receive finishes when run again, the
broken receive replaced.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from hostbook.commands.archives import archives
from hostbook.commands.restore import restore
from hostbook.jobs.replication.btrfs.inventory import load_directory
from hostbook.jobs.run.events import PlainSink
from hostbook.jobs.run.history import history_path
from hostbook.jobs.run.jobs_file import load_jobs
from hostbook.jobs.run.orchestrator import run_jobs
from hostbook.jobs.run.request import RunRequest
from hostbook.jobs.snapshot.stable_mount import mounts
from hostbook.process.recording import RecordingRunner
from hostbook.process.runner import LiveRunner
from hostbook.restore.data.catalog import catalog
from tests.loop.test_jobs_debris import hostbook_run, kill_mid_archive, next_run
from tests.loop.test_restore_data import DATA_TOOLS, attributes, build_tree
from tests.loop.test_restore_roundtrip import ENV, sh
from tests.loopdev import LoopDevice, LoopDevices, check_loop_tier
from tests.paths import FIXTURES
from tests.tiers import available, require_tools

pytestmark = pytest.mark.loop

HOST = "h"  # the host name tests.loop.test_jobs_debris runs with
RECORDED = FIXTURES / "restore-streams" / "btrfs"
STREAM_TOOLS = ("btrfs", "mkfs.btrfs", "age", "age-keygen", "zstd")


@pytest.fixture(scope="module")
def make() -> Iterator[LoopDevices]:
    available(check_loop_tier)
    require_tools("btrfs stream restore tests",
                  (*STREAM_TOOLS, *(t for t in DATA_TOOLS if t not in ("restic", "borg"))))
    devices = LoopDevices()
    try:
        yield devices
    finally:
        for entry in reversed(mounts()):
            if entry.target.startswith(str(devices.workdir)):
                subprocess.run(["umount", "-l", entry.target], check=False)
        devices.close()


def fresh_btrfs(dev: LoopDevice, at: Path, label: str) -> None:
    """A new, empty btrfs on ``dev`` mounted at ``at`` (what ``restore apply`` leaves)."""
    dev.assert_ours()
    sh("mkfs.btrfs", "-q", "-f", "-L", label, dev.path)
    at.mkdir(parents=True, exist_ok=True)
    sh("mount", dev.path, str(at))


def jobs_file(work: Path, live: Path, recipient: str, identity: Path, replica: Path) -> Path:
    path = work / "jobs.yaml"
    path.write_text(f"""\
schema: hostbook/jobs/v1
settings:
  state_dir: {work / 'jobs-state'}
  mount_root: {work / 'volumes'}
  sure_store: {work / 'sure'}
jobs:
  - name: data
    volume: {{path: {live}}}
    snapshot: {{provider: btrfs, directory: {live.parent / '.snapshots'}}}
    clone: [replica]
    archive:
      - tool: btrfs-stream
        destination: {work / 'streams'}
        encryption: age
        recipients: [{recipient}]
        identities: [{identity}]
        full_every: 4
        interval: 0s
replication:
  targets:
    - {{name: replica, kind: btrfs, dataset: {replica}, policy: {{keep: {{daily: 10}}}}}}
""")
    return path


def record_fixtures(work: Path, jobs: Path) -> None:
    """What the unit tests replay: the jobs file, catalogue, history, and the listing."""
    folder = RECORDED
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "state" / "history").mkdir(parents=True)
    shutil.copyfile(jobs, folder / "jobs.yaml")
    shutil.copyfile(work / "streams" / "catalogue.sqlite", folder / "catalogue.sqlite")
    shutil.copyfile(history_path(work / "jobs-state", HOST),
                    history_path(folder / "state", HOST))
    recorder = RecordingRunner(LiveRunner(), folder / "listing")
    catalog(recorder, load_jobs(file=jobs, host=HOST))
    recorder.save()
    recorder = RecordingRunner(LiveRunner(), folder / "snapshots")
    load_directory(recorder, str(work / "fs" / ".snapshots"))  # what the archiver reads
    recorder.save()
    (folder / "scenario.json").write_text(json.dumps({"work": str(work), "host": HOST}) + "\n")


def killed_stream_is_removed_by_the_next_run(work: Path, jobs: Path) -> None:
    """A run killed while its stream is written (a new destination: a full of ~100 MB)
    leaves ``FILE.partial``; the next run removes it and writes the whole stream."""
    other = work / "other.yaml"
    other.write_text(jobs.read_text().replace(str(work / "streams"), str(work / "streams2"))
                     .replace(str(work / "jobs-state"), str(work / "jobs-state2"))
                     .replace("    clone: [replica]\n", ""))
    env = {**ENV, **os.environ}
    proc = hostbook_run(other, env)
    partials = work / "streams2"
    kill_mid_archive(proc, lambda: any(p.stat().st_size > (1 << 20)
                                       for p in partials.glob("*.partial")))
    (partial,) = partials.glob("*.partial")
    summary, messages = next_run(other, env)
    assert any(m.startswith("leftover of interrupted run ") and f"removed partial {partial}"
               in m for m in messages), messages
    assert not partial.exists()
    assert len(list(partials.glob("*.btrfs.zst.age"))) == 1  # the next run's whole full
    assert summary["exit_code"] == 0, summary


def restore_data(jobs: Path, target: Path, *args: str) -> Result:
    return CliRunner().invoke(restore, ["data", "--jobs-file", str(jobs), HOST,
                                        "--target", str(target), *args],
                              catch_exceptions=False)


def test_btrfs_streams_and_replica_come_back(make: LoopDevices) -> None:
    work = make.workdir
    source_dev, replica_dev = make("1G"), make("1G")
    fs = work / "fs"
    fresh_btrfs(source_dev, fs, "hbstreams")
    fresh_btrfs(replica_dev, work / "replica-fs", "hbreplica")
    live = fs / "data"
    sh("btrfs", "subvolume", "create", str(live))
    identity = work / "archive.key"
    sh("age-keygen", "-o", str(identity))
    recipient = next(line.split(": ", 1)[1] for line in identity.read_text().splitlines()
                     if line.startswith("# public key: "))
    jobs = jobs_file(work, live, recipient, identity, work / "replica-fs" / "data")
    expected = {}
    for day, version in ((1, 1), (2, 2)):
        build_tree(live, version)
        (live / "data" / "big-sparse").unlink(missing_ok=True)
        if day == 1:
            (live / "random.bin").write_bytes(os.urandom(96 << 20))
            os.utime(live, ns=(1_700_000_000_000_000_000,) * 2)
        outcome = run_jobs(RunRequest(loaded=load_jobs(file=jobs, host=HOST),
                                      now=datetime(2024, 5, day, tzinfo=UTC), notify=False,
                                      sink=PlainSink(StringIO())))
        assert outcome.exit_code == 0, outcome.to_json()
        [job] = outcome.jobs
        [result] = job.archives
        assert [c.status for c in job.clones] == ["ok"], job.clones
        assert result.message.startswith("full" if day == 1 else "incremental"), result.message
        assert result.archive_id and result.archive_id.endswith(".btrfs.zst.age")
        expected[version] = attributes(live)
    assert "cap_net_raw=ep" in expected[2]["bin/ping"][2]
    assert all(p.read_bytes().startswith(b"age-encryption.org/v1")
               for p in (work / "streams").glob("*.age"))

    if os.environ.get("HOSTBOOK_UPDATE_FIXTURES") == "1":
        record_fixtures(work, jobs)
    listed = CliRunner().invoke(archives, ["--jobs-file", str(jobs), HOST, "--json"],
                                catch_exceptions=False)
    assert listed.exit_code == 0, listed.output
    by_target = {t["target"]: t for t in json.loads(listed.output)}
    assert set(by_target) == {"btrfs-stream", "replica"}, by_target
    for name in ("btrfs-stream", "replica"):
        revisions = by_target[name]["archives"]
        assert by_target[name]["error"] is None
        assert [a["revision"] for a in revisions] == [0, 1], revisions
        assert [a["stamp"] for a in revisions] == ["20240502T000000Z", "20240501T000000Z"]
        assert all(a["run"] for a in revisions), revisions
    assert len(by_target["btrfs-stream"]["archives"][0]["parts"]) == 2  # full + incremental

    killed_stream_is_removed_by_the_next_run(work, jobs)

    target = work / "target"
    restored = target / live.relative_to("/")

    def rebuild() -> None:
        for entry in reversed(mounts()):
            if entry.target == str(fs) or entry.target.startswith(f"{target}/"):
                sh("umount", entry.target)
        fresh_btrfs(source_dev, target / fs.relative_to("/"), "hbstreams")
        sh("btrfs", "subvolume", "create", str(restored))  # as restore apply makes it

    for source in ("btrfs-stream", "replica"):
        for at, version in (("0", 2), ("1", 1)):
            rebuild()
            result = restore_data(jobs, target, "--from", source, "--at", at)
            assert result.exit_code == 0, result.output
            assert "zero differences" in result.output, result.output
            assert (restored / "etc" / "app" / "conf").read_text() == f"version = {version}\n"
            assert attributes(restored) == expected[version], (source, at)
            shown = sh("btrfs", "subvolume", "show", str(restored))
            assert "readonly" not in shown.split("Flags:", 1)[1].splitlines()[0], shown
        again = restore_data(jobs, target, "--from", source, "--at", "1")
        assert again.exit_code == 0 and "verified before" in again.output, again.output

    # A stream restore killed mid-receive: run again, the broken receive is replaced.
    rebuild()
    beside = restored.parent  # the members are received into .hostbook-received-<key> here
    argv = [sys.executable, "-m", "hostbook", "restore", "data", "--jobs-file", str(jobs),
            HOST, "--target", str(target), "--from", "btrfs-stream"]
    child = subprocess.Popen(argv, env={**ENV, **os.environ}, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    half = None
    while time.monotonic() < deadline and child.poll() is None:
        dirs = list(beside.glob(".hostbook-received-*/*/random.bin"))
        if dirs and dirs[0].stat().st_size > (16 << 20):
            half = dirs[0]
            break
        time.sleep(0.02)
    assert child.poll() is None and half is not None, "the receive finished before the kill"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    time.sleep(0.5)
    broken = sh("btrfs", "subvolume", "show", str(half.parent))
    assert "Received UUID: \t\t-" in broken and "readonly" not in broken, broken
    resumed = restore_data(jobs, target, "--from", "btrfs-stream")
    assert resumed.exit_code == 0, resumed.output
    assert "zero differences" in resumed.output, resumed.output
    assert attributes(restored) == expected[2]
    for entry in reversed(mounts()):
        if entry.target.startswith(f"{target}/"):
            sh("umount", entry.target)
