"""The host's own ZFS snapshots pruned by retention, on a real pool in the VM lab.

One boot: pool ``tank`` with ``tank/year`` and a child, pool ``backup``.  A
year of snapshots is made in the order a year makes them (a daily every
midnight, a weekly on Mondays, a monthly on the 1st, and an hourly every hour
of the year's last two weeks), each a recursive snapshot of both datasets,
named for the hour it stands for.  The run is time-compressed: the
``creation`` property ZFS sets is the real time (several snapshots a second),
so it orders them as the year would, and that order is all the policy reads
of time (counts per type, ordered by ``creation`` then ``createtxg``; the type
is the name's prefix).  No ``keep_within`` or ``min_age`` is used, since those
compare ``creation`` with the clock.

A whole year of hourlies (8,760 more) is left out for time: under TCG a
snapshot costs 0.11 s even through libzfs_core and a destroy 0.037 s, so it
would add about 16 minutes of snapshots and 11 of pruning to the lab tier.

The replication target ``backup/year`` receives a February daily in full and
a June daily incrementally (``-i``): the earliest and the latest snapshot it
shares with the source, both of which the daily count would delete.  An
August weekly is held (``zfs hold``), and two manual snapshots match no
policy type.  Then ``hostbook plan retention --json``, the text plan, and
``hostbook run --step retention``; the guest lists the snapshots before and
after and the checks happen here: what is left is exactly the plan's keeps,
and exactly what the plan's validating simulation left; it is also what the
counts and the critical snapshots (worked out here from the listing alone)
say; the destroys were ``a%b`` ranges.
"""

from __future__ import annotations

import inspect
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.lab.fixtures import GuestFactory
from tests.lab.guest_jobs import events, guest_step, require_zfs_module, summary, zfs_pools
from tests.lab.vm import DiskSpec, Step

pytestmark = pytest.mark.lab

YEAR_START = datetime(2025, 1, 1, tzinfo=UTC)
HOURS = 365 * 24
HOURLY_DAYS = 14
"""Days at the year's end that have hourlies (a whole year of them: see the docstring)."""
KEEP = {"hourly": 24, "daily": 7, "weekly": 4, "monthly": 12}
EARLIEST_SHARED = "daily-2025-02-01T0000"  # sent in full to the target
LATEST_SHARED = "daily-2025-06-01T0000"  # sent incrementally
HELD = "weekly-2025-08-04T0000"


def year_names() -> list[str]:
    """The year's snapshot names in the order they are taken."""
    names = []
    for hour in range(HOURS):
        at = YEAR_START + timedelta(hours=hour)
        stamp = at.strftime("%Y-%m-%dT%H%M")
        if at.hour == 0:
            names.append(f"daily-{stamp}")
            if at.weekday() == 0:
                names.append(f"weekly-{stamp}")
            if at.day == 1:
                names.append(f"monthly-{stamp}")
        if hour >= HOURS - 24 * HOURLY_DAYS:
            names.append(f"hourly-{stamp}")
        if hour in (2000, 7000):
            names.append(f"manual-{stamp}")
    return names


BUILD = zfs_pools("rtank0", "rbackup0") + r"""
zfs create -o mountpoint=/srv/year tank/year
zfs create tank/year/sub
echo a year > /srv/year/file
"""

RUN = r"""
import ctypes
names = year_names()
work = Path("/var/tmp/ryear")
work.mkdir()
started = time.monotonic()
# One snapshot of a dataset per txg is all zfs allows (neither a list of names nor a
# channel program makes them faster); libzfs_core's lzc_snapshot from this one process
# spares the zfs process of each (0.11 s a snapshot here against 0.32 s).
nvpair = ctypes.CDLL("libnvpair.so.3")
lzc = ctypes.CDLL("libzfs_core.so.3")
assert lzc.libzfs_core_init() == 0
for name in names:
    wanted = ctypes.c_void_p()
    assert nvpair.nvlist_alloc(ctypes.byref(wanted), 1, 0) == 0  # NV_UNIQUE_NAME
    for dataset in ("tank/year", "tank/year/sub"):
        assert nvpair.nvlist_add_boolean(wanted, f"{dataset}@{name}".encode()) == 0
    errors = ctypes.c_void_p()
    assert lzc.lzc_snapshot(wanted, None, ctypes.byref(errors)) == 0, name
    nvpair.nvlist_free(wanted)
(results / "created.txt").write_text(f"{len(names)} {time.monotonic() - started:.1f}")
early, late, held = EARLIEST_SHARED, LATEST_SHARED, HELD
subprocess.run(f"zfs send tank/year@{early} | zfs receive -u backup/year", shell=True,
               check=True)
subprocess.run(f"zfs send -i @{early} tank/year@{late} | zfs receive -u backup/year",
               shell=True, check=True)
subprocess.run(["zfs", "hold", "lab", f"tank/year@{held}"], check=True)
repo = work / "repo"
(repo / "hosts" / "lab").mkdir(parents=True)
jobs = repo / "hosts" / "lab" / "jobs.yaml"
jobs.write_text(settings(work) + f'''\
jobs:
  - name: year
    volume: {{dataset: tank/year}}
    snapshot: {{provider: zfs, type: hourly, prefix: hostbook}}
    clone: [backup]
retention:
  local: {{keep: {KEEP_TEXT}}}
replication:
  targets:
    - name: backup
      dataset: backup/year
      policy: {{keep: {{daily: 3}}}}
''')

def listing(name):
    out = subprocess.run(["zfs", "list", "-Hp", "-t", "snapshot", "-o",
                          "name,guid,creation,createtxg,userrefs", "-s", "createtxg", "-r",
                          "tank", "backup"], capture_output=True, text=True, check=True)
    (results / f"{name}.tsv").write_text(out.stdout)

listing("before")
timed = {}
for name, argv in (("plan.json", ["plan", "retention", "lab", "--repo", str(repo), "--json"]),
                   ("plan.txt", ["plan", "retention", "lab", "--repo", str(repo)])):
    t = time.monotonic()
    done = subprocess.run([sys.executable, "-c", CLI, *argv], capture_output=True, text=True)
    timed[name] = time.monotonic() - t
    (results / name).write_text(done.stdout)
    (results / f"{name}.err").write_text(done.stderr)
t = time.monotonic()
hostbook("run", jobs, "--step", "retention")
timed["run"] = time.monotonic() - t
listing("after")
(results / "timed.json").write_text(json.dumps(timed))
"""


def _rows(path: Path) -> list[tuple[str, str, int, int, int]]:
    rows = []
    for line in path.read_text().splitlines():
        name, guid, creation, txg, refs = line.split("\t")
        rows.append((name, guid, int(creation), int(txg), int(refs)))
    return rows


def expected_keeps(rows: list[tuple[str, str, int, int, int]], shared: list[str]) -> set[str]:
    """What the policy must keep of one dataset, worked out from the listing alone."""
    ordered = sorted(rows, key=lambda r: (r[2], r[3]))
    keep = {ordered[0][0]}  # the oldest at the source
    keep |= {r[0] for r in ordered if r[4] > 0}  # held
    keep |= {r[0] for r in ordered if r[0].split("@")[1].split("-")[0] not in KEEP}
    for kind, count in KEEP.items():
        of_kind = [r[0] for r in ordered if r[0].split("@")[1].startswith(kind + "-")]
        keep |= set(of_kind[-count:])
    keep |= set(shared)
    return keep


def test_retention_prunes_a_year_of_snapshots_as_planned(lab_guest: GuestFactory,
                                                         tmp_path: Path) -> None:
    require_zfs_module()
    names = year_names()
    setup = "\n".join([
        "import datetime",
        "from datetime import timedelta",
        *(f"{name} = {value!r}" for name, value in (
            ("YEAR_START", YEAR_START), ("HOURS", HOURS), ("HOURLY_DAYS", HOURLY_DAYS),
            ("EARLIEST_SHARED", EARLIEST_SHARED), ("LATEST_SHARED", LATEST_SHARED),
            ("HELD", HELD),
            ("KEEP_TEXT", json.dumps(KEEP).replace('"', "")))),
        inspect.getsource(year_names)])
    guest = lab_guest([DiskSpec("1G", serial="rtank0"), DiskSpec("1G", serial="rbackup0")],
                      memory_mb=2048)
    result = guest.run_steps(
        [Step("build", BUILD, timeout=300),
         Step("run", guest_step("retention", f"{setup}\n{RUN}"), "python", timeout=1500)],
        timeout=2000, stop_on_error=True, results_dir=tmp_path / "results",
    )
    assert result.ok, result.describe()
    out = tmp_path / "results" / "retention"
    count, seconds = (out / "created.txt").read_text().split()
    print(f"{count} snapshots made in {seconds} s; plan and run:",
          (out / "timed.json").read_text(), result.describe())  # shown with -rP
    before = _rows(out / "before.tsv")
    after = {r[0]: r[1] for r in _rows(out / "after.tsv")}
    by_guid = {(r[0].split("@")[0], r[1]): r[0] for r in before}
    assert len([r for r in before if r[0].startswith("tank/year@")]) == len(names)

    plan = json.loads((out / "plan.json").read_text())
    datasets = {d["dataset"]: d for d in plan["datasets"]}
    assert set(datasets) == {"tank/year", "tank/year/sub"}
    shared = {"tank/year": [f"tank/year@{EARLIEST_SHARED}", f"tank/year@{LATEST_SHARED}"],
              "tank/year/sub": []}
    for dataset, ds in datasets.items():
        assert ds["refused"] == [], ds["refused"]
        decisions = ds["source"]["decisions"]
        keeps = {d["snapshot"] for d in decisions if d["action"] == "keep"}
        deletes = {d["snapshot"] for d in decisions if d["action"] == "delete"}
        assert all(d["reasons"] for d in decisions)  # every decision says why
        mine = [r for r in before if r[0].split("@")[0] == dataset]
        assert keeps | deletes == {r[0] for r in mine}
        # The run left exactly the plan's keeps...
        left = {n for n in after if n.split("@")[0] == dataset}
        assert left == keeps, (sorted(left - keeps)[:5], sorted(keeps - left)[:5])
        # ...which is what the plan's simulation left, and what the policy says.
        simulated = {by_guid[(dataset, g)] for g in ds["simulation"]["source"]}
        assert simulated == left
        assert keeps == expected_keeps(mine, shared[dataset])
        assert len(deletes) > len(names) - 60
    # The critical snapshots stayed, each for its reason.
    reasons = {d["snapshot"]: " ".join(d["reasons"])
               for ds in datasets.values() for d in ds["source"]["decisions"]}
    for name, why in ((f"tank/year@{names[0]}", "oldest snapshot at source"),
                      (f"tank/year/sub@{names[0]}", "oldest snapshot at source"),
                      (shared["tank/year"][0], "earliest snapshot shared with backup"),
                      (shared["tank/year"][1], "latest snapshot shared with backup"),
                      (f"tank/year@{HELD}", "held")):
        assert name in after and why in reasons[name], (name, reasons.get(name))
    assert f"backup/year@{LATEST_SHARED}" in after  # the target was not touched
    text = (out / "plan.txt").read_text()
    assert "  delete   daily-2025-02-02T0000 " in text, text[:2000]

    run = summary(out, "run")
    job = run["jobs"][0]
    assert job["steps"] == {"retention": "ok"}, job
    assert sorted(job["pruned"]) == sorted(
        d["snapshot"] for ds in datasets.values() for d in ds["source"]["decisions"]
        if d["action"] == "delete")
    destroys = [e["message"] for e in events(out / "run.events")
                if e["event"] == "message" and "zfs destroy" in str(e.get("message"))]
    assert destroys and all("%" in m or "(1 snapshot(s))" in m for m in destroys)
    assert len(destroys) < 200  # ranges, not one destroy per snapshot
