"""ZFS jobs on real pools in the VM lab (the module DKMS built for the lab kernel).

One boot: pools ``tank`` and ``backup`` on two virtio disks, a dataset tree
``tank/data`` (with a child), an encrypted ``tank/secret`` (passphrase in a
file) and ``tank/big``; then

1. ``hostbook run`` of three jobs: each dataset is snapshotted with
   ``zfs snapshot -r`` under the jobs' naming and held while the sure, clone
   and archive steps run; the holds are released after, the snapshots kept.
   ``tank/data`` is archived with restic from the snapshot mounted at the
   stable path and cloned in full to ``backup/data``; ``tank/secret`` is sent
   raw (``-w``), so ``backup/secret`` holds it encrypted with no key loaded;
2. two snapshots taken by hand, a file changed, and a second run: restic
   reports the unchanged files as unmodified (same path, same metadata), and
   the clone sends the range since the first run with ``-I``;
3. a run killed with SIGKILL while its snapshot is held and mounted (restic
   waits on a password FIFO), and the next run that releases the leftover
   hold and unmounts the leftover mounts first;
4. ``tank/big``'s first stream cut after 8 MiB (``zfs receive -s``), and a
   run that resumes it from the target's real ``receive_resume_token``: the
   guids on both sides then agree;
5. a run whose target keeps two dailies: the clone destroys the others on the
   target in ranges (``zfs destroy ds@a%b``), and what is left is exactly what
   the plan's operations said, the oldest and the latest common snapshot
   included.

With HOSTBOOK_UPDATE_FIXTURES=1 the inventories read in the guest (the
partial receive and its token, both pools, the held snapshots) are copied to
tests/fixtures/zfs/ for the unit tests' replay.

A second boot clones over ssh: sshd listens on 127.0.0.1 inside the guest and
the job's target is ``root@127.0.0.1`` on another pool (a full, then an
incremental).

The guest writes what zfs reports (snapshots, guids, holds, properties) and
the runs' JSON events to the results folder; the checks happen here.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.lab.fixtures import GuestFactory
from tests.lab.guest_jobs import events, guest_step, require_zfs_module, zfs_pools
from tests.lab.guest_jobs import summary as run_summary
from tests.lab.vm import DiskSpec, Step
from tests.paths import FIXTURES

pytestmark = pytest.mark.lab

ZFS_RECORDINGS = FIXTURES / "zfs"

BUILD = zfs_pools("ztank0", "zbackup0") + r"""
zfs create -o mountpoint=/srv/data tank/data
zfs create tank/data/sub
printf '%s' 'lab secret passphrase' > /tmp/zfs.key
zfs create -o encryption=aes-256-gcm -o keyformat=passphrase \
    -o keylocation=file:///tmp/zfs.key -o mountpoint=/srv/secret tank/secret
zfs create -o mountpoint=/srv/big tank/big
for d in /srv/data /srv/data/sub /srv/secret; do
    mkdir -p "$d/etc" "$d/var/lib"
    echo "key = value" > "$d/etc/app.conf"
    head -c 1000000 /dev/urandom > "$d/var/lib/blob"
    for i in $(seq 1 20); do echo "file $i" > "$d/var/lib/f$i"; done
done
head -c 48000000 /dev/urandom > /srv/big/blob
zfs list -o name,mountpoint,encryption,keystatus
"""

RUN = guest_step("zfs", r"""
work = Path("/tmp/zjobs")
work.mkdir()
(work / "restic.pass").write_text("lab restic password\n")
(work / "restic.pass").chmod(0o600)

def jobs_file(name, password_file, repository="restic"):
    path = work / name
    path.write_text(settings(work) + f'''\
jobs:
  - name: data
    volume: {{dataset: tank/data}}
    snapshot: {{provider: zfs, type: daily, prefix: hostbook, recursive: true}}
    clone: [backup]
    archive:
      - tool: restic
        repository: {work}/{repository}
        password_file: {password_file}
        init: true
  - name: secret
    volume: {{dataset: tank/secret}}
    snapshot: {{provider: zfs, type: daily, prefix: hostbook}}
    clone: [backup-secret]
  - name: big
    volume: {{dataset: tank/big}}
    snapshot: {{provider: zfs, type: daily, prefix: hostbook}}
    sure: {{enabled: false}}
    clone: [backup-big]
replication:
  targets:
    - name: backup
      dataset: backup/data
      policy: {{keep: {{daily: 20}}}}
    - name: backup-secret
      dataset: backup/secret
      policy: {{keep: {{daily: 20}}}}
    - name: backup-big
      dataset: backup/big
      policy: {{keep: {{daily: 20}}}}
''')
    return path

def zfs(*args):
    out = subprocess.run(["zfs", *args], capture_output=True, text=True)
    return {"rc": out.returncode, "stdout": out.stdout, "stderr": out.stderr}

def facts(name):
    state = {
        "snapshots": zfs("list", "-Hp", "-t", "snapshot", "-o", "name,guid,userrefs",
                         "-s", "createtxg", "-r", "tank", "backup"),
        "datasets": zfs("list", "-Hp", "-t", "filesystem,volume",
                        "-o", "name,encryption,keystatus,receive_resume_token",
                        "-r", "tank", "backup"),
        "mounts": subprocess.run(["findmnt", "-rn", "-o", "TARGET,SOURCE,FSTYPE"],
                                 capture_output=True, text=True).stdout,
    }
    snaps = state["snapshots"]["stdout"].split()
    held = [line.split("\t")[0] for line in state["snapshots"]["stdout"].splitlines()
            if line.split("\t")[2:3] != ["0"]]
    state["holds"] = zfs("holds", "-H", *held) if held else {"rc": 0, "stdout": ""}
    (results / f"{name}.json").write_text(json.dumps(state, indent=1))

def run(name, jobs, *extra):
    hostbook(name, jobs, *extra)
    facts(name)
    time.sleep(1.1)  # the next run's snapshots get another name (one-second stamps)

def record_inventory(name, *roots, queries=()):
    # What hostbook's inventory reads of real pools, recorded for the unit tests' replay.
    from hostbook.jobs.replication.host_inventory import load_inventory
    from hostbook.jobs.replication.zfs.transfer import Endpoint
    from hostbook.process.recording import RecordingRunner
    from hostbook.process.runner import LiveRunner
    folder = results / "recordings" / name
    folder.mkdir(parents=True, exist_ok=True)
    recorder = RecordingRunner(LiveRunner(), folder)
    seen = {root: {ds: [[s.name, str(s.guid), s.createtxg, s.userrefs] for s in inv.snapshots]
                   + [inv.encrypted, inv.resume.token if inv.resume else None,
                      inv.resume.toguid if inv.resume else None]
                   for ds, inv in load_inventory(recorder, root,
                                                 decode_from=Endpoint()).items()}
            for root in roots}
    record(name, queries, recorder)
    (folder / "inventory.json").write_text(json.dumps(seen, indent=1, default=str))

jobs = jobs_file("jobs.yaml", work / "restic.pass")

# tank/big's first stream is cut after 8 MiB: a partial receive with a resume token.
subprocess.run(["zfs", "snapshot", "tank/big@daily-seed"], check=True)
cut = subprocess.run("zfs send tank/big@daily-seed | head -c 8000000 | "
                     "zfs receive -s -u backup/big", shell=True, capture_output=True,
                     text=True)
(results / "cut-receive.json").write_text(json.dumps({"rc": cut.returncode,
                                                    "stderr": cut.stderr}))
facts("cut")
record_inventory("zfs-resume", "backup/big")

run("run1", jobs)

# Two snapshots by hand, one file changed: the next clone carries a range (-I).
subprocess.run(["zfs", "snapshot", "-r", "tank/data@daily-manual1"], check=True)
Path("/srv/data/etc/app.conf").write_text("key = changed\n")
subprocess.run(["zfs", "snapshot", "-r", "tank/data@daily-manual2"], check=True)
run("run2", jobs)
def snapshot_names(dataset):
    listed = zfs("list", "-H", "-o", "name", "-t", "snapshot", "-s", "createtxg", dataset)
    return [line.split("@", 1)[1] for line in listed["stdout"].split()]
data = snapshot_names("tank/data")
record_inventory("zfs-pools", "tank", "backup", queries=[
    ["zfs", "send", "-nvP", f"tank/data@{data[0]}"],
    ["zfs", "send", "-nvP", "-I", f"@{data[0]}", f"tank/data@{data[-1]}"],
    ["zfs", "send", "-nvP", "-i", f"@{data[0]}", f"tank/data@{data[1]}"],
    ["zfs", "list", "-Hp", "-t", "filesystem", "-o", "name,mountpoint", "-r", "tank/data"],
])

# A run killed while its snapshots are held and mounted: restic waits on a FIFO.
fifo = work / "pass.fifo"
os.mkfifo(fifo)
proc = subprocess.Popen([sys.executable, "-c", RUN, "--jobs-file",
                         str(jobs_file("kill.yaml", fifo, "restic-kill")), "--host", "lab",
                         "--json", "--no-notify", "data"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

deadline = time.monotonic() + 300
while time.monotonic() < deadline and not running("restic"):
    time.sleep(0.2)
os.kill(proc.pid, signal.SIGKILL)
proc.wait()
time.sleep(1)
facts("killed")
held_now = [f"{ds}@{snapshot_names(ds)[-1]}" for ds in ("tank/data", "tank/data/sub")]
record_inventory("zfs-held", "tank/data", queries=[["zfs", "holds", "-H", *held_now],
                                         ["zfs", "holds", "-H", "-r", held_now[0]],
                                         *[["zfs", "holds", "-H", s] for s in held_now]])
run("run3", jobs, "data")

# The target keeps two dailies now: the clone's plan destroys the rest in ranges (a%b).
pruned = work / "pruned.yaml"
text = jobs.read_text()
head, _, tail = text.partition("dataset: backup/data\n")
pruned.write_text(head + "dataset: backup/data\n"
                  + tail.replace("{keep: {daily: 20}}", "{keep: {daily: 2}}", 1))
run("run4", pruned, "data")
""")


def _state(out: Path, name: str) -> dict[str, Any]:
    state: dict[str, Any] = json.loads((out / f"{name}.json").read_text())
    return state


def _snapshots(state: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """snapshot name -> (guid, userrefs), as zfs list printed them."""
    rows = [line.split("\t") for line in state["snapshots"]["stdout"].splitlines()]
    return {name: (int(guid), int(refs)) for name, guid, refs in rows}


def _datasets(state: dict[str, Any]) -> dict[str, list[str]]:
    rows = [line.split("\t") for line in state["datasets"]["stdout"].splitlines()]
    return {row[0]: row[1:] for row in rows}


def test_zfs_snap_hold_clone_archive_resume_on_real_pools(
    lab_guest: GuestFactory, tmp_path: Path
) -> None:
    require_zfs_module()
    guest = lab_guest([DiskSpec("2G", serial="ztank0"), DiskSpec("2G", serial="zbackup0")],
                      memory_mb=2048)
    result = guest.run_steps(
        [Step("build", BUILD, timeout=300), Step("run", RUN, "python", timeout=1500)],
        timeout=2100, stop_on_error=True, results_dir=tmp_path / "results",
    )
    assert result.ok, result.describe()
    out = tmp_path / "results" / "zfs"
    if os.environ.get("HOSTBOOK_UPDATE_FIXTURES") == "1":
        for name in ("zfs-resume", "zfs-pools", "zfs-held"):
            target = ZFS_RECORDINGS / name.removeprefix("zfs-")
            target.mkdir(parents=True, exist_ok=True)
            for file in ("recording.json", "inventory.json"):
                shutil.copyfile(out / "recordings" / name / file, target / file)
    check_results(out)


def check_results(out: Path) -> None:
    """What the guest's runs did, from what zfs and hostbook reported there."""

    # The cut stream left a partial receive with a real resume token.
    assert json.loads((out / "cut-receive.json").read_text())["rc"] != 0
    cut = _datasets(_state(out, "cut"))
    assert cut["backup/big"][2] not in ("-", ""), cut

    # Run 1: named snapshots of the whole tree, held during the run, released after.
    summary = run_summary(out, "run1")
    jobs = {j["job"]: j for j in summary["jobs"]}
    first = jobs["data"]["snapshot"]
    assert first.startswith("tank/data@daily-hostbook-") and first.endswith("Z")
    name1 = first.split("@", 1)[1]
    after1 = _snapshots(_state(out, "run1"))
    for dataset in ("tank/data", "tank/data/sub", "backup/data", "backup/data/sub"):
        assert f"{dataset}@{name1}" in after1, sorted(after1)
    assert all(refs == 0 for _guid, refs in after1.values()), after1  # no hold left
    assert after1[f"tank/data@{name1}"][0] == after1[f"backup/data@{name1}"][0]
    assert after1[f"tank/data/sub@{name1}"][0] == after1[f"backup/data/sub@{name1}"][0]
    assert all(c["status"] == "ok" for j in summary["jobs"] for c in j["clones"]), summary
    restic1 = jobs["data"]["archives"][0]
    assert restic1["status"] == "ok", restic1

    # Raw send: the target is encrypted and its key was never loaded.
    datasets1 = _datasets(_state(out, "run1"))
    assert datasets1["backup/secret"][:2] == ["aes-256-gcm", "unavailable"], datasets1
    secret1 = jobs["secret"]["snapshot"].split("@", 1)[1]
    assert after1[f"tank/secret@{secret1}"][0] == after1[f"backup/secret@{secret1}"][0]

    # Resume: the cut stream was finished from its token, then the run's own snapshot.
    assert datasets1["backup/big"][2] == "-", datasets1
    big1 = jobs["big"]["snapshot"].split("@", 1)[1]
    for name in ("daily-seed", big1):
        assert after1[f"tank/big@{name}"][0] == after1[f"backup/big@{name}"][0]
    assert "resume" in json.dumps(events(out / "run1.events")), "no resumed transfer"

    # Run 2: restic sees the unchanged files as unmodified; the clone sends a range.
    summary2 = run_summary(out, "run2")
    jobs2 = {j["job"]: j for j in summary2["jobs"]}
    restic2 = jobs2["data"]["archives"][0]
    assert restic2["status"] == "ok", restic2
    assert restic2["files_changed"] == 1, restic2
    assert restic2["files_new"] == 0, restic2
    assert restic2["files_unmodified"] == restic1["files_new"] - 1, (restic1, restic2)
    name2 = jobs2["data"]["snapshot"].split("@", 1)[1]
    after2 = _snapshots(_state(out, "run2"))
    for name in ("daily-manual1", "daily-manual2", name2):
        for dataset in ("data", "data/sub"):
            assert after2[f"tank/{dataset}@{name}"][0] == after2[f"backup/{dataset}@{name}"][0]
    text2 = (out / "run2.events").read_text()
    assert f"-I @{name1} tank/data@{name2}" in text2, text2[-3000:]
    assert all(refs == 0 for _guid, refs in after2.values()), after2

    # The killed run left its hold and mounts; the next run removed them first.
    killed = _state(out, "killed")
    killed_snaps = _snapshots(killed)
    held = [name for name, (_guid, refs) in killed_snaps.items() if refs]
    assert held and all(name.startswith("tank/data") for name in held), held
    assert "/run/hostbook/volumes/dataset-tank-data" in killed["mounts"], killed["mounts"]
    summary3 = run_summary(out, "run3")
    cleaned = {c.split(" (run")[0] for c in summary3["cleaned"]}
    kill_snap = next(n for n in held if n.startswith("tank/data@"))
    assert f"zfs-hold {kill_snap}" in cleaned, cleaned
    assert any(c.startswith("mount /run/hostbook/volumes/dataset-tank-data") for c in cleaned)
    after3 = _state(out, "run3")
    assert all(refs == 0 for _guid, refs in _snapshots(after3).values())
    assert "/run/hostbook/volumes" not in after3["mounts"], after3["mounts"]

    # Target retention: ranges destroyed on the target; what is left is what the plan said.
    summary4 = run_summary(out, "run4")
    messages = [str(e.get("message", "")) for e in events(out / "run4.events")
                if e["event"] == "message"]
    before = [n for n in _snapshots(after3) if n.startswith("backup/data@")]
    new = summary4["jobs"][0]["snapshot"].split("@", 1)[1]
    expected = [*before, f"backup/data@{new}"]
    ranges = [m.split("zfs destroy ", 1)[1].split()[0] for m in messages
              if m.startswith("[backup] zfs destroy backup/data@")]
    assert any("%" in r for r in ranges), messages
    for spec in ranges:
        dataset, _, names = spec.partition("@")
        first, _, last = names.partition("%")
        i = expected.index(f"{dataset}@{first}")
        j = expected.index(f"{dataset}@{last or first}")
        del expected[i : j + 1]
    left = [n for n in _snapshots(_state(out, "run4")) if n.startswith("backup/data@")]
    assert left == expected, (left, expected, ranges)
    assert left[0] == f"backup/data@{name1}"  # the oldest on the target: the baseline
    assert left[-1] == f"backup/data@{new}"  # the latest common snapshot
    assert len(left) < len(before)


SSH_BUILD = zfs_pools("stank0", "sbackup0") + r"""
zfs create -o mountpoint=/srv/data tank/data
zfs create tank/data/sub
echo "over ssh" > /srv/data/sub/file
# sshd on loopback only, with keys made here (the guest's /root and /tmp are tmpfs).
ip link set lo up
mkdir -p /run/sshd /root/.ssh /tmp/ssh
chmod 700 /root/.ssh
ssh-keygen -q -t ed25519 -N '' -f /tmp/ssh/host_key
ssh-keygen -q -t ed25519 -N '' -f /tmp/ssh/id
cp /tmp/ssh/id.pub /root/.ssh/authorized_keys
chmod 600 /root/.ssh/authorized_keys
/usr/sbin/sshd -f /dev/null -h /tmp/ssh/host_key -E /tmp/ssh/sshd.log \
    -o ListenAddress=127.0.0.1 -o Port=2222 -o PermitRootLogin=prohibit-password \
    -o PasswordAuthentication=no -o StrictModes=no -o UsePAM=no
for _ in $(seq 1 50); do
    ssh -p 2222 -i /tmp/ssh/id -o BatchMode=yes -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null root@127.0.0.1 true 2>/dev/null && break
    sleep 0.2
done
"""

SSH_RUN = guest_step("ssh", r"""
work = Path("/tmp/zssh")
work.mkdir()
jobs = work / "jobs.yaml"
jobs.write_text(settings(work) + f'''\
jobs:
  - name: data
    volume: {{dataset: tank/data}}
    snapshot: {{provider: zfs, type: daily, prefix: hostbook}}
    clone: [remote]
replication:
  targets:
    - name: remote
      dataset: backup/data
      host: root@127.0.0.1
      ssh_options: [-p, "2222", -i, /tmp/ssh/id, -o, StrictHostKeyChecking=no,
                    -o, UserKnownHostsFile=/dev/null, -o, LogLevel=ERROR]
      policy: {{keep: {{daily: 10}}}}
''')
for n in (1, 2):
    hostbook(f"run{n}", jobs)
    Path("/srv/data/sub/file").write_text(f"changed {n}\n")
    time.sleep(1.1)
listed = subprocess.run(["zfs", "list", "-Hp", "-t", "snapshot", "-o", "name,guid",
                         "-s", "createtxg", "-r", "tank", "backup"],
                        capture_output=True, text=True).stdout
(results / "snapshots.tsv").write_text(listed)
(results / "sshd.log").write_text(Path("/tmp/ssh/sshd.log").read_text())
(results / "listening").write_text(
    subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout)
""")


def test_zfs_clone_over_ssh_through_a_loopback_sshd(lab_guest: GuestFactory,
                                                    tmp_path: Path) -> None:
    require_zfs_module()
    guest = lab_guest([DiskSpec("1G", serial="stank0"), DiskSpec("1G", serial="sbackup0")])
    result = guest.run_steps(
        [Step("build", SSH_BUILD, timeout=300), Step("run", SSH_RUN, "python", timeout=900)],
        timeout=1300, stop_on_error=True, results_dir=tmp_path / "results",
    )
    assert result.ok, result.describe()
    out = tmp_path / "results" / "ssh"
    names: list[str] = []
    for run in ("run1", "run2"):
        summary = run_summary(out, run)
        job = summary["jobs"][0]
        assert job["clones"][0]["status"] == "ok", job
        names.append(job["snapshot"].split("@", 1)[1])
    text = (out / "run2.events").read_text()
    assert f"-i @{names[0]} tank/data@{names[1]}" in text, text[-2000:]
    guids = dict(line.split("\t") for line in (out / "snapshots.tsv").read_text().splitlines())
    for name in names:
        for dataset in ("data", "data/sub"):
            assert guids[f"tank/{dataset}@{name}"] == guids[f"backup/{dataset}@{name}"]
    # Every zfs on the target went through sshd, and sshd listened on loopback only.
    assert (out / "sshd.log").read_text().count("Accepted publickey for root") >= 4
    ports = [line.split()[3] for line in (out / "listening").read_text().splitlines()]
    assert "127.0.0.1:2222" in ports and not [p for p in ports if p.endswith(":2222")
                                              and not p.startswith("127.0.0.1")]
