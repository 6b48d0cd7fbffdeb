"""ZFS send-stream chains and a ZFS replica, made by ``hostbook run``, received back by
``hostbook restore data`` on real pools in the VM lab.

One boot, pools ``tank`` and ``backup``: a job on ``tank/data`` archives
to a ``zfs-stream`` destination (zstd + age) and clones to ``backup/data``.
Two runs (a file changes between) make a full and an incremental stream
and two replica snapshots.  ``hostbook archives`` lists both targets'
revisions; then ``tank/data`` is destroyed and ``restore data`` receives
revision 0 from the streams (the dataset comes back at its mountpoint,
from the stream's properties), again ``--at 1``, and last revision 0 from
the replica into a re-created empty dataset.  The guest reports exit codes,
output, guids and file checksums; the checks happen here.  The catalogue
and the listings are kept as fixtures (``HOSTBOOK_UPDATE_FIXTURES=1``).
About 2 minutes of lab time.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.lab.fixtures import GuestFactory
from tests.lab.guest_jobs import require_zfs_module
from tests.lab.vm import DiskSpec, Step
from tests.paths import FIXTURES

pytestmark = pytest.mark.lab

RECORDINGS = FIXTURES / "restore-streams" / "zfs"

BUILD = r"""
set -euo pipefail
modprobe zfs
zpool create -f -o ashift=12 -O mountpoint=none tank /dev/disk/by-id/virtio-rtank0
zpool create -f -o ashift=12 -O mountpoint=none backup /dev/disk/by-id/virtio-rbackup0
zfs create -o mountpoint=/srv/data tank/data
mkdir -p /srv/data/etc
head -c 3000000 /dev/urandom > /srv/data/blob.bin
ln /srv/data/blob.bin /srv/data/blob.hardlink
ln -s etc/conf /srv/data/link
echo 'version = 1' > /srv/data/etc/conf
chown 12345:54321 /srv/data/etc/conf
setfattr -n user.comment -v kept /srv/data/blob.bin
age-keygen -o /var/tmp/zstreams.key 2>/dev/null
"""

RUN = r"""
import hashlib, json, os, shutil, subprocess, sys, time
from pathlib import Path

results = Path(os.environ["LAB_RESULTS"]) / "zstreams"
results.mkdir(parents=True, exist_ok=True)
work = Path("/tmp/zstreams")
work.mkdir()
identity = Path("/var/tmp/zstreams.key")
recipient = next(line.split(": ", 1)[1] for line in identity.read_text().splitlines()
                 if line.startswith("# public key: "))
jobs = work / "jobs.yaml"
jobs.write_text(f'''\
schema: hostbook/jobs/v1
settings:
  state_dir: {work}/state
  sure_store: {work}/sure
jobs:
  - name: data
    volume: {{dataset: tank/data}}
    snapshot: {{provider: zfs, type: daily, prefix: hostbook, recursive: false}}
    clone: [backup]
    archive:
      - tool: zfs-stream
        destination: {work}/streams
        recipients: [{recipient}]
        identities: [{identity}]
        interval: 0s
replication:
  targets:
    - name: backup
      dataset: backup/data
      policy: {{keep: {{daily: 20}}}}
''')
said = {}

def hostbook(name, *args):
    done = subprocess.run([sys.executable, "-m", "hostbook", *args], capture_output=True,
                          text=True)
    said[name] = {"rc": done.returncode, "out": done.stdout, "err": done.stderr}

def checksums():
    root = Path("/srv/data")
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}

def guids(dataset):
    out = subprocess.run(["zfs", "list", "-Hp", "-t", "snapshot", "-o", "name,guid",
                          "-s", "createtxg", dataset], capture_output=True, text=True)
    return [line.split("\t") for line in out.stdout.splitlines()]

def destroy():
    subprocess.run(["zfs", "destroy", "-r", "tank/data"], check=True)

states = {}
for version in (1, 2):
    Path("/srv/data/etc/conf").write_text(f"version = {version}\n")
    hostbook(f"run{version}", "run", "--jobs-file", str(jobs), "--host", "lab", "--json",
             "--no-notify")
    states[version] = checksums()
    time.sleep(1.1)  # the next run's snapshot gets another name
said["source_guids"] = guids("tank/data")
said["replica_guids"] = guids("backup/data")
hostbook("archives", "archives", "--jobs-file", str(jobs), "lab", "--json")
restore = ["restore", "data", "--jobs-file", str(jobs), "lab", "--target", "/"]  # the rebuilt host
restored = {}
destroy()
hostbook("stream0", *restore, "--from", "zfs-stream")
restored["stream0"] = [checksums(), guids("tank/data")]
hostbook("stream0-again", *restore, "--from", "zfs-stream")
destroy()
hostbook("stream1", *restore, "--from", "zfs-stream", "--at", "1")
restored["stream1"] = [checksums(), guids("tank/data")]
destroy()
subprocess.run(["zfs", "create", "-o", "mountpoint=/srv/data", "tank/data"], check=True)
hostbook("replica0", *restore, "--from", "backup")
restored["replica0"] = [checksums(), guids("tank/data")]
said["mountpoint"] = subprocess.run(["zfs", "get", "-Hp", "-o", "value", "mountpoint",
                                     "tank/data"], capture_output=True, text=True).stdout
shutil.copyfile(work / "streams" / "catalogue.sqlite", results / "catalogue.sqlite")
(results / "result.json").write_text(json.dumps(
    {"said": said, "states": states, "restored": restored}, indent=1))
"""


def test_zfs_streams_and_replica_come_back_through_restore_data(
    lab_guest: GuestFactory, tmp_path: Path
) -> None:
    require_zfs_module()
    guest = lab_guest([DiskSpec("1G", serial="rtank0"), DiskSpec("1G", serial="rbackup0")],
                      memory_mb=2048)
    result = guest.run_steps(
        [Step("build", BUILD, timeout=300), Step("run", RUN, "python", timeout=900)],
        timeout=1300, stop_on_error=True, results_dir=tmp_path / "results",
    )
    assert result.ok, result.describe()
    out = tmp_path / "results" / "zstreams"
    got = json.loads((out / "result.json").read_text())
    said, states, restored = got["said"], got["states"], got["restored"]
    for run in ("run1", "run2"):
        assert said[run]["rc"] == 0, said[run]
    listing = {t["target"]: t for t in json.loads(said["archives"]["out"])}
    if os.environ.get("HOSTBOOK_UPDATE_FIXTURES") == "1":
        RECORDINGS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out / "catalogue.sqlite", RECORDINGS / "catalogue.sqlite")
        (RECORDINGS / "archives.json").write_text(said["archives"]["out"])
    streams, replica = listing["zfs-stream"], listing["backup"]
    assert streams["error"] is None and replica["error"] is None, listing
    assert [a["revision"] for a in streams["archives"]] == [0, 1]
    assert [len(a["parts"]) for a in streams["archives"]] == [2, 1]  # incremental, full
    assert [a["revision"] for a in replica["archives"]] == [0, 1]
    assert all(a["run"] for a in streams["archives"] + replica["archives"])
    source = dict(said["source_guids"])
    for name, version in (("stream0", "2"), ("stream1", "1"), ("replica0", "2")):
        assert said[name]["rc"] == 0, said[name]
        assert "zero differences" in said[name]["out"] + said[name]["err"], said[name]
        files, guids = restored[name]
        assert files == states[version], name
        # the received snapshots are the archived ones, by guid
        assert all(source.get(snap) == guid for snap, guid in guids), (name, guids, source)
    assert "verified before" in said["stream0-again"]["out"] + said["stream0-again"]["err"]
    assert said["mountpoint"].strip() == "/srv/data"
