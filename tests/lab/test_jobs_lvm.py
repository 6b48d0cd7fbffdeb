"""LVM transient snapshots in the VM lab (this machine's kernel has no device-mapper).

One boot: a volume group with an ext4 and an XFS logical volume, both mounted
and filled; then

1. ``hostbook run`` with two jobs on those LVs (one snap phase), tar and
   xfsdump archivers: each origin is snapshotted with ``lvcreate --snapshot``,
   the snapshot mounted (XFS with ``nouuid``), the integrity database written
   into the snapshot, the archive taken from the stable read-only path, and
   everything removed again;
2. a run killed with SIGKILL while its snapshot is mounted, and the next run
   that removes the leftover mount and snapshot LV before taking its own;
3. ``--step snap``, then more writes to the origin than the snapshot can hold,
   then ``--step archive --step unsnap``: the invalidated snapshot fails the
   job (its archive cannot be trusted) and is removed all the same;
4. ``hostbook serve`` in the guest, and ``POST /api/hosts/lab/snapshot?type=hourly``:
   one kept snapshot LV per job's volume, named ``hourly-hostbook-<lv>-<time>`` so the
   retention policy counts it as hourly (a few seconds of the guest's time).

The guest writes what its tools report (lvs, findmnt, the run's JSON events)
and the archives into the results folder; the checks happen here, including
a restore of the tar archive checked against the database that travelled
inside it.  With HOSTBOOK_UPDATE_FIXTURES=1 the LVM provider's queries,
recorded in the guest, are copied to tests/fixtures/jobs/lvm*/ for the unit
tests' replay.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hostbook.jobs.integrity import sure
from hostbook.jobs.replication.zfs.inventory import snapshot_type
from tests.lab.fixtures import GuestFactory
from tests.lab.guest_jobs import events, guest_step
from tests.lab.vm import DiskSpec, Step
from tests.paths import FIXTURES

pytestmark = pytest.mark.lab

JOB_RECORDINGS = FIXTURES / "jobs"

BUILD = r"""
set -euo pipefail
grep -qw hostbook.lab=1 /proc/cmdline
disk=$(readlink -f /dev/disk/by-id/virtio-jobs0)
pvcreate -q "$disk"
vgcreate -q jobsvg "$disk"
lvcreate -q -y -W y -L 400M -n data jobsvg
lvcreate -q -y -W y -L 400M -n xdata jobsvg
udevadm settle
mkfs.ext4 -q -L data /dev/jobsvg/data
mkfs.xfs -q -L xdata /dev/jobsvg/xdata
mkdir -p /srv/data /srv/xdata
mount /dev/jobsvg/data /srv/data
mount /dev/jobsvg/xdata /srv/xdata
for d in /srv/data /srv/xdata; do
    mkdir -p "$d/etc" "$d/var/lib"
    echo "key = value" > "$d/etc/app.conf"
    head -c 3000000 /dev/urandom > "$d/var/lib/blob"
    ln -s etc/app.conf "$d/link"
done
chmod 600 /srv/data/etc/app.conf
"""

RUN = guest_step("jobs", r"""
work = Path("/tmp/jobs")
work.mkdir()

def jobs_file(name, archive_data):
    path = work / name
    path.write_text(settings(work) + f'''\
jobs:
  - name: data
    volume: {{lv: jobsvg/data}}
    snapshot: {{provider: lvm, size: 25%ORIGIN}}
    archive: [{archive_data}]
  - name: xdata
    volume: {{lv: jobsvg/xdata}}
    snapshot: {{provider: lvm, size: 60M}}
    archive: [{{tool: xfsdump, destination: {work}/xfsdump}}]
''')
    return path

def facts(name):
    lvs = subprocess.run(["lvs", "--reportformat", "json", "-o", "lv_name,origin"],
                         capture_output=True, text=True).stdout
    mnt = subprocess.run(["findmnt", "-J", "-o", "TARGET,SOURCE,OPTIONS"],
                         capture_output=True, text=True).stdout
    (results / f"{name}.lvs.json").write_text(lvs)
    (results / f"{name}.findmnt.json").write_text(mnt)

ORIGIN_QUERIES = [
    ["lvs", "--reportformat", "json", "--units", "b", "--nosuffix",
     "-o", "lv_name,vg_name,lv_attr,origin,pool_lv,lv_size", f"jobsvg/{lv}"]
    for lv in ("data", "xdata")
] + [["blkid", "-p", "-o", "value", "-s", "TYPE", f"/dev/mapper/jobsvg-{lv}"]
     for lv in ("data", "xdata")]
STATE = ["lvs", "--noheadings", "-o", "lv_attr,snap_percent", "jobsvg/data-hostbook-snap"]

tar = "{tool: tar, destination: %s/tar}" % work
hostbook("run1", jobs_file("jobs.yaml", tar))
facts("after1")
origin_listing = sorted(os.listdir("/srv/data"))
(results / "origin.json").write_text(json.dumps(origin_listing))
subprocess.run(["cp", "-r", f"{work}/tar", f"{work}/sure", str(results)], check=True)

# A run that is killed while its snapshots are mounted: restic blocks reading a FIFO.
fifo = work / "pass.fifo"
os.mkfifo(fifo)
blocking = "{tool: restic, repository: %s/restic, password_file: %s}" % (work, fifo)
proc = subprocess.Popen([sys.executable, "-c", RUN, "--jobs-file",
                         str(jobs_file("kill.yaml", blocking)), "--host", "lab", "--json",
                         "--no-notify"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
deadline = time.monotonic() + 240
while time.monotonic() < deadline:
    if running("restic"):
        break
    time.sleep(0.2)
os.kill(proc.pid, signal.SIGKILL)
proc.wait()
time.sleep(1)
facts("killed")
hostbook("run2", jobs_file("jobs.yaml", tar))
facts("after2")

# A snapshot too small for what the origin gets written meanwhile: --step snap, write
# 40 MB into the origin, then the rest of the run.
small = work / "small.yaml"
small.write_text(jobs_file("jobs.yaml", tar).read_text().replace("25%ORIGIN", "8M"))
hostbook("run3a", small, "data", "--step", "snap")
record("lvm", [*ORIGIN_QUERIES, STATE])
with open("/srv/data/var/lib/churn", "wb") as handle:
    handle.write(os.urandom(40 << 20))
    handle.flush()
    os.fsync(handle.fileno())
record("lvm-overflowed", [STATE])
hostbook("run3", small, "data", "--step", "archive", "--step", "unsnap")
facts("after3")

# POST /api/hosts/lab/snapshot?type=hourly to a real hostbook serve: LVM snapshots named
# for retention (<type>-hostbook-<time>), kept after the call.
import socket, urllib.error, urllib.request
from hostbook.manifest.store import ManifestRepository
subprocess.run(["ip", "link", "set", "lo", "up"], check=False)
repo = ManifestRepository.init(work / "repo") or ManifestRepository.open(work / "repo")
repo.host_dir("lab").mkdir(parents=True)
(repo.host_dir("lab") / "jobs.yaml").write_text(jobs_file("jobs.yaml", tar).read_text())
ManifestRepository.open(work / "repo").commit_host("lab", "jobs")
with socket.socket() as sock:
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
server = subprocess.Popen([sys.executable, "-m", "hostbook", "serve", "--repo",
                           str(work / "repo"), "--listen", f"127.0.0.1:{port}",
                           "--token-file", str(work / "serve.token")],
                          stdout=subprocess.DEVNULL, stderr=open(results / "serve.err", "w"))
deadline = time.monotonic() + 240
while True:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/hosts", timeout=10).read()
        break
    except OSError:
        assert server.poll() is None and time.monotonic() < deadline
        time.sleep(0.5)
token = (work / "serve.token").read_text().strip()
request = urllib.request.Request(f"http://127.0.0.1:{port}/api/hosts/lab/snapshot?type=hourly",
                                 method="POST", headers={"Authorization": f"Bearer {token}"})
try:
    answer = urllib.request.urlopen(request, timeout=120)
except urllib.error.HTTPError as refused:
    answer = refused
(results / "snapshot.json").write_text(json.dumps(
    {"status": answer.status, "body": json.loads(answer.read())}))
server.terminate()
server.wait(timeout=30)
facts("snapshot")
""")


def _lvs(path: Path) -> list[str]:
    report = json.loads(path.read_text())["report"][0]["lv"]
    return sorted(row["lv_name"] for row in report)


def _targets(path: Path) -> list[str]:
    found: list[str] = []

    def walk(nodes: list[dict[str, object]]) -> None:
        for node in nodes:
            found.append(str(node["target"]))
            walk(node.get("children", []))  # type: ignore[arg-type]

    walk(json.loads(path.read_text())["filesystems"])
    return found


def test_lvm_snapshots_are_transient_and_cleaned_after_a_kill(
    lab_guest: GuestFactory, tmp_path: Path
) -> None:
    guest = lab_guest([DiskSpec("2G", serial="jobs0")])
    result = guest.run_steps(
        [Step("build", BUILD, timeout=240), Step("run", RUN, "python", timeout=900)],
        timeout=1500, stop_on_error=True, results_dir=tmp_path / "results",
    )
    assert result.ok, result.describe()
    out = tmp_path / "results" / "jobs"
    assert (out / "run1.rc").read_text() == "0", (out / "run1.err").read_text()
    run1 = events(out / "run1.events")
    summary = run1[-1]
    assert summary["event"] == "summary" and summary["exit_code"] == 0
    ends = [(e["job"], e["step"], e["status"]) for e in run1 if e["event"] == "step-end"]
    snaps = [i for i, e in enumerate(ends) if e[1] == "snap"]
    archives = [i for i, e in enumerate(ends) if e[1] == "archive"]
    assert len(snaps) == 2 and max(snaps) < min(archives)  # one snap phase for both LVs
    assert all(status == "ok" for _job, step, status in ends if step != "clone")
    jobs = {j["job"]: j for j in summary["jobs"]}
    assert jobs["data"]["snapshot"] == "jobsvg/data-hostbook-snap"
    assert jobs["xdata"]["archives"][0]["level"] == 0

    # Nothing left: no snapshot LV, nothing mounted under the stable root.
    assert _lvs(out / "after1.lvs.json") == ["data", "xdata"]
    assert not [t for t in _targets(out / "after1.findmnt.json")
                if t.startswith("/run/hostbook")]
    # The database went into the snapshot (and so into the archive), not into the origin.
    assert sure.IN_TREE_DIR not in json.loads((out / "origin.json").read_text())
    archive = next((out / "tar").glob("*.tar.zst"))
    restored = tmp_path / "restored"
    restored.mkdir()
    subprocess.run(["tar", "--extract", "--zstd", "--file", str(archive), "--directory",
                    str(restored), "--numeric-owner", "--same-permissions"], check=True)
    inside = restored / sure.IN_TREE_DIR / "lv-jobsvg-data.sure.gz"
    assert inside.is_file()
    assert sure.check(restored, inside) == []  # the archive carries its own proof
    stored = next((out / "sure" / "lv-jobsvg-data").glob("*.sure.gz"))
    assert stored.read_bytes() == inside.read_bytes()

    # The killed run left its snapshots and mounts; the next run removed them first.
    assert "data-hostbook-snap" in _lvs(out / "killed.lvs.json")
    assert any(t.startswith("/run/hostbook/volumes") for t in
               _targets(out / "killed.findmnt.json"))
    assert (out / "run2.rc").read_text() == "0", (out / "run2.err").read_text()
    summary2 = events(out / "run2.events")[-1]
    cleaned = {c.split(" (run")[0] for c in summary2["cleaned"]}
    assert {
        "lvm-snapshot data-hostbook-snap", "lvm-snapshot xdata-hostbook-snap",
        "mount /run/hostbook/volumes/lv-jobsvg-data",
        "mount /run/hostbook/volumes/.work/lv-jobsvg-data",
        "mount /run/hostbook/volumes/lv-jobsvg-xdata",
    } <= cleaned, cleaned
    assert _lvs(out / "after2.lvs.json") == ["data", "xdata"]
    assert not [t for t in _targets(out / "after2.findmnt.json")
                if t.startswith("/run/hostbook")]

    # The overflowed snapshot: the run fails and says why; the snapshot is still removed.
    assert (out / "run3a.rc").read_text() == "0"
    assert (out / "run3.rc").read_text() == "3"
    summary3 = events(out / "run3.events")[-1]
    job3 = summary3["jobs"][0]
    assert job3["status"] == "failed"
    assert any("overflowed" in m for m in job3["messages"]), job3["messages"]
    assert _lvs(out / "after3.lvs.json") == ["data", "xdata"]

    # POST .../snapshot?type=hourly through hostbook serve: one kept LVM snapshot per
    # volume, named so that retention counts it as hourly.
    posted = json.loads((out / "snapshot.json").read_text())
    assert posted["status"] == 201, posted
    made = {m["job"]: m for m in posted["body"]["snapshots"]}
    assert {j: m["status"] for j, m in made.items()} == {"data": "ok", "xdata": "ok"}
    report = json.loads((out / "snapshot.lvs.json").read_text())["report"][0]["lv"]
    origins = {row["lv_name"]: row["origin"] for row in report if row["origin"]}
    for job in ("data", "xdata"):
        vg, name = made[job]["snapshot"].split("/")
        assert vg == "jobsvg" and origins[name] == job
        assert snapshot_type(name) == "hourly" and name.startswith(f"hourly-hostbook-{job}-")

    if os.environ.get("HOSTBOOK_UPDATE_FIXTURES") == "1":
        for name in ("lvm", "lvm-overflowed"):
            target = JOB_RECORDINGS / name
            target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(out / "recordings" / name / "recording.json",
                            target / "recording.json")
