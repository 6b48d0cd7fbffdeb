"""Storage restore round trips of every lab layout, in one guest boot.

The manifests are captures of the lab layouts, built by their builders and
captured by hostbook in the lab: the laptop's (with a crypttab key file
enrolled in a second LUKS keyslot) from tests/fixtures/restore-lab/laptop, the
others from the storage lab test's recordings (tests/fixtures/storage-*).  They
are replayed into a manifest repository here, then one boot restores them onto
blank disks carrying the recorded serials:

- every layout exactly: `hostbook restore apply --map auto`, mounted under its
  own target root, `verify` with zero differences (identical UUIDs, labels,
  sizes, settings), the layout's files written into the target tree, then the
  layout's own builder mounts it its way and checks every file;
- the server's disks presented in the opposite order (found by serial), its
  apply killed with SIGKILL half way and run again to completion;
- after wiping three of those disks (wipefs on every layer, first and last MiB
  zeroed): the laptop onto a disk twice the size (the LUKS partition grows,
  ``home`` takes the free space, as restore.yaml says), the legacy MBR layout
  onto a smaller disk that still fits, the laptop onto a smaller disk that does
  not fit (refused, nothing written), the 4096-byte sector btrfs layout onto a
  512-byte sector disk.

HOSTBOOK_RESTORE_LAB_RESULTS=DIR checks the results folder of an earlier run
(kept with HOSTBOOK_LAB_KEEP=1) instead of booting.
HOSTBOOK_RECORD_FIXTURES=1 saves the done-checks of the laptop restore, asked
before and after apply, to tests/fixtures/restore-lab/checks-* for the unit tests.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hostbook.capture.collect import collect_sections
from hostbook.capture.runner import ReplayRunner
from hostbook.capture.workflow import CaptureRequest, capture
from hostbook.manifest.sections.config import ConfigDocument
from tests.lab.layouts import LAYOUTS, verify_step
from tests.lab.vm import DiskSpec, Guest, Step

pytestmark = pytest.mark.lab

NAMES = ("laptop", "server", "legacy", "btrfs", "thin")
REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "tests" / "fixtures"
PASSPHRASE = "hostbook-lab-passphrase"
BY_ID = "/dev/disk/by-id/virtio-"

# Restore jobs through the CLI, in one python process (imports cost ~10 s under
# TCG); what each command said, and where the layout's files landed, go to a report.
RESTORE_SCRIPT = r"""
import json, os, subprocess, sys, time
from pathlib import Path
sys.path.insert(0, os.getcwd())
from click.testing import CliRunner
from hostbook.capture.runner import LiveRunner, RecordingRunner
from hostbook.commands.restore import restore
from hostbook.restore.checks import is_done
from hostbook.restore.steps import DoneCheck
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
    placed = {}
    for rel, size, seed in LAYOUTS[layout].files():
        path = Path(target + job.get("root", "")) / rel
        if not path.parent.exists() and ".snapshots/" in rel:
            continue  # a read-only snapshot: data, not layout
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

# The server restore, killed with SIGKILL (with the command it is running) once the
# journal shows its VG made.
KILL_SCRIPT = r"""
import json, os, signal, subprocess, sys, time
from pathlib import Path
results = Path(os.environ["LAB_RESULTS"])
Path("/root/passphrase").write_text(%(passphrase)r)
journals = Path("/var/lib/hostbook/state/restore")
args = [sys.executable, "-m", "hostbook.commands.restore", "apply", "--repo", %(repo)r,
        "server", "--map", "auto", "--yes", "--passphrase-file", "/root/passphrase",
        "--target", "/mnt/restore/server"]
proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                        start_new_session=True)
deadline = time.monotonic() + 600
killed = False
while time.monotonic() < deadline and proc.poll() is None and not killed:
    for journal in journals.glob("server@*.journal"):
        lines = [json.loads(l) for l in journal.read_text().splitlines() if l.strip()]
        if any(l["step"] == "vg:servervg" and l["status"] == "done" for l in lines):
            os.killpg(proc.pid, signal.SIGKILL)  # apply and the command it was running
            killed = True
    time.sleep(0.05)
output = proc.communicate()[0]
journal = next(journals.glob("server@*.journal"))
entries = [json.loads(l) for l in journal.read_text().splitlines() if l.strip()]
(results / "kill.json").write_text(json.dumps(
    {"returncode": proc.returncode, "output": output, "journal": entries}))
"""

# Between the two rounds: take everything down, wipe three layouts' disks.
ZERO_TAIL = r"""
for link in %(disks)s; do
    dev=$(readlink -f "$link")
    size=$(blockdev --getsize64 "$dev")
    dd if=/dev/zero of="$dev" bs=1M count=1 seek=$((size / 1048576 - 1)) conv=fsync status=none
    test -z "$(wipefs --noheadings "$dev")"
    test -z "$(lsblk -nro NAME "$dev" | tail -n +2)"
done
"""


@dataclass
class Lab:
    """What the boot left behind, parsed."""

    steps: dict[str, dict[str, Any]]  # step name -> rc, stdout, stderr, seconds
    exact: dict[str, Any]
    others: dict[str, Any]
    kill: dict[str, Any]
    results: Path


def build_repository(repo: Path) -> None:
    """Replay the lab captures into hosts/<layout>/storage.yaml, plus variant hosts."""
    plain = ConfigDocument.model_validate({"schema": "hostbook/config/v1"})
    for name in NAMES:
        if name == "laptop":
            recording = FIXTURES / "restore-lab" / "laptop"
            options = json.loads((recording / "capture.json").read_text())["options"]
            config = plain
        else:
            recording = FIXTURES / f"storage-{name}"
            options = {}
            listed = collect_sections(ReplayRunner(recording), plain, ["storage"], {})
            others = [e["name"] for e in listed.documents["storage"]["entries"]
                      if e["type"] == "disk" and e.get("serial") not in LAYOUTS[name].serials]
            config = ConfigDocument.model_validate(
                {"schema": "hostbook/config/v1", "storage": {"exclude_devices": others}})
        outcome = capture(CaptureRequest(repository=repo, sections=["storage"], config=config,
                                         host=name, replay=recording, options=options))
        assert not outcome.partial, (name, outcome.warnings)
    grow = ("schema: hostbook/restore/v1\n"
            "lvs:\n  - id: lv:laptopvg/home\n    free_percent: 100\n")
    for new, old, policy in (("laptop-big", "laptop", grow), ("laptop-small", "laptop", ""),
                             ("legacy-small", "legacy", ""), ("btrfs-512", "btrfs", "")):
        (repo / "hosts" / new).mkdir()
        shutil.copyfile(repo / "hosts" / old / "storage.yaml",
                        repo / "hosts" / new / "storage.yaml")
        if policy:
            (repo / "hosts" / new / "restore.yaml").write_text(policy)


@pytest.fixture(scope="module")
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    earlier = os.environ.get("HOSTBOOK_RESTORE_LAB_RESULTS")
    if earlier:  # check the results folder of an earlier run instead of booting
        yield load_results(Path(earlier))
        return
    request.getfixturevalue("lab_tier")
    # Outside /tmp: the guest sees this machine's root read-only, but not its /tmp.
    base = Path(tempfile.mkdtemp(prefix="hostbook-restore-lab-", dir="/var/tmp"))
    failed = True
    try:
        lab = _run_lab(base)
        failed = False
        yield lab
    finally:
        if failed and os.environ.get("HOSTBOOK_LAB_KEEP"):
            print(f"restore lab: keeping {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


def _run_lab(base: Path) -> Lab:
    started = time.monotonic()
    repo = base / "repo"
    build_repository(repo)
    specs = {d.serial: d for n in NAMES for d in LAYOUTS[n].disks}
    disks = [specs["laptop0"], specs["server1"], specs["server0"], specs["legacy0"],
             specs["btrfs0"], specs["thin0"],  # the server's disks in the other order
             DiskSpec("8G", serial="laptopbig"), DiskSpec("1536M", serial="legacysmall"),
             DiskSpec("2G", serial="laptopsmall"), DiskSpec("3G", serial="btrfs512")]
    record = os.environ.get("HOSTBOOK_RECORD_FIXTURES") == "1"
    # thin has no fstab: its filesystems are mounted where they were at capture
    exact = [{"key": n, "host": n, "layout": n, "maps": ["--map", "auto"],
              "target": f"/mnt/restore/{n}", "confirm": n == "thin",
              "root": LAYOUTS[n].mountpoint if n == "thin" else "",
              "record_checks": record and n == "laptop"} for n in NAMES]
    others = [
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
    wiped = " ".join(p for n in ("laptop", "legacy", "btrfs") for p in LAYOUTS[n].disk_paths)
    steps = [
        Step("kill", KILL_SCRIPT % {"repo": str(repo), "passphrase": PASSPHRASE}, "python",
             timeout=600),
        Step("restore", RESTORE_SCRIPT % {"repo": str(repo), "passphrase": PASSPHRASE,
                                          "jobs": exact, "report": "exact.json"},
             "python", timeout=1200),
        *[verify_step(n, timeout=300) for n in NAMES],
        Step("wipe", f'bash "$LAB_BUILDERS/wipe.sh" {wiped} && {ZERO_TAIL % {"disks": wiped}}',
             timeout=300),
        Step("restore-other", RESTORE_SCRIPT % {"repo": str(repo), "passphrase": PASSPHRASE,
                                                "jobs": others, "report": "others.json"},
             "python", timeout=1200),
        Step("verify-laptopbig", f'bash "$LAB_BUILDERS/laptop.sh" verify {BY_ID}laptopbig',
             timeout=300),
    ]
    results = base / "results"
    with Guest(disks) as guest:
        boot = guest.run_steps(steps, timeout=2400, results_dir=results)
    outcome = {s.name: {"rc": s.rc, "stdout": s.stdout, "stderr": s.stderr,
                        "seconds": s.seconds} for s in boot.steps.values()}
    (results / "steps.json").write_text(json.dumps(outcome))
    failed = [n for n in ("kill", "restore", "wipe", "restore-other") if not boot[n].ok]
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
    return Lab(steps=json.loads((results / "steps.json").read_text()),
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


@pytest.mark.parametrize("name", NAMES)
def test_layout_round_trip(lab: Lab, name: str) -> None:
    outcome = lab.exact[name]
    plan = applied(outcome)["plan"]
    assert plan["refusals"] == []
    assert [m["rule"] for m in plan["map"]] == ["serial"] * len(LAYOUTS[name].disks)
    report = verify_json(outcome)
    assert report["ok"], report["differences"]
    assert report["differences"] == []
    assert report["checked"] >= 4
    assert report["mounts_checked"] >= 2
    if name != "server":  # the server's builder check runs on the resumed restore
        builder_found_every_file(lab, name, f"verify-{name}")


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
    resumed = lab.exact["server"]
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
    builder_found_every_file(lab, "server", "verify-server")


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
