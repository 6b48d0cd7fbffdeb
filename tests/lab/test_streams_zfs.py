"""Send-stream chains on real ZFS in the VM lab: written to files, restored into a new pool.

One boot: pool ``tank`` with ``tank/www``; five days of changes, each day a
snapshot and the archive step :func:`plan_archive` decides (a full, then
incrementals, a new full after ``full_every``), each stream piped through
zstd and age into a file and recorded in the catalogue.  Then a fresh pool
``restore`` on another disk receives the newest snapshot's lineage with
:func:`restore_chain`; the guest reports guids on both sides and the files'
checksums, and the checks happen here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.lab.fixtures import GuestFactory
from tests.lab.guest_jobs import require_zfs_module, zfs_pools
from tests.lab.vm import DiskSpec, Step

pytestmark = pytest.mark.lab

BUILD = zfs_pools("stank0", "srestore0", "restore") + r"""
zfs create -o mountpoint=/srv/www tank/www
age-keygen -o /tmp/archive.key 2>/dev/null
"""

RUN = r"""
import hashlib, json, os, subprocess
from pathlib import Path
from hostbook.jobs.archive.streams.chain_restore import Keys, restore_chain
from hostbook.jobs.archive.streams.chains import (
    Catalogue, ChainPolicy, plan_archive, send_args_for, stream_filename)
from hostbook.jobs.archive.streams.writer import stream_to_file
from hostbook.jobs.replication.host_inventory import load_inventory
from hostbook.process.runner import LiveRunner

results = Path(os.environ["LAB_RESULTS"]) / "streams"
results.mkdir(parents=True, exist_ok=True)
archive = Path("/tmp/archive")
archive.mkdir()
identity = Path("/tmp/archive.key")
recipient = next(line.split(": ", 1)[1] for line in identity.read_text().splitlines()
                 if line.startswith("# public key: "))
runner = LiveRunner()
policy = ChainPolicy(full_every=2, interval=0)
decisions = []
with Catalogue(archive / "catalogue.sqlite") as cat:
    for day in range(5):
        www = Path("/srv/www")
        (www / f"day{day}.bin").write_bytes(os.urandom(300_000))
        (www / "index.html").write_text(f"<p>day {day}</p>\n")
        subprocess.run(["zfs", "snapshot", f"tank/www@daily-{day:02d}"], check=True)
        source = load_inventory(runner, "tank/www")["tank/www"].snapshots
        decision = plan_archive(cat.entries("tank/www"), source, policy,
                                source[-1].creation)
        decisions.append([decision.action, decision.reason])
        if decision.snapshot is None:
            continue
        name = stream_filename("tank/www", decision, compression="zstd", encryption="age")
        raw_bytes, stored = stream_to_file(
            runner, ["zfs", *send_args_for(decision, "tank/www")], archive / name,
            compress="zstd", encrypt="age", recipients=[recipient])
        cat.add("tank/www", decision.snapshot, decision.parent, stored, name,
                compression="zstd", encryption="age")
        decisions[-1] += [name, raw_bytes, stored]
    newest = cat.entries("tank/www")[-1]
    lineage = cat.lineage(newest.id)
    report = restore_chain(lineage, "restore/www", archive_dir=archive,
                           keys=Keys(age_identities=(str(identity),)), runner=runner)

def listing(dataset):
    out = subprocess.run(["zfs", "list", "-Hp", "-t", "snapshot", "-o", "name,guid",
                          "-s", "createtxg", "-r", dataset], capture_output=True, text=True)
    return [line.split("\t") for line in out.stdout.splitlines()]

def checksums(root):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(root).iterdir()) if p.is_file()}

subprocess.run(["zfs", "set", "mountpoint=/srv/restored", "restore/www"], check=True)
subprocess.run(["zfs", "mount", "restore/www"], check=False)
header = [(p.name, p.read_bytes()[:21].decode("latin-1"))
          for p in sorted(archive.glob("*.age"))]
(results / "result.json").write_text(json.dumps({
    "decisions": decisions,
    "lineage": [[e.snapshot, str(e.guid), e.parent_id, e.path] for e in lineage],
    "members": [[m.entry.snapshot, m.action, m.error] for m in report.members],
    "source": listing("tank/www"), "restored": listing("restore/www"),
    "files": checksums("/srv/www"), "restored_files": checksums("/srv/restored"),
    "headers": header,
}, indent=1))
"""


def test_stream_chain_restores_into_a_fresh_pool(lab_guest: GuestFactory,
                                                 tmp_path: Path) -> None:
    require_zfs_module()
    guest = lab_guest([DiskSpec("1G", serial="stank0"), DiskSpec("1G", serial="srestore0")])
    result = guest.run_steps(
        [Step("build", BUILD, timeout=300), Step("run", RUN, "python", timeout=900)],
        timeout=1300, stop_on_error=True, results_dir=tmp_path / "results",
    )
    assert result.ok, result.describe()
    got = json.loads((tmp_path / "results" / "streams" / "result.json").read_text())
    actions = [d[0] for d in got["decisions"]]
    # full, incremental, incremental (full_every 2), then a new chain: full, incremental.
    assert actions == ["full", "incremental", "incremental", "full", "incremental"], got
    assert all(d[2].endswith(".zfs.zst.age") and d[4] > 0 for d in got["decisions"])
    # Every stored file is age output, not a readable stream.
    assert all(head.startswith("age-encryption.org/v1") for _name, head in got["headers"])
    lineage = got["lineage"]
    assert [e[0] for e in lineage] == ["daily-03", "daily-04"]  # the newest chain only
    assert all(action == "received" for _snap, action, _err in got["members"]), got["members"]
    source = {name.split("@", 1)[1]: guid for name, guid in got["source"]}
    restored = {name.split("@", 1)[1]: guid for name, guid in got["restored"]}
    assert restored == {snap: source[snap] for snap in ("daily-03", "daily-04")}
    assert [guid for _s, guid, _p, _path in lineage] == [restored["daily-03"],
                                                        restored["daily-04"]]
    assert got["restored_files"] == got["files"] and len(got["files"]) == 6
