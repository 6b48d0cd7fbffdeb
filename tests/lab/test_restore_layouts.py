"""Storage restore round trips of every lab layout, in one guest boot.

Each layout (laptop, server, legacy, btrfs, thin) comes from the session's build
(its builder wrote the layout's known files), on a copy of the built disks brought
up from disk; the laptop also gets a key file enrolled in a
second LUKS keyslot and named in its crypttab.  hostbook captures each layout
as its own host, the guest's tools record what they see, and every layer of
every disk is wiped (wipefs -a on each layer, the first and last MiB zeroed).
Then:

- every layout exactly: `hostbook restore apply --map auto` from that capture
  (the disks carry serials), mounted under its own target root, `verify` with
  zero differences; the layout's files written into the target tree (standing in
  for the data restore), then the layout's own builder mounts it its way and
  checks every file, and the guest's tools must report the same UUIDs, labels,
  types and sizes as before the wipe;
- after a second layered wipe: the server from an earlier capture (its disks
  then in the other order, found by serial), its apply killed with SIGKILL half
  way and run again to completion; the laptop onto a disk twice the size (the
  LUKS partition grows, ``home`` takes the free space, as restore.yaml says),
  the legacy MBR layout onto a smaller disk that still fits, the laptop onto a
  smaller disk that does not fit (refused, nothing written), the 4096-byte
  sector btrfs layout onto a 512-byte sector disk.

HOSTBOOK_RESTORE_LAB_RESULTS=DIR checks the results folder of an earlier run
(kept with HOSTBOOK_LAB_KEEP=1) instead of booting.
HOSTBOOK_RECORD_FIXTURES=1 saves the done-checks of the laptop restore, asked
before and after apply, to tests/fixtures/restore-lab/checks-* for the unit tests.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hostbook.capture.collect import collect_sections
from hostbook.capture.workflow import CaptureRequest, capture
from hostbook.manifest.sections.config import ConfigDocument
from hostbook.process.recording import ReplayRunner
from tests.lab.fixtures import BuiltLayouts, mount_steps
from tests.lab.layouts import (
    ALL_LAYOUTS,
    LAYOUTS,
    GuestState,
    capture_step,
    collect_step,
    udev_refresh_step,
    verify_step,
    wipe_layers_step,
)
from tests.lab.vm import DiskSpec, Guest, Step
from tests.paths import FIXTURES

pytestmark = pytest.mark.lab

NAMES = ALL_LAYOUTS
PASSPHRASE = "hostbook-lab-passphrase"
BY_ID = "/dev/disk/by-id/virtio-"

# Restore jobs through the CLI, in one python process (imports cost ~10 s under
# TCG); what each command said, and where the layout's files landed, go to a report.
RESTORE_SCRIPT = r"""
import json, os, subprocess, sys, time
from pathlib import Path
sys.path.insert(0, os.getcwd())
from click.testing import CliRunner
from hostbook.process.recording import RecordingRunner
from hostbook.process.runner import LiveRunner
from hostbook.commands.restore import restore
from hostbook.restore.apply.done_checks import is_done
from hostbook.restore.plan.steps import DoneCheck
from tests.lab.layouts import LAYOUTS, content

results = Path(os.environ["LAB_RESULTS"])
repo = %(repo)r
Path("/root/passphrase").write_text(%(passphrase)r)
report = {}

def run(*args, input=None):
    started = time.monotonic()
    result = CliRunner().invoke(restore, [args[0], "--repo", repo, *args[1:]], input=input)
    seconds = time.monotonic() - started
    print(f"{seconds:6.1f}s exit {result.exit_code}: {' '.join(args)}", flush=True)
    if result.exit_code not in (0, 1, 2):
        print(result.output, flush=True)
    return {"exit_code": result.exit_code, "output": result.output, "seconds": seconds}

def record_checks(plan_output, name):
    # every step's done-check, asked through a recording runner (unit-test fixture)
    steps = json.loads(plan_output)["steps"]
    checks = [s["done"] for s in steps if s["done"]]
    recorder = RecordingRunner(LiveRunner(), results / name)
    answers = [is_done(recorder, DoneCheck(c["kind"], c["device"], c["expect"]))
               for c in checks]
    recorder.save()
    (results / name / "checks.json").write_text(json.dumps(
        {"checks": checks, "answers": answers}, indent=1))

for job in %(jobs)r:
    host, layout, maps, target = job["host"], job["layout"], job["maps"], job["target"]
    out = report[job["key"]] = {}
    if job.get("expect_refusal"):
        for disk in job["untouched"]:
            with open(disk, "r+b") as handle:
                handle.write(b"hostbook-untouched" * 4096)
        out["plan"] = run("plan", host, *maps)
        out["apply"] = run("apply", host, *maps, "--yes", "--passphrase-file",
                           "/root/passphrase")
        out["untouched"] = [open(d, "rb").read(18) == b"hostbook-untouched"
                            for d in job["untouched"]]
        continue
    if job.get("record_checks"):
        planned = run("plan", host, *maps, "--target", target, "--json")
        record_checks(planned["output"], "checks-before")
    apply = ["apply", host, *maps, "--target", target, "--passphrase-file", "/root/passphrase",
             "--json"]
    if job.get("confirm"):
        out["apply"] = run(*apply, input="yes\n")
    else:
        out["apply"] = run(*apply, "--yes")
    if job.get("record_checks"):
        record_checks(planned["output"], "checks-after")
    out["verify"] = run("verify", host, *maps, "--target", target, "--json")
    if job.get("data"):  # the archives of the run before the wipe bring the files back
        out["data"] = run("data", host, "--json")  # restore.yaml's target: no --target
        again = job["data"]["again"]
        for entry in (Path(target) / again["under"]).iterdir():  # the other source, too
            subprocess.run(["rm", "-rf", "--one-file-system", str(entry)], check=True)
        out["data-again"] = run("data", host, "--volume", again["volume"], "--from",
                                again["from"], "--json")
    placed = {}
    for rel, size, seed in LAYOUTS[layout].files():
        path = Path(target + job.get("root", "")) / rel
        if not path.parent.exists() and ".snapshots/" in rel:
            continue  # a read-only snapshot: data, not layout
        if not job.get("data"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content(size, seed))
        placed[rel] = subprocess.run(["findmnt", "-n", "-o", "SOURCE,TARGET", "-T", str(path)],
                                     capture_output=True, text=True).stdout.strip()
    out["placed"] = placed
    subprocess.run(["sync"])
    subprocess.run(["umount", "-R", target])
    (results / %(report)r).write_text(json.dumps(report))
(results / %(report)r).write_text(json.dumps(report))
"""

# A server restore, killed with SIGKILL (with the command it is running) once the
# journal shows its VG made.
KILL_SCRIPT = r"""
import json, os, signal, subprocess, sys, time
from pathlib import Path
results = Path(os.environ["LAB_RESULTS"])
Path("/root/passphrase").write_text(%(passphrase)r)
journals = Path("/var/lib/hostbook/state/restore")
args = [sys.executable, "-m", "hostbook.commands.restore", "apply", "--repo", %(repo)r,
        %(host)r, "--map", "auto", "--yes", "--passphrase-file", "/root/passphrase",
        "--target", %(target)r]
proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                        start_new_session=True)
deadline = time.monotonic() + 600
killed = False
while time.monotonic() < deadline and proc.poll() is None and not killed:
    for journal in journals.glob(%(host)r + "@*.journal"):
        lines = [json.loads(l) for l in journal.read_text().splitlines() if l.strip()]
        if any(l["step"] == "vg:servervg" and l["status"] == "done" for l in lines):
            os.killpg(proc.pid, signal.SIGKILL)  # apply and the command it was running
            killed = True
    time.sleep(0.05)
output = proc.communicate()[0]
journal = next(journals.glob(%(host)r + "@*.journal"))
entries = [json.loads(l) for l in journal.read_text().splitlines() if l.strip()]
(results / "kill.json").write_text(json.dumps(
    {"returncode": proc.returncode, "output": output, "journal": entries}))
"""

# After the builds: the laptop's LUKS container gets a key file in a second keyslot,
# named in its crypttab (the restore regenerates and enrolls it).
KEYFILE_SCRIPT = r"""
set -euo pipefail
root=/mnt/lab/laptop
luks=$(readlink -f /dev/disk/by-id/virtio-laptop0-part3)
mkdir -p -m 0700 "$root/etc/keys"
head -c 512 /dev/urandom > "$root/etc/keys/laptop.key"
chmod 0400 "$root/etc/keys/laptop.key"
printf '%%s' %(passphrase)s | cryptsetup luksAddKey --batch-mode --pbkdf pbkdf2 \
    --pbkdf-force-iterations 1000 --key-file=- "$luks" "$root/etc/keys/laptop.key"
sed -i 's|\tnone\tluks|\t/etc/keys/laptop.key\tluks|' "$root/etc/crypttab"
grep -q /etc/keys/laptop.key "$root/etc/crypttab"
"""

# After the captures: the manifest repository made on this machine (the server from
# an earlier capture) copied in, and variant hosts made from the fresh captures.
VARIANTS_SCRIPT = r"""
set -euo pipefail
cp -a %(seed)s/hosts/. %(repo)s/hosts/
cd %(repo)s/hosts
for pair in laptop-big:laptop laptop-small:laptop legacy-small:legacy btrfs-512:btrfs; do
    mkdir "${pair%%%%:*}"
    cp "${pair#*:}/storage.yaml" "${pair%%%%:*}/storage.yaml"
done
printf 'schema: hostbook/restore/v1\nlvs:\n  - id: lv:laptopvg/home\n    free_percent: 100\n' \
    > laptop-big/restore.yaml
"""


# Before the wipe: the laptop's data archived by `hostbook run` as its jobs.yaml says, to
# repositories off its disk (the guest's /root): restic for /, borg and xfsdump for /home
# (xfs), tar for /boot and the ESP.  Its restore.yaml names the target restore apply and
# restore data use.  The filesystems are mounted under /mnt/lab/laptop: storage.yaml's
# fstab says where each one goes.
BACKUP_SCRIPT = r"""
import json, os, sys, time
from pathlib import Path
from click.testing import CliRunner
from hostbook.cli import cli

results = Path(os.environ["LAB_RESULTS"])
host, repo, root = "laptop", %(repo)r, "/mnt/lab/laptop"
backup = Path("/root/backup")
backup.mkdir(mode=0o700)
(backup / "pass").write_text("laptop archive passphrase\n")
(backup / "pass").chmod(0o600)
folder = Path(repo) / "hosts" / host
(folder / "restore.yaml").write_text("schema: hostbook/restore/v1\ntarget: %(target)s\n")
(folder / "jobs.yaml").write_text(f'''schema: hostbook/jobs/v1
settings:
  state_dir: {backup}/state
  mount_root: {backup}/volumes
  sure_store: {backup}/sure
jobs:
  - name: root
    volume: {{path: {root}}}
    archive:
      - {{tool: restic, repository: {backup}/restic, password_file: {backup}/pass, init: true}}
  - name: home
    volume: {{path: {root}/home}}
    archive:
      - {{tool: borg, repository: {backup}/borg, password_file: {backup}/pass, init: true,
         encryption: repokey-blake2}}
      - {{tool: xfsdump, destination: {backup}/xfsdump, levels: [0]}}
  - name: boot
    volume: {{path: {root}/boot}}
    archive:
      - {{tool: tar, destination: {backup}/tar}}
  - name: esp
    volume: {{path: {root}/boot/efi}}
    archive:
      - {{tool: tar, destination: {backup}/tar}}
''')
os.environ["BORG_BASE_DIR"] = str(backup / "borg-home")
os.environ["RESTIC_CACHE_DIR"] = str(backup / "restic-cache")
started = time.monotonic()
result = CliRunner().invoke(cli, ["run", "--repo", repo, "--host", host, "--no-notify",
                                  "--json"])
(results / "backup.json").write_text(json.dumps(
    {"exit_code": result.exit_code, "output": result.output,
     "seconds": time.monotonic() - started}))
sys.exit(result.exit_code)
"""


@dataclass
class Lab:
    """What the boot left behind, parsed."""

    steps: dict[str, dict[str, Any]]  # step name -> rc, stdout, stderr, seconds
    captures: dict[str, dict[str, Any]]  # layout -> the in-guest capture's outcome
    built: GuestState  # the guest's tools on the built layouts
    restored: GuestState  # ... and on the restored ones
    exact: dict[str, Any]
    others: dict[str, Any]
    kill: dict[str, Any]
    results: Path


def build_seed_repository(repo: Path) -> None:
    """hosts/server-swapped/storage.yaml: the server layout as captured on an earlier
    boot (tests/fixtures/storage-server), whose disks were in the other order."""
    plain = ConfigDocument.model_validate({"schema": "hostbook/config/v1"})
    recording = FIXTURES / "storage-server"
    listed = collect_sections(ReplayRunner(recording), plain, ["storage"], {})
    others = [e["name"] for e in listed.documents["storage"]["entries"]
              if e["type"] == "disk" and e.get("serial") not in LAYOUTS["server"].serials]
    config = ConfigDocument.model_validate(
        {"schema": "hostbook/config/v1", "storage": {"exclude_devices": others}})
    outcome = capture(CaptureRequest(repository=repo, sections=["storage"], config=config,
                                     host="server-swapped", replay=recording))
    assert not outcome.partial, outcome.warnings


@pytest.fixture(scope="module")
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    earlier = os.environ.get("HOSTBOOK_RESTORE_LAB_RESULTS")
    if earlier:  # check the results folder of an earlier run instead of booting
        yield load_results(Path(earlier))
        return
    built: BuiltLayouts = request.getfixturevalue("built_layouts")
    built.check()
    # Outside /tmp: the guest sees this machine's root read-only, but not its /tmp.
    base = Path(tempfile.mkdtemp(prefix="hostbook-restore-lab-", dir="/var/tmp"))
    try:
        yield _run_lab(base, built)
    finally:
        if os.environ.get("HOSTBOOK_LAB_KEEP"):
            print(f"restore lab: keeping {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


def _run_lab(base: Path, built: BuiltLayouts) -> Lab:
    started = time.monotonic()
    seed = base / "seed"
    build_seed_repository(seed)
    repo = "/root/repo"  # in the guest
    specs = built.copies(base / "disks")
    spares = [DiskSpec("8G", serial="laptopbig"), DiskSpec("1536M", serial="legacysmall"),
              DiskSpec("2G", serial="laptopsmall"), DiskSpec("3G", serial="btrfs512")]
    disks = [specs["laptop0"], specs["server1"], specs["server0"], specs["legacy0"],
             specs["btrfs0"], specs["thin0"], *spares]  # the server's disks in other order
    record = os.environ.get("HOSTBOOK_RECORD_FIXTURES") == "1"
    # thin has no fstab: its filesystems are mounted where they were at capture
    exact = [{"key": n, "host": n, "layout": n, "maps": ["--map", "auto"],
              "target": f"/mnt/restore/{n}", "confirm": n == "thin",
              "root": LAYOUTS[n].mountpoint if n == "thin" else "",
              "record_checks": record and n == "laptop",
              "data": {"again": {"volume": "/mnt/lab/laptop/home", "from": "xfsdump",
                                 "under": "home"}} if n == "laptop" else None}
             for n in NAMES]
    others = [
        {"key": "server-swapped", "host": "server-swapped", "layout": "server",
         "maps": ["--map", "auto"], "target": "/mnt/restore/swapped"},
        {"key": "laptop-small", "host": "laptop-small", "layout": "laptop",
         "maps": ["--map", f"laptop0={BY_ID}laptopsmall"], "target": "/mnt/restore/small",
         "expect_refusal": True, "untouched": [f"{BY_ID}laptopsmall"]},
        {"key": "laptop-big", "host": "laptop-big", "layout": "laptop",
         "maps": ["--map", f"laptop0={BY_ID}laptopbig"], "target": "/mnt/restore/big"},
        {"key": "legacy-small", "host": "legacy-small", "layout": "legacy",
         "maps": ["--map", f"legacy0={BY_ID}legacysmall"], "target": "/mnt/restore/lsmall"},
        {"key": "btrfs-512", "host": "btrfs-512", "layout": "btrfs",
         "maps": ["--map", f"btrfs0={BY_ID}btrfs512"], "target": "/mnt/restore/b512"},
    ]
    groups = {n: LAYOUTS[n].serials for n in NAMES}
    steps = [
        *mount_steps(),
        Step("keyfile", KEYFILE_SCRIPT % {"passphrase": shlex.quote(PASSPHRASE)},
             timeout=120),
        collect_step("built", timeout=300),
        capture_step(groups, repo=repo, attempts=("first",),
                     exclude=tuple(d.serial or "" for d in spares)),
        Step("variants", VARIANTS_SCRIPT % {"seed": shlex.quote(str(seed)), "repo": repo},
             timeout=60),
        Step("backup", BACKUP_SCRIPT % {"repo": repo, "target": "/mnt/restore/laptop"},
             "python", timeout=900),
        wipe_layers_step(*NAMES),
        Step("restore", RESTORE_SCRIPT % {"repo": repo, "passphrase": PASSPHRASE,
                                          "jobs": exact, "report": "exact.json"},
             "python", timeout=1200),
        *[verify_step(n, timeout=300) for n in NAMES],
        udev_refresh_step(*NAMES),  # hostbook settles, but udev may have lost an event
        collect_step("restored", timeout=300),
        wipe_layers_step("server", "laptop", "legacy", "btrfs", step="wipe-again"),
        Step("kill", KILL_SCRIPT % {"repo": repo, "passphrase": PASSPHRASE,
                                    "host": "server-swapped",
                                    "target": "/mnt/restore/swapped"}, "python", timeout=600),
        Step("restore-other", RESTORE_SCRIPT % {"repo": repo, "passphrase": PASSPHRASE,
                                                "jobs": others, "report": "others.json"},
             "python", timeout=1200),
        Step("verify-swapped", LAYOUTS["server"].command("verify"), timeout=300),
        Step("verify-laptopbig", f'bash "$LAB_BUILDERS/laptop.sh" verify {BY_ID}laptopbig',
             timeout=300),
    ]
    results = base / "results"
    with Guest(disks) as guest:
        boot = guest.run_steps(steps, timeout=2400, results_dir=results)
    outcome = {s.name: {"rc": s.rc, "stdout": s.stdout, "stderr": s.stderr,
                        "seconds": s.seconds} for s in boot.steps.values()}
    (results / "steps.json").write_text(json.dumps(outcome))
    must = (*(f"mount-{n}" for n in NAMES),
            "keyfile", "capture", "variants", "backup", "wipe", "restore", "wipe-again", "kill",
            "restore-other")
    failed = [n for n in must if not boot[n].ok]
    assert not failed, boot.describe()
    print(f"restore lab: {time.monotonic() - started:.0f}s, boot {boot.seconds:.0f}s: "
          + ", ".join(f"{s.name} {s.seconds}s" for s in boot.steps.values()))
    if record:
        for name in ("checks-before", "checks-after"):
            target = FIXTURES / "restore-lab" / name
            target.mkdir(parents=True, exist_ok=True)
            for file in ("recording.json", "checks.json"):
                shutil.copyfile(results / name / file, target / file)
    return load_results(results)


def load_results(results: Path) -> Lab:
    captures = {n: json.loads((results / "storage" / n / "first.json").read_text())
                for n in NAMES}
    return Lab(steps=json.loads((results / "steps.json").read_text()), captures=captures,
               built=GuestState.load(results / "built"),
               restored=GuestState.load(results / "restored"),
               exact=json.loads((results / "exact.json").read_text()),
               others=json.loads((results / "others.json").read_text()),
               kill=json.loads((results / "kill.json").read_text()), results=results)


def last_json(text: str) -> dict[str, Any]:
    """The JSON document a command printed last (after a prompt, if any)."""
    return json.loads(text[text.index("{\n"):])  # type: ignore[no-any-return]


def verify_json(outcome: dict[str, Any]) -> dict[str, Any]:
    return last_json(outcome["verify"]["output"])


def applied(outcome: dict[str, Any]) -> dict[str, Any]:
    """apply --json: the plan it ran, and which steps ran or were skipped."""
    assert outcome["apply"]["exit_code"] == 0, outcome["apply"]["output"]
    return last_json(outcome["apply"]["output"])


def verified_files(lab: Lab, step: str) -> dict[str, str]:
    """What a builder's verify step reported: file -> OK/BAD (its stderr)."""
    lines = [ln for ln in lab.steps[step]["stderr"].splitlines()
             if ln.startswith(("OK ", "BAD "))]
    return {line.split(" ", 1)[1]: line.split(" ", 1)[0] for line in lines}


def non_derived(layout: str) -> list[str]:
    text = LAYOUTS[layout].builder.read_text()
    derived = {line.split()[0] for line in text.splitlines() if line.endswith(" derived")}
    return [rel for rel, _, _ in LAYOUTS[layout].files() if rel not in derived]


def builder_found_every_file(lab: Lab, layout: str, step: str) -> None:
    files = verified_files(lab, step)
    for rel in non_derived(layout):
        assert files.get(rel) == "OK", (rel, files, lab.steps[step])


# --------------------------------------------------------------------------------------
# Every layout onto disks like its own
# --------------------------------------------------------------------------------------


# What restore promises to bring back, as lsblk reports it for every node of a layout.
IDENTITY = ("type", "fstype", "size", "uuid", "label", "partuuid", "partlabel", "parttype",
            "ptuuid", "pttype", "log-sec")


def identities(state: GuestState, layout: str) -> list[tuple[Any, ...]]:
    """Each node under the layout's disks (md arrays once) by its identity fields."""
    nodes = {n["path"]: n for serial in LAYOUTS[layout].serials
             for n in state.lsblk_tree(serial)}
    return sorted(tuple(str(n.get(k)) for k in IDENTITY) for n in nodes.values())


@pytest.mark.parametrize("name", NAMES)
def test_layout_round_trip(lab: Lab, name: str) -> None:
    captured = lab.captures[name]
    assert captured["exit_code"] == 0, captured
    assert lab.steps["wipe"]["rc"] == 0, lab.steps["wipe"]
    outcome = lab.exact[name]
    plan = applied(outcome)["plan"]
    assert plan["refusals"] == []
    assert [m["rule"] for m in plan["map"]] == ["serial"] * len(LAYOUTS[name].disks)
    report = verify_json(outcome)
    assert report["ok"], report["differences"]
    assert report["differences"] == []
    assert report["checked"] >= 4
    assert report["mounts_checked"] >= 2
    builder_found_every_file(lab, name, f"verify-{name}")


@pytest.mark.parametrize("name", NAMES)
def test_guest_tools_see_the_same_identities(lab: Lab, name: str) -> None:
    """Not hostbook's word for it: lsblk before the wipe and after the restore."""
    before, after = identities(lab.built, name), identities(lab.restored, name)
    assert len(before) >= 3 and sum(row[3] != "None" for row in before) >= 2  # UUIDs
    assert after == before


def test_wipe_left_nothing_to_find(lab: Lab) -> None:
    """The restore started from disks with no signature on any layer: every UUID the
    capture saw was gone before apply (wipe-layers.sh checks the disks read blank)."""
    for step in ("wipe", "wipe-again"):
        assert lab.steps[step]["rc"] == 0, lab.steps[step]
    for name in NAMES:
        ran = applied(lab.exact[name])["ran"]
        assert any(step.startswith("table:") for step in ran), ran


def test_files_land_on_the_right_filesystems(lab: Lab) -> None:
    laptop = lab.exact["laptop"]["placed"]
    assert laptop["home/user/home.dat"].startswith("/dev/mapper/laptopvg-home ")
    assert laptop["etc/hostbook/root.dat"].startswith("/dev/mapper/laptopvg-root ")
    assert laptop["boot/hostbook/boot.dat"].split()[1] == "/mnt/restore/laptop/boot"
    assert laptop["boot/efi/EFI/hostbook/efi.dat"].split()[1] == "/mnt/restore/laptop/boot/efi"
    btrfs = lab.exact["btrfs"]["placed"]
    assert btrfs["home/user/home.dat"].split()[0].endswith("[/@home]")
    assert btrfs["etc/hostbook/root.dat"].split()[0].endswith("[/@]")
    server = lab.exact["server"]["placed"]
    assert server["srv/data/data.dat"].startswith("/dev/mapper/servervg-data ")
    assert server["boot/hostbook/boot.dat"].startswith("/dev/md")
    thin = lab.exact["thin"]["placed"]
    assert thin["vol2/hostbook/vol2.dat"].startswith("/dev/mapper/thinvg-vol2 ")
    assert thin["vol1/hostbook/vol1.dat"].split()[1] == "/mnt/restore/thin/mnt/lab/thin/vol1"


def test_keyfile_regenerated_and_enrolled(lab: Lab) -> None:
    result = applied(lab.exact["laptop"])
    assert result["plan"]["keyfiles"][0].startswith(
        "/etc/keys/laptop.key: regenerated as /mnt/restore/laptop/etc/keys/laptop.key")
    assert {"keyfile:laptop_crypt", "keyslot:laptop_crypt"} <= set(result["ran"])
    # verify compared both keyslots (passphrase and key file) with the recorded ones
    assert verify_json(lab.exact["laptop"])["ok"]


def test_apply_without_yes_asks_once(lab: Lab) -> None:
    output = lab.exact["thin"]["apply"]["output"]
    assert output.count("Type yes to continue") == 1
    assert "ERASE" in output and "serial thin0" in output


def test_server_disks_in_other_order_and_killed_apply_resumes(lab: Lab) -> None:
    kill = lab.kill
    assert kill["returncode"] == -9, kill["output"]
    done_first = {e["step"] for e in kill["journal"] if e["status"] == "done"}
    assert "vg:servervg" in done_first
    assert any(step.startswith("md:") for step in done_first)
    resumed = lab.others["server-swapped"]
    result = applied(resumed)
    plan = result["plan"]
    assert [m["rule"] for m in plan["map"]] == ["serial", "serial"]
    targets = {m["recorded"]: m["target"] for m in plan["map"]}
    assert targets["disk:virtio-server0"] == "/dev/vdc"  # presented second this time
    assert targets["disk:virtio-server1"] == "/dev/vdb"
    # every destructive step finished before the kill is skipped, never repeated
    destructive = {s["id"] for s in plan["steps"] if s["destructive"]}
    for step in done_first & destructive:
        assert step in result["skipped"] and step not in result["ran"], step
    assert result["ran"]  # and the rest was done
    report = verify_json(resumed)
    assert report["ok"], report["differences"]
    builder_found_every_file(lab, "server", "verify-swapped")


# --------------------------------------------------------------------------------------
# Other disks
# --------------------------------------------------------------------------------------


def test_larger_disk_grows_as_policy_says(lab: Lab) -> None:
    outcome = lab.others["laptop-big"]
    plan = applied(outcome)["plan"]
    assert plan["refusals"] == []
    assert any("partition 3 grows by 4 GiB" in line for line in plan["arithmetic"])
    assert any("LV laptopvg/home: 100% of the" in line for line in plan["arithmetic"])
    report = verify_json(outcome)
    assert report["ok"], report["differences"]
    builder_found_every_file(lab, "laptop", "verify-laptopbig")


def test_smaller_disk_that_fits(lab: Lab) -> None:
    outcome = lab.others["legacy-small"]
    plan = applied(outcome)["plan"]
    assert plan["refusals"] == []
    assert any("partition 6 shrinks by" in line for line in plan["arithmetic"])
    assert any(line.endswith(": fits") for line in plan["arithmetic"])
    assert verify_json(outcome)["ok"], verify_json(outcome)["differences"]
    placed = outcome["placed"]
    assert placed["home/user/home.dat"].split() == ["/dev/vdh6", "/mnt/restore/lsmall/home"]


def test_smaller_disk_that_does_not_fit_is_refused(lab: Lab) -> None:
    outcome = lab.others["laptop-small"]
    assert outcome["plan"]["exit_code"] == 2
    assert "REFUSED" in outcome["plan"]["output"]
    assert "VG laptopvg: needs" in outcome["plan"]["output"]
    assert outcome["apply"]["exit_code"] == 2
    assert outcome["untouched"] == [True]


def test_4k_sector_layout_onto_512_byte_disk(lab: Lab) -> None:
    outcome = lab.others["btrfs-512"]
    plan = applied(outcome)["plan"]
    assert plan["refusals"] == []
    assert any("4096-byte sectors recorded, 512-byte on the target" in line
               for line in plan["arithmetic"])
    assert verify_json(outcome)["ok"], verify_json(outcome)["differences"]
    placed = outcome["placed"]
    assert placed["home/user/home.dat"].split()[0] == "/dev/vdj2[/@home]"
    assert placed["etc/hostbook/root.dat"].split()[0] == "/dev/vdj2[/@]"


# --------------------------------------------------------------------------------------
# The data back from the archives
# --------------------------------------------------------------------------------------


def test_the_laptops_data_comes_back_from_its_archives(lab: Lab) -> None:
    """hostbook run before the wipe (restic /, borg and xfsdump /home, tar /boot and the
    ESP); after restore apply, restore data with restore.yaml's target puts every volume
    back where fstab mounts it, each verified file by file; /home emptied and restored
    again from xfsdump.  The builder's own verify step then found every file it wrote
    (test_layout_round_trip), and the regenerated LUKS key file was kept."""
    backup = json.loads((lab.results / "backup.json").read_text())
    assert backup["exit_code"] == 0, backup["output"][-3000:]
    outcome = lab.exact["laptop"]
    data = last_json(outcome["data"]["output"])
    assert outcome["data"]["exit_code"] == 0, outcome["data"]["output"][-3000:]
    assert data["refusals"] == []
    places = {v["volume"]: (v["tool"], v["directory"], v["status"]) for v in data["volumes"]}
    assert places == {
        "/mnt/lab/laptop": ("restic", "/mnt/restore/laptop", "verified"),
        "/mnt/lab/laptop/home": ("borg", "/mnt/restore/laptop/home", "verified"),
        "/mnt/lab/laptop/boot": ("tar", "/mnt/restore/laptop/boot", "verified"),
        "/mnt/lab/laptop/boot/efi": ("tar", "/mnt/restore/laptop/boot/efi", "verified"),
    }
    [root] = [v for v in data["volumes"] if v["volume"] == "/mnt/lab/laptop"]
    assert root["kept"] == ["etc/keys/laptop.key"]
    again = last_json(outcome["data-again"]["output"])
    assert outcome["data-again"]["exit_code"] == 0, outcome["data-again"]["output"][-3000:]
    [home] = again["volumes"]
    assert (home["tool"], home["status"]) == ("xfsdump", "verified")
    placed = outcome["placed"]
    assert placed["home/user/home.dat"].startswith("/dev/mapper/laptopvg-home ")
    assert placed["boot/efi/EFI/hostbook/efi.dat"].split()[1] == "/mnt/restore/laptop/boot/efi"
