"""Jobs on real btrfs file systems over loop devices: snap, sure, clone, archive, unsnap.

Covers the btrfs provider (read-only snapshot bound at the stable path,
transient unless the job clones), the clone step (a full send, then an
incremental whose parent is chosen by uuid), a run killed with SIGKILL
between snap and unsnap whose leftovers the next run removes, ``--step``
runs that hand snapshots from one run to the next, and one snap phase for
several volumes.  Only loop devices over image files this test created are
touched.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest

from hostbook.jobs.integrity import sure
from hostbook.jobs.replication.btrfs.lineage import parse_subvolume_show
from hostbook.jobs.run.events import JsonSink
from hostbook.jobs.run.history import History, history_path
from hostbook.jobs.run.jobs_file import LoadedJobs, load_jobs
from hostbook.jobs.run.orchestrator import journal_path, run_jobs
from hostbook.jobs.run.outcome import RunOutcome
from hostbook.jobs.run.request import RunRequest
from hostbook.jobs.run.run_journal import Journal
from hostbook.jobs.snapshot.stable_mount import mounted_at
from tests.loopdev import LoopDevices
from tests.paths import REPO_ROOT

pytestmark = pytest.mark.loop



def sh(*argv: str) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{' '.join(argv)}: {result.stderr}"
    return result.stdout


@dataclass
class Lab:
    work: Path
    src: Path
    dst: Path

    def jobs(self, body: str, name: str = "jobs.yaml") -> Path:
        path = self.work / name
        path.write_text(
            "schema: hostbook/jobs/v1\n"
            "settings:\n"
            f"  state_dir: {self.work / 'state'}\n"
            f"  mount_root: {self.work / 'mnt'}\n"
            f"  sure_store: {self.work / 'sure'}\n"
            "jobs:\n" + body
        )
        return path

    def subvolume(self, name: str) -> Path:
        path = self.src / name
        sh("btrfs", "subvolume", "create", str(path))
        (path / "docs").mkdir()
        (path / "docs" / "readme.txt").write_text(f"{name}\n")
        (path / "blob.bin").write_bytes(os.urandom(2 << 20))
        (path / "link").symlink_to("docs/readme.txt")
        return path


@pytest.fixture
def lab(loop_devices: LoopDevices) -> Iterator[Lab]:
    mounts = []
    for name in ("src", "dst"):
        dev = loop_devices("384M")
        dev.assert_ours()
        sh("mkfs.btrfs", "-q", "-L", f"hbjobs-{name}", dev.path)
        mnt = loop_devices.workdir / name
        mnt.mkdir()
        sh("mount", dev.path, str(mnt))
        mounts.append(mnt)
    lab = Lab(loop_devices.workdir, mounts[0], mounts[1])
    try:
        yield lab
    finally:
        # Anything a failed test left mounted under our mount root comes off first.
        for line in reversed(Path("/proc/self/mountinfo").read_text().splitlines()):
            target = line.split()[4]
            if target.startswith(str(lab.work / "mnt")):
                subprocess.run(["umount", "-l", target], check=False)
        for mnt in reversed(mounts):
            subprocess.run(["umount", str(mnt)], capture_output=True, check=False)


def run(loaded: LoadedJobs, when: datetime | None = None, **kw: object) -> tuple[RunOutcome,
                                                                                 list[dict]]:
    out = StringIO()
    outcome = run_jobs(RunRequest(loaded=loaded, sink=JsonSink(out), now=when, notify=False,
                                  **kw))  # type: ignore[arg-type]
    return outcome, [json.loads(line) for line in out.getvalue().splitlines()]


def subvolumes(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir()) if path.exists() else []


def nothing_mounted_under(root: Path) -> bool:
    return not any(
        line.split()[4].startswith(str(root))
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
    )


def test_transient_snapshot_archived_and_removed(lab: Lab, tmp_path: Path) -> None:
    data = lab.subvolume("data")
    jobs = lab.jobs(f"""\
  - name: data
    volume: {{path: {data}}}
    snapshot: {{provider: btrfs}}
    archive: [{{tool: tar, destination: {lab.work / 'tar'}}}]
""")
    loaded = load_jobs(file=jobs, host="h")
    outcome, _events = run(loaded)
    assert outcome.exit_code == 0, outcome.to_json()
    job = outcome.jobs[0]
    assert job.steps == {"snap": "ok", "sure": "ok", "clone": "skipped", "archive": "ok",
                         "retention": "skipped", "unsnap": "ok"}
    assert job.snapshot is not None and "/.hostbook-snapshots/daily-hostbook-" in job.snapshot
    # Transient (no clone): gone after the run, as is every mount.
    assert subvolumes(data / ".hostbook-snapshots") == []
    assert nothing_mounted_under(lab.work / "mnt")
    assert Journal(journal_path(loaded.state_dir, "h")).open_resources() == []

    # The archive restores to exactly what the integrity database recorded.
    assert job.sure is not None
    database = Path(job.sure["database"])
    archive = lab.work / "tar" / str(job.archives[0].archive_id)
    restored = tmp_path / "restored"
    restored.mkdir()
    sh("tar", "--extract", "--zstd", "--file", str(archive), "--directory", str(restored),
       "--numeric-owner", "--same-permissions")
    assert sure.check(restored, database) == []

    records = list(History(history_path(loaded.state_dir, "h")).records())
    assert [(r.job, r.status, r.tool, r.archive_id) for r in records] == [
        ("data", "ok", "tar", job.archives[0].archive_id)]


def test_clone_full_then_incremental_with_parent_by_uuid(lab: Lab) -> None:
    data = lab.subvolume("data")
    target_dir = lab.dst / "backup" / "data"
    jobs = lab.jobs(f"""\
  - name: data
    volume: {{path: {data}}}
    snapshot: {{provider: btrfs, type: daily}}
    clone: [usb]
replication:
  targets:
    - name: usb
      kind: btrfs
      dataset: {target_dir}
      policy: {{keep: {{daily: 10}}}}
""")
    loaded = load_jobs(file=jobs, host="h")
    first, _events = run(loaded, datetime(2024, 5, 1, 12, tzinfo=UTC))
    assert first.exit_code == 0, first.to_json()
    assert [c.message for c in first.jobs[0].clones] == ["1 send(s): full"]
    (data / "docs" / "new.txt").write_text("added after the first run\n")
    second, events = run(loaded, datetime(2024, 5, 2, 12, tzinfo=UTC))
    assert second.exit_code == 0, second.to_json()
    assert [c.message for c in second.jobs[0].clones] == ["1 send(s): incremental"]
    parent_used = [e["message"] for e in events if e["event"] == "message"
                   and "is on the target as" in e.get("message", "")]
    assert parent_used and "daily-hostbook-20240501T120000Z" in parent_used[0]

    names = ["daily-hostbook-20240501T120000Z", "daily-hostbook-20240502T120000Z"]
    # Kept on the source (the next send needs a parent), received on the target.
    assert subvolumes(data / ".hostbook-snapshots") == names
    assert subvolumes(target_dir) == names
    copy = parse_subvolume_show(sh("btrfs", "subvolume", "show", str(target_dir / names[1])))
    original = parse_subvolume_show(
        sh("btrfs", "subvolume", "show", str(data / ".hostbook-snapshots" / names[1]))
    )
    assert copy.received_uuid == original.uuid and copy.readonly
    # The received copy holds what the second run's database recorded (which, like the
    # archive, leaves out the snapshot directory: in a snapshot it is an empty folder).
    assert second.jobs[0].sure is not None
    database = Path(second.jobs[0].sure["database"])
    assert sure.check(target_dir / names[1], database, exclude=[".hostbook-snapshots"]) == []
    assert nothing_mounted_under(lab.work / "mnt")


_RUN = "import sys; from hostbook.commands.run import run; sys.argv[0] = 'hostbook run'; run()"


def test_sigkill_between_snap_and_unsnap_is_cleaned_by_the_next_run(lab: Lab) -> None:
    data = lab.subvolume("data")
    password = lab.work / "restic.pass"
    os.mkfifo(password)  # restic blocks reading it: the run stops right after snap and sure
    jobs = lab.jobs(f"""\
  - name: data
    volume: {{path: {data}}}
    snapshot: {{provider: btrfs}}
    archive:
      - tool: restic
        repository: {lab.work / 'restic'}
        password_file: {password}
        init: true
""")
    loaded = load_jobs(file=jobs, host="h")
    stable = lab.work / "mnt" / f"path-{str(data).strip('/').replace('/', '-')}"
    env = {**os.environ, "RESTIC_CACHE_DIR": str(lab.work / "cache"),
           "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _RUN, "--jobs-file", str(jobs), "--host", "h", "--no-notify"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if mounted_at(str(stable)) is not None and _has_child(proc.pid, "restic"):
                break
            time.sleep(0.1)
        else:
            pytest.fail("the run never reached the archive step")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # The killed run left its snapshot and its read-only mount behind.
    assert mounted_at(str(stable)) is not None
    left = subvolumes(data / ".hostbook-snapshots")
    assert len(left) == 1
    assert _wait_gone(proc.pid, "restic")  # its child was told to stop (PR_SET_PDEATHSIG)

    password.unlink()
    password.write_text("pw\n")
    os.environ["RESTIC_CACHE_DIR"] = str(lab.work / "cache")
    try:
        outcome, events = run(loaded, datetime(2030, 1, 1, tzinfo=UTC))
    finally:
        del os.environ["RESTIC_CACHE_DIR"]
    assert outcome.exit_code == 0, outcome.to_json()
    cleaned = sorted(c.split(" (run")[0] for c in outcome.cleaned)
    assert cleaned == sorted([f"mount {stable}",
                              f"btrfs-snapshot {data / '.hostbook-snapshots' / left[0]}"])
    # The leftovers went before the new snapshot was taken, and that one is gone too.
    order = [e.get("step") or e.get("message", "")[:18] for e in events]
    assert order.index("leftover of interr") < order.index("snap")
    assert subvolumes(data / ".hostbook-snapshots") == []
    assert nothing_mounted_under(lab.work / "mnt")
    assert Journal(journal_path(loaded.state_dir, "h")).open_resources() == []


def test_sigterm_stops_the_run_and_still_unsnaps(lab: Lab) -> None:
    """systemd stopping the unit, a timeout: the tool is stopped, snapshots go, exit 3."""
    data = lab.subvolume("data")
    password = lab.work / "restic.pass"
    os.mkfifo(password)
    jobs = lab.jobs(f"""\
  - name: data
    volume: {{path: {data}}}
    snapshot: {{provider: btrfs}}
    archive:
      - {{tool: restic, repository: {lab.work / 'restic'}, password_file: {password}}}
""")
    loaded = load_jobs(file=jobs, host="h")
    stable = lab.work / "mnt" / f"path-{str(data).strip('/').replace('/', '-')}"
    env = {**os.environ, "RESTIC_CACHE_DIR": str(lab.work / "cache"),
           "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _RUN, "--jobs-file", str(jobs), "--host", "h", "--no-notify",
         "--json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while not _has_child(proc.pid, "restic"):
        assert time.monotonic() < deadline, "the run never reached the archive step"
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 3, stderr
    summary = json.loads(stdout.splitlines()[-1])
    assert any("SIGTERM" in p for p in summary["problems"]), json.dumps(summary)
    assert mounted_at(str(stable)) is None
    assert subvolumes(data / ".hostbook-snapshots") == []
    # Only the stopped restic's possible lock is left, for the next run's restic unlock.
    left = Journal(journal_path(loaded.state_dir, "h")).open_resources()
    assert [r.kind for r in left] == ["restic-lock"]
    assert _wait_gone(proc.pid, "restic")
    records = list(History(history_path(loaded.state_dir, "h")).records())
    assert [(r.job, r.status) for r in records] == [("data", "failed")]


def _children(pid: int) -> list[tuple[int, str]]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if ppid == pid:
            found.append((int(entry.name), comm))
    return found


def _has_child(pid: int, name: str) -> bool:
    return any(comm == name for _child, comm in _children(pid))


def _wait_gone(pid: int, name: str, seconds: float = 10) -> bool:
    """True once no process named ``name`` that was a child of ``pid`` remains."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        alive = [
            p for p in Path("/proc").iterdir()
            if p.name.isdigit() and _comm(p) == name and _cmdline_mentions(p, "restic")
        ]
        if not alive:
            return True
        time.sleep(0.1)
    return False


def _comm(path: Path) -> str:
    try:
        return (path / "comm").read_text().strip()
    except OSError:
        return ""


def _cmdline_mentions(path: Path, needle: str) -> bool:
    try:
        return needle in (path / "cmdline").read_text()
    except OSError:
        return False


def test_steps_hand_the_snapshot_from_run_to_run(lab: Lab) -> None:
    data = lab.subvolume("data")
    jobs = lab.jobs(f"""\
  - name: data
    volume: {{path: {data}}}
    snapshot: {{provider: btrfs}}
    archive: [{{tool: tar, destination: {lab.work / 'tar'}}}]
""")
    loaded = load_jobs(file=jobs, host="h")
    stable = lab.work / "mnt" / f"path-{str(data).strip('/').replace('/', '-')}"
    snap, _ = run(loaded, steps=("snap",))
    entry = mounted_at(str(stable))
    assert snap.exit_code == 0 and entry is not None
    assert entry.readonly and {"nosuid", "nodev"} <= entry.options
    with pytest.raises(OSError):
        (stable / "written-into-the-snapshot").write_text("no")
    assert Journal(journal_path(loaded.state_dir, "h")).open_resources()  # kept, not leftover
    middle, _ = run(loaded, steps=("sure", "archive"))
    assert middle.exit_code == 0, middle.to_json()
    assert middle.jobs[0].snapshot == snap.jobs[0].snapshot  # the same snapshot, adopted
    assert mounted_at(str(stable)) is not None
    last, _ = run(loaded, steps=("unsnap",))
    assert last.exit_code == 0
    assert mounted_at(str(stable)) is None
    assert subvolumes(data / ".hostbook-snapshots") == []
    assert Journal(journal_path(loaded.state_dir, "h")).open_resources() == []


def test_one_snap_phase_for_several_volumes(lab: Lab) -> None:
    first, second = lab.subvolume("one"), lab.subvolume("two")
    jobs = lab.jobs(f"""\
  - name: one
    volume: {{path: {first}}}
    snapshot: {{provider: btrfs}}
    archive: [{{tool: tar, destination: {lab.work / 'tar'}}}]
  - name: two
    volume: {{path: {second}}}
    snapshot: {{provider: btrfs}}
    archive: [{{tool: tar, destination: {lab.work / 'tar'}}}]
  - name: two-again
    volume: {{path: {second}}}
    snapshot: {{provider: btrfs}}
    sure: {{enabled: true}}
""")
    outcome, events = run(load_jobs(file=jobs, host="h"))
    assert outcome.exit_code == 0, outcome.to_json()
    ends = [(e["job"], e["step"]) for e in events if e["event"] == "step-end"]
    snaps = [i for i, (_job, step) in enumerate(ends) if step == "snap"]
    others = [i for i, (_job, step) in enumerate(ends) if step in ("sure", "archive")]
    assert len(snaps) == 3 and max(snaps) < min(others)  # every snapshot before any archive
    shared = outcome.jobs[2]
    assert shared.snapshot == outcome.jobs[1].snapshot  # same volume, same snapshot
    assert shared.steps["sure"] == "skipped"  # recorded once per snapshot
    assert nothing_mounted_under(lab.work / "mnt")
